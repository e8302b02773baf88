"""SARIF 2.1.0 that GitHub code scanning accepts (``docs/sarif.md`` explains the choices).

* ONE run: GitHub rejects several runs with the same tool and category in one file.
* ``tool.driver.rules`` is the rule catalog (id, name, descriptions, help text + markdown,
  ``security-severity`` so results become security alerts, ``tags``), so ``ruleIndex`` is stable.
* Binary model files get NO ``region``: for a result with ``region.startLine`` the upload
  action streams the whole file to hash lines, which for a multi-GB checkpoint is slow and
  meaningless. Text artifacts with a known line keep ``region.startLine``.
* We always set our own ``partialFingerprints`` (rule + artifact + location + evidence digest),
  so alerts stay the same alert across runs without GitHub reading the model.
* Where inside a file (container member, pickle opcode, byte offset, JSON pointer) goes into
  ``logicalLocations`` and ``properties``; physical URIs are relative to the scanned target.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scanner.model import Finding, Report, Severity
from scanner.policy import Policy, Suppression
from scanner.report.interface import Renderer
from scanner.rules import RuleInfo, load_rules

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
#: GitHub shows at most 25,000 results per run; more are dropped with a notification.
MAX_RESULTS = 25_000
#: GitHub truncates descriptions beyond 1,024 characters.
MAX_DESCRIPTION = 1024

LEVEL: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

#: GitHub buckets: > 9.0 critical, 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.8",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.1",
}

TEXT_FORMATS = frozenset({"text", "json", "keras-config", "python", "jinja", "yaml", "markdown"})


@dataclass(frozen=True)
class _Base:
    """Where the target lives, for ``originalUriBaseIds`` and artifact URIs."""

    uri: str
    uri_base_id: str | None


def fingerprint(f: Finding) -> str:
    """Stable across runs: the same rule on the same place with the same evidence."""
    loc = f.location
    parts = [
        f.rule_id,
        f.artifact,
        str(loc.member),
        str(loc.stream),
        str(loc.offset),
        str(loc.opcode_index),
        str(loc.pointer),
        str(loc.line),
        hashlib.sha256((f.evidence or "").encode("utf-8", "surrogateescape")).hexdigest(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def pascal_name(name: str) -> str:
    """``analysis-failed`` -> ``AnalysisFailed`` (SARIF rule names are identifiers)."""
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", name) if w)[:255]


def file_of(artifact: str) -> str:
    """The file on disk an artifact lives in: members of containers point at their container."""
    return artifact.split("!", 1)[0]


def uri_of(artifact: str) -> str:
    """The container file of ``artifact`` as a relative URI reference: SARIF locations are URIs,
    so a space, ``#``, ``?`` or ``%`` in a file name is percent-encoded, never passed raw."""
    return quote(file_of(artifact), safe="/")


def rule_descriptor(info: RuleInfo) -> dict[str, Any]:
    cwes = [f"CWE-{c}" for c in info.cwe]
    tags = ["security", "supply-chain", *cwes, *(f"external/cwe/cwe-{c}" for c in info.cwe)][:20]
    help_text = info.help or info.summary
    refs = list(info.references) + [f"https://cwe.mitre.org/data/definitions/{c}.html" for c in info.cwe]
    markdown = f"**{info.summary}**\n\n{help_text}"
    if refs:
        markdown += "\n\nReferences:\n" + "\n".join(f"- {r}" for r in refs)
        help_text += "\n\nReferences: " + " ".join(refs)
    descriptor: dict[str, Any] = {
        "id": info.id,
        "name": pascal_name(info.name) or info.id,
        "shortDescription": {"text": info.summary[:MAX_DESCRIPTION]},
        "fullDescription": {"text": (info.help or info.summary)[:MAX_DESCRIPTION]},
        "help": {"text": help_text, "markdown": markdown},
        "defaultConfiguration": {"level": LEVEL[info.severity]},
        "properties": {
            "tags": tags,
            "precision": "high",
            "security-severity": SECURITY_SEVERITY[info.severity],
            "problem.severity": "error" if info.severity >= Severity.HIGH else "warning",
        },
    }
    if info.references and info.references[0].startswith(("http://", "https://")):
        descriptor["helpUri"] = info.references[0]
    return descriptor


def _unknown_rule(rule_id: str, severity: Severity) -> RuleInfo:
    # A finding whose id is in a --rules catalog the renderer was not given: still a valid rule.
    return RuleInfo(
        id=rule_id,
        name=rule_id,
        severity=severity,
        summary=f"Rule {rule_id} (defined outside the built-in catalog).",
    )


def _base(report: Report) -> _Base:
    target = report.target
    if "://" in target and not target.startswith("file://"):
        return _Base(target.rstrip("/") + "/", None)
    path = Path(target[len("file://") :] if target.startswith("file://") else target)
    folder = path.parent if path.is_file() else path
    if not folder.is_absolute():
        rel = os.path.normpath(folder).replace(os.sep, "/")
        if rel == ".":
            return _Base("", "%SRCROOT%")
        if not rel.startswith("../"):
            return _Base(rel + "/", "%SRCROOT%")
    return _Base(folder.resolve().as_uri() + "/", None)


def _suppression_for(f: Finding, policy: Policy) -> Suppression | None:
    import datetime as _dt

    today = _dt.date.today()
    return next((s for s in policy.suppressions if s.applies(f, today)), None)


