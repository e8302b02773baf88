"""The policy: a typed value that turns a report into a verdict.

A policy comes from the built-in ``rules/policy.yaml``, a file given with ``--policy`` or a
``.modelscan.yaml`` found from the working directory (``scanner.policy_file`` reads and
validates those against ``docs/policy-schema.json``, once). Nothing here accepts anything but
a ``Policy``: ``Policy.judge(report)`` is the only way to a verdict.

Anything that weakens a check says so in its name and carries a reason: suppressions need a
justification and may expire (an expired one suppresses nothing); ``findings_only`` drops the
signature requirement and is named for it. Naming a signer — in the file or with ``--key``,
``--identity``, ``--certificate-chain``, ``--github-repository`` — requires a signature that
verifies: a model whose ``model.sig`` was deleted fails.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

from scanner.model import Finding, Report, Severity, Verdict
from scanner.policy_yaml import Key, PolicyDocument, PolicyError, read_policy_document
from scanner.rules import RuleSet, builtin_rules_dir, load_rules

POLICY_FILE_NAME = ".modelscan.yaml"
"""The file ``resolve_policy`` discovers (see ``discover_policy`` for where)."""

Origin = Literal["built-in", "given", "discovered"]
"""Where a policy came from: the built-in default, ``--policy``/the API, or discovery."""


@dataclass(frozen=True)
class Suppression:
    """An accepted risk: findings of ``rule`` on paths matching ``path`` are not counted."""

    rule: str
    """Glob on the rule id."""
    reason: str
    """Why the risk is accepted (required)."""
    path: str = "*"
    """Glob on the artifact path."""
    expires: _dt.date | None = None
    """The last day it applies; after it, it suppresses nothing."""

    def applies(self, finding: Finding, today: _dt.date) -> bool:
        if self.expires is not None and today > self.expires:
            return False
        return fnmatch.fnmatchcase(finding.rule_id, self.rule) and fnmatch.fnmatchcase(
            finding.artifact, self.path
        )


@dataclass(frozen=True)
class SignerIdentity:
    """A Sigstore keyless identity: an exact one or a regex, issued by ``issuer``."""

    issuer: str
    """The exact OIDC issuer URL."""
    identity: str | None = None
    """The signer's exact identity (SAN: an email or URI)."""
    identity_regex: str | None = None
    """A regex the whole identity must match (used when ``identity`` is None)."""


@dataclass(frozen=True)
class GitHubSigner:
    """Signed by GitHub Actions in ``repository`` (optionally a ref glob and a workflow file)."""

    repository: str
    ref: str | None = None
    workflow: str | None = None


