"""The ``signatures:`` section of a user policy file: who must have signed, as data.

```yaml
signatures:
  required: true
  identities:                       # Sigstore keyless, any of these
    - {identity: release@example.org, issuer: https://accounts.google.com}
    - {identity_regex: '.*@example\\.org', issuer: https://accounts.google.com}
  github: {repository: example/model, ref: refs/tags/v*, workflow: release.yml}  # all of, with the above
  key: keys/release.pub             # or a bare EC public key
  certificate_chain: [pki/root.pem] # or certificate chains to these roots ...
  subjects: [ml-release-signer]     # ... whose leaf CN or SAN is one of these
  trust_root: trust/trusted_root.json
```
Relative paths are relative to the policy file. Command-line options override the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from signatures.errors import SignatureError
from signatures.policy import AllOf, AnyOf, GitHubRepository, Identity, IdentityPolicy, IdentityRegex
from signatures.verify import CertificateMethod, KeylessMethod, KeyMethod, Method


@dataclass(frozen=True)
class SignaturePolicy:
    required: bool
    method: Method | None


def load_signature_policy(policy_file: str | Path) -> SignaturePolicy:
    """Read the ``signatures:`` section (absent: nothing required, no method)."""
    path = Path(policy_file)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SignatureError(f"cannot read policy {path}: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("entries"), list) and doc["entries"]:
        doc = doc["entries"][0]
    section = doc.get("signatures") if isinstance(doc, dict) else None
    if section is None:
        return SignaturePolicy(False, None)
    if not isinstance(section, dict):
        raise SignatureError(f"policy {path}: 'signatures' must be a mapping")
    try:
        return SignaturePolicy(bool(section.get("required", False)), _method(section, path.parent))
    except (KeyError, TypeError, AttributeError) as exc:
        raise SignatureError(f"policy {path}: malformed 'signatures' section ({exc})") from None


def _method(section: Mapping[str, Any], base: Path) -> Method | None:
    def rel(p: object) -> Path:
        candidate = Path(str(p))
        return candidate if candidate.is_absolute() else base / candidate

    chosen = [k for k in ("identities", "github", "key", "certificate_chain") if section.get(k)]
    if "identities" in chosen and "github" in chosen:
        chosen.remove("github")  # the two combine into one keyless policy
    if len(chosen) > 1:
        raise SignatureError(f"choose one signing method in the policy, not {', '.join(chosen)}")
    if section.get("key"):
        return KeyMethod(rel(section["key"]))
    if section.get("certificate_chain"):
        roots = section["certificate_chain"]
        roots = roots if isinstance(roots, list) else [roots]
        subjects = tuple(str(s) for s in section.get("subjects") or ())
        return CertificateMethod(tuple(rel(r) for r in roots), subjects)
    parts: list[IdentityPolicy] = []
    alternatives = [_identity(item) for item in section.get("identities") or ()]
    if alternatives:
        parts.append(alternatives[0] if len(alternatives) == 1 else AnyOf(tuple(alternatives)))
    gh = section.get("github")
    if gh:
        parts.append(GitHubRepository(str(gh["repository"]), gh.get("ref"), gh.get("workflow")))
    if not parts:
        return None
    trust = section.get("trust_root")
    return KeylessMethod(parts[0] if len(parts) == 1 else AllOf(tuple(parts)), rel(trust) if trust else None)


def _identity(item: Mapping[str, Any]) -> IdentityPolicy:
    issuer = item.get("issuer")
    if not issuer:
        raise SignatureError("every signer identity in the policy needs an 'issuer'")
    if item.get("identity_regex"):
        return IdentityRegex(str(item["identity_regex"]), str(issuer))
    return Identity(str(item["identity"]), str(issuer))
