"""The one ``Report`` serializer: a report to plain JSON data and back, losslessly.

The JSON renderer (``scanner/report/json.py``) writes ``report_to_dict`` plus the verdict of
a policy; the hub result cache and the admission service's scan records store the same
document, so one schema (``docs/report-schema.json``) describes them all. ``report_from_dict``
reads any of them back (keys a policy added — the verdict, ``suppressed``, ``policy_severity``
— are ignored: a verdict is never read back, it is judged again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, TypeVar

from scanner.model import (
    Artifact,
    FileCheck,
    Finding,
    Location,
    ProbeResult,
    Report,
    ScanError,
    Severity,
    SignatureResult,
)

T = TypeVar("T")

SCHEMA_VERSION = "1.0"
"""Changes its major number only when a field changes meaning or is removed."""


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as the JSON report document, without a verdict (that needs a policy)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "modelscan", "version": report.tool_version, "rules_version": report.rules_version},
        "target": report.target,
        "revision": report.revision,
        "started_at": report.started_at,
        "summary": {
            "artifacts": len(report.artifacts),
            "findings": len(report.findings),
            "bytes_read": report.bytes_read,
            "bytes_total": report.bytes_total,
        },
        "artifacts": [_without_none(asdict(a)) for a in report.artifacts],
        "findings": [finding_to_dict(f) for f in report.findings],
        "facts": {k: dict(v) for k, v in report.facts.items()},
        "signature": asdict(report.signature) if report.signature is not None else None,
        "probe": asdict(report.probe) if report.probe is not None else None,
        "errors": [asdict(e) for e in report.errors],
        "timings": dict(report.timings),
    }


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """One finding; absent optional fields are left out."""
    out: dict[str, Any] = {
        "rule_id": f.rule_id,
        "severity": f.severity.label,
        "artifact": f.artifact,
        "message": f.message,
        "location": _without_none(asdict(f.location)),
    }
    for key in ("evidence", "callable", "reference"):
        value = getattr(f, key)
        if value is not None:
            out[key] = value
    return out


def report_from_dict(doc: Mapping[str, Any]) -> Report:
    """The report a ``report_to_dict`` (or JSON report) document describes; ``KeyError``,
    ``TypeError`` or ``ValueError`` when it is not one."""
    tool, summary = doc["tool"], doc["summary"]
    signature, probe = doc.get("signature"), doc.get("probe")
    return Report(
        target=str(doc["target"]),
        tool_version=str(tool["version"]),
        artifacts=tuple(_make(Artifact, a) for a in doc["artifacts"]),
        findings=tuple(finding_from_dict(f) for f in doc["findings"]),
        facts={str(k): dict(v) for k, v in doc["facts"].items()},
        revision=doc["revision"],
        signature=_signature(signature) if signature is not None else None,
        probe=_probe(probe) if probe is not None else None,
        errors=tuple(_make(ScanError, e) for e in doc["errors"]),
        timings={str(k): float(v) for k, v in doc["timings"].items()},
        bytes_read=int(summary["bytes_read"]),
        bytes_total=int(summary["bytes_total"]),
        rules_version=str(tool["rules_version"]),
        started_at=str(doc["started_at"]),
    )


def finding_from_dict(doc: Mapping[str, Any]) -> Finding:
    return Finding(
        rule_id=str(doc["rule_id"]),
        severity=Severity.parse(str(doc["severity"])),
        artifact=str(doc["artifact"]),
        message=str(doc["message"]),
        location=_make(Location, doc.get("location", {})),
        evidence=doc.get("evidence"),
        callable=doc.get("callable"),
        reference=doc.get("reference"),
    )


def _signature(doc: Mapping[str, Any]) -> SignatureResult:
    fixed = {
        **doc,
        "files": tuple(_make(FileCheck, f) for f in doc.get("files", ())),
        "ignore_paths": tuple(doc.get("ignore_paths", ())),
    }
    return _make(SignatureResult, fixed)


def _probe(doc: Mapping[str, Any]) -> ProbeResult:
    return _make(ProbeResult, {**doc, "stages": tuple(doc.get("stages", ()))})


def _make(cls: type[T], doc: Mapping[str, Any]) -> T:
    """``cls(**doc)`` over its declared fields only (a newer writer's extra keys are ignored)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in doc.items() if k in names})


def _without_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
