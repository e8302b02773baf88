"""The signer a policy names (``scanner.policy.Signer``: from a policy file or the command
line) as the verification method ``signatures.verify`` takes. The one conversion: the command
line's options and a policy file's ``signatures:`` section both arrive here as a ``Signer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from scanner.policy import Signer
from signatures.errors import SignatureError

if TYPE_CHECKING:
    from signatures.policy import IdentityPolicy
    from signatures.verify import Method


def method_for(signer: Signer) -> Method | None:
    """The method that checks ``signer``; None when no signer is named. Imports sigstore's
    side only when there is something to verify (it is slow to import)."""
    if not signer.named:
        return None
    if len(signer.methods) > 1:
        raise SignatureError(f"choose one signing method, not {' and '.join(signer.methods)}")
    from signatures.verify import CertificateMethod, KeylessMethod, KeyMethod

    if signer.key is not None:
        return KeyMethod(Path(signer.key))
    if signer.certificate_chain:
        return CertificateMethod(tuple(Path(p) for p in signer.certificate_chain), signer.subjects)
    trust_root = Path(signer.trust_root) if signer.trust_root else None
    return KeylessMethod(_identity_policy(signer), trust_root)


def _identity_policy(signer: Signer) -> IdentityPolicy:
    from signatures.policy import AllOf, AnyOf, GitHubRepository, Identity, IdentityRegex

    alternatives: list[IdentityPolicy] = [
        Identity(i.identity, i.issuer)
        if i.identity is not None
        else IdentityRegex(str(i.identity_regex), i.issuer)
        for i in signer.identities
    ]
    required: list[IdentityPolicy] = []
    if alternatives:
        required.append(alternatives[0] if len(alternatives) == 1 else AnyOf(tuple(alternatives)))
    if signer.github is not None:
        gh = signer.github
        required.append(GitHubRepository(gh.repository, gh.ref, gh.workflow))
    return required[0] if len(required) == 1 else AllOf(tuple(required))
