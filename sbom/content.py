"""What both AI-BOM formats say, derived once from a ``Report``: properties, finding text.

Property names use the ``internal:modelscan:`` namespace: the CycloneDX property taxonomy
reserves ``internal:`` for private use, and ``modelscan`` is not a registered namespace
(another tool uses the same name), so claiming ``modelscan:`` would be wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scanner.model import Finding, Report, SignatureResult
from scanner.policy import Policy
from scanner.rules import RuleInfo, load_rules

NS = "internal:modelscan"

SIGNATURE_FAILED = "SBOM-SIGNATURE-001"
SIGNATURE_REQUIRED_MISSING = "SBOM-SIGNATURE-002"


def prop(name: str) -> str:
    return f"{NS}:{name}"


@dataclass(frozen=True)
class Issue:
    """A finding, or a signature problem, as one entry of the BOM's vulnerability list."""

    rule_id: str
    severity: str
    artifact: str | None
    """The artifact it affects; None for the model as a whole."""
    description: str
    detail: str | None
    recommendation: str | None
    cwes: tuple[int, ...]
    references: tuple[str, ...]
    properties: tuple[tuple[str, str], ...]
    confirmed: bool
    """True when the scan proves the behaviour statically (high or critical), False for
    heuristics that need a person's triage."""


def issues(report: Report, policy: Policy) -> tuple[Issue, ...]:
    """Every finding (in the report's deterministic order), then any signature problem."""
    catalog = load_rules().catalog
    known_paths = {a.path for a in report.artifacts}
    out = [_finding_issue(f, catalog.get(f.rule_id), policy, known_paths) for f in report.findings]
    signature_issue = _signature_issue(report.signature, policy, catalog)
    if signature_issue is not None:
        out.append(signature_issue)
    return tuple(out)


def _finding_issue(finding: Finding, info: RuleInfo | None, policy: Policy, known_paths: set[str]) -> Issue:
    loc = finding.location
    props = [(prop("artifact"), finding.artifact)]
    for key in ("offset", "opcode_index", "stream", "member", "pointer", "line"):
        value = getattr(loc, key)
        if value is not None:
            props.append((prop(f"location:{key}"), str(value)))
    if finding.callable:
        props.append((prop("callable"), finding.callable))
    counted = policy.effective(finding)
    if counted is None:
        props.append((prop("suppressed"), "true"))
    elif counted.severity != finding.severity:
        props.append((prop("policy-severity"), counted.severity.label))
    detail = finding.evidence
    where = _where(finding)
    if where:
        detail = f"{detail} ({where})" if detail else where
    refs = tuple(
        dict.fromkeys(
            [*([finding.reference] if finding.reference else []), *(info.references if info else ())]
        )
    )
    return Issue(
        rule_id=finding.rule_id,
        severity=finding.severity.label,
        artifact=finding.artifact if finding.artifact in known_paths else None,
        description=finding.message,
        detail=detail,
        recommendation=(info.help or info.summary) if info else None,
        cwes=info.cwe if info else (),
        references=refs,
        properties=tuple(props),
        confirmed=finding.severity.label in ("high", "critical"),
    )


def _where(finding: Finding) -> str:
    where = finding.location.describe(", ")
    return f"{finding.artifact}, {where}" if where else finding.artifact


def _signature_issue(
    sig: SignatureResult | None, policy: Policy, catalog: Mapping[str, RuleInfo]
) -> Issue | None:
    if sig is not None and sig.status in ("failed", "error"):
        rule, text = SIGNATURE_FAILED, f"Signature verification {sig.status}: {sig.reason}"
    elif policy.require_signature and (sig is None or sig.status == "missing"):
        rule = SIGNATURE_REQUIRED_MISSING
        text = f"The policy requires a verified signature: {sig.reason if sig else 'no signature was found'}"
    else:
        return None
    info = catalog.get(rule)
    props = [(prop("signature:status"), sig.status if sig else "missing")]
    bad_files = [c for c in (sig.files if sig else ()) if c.status not in ("ok", "ignored-by-signer")]
    detail = (
        "; ".join(f"{c.path}: {c.status}{f' ({c.detail})' if c.detail else ''}" for c in bad_files) or None
    )
    return Issue(
        rule_id=rule,
        severity=info.severity.label if info else "high",
        artifact=None,
        description=text,
        detail=detail,
        recommendation=(info.help or info.summary) if info else None,
        cwes=info.cwe if info else (),
        references=info.references if info else (),
        properties=tuple(props),
        confirmed=True,
    )


def signature_properties(sig: SignatureResult | None) -> tuple[tuple[str, str], ...]:
    """The verification result as properties of the model (status ``absent`` when not checked)."""
    if sig is None:
        return ((prop("signature:status"), "absent"),)
    fields = [
        ("status", sig.status),
        ("reason", sig.reason),
        ("method", sig.method),
        ("identity", sig.signer),
        ("issuer", sig.issuer),
        ("rekor-log-index", None if sig.log_index is None else str(sig.log_index)),
        ("signed-at", sig.signed_at),
        ("trust-root-sha256", sig.trust_root_digest),
        ("policy", sig.policy),
        ("predicate-type", sig.predicate_type),
        ("hash-type", sig.hash_type),
        ("manifest-sha256", sig.manifest_digest),
        ("ignored-paths", ",".join(sig.ignore_paths) or None),
    ]
    return tuple((prop(f"signature:{k}"), v) for k, v in fields if v)


def signature_text(report: Report) -> str | None:
    """The annotation naming who signed the model, or why verification failed."""
    sig = report.signature
    if sig is None:
        return None
    if sig.verified:
        who = sig.signer or "an unnamed signer"
        extra = f" (issuer {sig.issuer})" if sig.issuer else ""
        log = f"; transparency log index {sig.log_index}" if sig.log_index is not None else ""
        how = f"{sig.method} " if sig.method else ""
        return f"The {how}signature over {report.target} was verified: signed by {who}{extra}{log}."
    return f"The signature over {report.target} was not verified ({sig.status}): {sig.reason}"


def verdict_properties(report: Report, policy: Policy) -> tuple[tuple[str, str], ...]:
    verdict = policy.judge(report)
    props = [
        (prop("verdict"), "pass" if verdict.passed else "fail"),
        (prop("fail-on"), verdict.fail_on.label if verdict.fail_on is not None else "never"),
        (prop("policy"), policy.source),
        (prop("policy-sha256"), policy.digest),
        (prop("rules-version"), report.rules_version),
        (prop("target"), report.target),
    ]
    if verdict.worst is not None:
        props.append((prop("worst-severity"), verdict.worst.label))
    for severity, count in sorted(verdict.counts.items()):
        if count:
            props.append((prop(f"findings:{severity}"), str(count)))
    props.extend((prop("verdict-reason"), reason) for reason in verdict.reasons)
    props.extend((prop("scan-error"), f"{e.artifact or report.target}: {e.message}") for e in report.errors)
    return tuple(props)