@dataclass(frozen=True)
class Signer:
    """Who must have signed the model. At most one method: keyless (identities and/or a
    GitHub repository), a public key, or certificate chains. Paths are absolute or relative
    to the working directory (a policy file's are resolved against its folder when read)."""

    identities: tuple[SignerIdentity, ...] = ()
    """Keyless: any of these."""
    github: GitHubSigner | None = None
    """Keyless: and signed by GitHub Actions in this repository."""
    key: str | None = None
    """An EC public key (PEM) file."""
    certificate_chain: tuple[str, ...] = ()
    """Root certificate (PEM) files the signing certificate must chain to."""
    subjects: tuple[str, ...] = ()
    """With ``certificate_chain``: allowed leaf common names or SANs."""
    trust_root: str | None = None
    """Keyless: the Sigstore trusted root JSON (default: the pinned one)."""

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods named: ``keyless``, ``key``, ``certificate`` (a valid signer names one)."""
        named = (
            ("keyless", bool(self.identities or self.github)),
            ("key", self.key is not None),
            ("certificate", bool(self.certificate_chain)),
        )
        return tuple(name for name, present in named if present)

    @property
    def named(self) -> bool:
        """Whether any signer is named (then a verifying signature is required)."""
        return bool(self.methods)


@dataclass(frozen=True)
class Policy:
    """How findings, signatures and probe results become pass or fail."""

    fail_on: Severity | None = Severity.MEDIUM
    """Fail when a counted finding is at or above this; ``None`` never fails on findings."""
    severity_overrides: Mapping[str, Severity] = field(default_factory=dict)
    """Rule id -> the severity this policy counts its findings at."""
    suppressions: tuple[Suppression, ...] = ()
    require_signature: bool = False
    """Fail unless a signature verifies; always true when ``signer`` names someone."""
    signer: Signer = field(default_factory=Signer)
    """Who must have signed (empty: whoever signed, if a signature is present)."""
    source: str = "built-in"
    """``built-in`` or the policy file's path."""
    origin: Origin = "built-in"

    def __post_init__(self) -> None:
        # A named signer is a requirement, however the policy was built: a verifier that only
        # checks a signature when one happens to be present admits a model whose signature was
        # deleted.
        if self.signer.named and not self.require_signature:
            object.__setattr__(self, "require_signature", True)

    @classmethod
    def default(cls) -> Policy:
        """The built-in policy (``rules/policy.yaml``)."""
        return _default_policy()

    def with_fail_on(self, fail_on: Severity | None) -> Policy:
        return replace(self, fail_on=fail_on)

    def with_signer(self, signer: Signer, required: bool = False) -> Policy:
        """The command line's signature options over this policy: a named ``signer`` replaces
        the file's; ``required`` can only add a requirement, never lift one."""
        chosen = signer if signer.named else self.signer
        return replace(self, signer=chosen, require_signature=self.require_signature or required)

    def findings_only(self) -> Policy:
        """This policy without its signature requirement: for judging a stage that cannot see
        a signature yet (``pull``'s remote scan). Never the verdict of a whole scan."""
        return replace(self, require_signature=False, signer=Signer())

    @property
    def digest(self) -> str:
        """Stable digest of what the policy decides (cache keys, the AI-BOM)."""
        body = {
            "fail_on": self.fail_on.label if self.fail_on is not None else "never",
            "overrides": {k: v.label for k, v in sorted(self.severity_overrides.items())},
            "suppressions": [
                [s.rule, s.path, s.reason, s.expires.isoformat() if s.expires else None]
                for s in self.suppressions
            ],
            "require_signature": self.require_signature,
            "signer": repr(self.signer) if self.signer.named else None,
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
        """The verdict on ``report``: its counted findings against ``fail_on``, and the
        signature requirement against ``report.signature``."""
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


def load_policy(path: str | Path, rules: RuleSet | None = None, origin: Origin = "given") -> Policy:
    """Read and check the policy file at ``path`` (``PolicyError`` naming the line otherwise)
    over the built-in policy; rule ids are checked against ``rules``' catalog (built-in when
    None), so a typo in an id is an error, not a suppression of nothing."""
    return _build(read_policy_document(path), rules or load_rules(), origin, Policy.default())


def discover_policy(targets: Sequence[str], cwd: Path | None = None) -> Path | None:
    """The ``.modelscan.yaml`` that applies to a scan of ``targets`` run from ``cwd``, or None.

    Search order: the working directory, then its parents up to the repository root (the first
    folder holding ``.git``); outside a repository only the working directory. A candidate in
    or below a scanned folder — or the folder that holds a scanned file — is skipped: the
    scanned model is what an attacker controls (a cloned model repo has its own ``.git``), and
    a policy it ships could suppress everything (the pipeline reports such a file as
    ``POLICY-IN-TARGET-001``). To scan with a policy that sits there, pass ``--policy``."""
    here = (cwd or Path.cwd()).resolve()
    local = [
        here / (t[len("file://") :] if t.startswith("file://") else t)  # an absolute path stays itself
        for t in targets
        if "://" not in t or t.startswith("file://")
    ]
    scanned = [p.resolve() if p.is_dir() else p.resolve().parent for p in local]
    chain = [here, *here.parents]
    repo_root = next((i for i, folder in enumerate(chain) if (folder / ".git").exists()), None)
    for folder in chain[: repo_root + 1] if repo_root is not None else chain[:1]:
        candidate = folder / POLICY_FILE_NAME
        if not candidate.is_file():
            continue
        where = {folder, candidate.resolve().parent}  # a link into the target is in the target
        if not any(w == s or s in w.parents for w in where for s in scanned):
            return candidate
    return None


def resolve_policy(
    explicit: str | Path | None,
    targets: Sequence[str],
    rules: RuleSet | None = None,
    cwd: Path | None = None,
) -> Policy:
    """``--policy FILE`` when given; else the discovered ``.modelscan.yaml``; else the default."""
    if explicit is not None:
        return load_policy(explicit, rules, "given")
    found = discover_policy(targets, cwd)
    if found is None:
        return Policy.default()
    owner = _foreign_owner(found)
    if owner is not None:
        raise PolicyError(
            f"{found} was found from the working directory but belongs to uid {owner}, not to you: "
            "another user could have put it there to relax the scan; pass it with --policy if you trust it"
        )
    return load_policy(found, rules, "discovered")


def _foreign_owner(path: Path) -> int | None:
    """The owner of ``path`` when it is neither the user running the scan nor root (a file
    another local user planted, e.g. in a shared /tmp); None where it is ours to trust."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # no POSIX owners (Windows): nothing to compare
        return None
    me, owner = getuid(), path.stat().st_uid
    return None if owner in (me, 0) or me == 0 else owner


@cache
def _default_policy() -> Policy:
    """The built-in ``rules/policy.yaml``, held to the same schema as a user's file."""
    doc = read_policy_document(builtin_rules_dir() / "policy.yaml")
    return replace(_build(doc, load_rules(), "built-in", Policy()), source="built-in")


def _build(doc: PolicyDocument, rules: RuleSet, origin: Origin, base: Policy) -> Policy:
    """The typed policy from a schema-checked document, with the checks the schema cannot make."""
    data = doc.data
    overrides = dict(base.severity_overrides)
    for rule, sev in data.get("severity_overrides", {}).items():
        if rule not in rules.catalog:
            raise doc.error(
                ("severity_overrides", rule), f"{rule} is not a rule id (see `modelscan rules`)", True
            )
        overrides[rule] = Severity.parse(sev)
    suppressions = [*base.suppressions]
    suppressions += [_suppression(doc, i, item, rules) for i, item in enumerate(data.get("suppressions", []))]
    section: Mapping[str, Any] = data.get("signatures", {})
    signer = _signer(doc, section, Path(doc.name).parent)
    if signer.named and section.get("required") is False:
        raise doc.error(
            ("signatures", "required"), "a named signer is always required: remove 'required: false'"
        )
    required = bool(data.get("require_signature", base.require_signature) or section.get("required", False))
    fail_on = base.fail_on
    if "fail_on" in data:
        fail_on = parse_fail_on(data["fail_on"])
    return Policy(fail_on, overrides, tuple(suppressions), required, signer, doc.name, origin)


def _suppression(doc: PolicyDocument, i: int, item: Mapping[str, str], rules: RuleSet) -> Suppression:
    rule = item["rule"]
    if not any(fnmatch.fnmatchcase(r, rule) for r in rules.catalog):
        raise doc.error(("suppressions", i, "rule"), f"{rule!r} matches no rule id (see `modelscan rules`)")
    expires = None
    if "expires" in item:
        try:
            expires = _dt.date.fromisoformat(item["expires"])
        except ValueError:
            raise doc.error(("suppressions", i, "expires"), f"{item['expires']!r} is not a date") from None
    return Suppression(rule=rule, reason=item["reason"], path=item.get("path", "*"), expires=expires)


def _signer(doc: PolicyDocument, section: Mapping[str, Any], base: Path) -> Signer:
    def existing(key: Key, value: str) -> str:
        path = Path(value) if Path(value).is_absolute() else base / value
        if not path.is_file():
            raise doc.error(
                ("signatures", *key), f"{value!r}: no such file (paths start at the policy's folder)"
            )
        return str(path)

    identities = []
    for i, item in enumerate(section.get("identities", [])):
        if ("identity" in item) == ("identity_regex" in item):
            raise doc.error(
                ("signatures", "identities", i), "give exactly one of 'identity' and 'identity_regex'"
            )
        identities.append(SignerIdentity(item["issuer"], item.get("identity"), item.get("identity_regex")))
    gh = section.get("github")
    chain = section.get("certificate_chain", [])
    signer = Signer(
        identities=tuple(identities),
        github=GitHubSigner(gh["repository"], gh.get("ref"), gh.get("workflow")) if gh else None,
        key=existing(("key",), section["key"]) if "key" in section else None,
        certificate_chain=tuple(
            existing(("certificate_chain",), c) for c in ([chain] if isinstance(chain, str) else chain)
        ),
        subjects=tuple(section.get("subjects", [])),
        trust_root=existing(("trust_root",), section["trust_root"]) if "trust_root" in section else None,
    )
    if len(signer.methods) > 1:
        raise doc.error(("signatures",), f"choose one signing method, not {' and '.join(signer.methods)}")
    if signer.subjects and not signer.certificate_chain:
        raise doc.error(("signatures", "subjects"), "'subjects' only applies with 'certificate_chain'")
    return signer


__all__ = [
    "POLICY_FILE_NAME",
    "GitHubSigner",
    "Origin",
    "Policy",
    "PolicyError",
    "Signer",
    "SignerIdentity",
    "Suppression",
    "discover_policy",
    "load_policy",
    "parse_fail_on",
    "resolve_policy",
]