def _result(f: Finding, rule_index: int, policy: Policy, text_files: set[str]) -> dict[str, Any]:
    effective = policy.effective(f)
    severity = effective.severity if effective is not None else f.severity
    loc = f.location
    message = f.message
    if f.evidence:
        message += f" Evidence: {f.evidence}"
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri_of(f.artifact), "uriBaseId": "TARGET"}}
    if loc.line is not None and f.artifact in text_files:
        physical["region"] = {"startLine": max(1, loc.line)}
    location: dict[str, Any] = {"physicalLocation": physical}
    logical = _logical_name(f)
    if logical != file_of(f.artifact):
        location["logicalLocations"] = [{"fullyQualifiedName": logical, "kind": "resource"}]
    digest = fingerprint(f)
    props: dict[str, Any] = {"severity": severity.label, "artifact": f.artifact}
    for key, value in (
        ("member", loc.member),
        ("stream", loc.stream),
        ("byteOffset", loc.offset),
        ("opcodeIndex", loc.opcode_index),
        ("jsonPointer", loc.pointer),
        ("evidence", f.evidence),
        ("callable", f.callable),
        ("reference", f.reference),
    ):
        if value is not None:
            props[key] = value
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[severity],
        "message": {"text": message},
        "locations": [location],
        "partialFingerprints": {"primaryLocationLineHash": digest, "modelscan/v1": digest},
        "properties": props,
    }
    suppression = _suppression_for(f, policy)
    if suppression is not None:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": suppression.reason}
        ]
    return result


def _logical_name(f: Finding) -> str:
    loc = f.location
    name = f.artifact
    if loc.member is not None and not name.endswith("!" + loc.member):
        name += "!" + loc.member
    if loc.opcode_index is not None:
        name += f"@opcode:{loc.opcode_index}"
    elif loc.offset is not None:
        name += f"@offset:{loc.offset}"
    if loc.pointer is not None:
        name += f"#{loc.pointer}"
    return name


def _automation_id(report: Report) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", report.target).strip("-.") or "target"
    return f"modelscan/{slug}/"


def report_to_sarif(report: Report, policy: Policy, rules_dirs: Sequence[str | Path] = ()) -> dict[str, Any]:
    """The SARIF log of ``report``; ``rules_dirs`` (the scan's ``--rules``) adds their catalog entries."""
    catalog = dict(load_rules(rules_dirs).catalog)
    for f in report.findings:
        if f.rule_id not in catalog:
            catalog[f.rule_id] = _unknown_rule(f.rule_id, f.severity)
    ordered = sorted(catalog.values(), key=lambda r: r.id)
    index = {info.id: i for i, info in enumerate(ordered)}
    text_files = {a.path for a in report.artifacts if "!" not in a.path and a.format in TEXT_FORMATS}
    findings = report.findings[:MAX_RESULTS]
    results = [_result(f, index[f.rule_id], policy, text_files) for f in findings]
    verdict = policy.judge(report)
    notifications: list[dict[str, Any]] = [
        {
            "level": "error",
            "message": {"text": e.message},
            **(
                {
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": uri_of(e.artifact), "uriBaseId": "TARGET"}
                            }
                        }
                    ]
                }
                if e.artifact
                else {}
            ),
        }
        for e in report.errors
    ]
    if len(report.findings) > MAX_RESULTS:
        notifications.append(
            {
                "level": "warning",
                "message": {
                    "text": f"{len(report.findings) - MAX_RESULTS} results beyond GitHub's limit of "
                    f"{MAX_RESULTS} were left out; the JSON report has all of them."
                },
            }
        )
    invocation: dict[str, Any] = {
        "executionSuccessful": True,
        "exitCode": 0 if verdict.passed else 1,
        "exitCodeDescription": "passed" if verdict.passed else "; ".join(verdict.reasons),
    }
    if report.started_at:
        invocation["startTimeUtc"] = report.started_at
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    base = _base(report)
    base_entry: dict[str, Any] = {"uri": base.uri} if base.uri or base.uri_base_id is None else {}
    if base.uri_base_id is not None:
        base_entry["uriBaseId"] = base.uri_base_id
    artifacts = []
    for a in report.artifacts:
        if "!" in a.path:
            continue
        entry: dict[str, Any] = {
            "location": {"uri": uri_of(a.path), "uriBaseId": "TARGET"},
            "length": max(a.size, -1),
        }
        if a.sha256:
            entry["hashes"] = {"sha-256": a.sha256}
        artifacts.append(entry)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "modelscan",
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "rules": [rule_descriptor(info) for info in ordered],
                "properties": {"rulesVersion": report.rules_version},
            }
        },
        "automationDetails": {"id": _automation_id(report)},
        "originalUriBaseIds": {"TARGET": base_entry},
        "invocations": [invocation],
        "artifacts": artifacts,
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "target": report.target,
            "revision": report.revision,
            "verdict": {
                "passed": verdict.passed,
                "failOn": verdict.fail_on.label if verdict.fail_on is not None else "never",
            },
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


class SarifRenderer(Renderer):
    name = "sarif"

    def __init__(self, rules_dirs: Sequence[str | Path] = ()) -> None:
        self.rules_dirs = tuple(rules_dirs)

    def with_rules(self, rules_dirs: Sequence[str | Path]) -> SarifRenderer:
        """A renderer whose rule descriptors include the catalogs of ``rules_dirs``."""
        return SarifRenderer(rules_dirs)

    def render(self, report: Report, policy: Policy) -> str:
        # Compact: the C encoder (indent forces the pure-Python one) and a smaller upload.
        doc = report_to_sarif(report, policy, self.rules_dirs)
        return json.dumps(doc, separators=(",", ":")) + "\n"


RENDERER = SarifRenderer()
