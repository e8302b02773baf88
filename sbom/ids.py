"""Deterministic identifiers: bom-refs, the serial number and the timestamp.

cyclonedx-python-lib gives every object without an explicit ``bom-ref`` a random one, and
``Bom()`` defaults its serial number and timestamp to random / now: two runs over the same
scan would then differ. Everything here is derived from the report's content instead, so the
same report always yields byte-identical documents.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import uuid
from dataclasses import asdict
from typing import Any

from scanner.model import Report

#: Namespace for ``uuid5`` serial numbers: a fixed UUID of our own, so serials cannot collide
#: with another tool's uuid5 over the same text.
SERIAL_NAMESPACE = uuid.UUID("6d6f6465-6c73-6361-6e2d-61692d626f6d")

TOOL_REF = "tool:modelscan"


def file_ref(path: str) -> str:
    """bom-ref of a file or container member (``file:model.bin!archive/data.pkl``)."""
    return f"file:{path}"


def model_ref(name: str, version: str | None) -> str:
    return f"model:{name}@{version}" if version else f"model:{name}"


def ancestor_ref(name: str) -> str:
    return f"ancestor:{name}"


def data_ref(name: str) -> str:
    return f"data:{name}"


def finding_ref(rule_id: str, index: int) -> str:
    """bom-ref of the ``index``-th finding (findings are sorted, so the index is stable)."""
    return f"finding:{rule_id}:{index}"


def signature_annotation_ref() -> str:
    return "annotation:signature"


def bom_timestamp(report: Report) -> _dt.datetime | None:
    """``SOURCE_DATE_EPOCH`` when set (reproducible builds), else the scan's start time.

    Returns None when neither is known: the caller leaves the timestamp out rather than
    writing the current time, which would make the document differ on every run.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise ValueError(
                f"SOURCE_DATE_EPOCH must be an integer number of seconds, not {epoch!r}"
            ) from None
    if report.started_at:
        try:
            parsed = _dt.datetime.fromisoformat(report.started_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_dt.timezone.utc)
        return parsed.astimezone(_dt.timezone.utc).replace(microsecond=0)
    return None


def content_digest(report: Report, *extra: str) -> str:
    """SHA-256 over what the BOM says: the report without its run-dependent parts.

    Timings, bytes read and the start time vary between two scans of the same files, so they
    are left out; the timestamp actually written goes in through ``extra``.
    """
    body: dict[str, Any] = {
        "target": report.target,
        "revision": report.revision,
        "tool": report.tool_version,
        "rules": report.rules_version,
        "artifacts": [asdict(a) for a in report.artifacts],
        "findings": [asdict(f) | {"severity": f.severity.label} for f in report.findings],
        "facts": report.facts,
        "signature": asdict(report.signature) if report.signature else None,
        "probe": asdict(report.probe) if report.probe else None,
        "extra": list(extra),
    }
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def serial_number(report: Report, *extra: str) -> uuid.UUID:
    """A ``urn:uuid`` serial derived from the content: same content, same serial."""
    return uuid.uuid5(SERIAL_NAMESPACE, content_digest(report, *extra))
