"""JSON report with a documented, versioned schema (``docs/report-schema.json``).

``schema_version`` changes only when a field changes meaning or is removed; new fields may
be added within a version.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict
from typing import Any

from scanner.model import Finding, Report
from scanner.policy import Policy
from scanner.report.interface import Renderer

SCHEMA_VERSION = "1.0"


def finding_to_dict(f: Finding, policy: Policy | None = None) -> dict[str, Any]:
    """One finding; with ``policy``, how that policy counts it (``policy_severity`` when an
    override changed it, ``suppressed`` with the reason when a suppression applies)."""
    loc = {k: v for k, v in asdict(f.location).items() if v is not None}
    out: dict[str, Any] = {
        "rule_id": f.rule_id,
        "severity": f.severity.label,
        "artifact": f.artifact,
        "message": f.message,
        "location": loc,
    }
    for key in ("evidence", "callable", "reference"):
        value = getattr(f, key)
        if value is not None:
            out[key] = value
    if policy is not None:
        today = _dt.date.today()
        suppression = next((s for s in policy.suppressions if s.applies(f, today)), None)
        if suppression is not None:
            out["suppressed"] = {
                "rule": suppression.rule,
                "path": suppression.path,
                "reason": suppression.reason,
            }
        else:
            counted = policy.effective(f, today)
            if counted is not None and counted.severity != f.severity:
                out["policy_severity"] = counted.severity.label
    return out


def report_to_dict(report: Report, policy: Policy) -> dict[str, Any]:
    verdict = report.verdict(policy)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "modelscan", "version": report.tool_version, "rules_version": report.rules_version},
        "target": report.target,
        "revision": report.revision,
        "started_at": report.started_at,
        "verdict": {
            "passed": verdict.passed,
            "fail_on": verdict.fail_on.label if verdict.fail_on is not None else "never",
            "worst": verdict.worst.label if verdict.worst is not None else None,
            "counts": dict(verdict.counts),
            "reasons": list(verdict.reasons),
            "policy": policy.source,
            "policy_digest": policy.digest,
        },
        "summary": {
            "artifacts": len(report.artifacts),
            "findings": len(report.findings),
            "bytes_read": report.bytes_read,
            "bytes_total": report.bytes_total,
        },
        "artifacts": [{k: v for k, v in asdict(a).items() if v is not None} for a in report.artifacts],
        "findings": [finding_to_dict(f, policy) for f in report.findings],
        "facts": {k: dict(v) for k, v in report.facts.items()},
        "signature": asdict(report.signature) if report.signature is not None else None,
        "probe": asdict(report.probe) if report.probe is not None else None,
        "errors": [asdict(e) for e in report.errors],
        "timings": dict(report.timings),
    }


class JsonRenderer(Renderer):
    name = "json"

    def render(self, report: Report, policy: Policy) -> str:
        return json.dumps(report_to_dict(report, policy), indent=2, sort_keys=False, default=str) + "\n"


RENDERER = JsonRenderer()
