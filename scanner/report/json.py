"""JSON report with a documented, versioned schema (``docs/report-schema.json``).

The document is ``scanner.serialize.report_to_dict`` (the one serializer) with the verdict of
the policy it was judged by and, per finding, how that policy counts it. ``schema_version``
changes only when a field changes meaning or is removed; new fields may be added within a
version.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from scanner.model import Finding, Report
from scanner.policy import Policy
from scanner.report.interface import Renderer
from scanner.serialize import SCHEMA_VERSION, finding_to_dict, report_to_dict

__all__ = ["SCHEMA_VERSION", "JsonRenderer", "judged_report_dict"]


def judged_report_dict(report: Report, policy: Policy) -> dict[str, Any]:
    """The JSON report document: the serialized report, the verdict of ``policy`` and each
    finding as that policy counts it."""
    verdict = policy.judge(report)
    body = report_to_dict(report)
    body["findings"] = [_judged_finding(f, policy) for f in report.findings]
    verdict_doc = {
        "passed": verdict.passed,
        "fail_on": verdict.fail_on.label if verdict.fail_on is not None else "never",
        "worst": verdict.worst.label if verdict.worst is not None else None,
        "counts": dict(verdict.counts),
        "reasons": list(verdict.reasons),
        "policy": policy.source,
        "policy_origin": policy.origin,
        "policy_digest": policy.digest,
    }
    head = ("schema_version", "tool", "target", "revision", "started_at")
    rest = {k: v for k, v in body.items() if k not in head}
    return {**{k: body[k] for k in head}, "verdict": verdict_doc, **rest}


def _judged_finding(f: Finding, policy: Policy) -> dict[str, Any]:
    """``suppressed`` with the reason when a suppression applies; ``policy_severity`` when an
    override changed the severity."""
    out = finding_to_dict(f)
    today = _dt.date.today()
    suppression = next((s for s in policy.suppressions if s.applies(f, today)), None)
    if suppression is not None:
        out["suppressed"] = {"rule": suppression.rule, "path": suppression.path, "reason": suppression.reason}
    else:
        counted = policy.effective(f, today)
        if counted is not None and counted.severity != f.severity:
            out["policy_severity"] = counted.severity.label
    return out


class JsonRenderer(Renderer):
    name = "json"

    def render(self, report: Report, policy: Policy) -> str:
        return json.dumps(judged_report_dict(report, policy), indent=2, sort_keys=False, default=str) + "\n"


RENDERER = JsonRenderer()
