"""Turning a report into a verdict: the fail-on threshold, overrides, suppressions.

A policy is data (``rules/policy.yaml``, or a user file given with ``--policy``). Anything that
weakens a check says so in its name and carries a reason: suppressions need a justification
and may expire; an expired suppression suppresses nothing.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from scanner.model import Finding, Report, Severity, Verdict
from scanner.rules import load_rules


class PolicyError(Exception):
    """A policy file is malformed."""


@dataclass(frozen=True)
class Suppression:
    """An accepted risk: findings of ``rule`` on paths matching ``path`` are not counted."""

    rule: str
    reason: str
    path: str = "*"
    expires: _dt.date | None = None

    def applies(self, finding: Finding, today: _dt.date) -> bool:
        if self.expires is not None and today > self.expires:
            return False
        return fnmatch.fnmatchcase(finding.rule_id, self.rule) and fnmatch.fnmatchcase(
            finding.artifact, self.path
        )


@dataclass(frozen=True)
class Policy:
    """How findings, signatures and probe results become pass or fail."""

    fail_on: Severity | None = Severity.MEDIUM
    """Fail when a counted finding is at or above this; ``None`` never fails on findings."""
    severity_overrides: Mapping[str, Severity] = field(default_factory=dict)
    suppressions: tuple[Suppression, ...] = ()
    require_signature: bool = False
    source: str = "built-in"

    @classmethod
    def default(cls) -> Policy:
        return _default_policy()

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Read a user policy (YAML) over the default one."""
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"cannot read policy {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise PolicyError(f"policy {path} is not valid YAML: {exc}") from None
        if isinstance(doc, dict) and "entries" in doc:
            entries = doc["entries"]
            doc = entries[0] if isinstance(entries, list) and entries else {}
        if not isinstance(doc, dict):
            raise PolicyError(f"policy {path} must be a mapping")
        return _parse(doc, base=cls.default(), source=str(path))

    def with_fail_on(self, fail_on: Severity | None) -> Policy:
        return replace(self, fail_on=fail_on)

    @property
    def digest(self) -> str:
        """Stable digest of the policy's content (cache keys, the AI-BOM)."""
        body = {
            "fail_on": self.fail_on.label if self.fail_on is not None else "never",
            "overrides": {k: v.label for k, v in sorted(self.severity_overrides.items())},
            "suppressions": [
                [s.rule, s.path, s.reason, s.expires.isoformat() if s.expires else None]
                for s in self.suppressions
            ],
            "require_signature": self.require_signature,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    def effective(self, finding: Finding, today: _dt.date | None = None) -> Finding | None:
        """The finding as this policy counts it: overridden severity, or None if suppressed."""
        day = today or _dt.date.today()
        if any(s.applies(finding, day) for s in self.suppressions):
            return None
        override = self.severity_overrides.get(finding.rule_id)
        return replace(finding, severity=override) if override is not None else finding

    def judge(self, report: Report, today: _dt.date | None = None) -> Verdict:
        counted = [f for f in (self.effective(x, today) for x in report.findings) if f is not None]
        counts = {s.label: 0 for s in Severity}
        for f in counted:
            counts[f.severity.label] += 1
        worst = max((f.severity for f in counted), default=None)
        reasons: list[str] = []
        if self.fail_on is not None and worst is not None and worst >= self.fail_on:
            n = sum(1 for f in counted if f.severity >= self.fail_on)
            reasons.append(f"{n} finding(s) at or above {self.fail_on.label}")
        if self.require_signature and (report.signature is None or not report.signature.verified):
            why = report.signature.reason if report.signature else "no signature was found"
            reasons.append(f"a verified signature is required: {why}")
        return Verdict(
            passed=not reasons, fail_on=self.fail_on, worst=worst, counts=counts, reasons=tuple(reasons)
        )


def parse_fail_on(text: str) -> Severity | None:
    """``never`` or a severity name."""
    return None if text.strip().lower() == "never" else Severity.parse(text)


def _default_policy() -> Policy:
    entries = load_rules().entries("policy")
    doc: Mapping[str, Any] = entries[0] if entries else {}
    return _parse(doc, base=Policy(), source="built-in")


def _parse(doc: Mapping[str, Any], base: Policy, source: str) -> Policy:
    try:
        fail_on = base.fail_on
        if "fail_on" in doc:
            fail_on = parse_fail_on(str(doc["fail_on"]))
        overrides = dict(base.severity_overrides)
        for rule, sev in (doc.get("severity_overrides") or {}).items():
            overrides[str(rule)] = Severity.parse(str(sev))
        suppressions = list(base.suppressions)
        for item in doc.get("suppressions") or []:
            if not item.get("reason"):
                raise PolicyError(f"suppression of {item.get('rule')!r} needs a 'reason'")
            expires = item.get("expires")
            if isinstance(expires, str):
                expires = _dt.date.fromisoformat(expires)
            suppressions.append(
                Suppression(
                    rule=str(item["rule"]),
                    reason=str(item["reason"]),
                    path=str(item.get("path", "*")),
                    expires=expires,
                )
            )
        require = bool(doc.get("require_signature", base.require_signature))
    except PolicyError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise PolicyError(f"policy {source}: {exc}") from None
    return Policy(fail_on, overrides, tuple(suppressions), require, source)
