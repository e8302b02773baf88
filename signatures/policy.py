"""Who may have signed: identity policies over the signing certificate.

Shaped like sigstore-python's ``Identity / AllOf / AnyOf``: each policy is a small object
whose ``check`` returns ``None`` when the certificate satisfies it and otherwise the reason it
does not. ``verify`` raises sigstore's ``VerificationError``, so every policy here can be
handed to ``sigstore.verify.Verifier`` directly. Composition fails closed: an empty ``AllOf``
or ``AnyOf`` rejects everything, and the one policy that checks nothing says so in its name.
"""

from __future__ import annotations

import fnmatch
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier
from sigstore.errors import VerificationError

from signatures.errors import SignatureError

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
# Fulcio certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_GH_REPOSITORY_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.5")
_GH_REF_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.6")
_SOURCE_REPO_URI = ObjectIdentifier("1.3.6.1.4.1.57264.1.12")
_SOURCE_REPO_REF = ObjectIdentifier("1.3.6.1.4.1.57264.1.14")


class IdentityPolicy(ABC):
    """A rule about the signing certificate's identity."""

    @property
    @abstractmethod
    def name(self) -> str:
        """A readable description, recorded in the result as the policy that matched."""

    @abstractmethod
    def check(self, cert: x509.Certificate) -> str | None:
        """``None`` when ``cert`` satisfies the policy, else one sentence saying why not."""

    def verify(self, cert: x509.Certificate) -> None:
        """sigstore's ``VerificationPolicy`` protocol."""
        reason = self.check(cert)
        if reason is not None:
            raise VerificationError(reason)


@dataclass(frozen=True)
class Identity(IdentityPolicy):
    """Exact SAN (email, URI or otherName) and exact OIDC issuer."""

    identity: str
    issuer: str

    @property
    def name(self) -> str:
        return f"identity={self.identity} issuer={self.issuer}"

    def check(self, cert: x509.Certificate) -> str | None:
        if (why := _issuer_mismatch(cert, self.issuer)) is not None:
            return why
        sans = subject_alternative_names(cert)
        if self.identity not in sans:
            return f"signer identity {_show(sans)} is not the expected {self.identity!r}"
        return None


@dataclass(frozen=True)
class IdentityRegex(IdentityPolicy):
    """A SAN matching ``pattern`` in full (anchored at both ends) and an exact issuer."""

    pattern: str
    issuer: str

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise SignatureError(f"identity pattern {self.pattern!r} is not a valid regex: {exc}") from None

    @property
    def name(self) -> str:
        return f"identity~/{self.pattern}/ issuer={self.issuer}"

    def check(self, cert: x509.Certificate) -> str | None:
        if (why := _issuer_mismatch(cert, self.issuer)) is not None:
            return why
        sans = subject_alternative_names(cert)
        # fullmatch, never search: "alice@corp\.com" must not accept "alice@corp.com.evil".
        if not any(re.fullmatch(self.pattern, s) for s in sans):
            return f"signer identity {_show(sans)} does not match /{self.pattern}/"
        return None


@dataclass(frozen=True)
class GitHubRepository(IdentityPolicy):
    """Signed by a GitHub Actions workflow run in ``owner/repo``, optionally on refs matching
    ``ref`` (a glob such as ``refs/tags/v*``) and by the workflow file ``workflow``."""

    repository: str
    ref: str | None = None
    workflow: str | None = None

    @property
    def name(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in (("ref", self.ref), ("workflow", self.workflow)) if v)
        return f"github repository={self.repository}{extra}"

    def check(self, cert: x509.Certificate) -> str | None:
        if (why := _issuer_mismatch(cert, GITHUB_ISSUER)) is not None:
            return why
        repo = _ext_text(cert, _SOURCE_REPO_URI)
        repo = repo.removeprefix("https://github.com/") if repo else _ext_text(cert, _GH_REPOSITORY_V1)
        if repo != self.repository:
            return f"signed from repository {repo!r}, not {self.repository!r}"
        ref = _ext_text(cert, _SOURCE_REPO_REF) or _ext_text(cert, _GH_REF_V1)
        if self.ref is not None and (ref is None or not fnmatch.fnmatchcase(ref, self.ref)):
            return f"signed on ref {ref!r}, which does not match {self.ref!r}"
        if self.workflow is not None:
            sans = subject_alternative_names(cert)
            wanted = f"/.github/workflows/{self.workflow}@"
            if not any(wanted in s for s in sans):
                return f"signing workflow {_show(sans)} is not {self.workflow!r}"
        return None


@dataclass(frozen=True)
class CertificateSubject(IdentityPolicy):
    """For private-PKI certificates: the leaf's common name or a SAN is on an allowlist."""

    allowed: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"certificate subject in {list(self.allowed)}"

    def check(self, cert: x509.Certificate) -> str | None:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        names += subject_alternative_names(cert)
        if not self.allowed or not any(n in self.allowed for n in names):
            return f"certificate subject {_show(names)} is not on the allowlist {list(self.allowed)}"
        return None


@dataclass(frozen=True)
class AllOf(IdentityPolicy):
    """Every child policy must pass; with no children nothing passes."""

    policies: tuple[IdentityPolicy, ...]

    @property
    def name(self) -> str:
        return "all of (" + "; ".join(p.name for p in self.policies) + ")"

    def check(self, cert: x509.Certificate) -> str | None:
        if not self.policies:
            return "an empty all-of policy accepts no signer"
        for p in self.policies:
            if (why := p.check(cert)) is not None:
                return why
        return None


@dataclass(frozen=True)
class AnyOf(IdentityPolicy):
    """At least one child policy must pass."""

    policies: tuple[IdentityPolicy, ...]

    @property
    def name(self) -> str:
        return "any of (" + "; ".join(p.name for p in self.policies) + ")"

    def check(self, cert: x509.Certificate) -> str | None:
        reasons = [p.check(cert) for p in self.policies]
        if any(r is None for r in reasons):
            return None
        if not reasons:
            return "an empty any-of policy accepts no signer"
        return "no allowed signer matched: " + "; ".join(r for r in reasons if r)


@dataclass(frozen=True)
class UnsafeAnySigner(IdentityPolicy):
    """Accepts every certificate: integrity only, no statement about who signed.

    Not reachable from the command line; for callers that check identity elsewhere.
    """

    @property
    def name(self) -> str:
        return "UNSAFE: any signer"

    def check(self, cert: x509.Certificate) -> str | None:
        return None


def subject_alternative_names(cert: x509.Certificate) -> list[str]:
    """Every email, URI and otherName (UTF-8) SAN of ``cert``."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = [
        *san.get_values_for_type(x509.RFC822Name),
        *san.get_values_for_type(x509.UniformResourceIdentifier),
    ]
    for other in san.get_values_for_type(x509.OtherName):
        text = _der_utf8(other.value)
        if text:
            names.append(text)
    return names


def oidc_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer Fulcio recorded (v2 extension, else the v1 raw one)."""
    return _ext_text(cert, _ISSUER_V2) or _ext_text(cert, _ISSUER_V1)


def _issuer_mismatch(cert: x509.Certificate, expected: str) -> str | None:
    actual = oidc_issuer(cert)
    if actual != expected:
        return f"certificate issuer {actual!r} is not the expected {expected!r}"
    return None


def _ext_text(cert: x509.Certificate, oid: ObjectIdentifier) -> str | None:
    try:
        ext = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    raw = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
    # v1 Fulcio extensions hold raw bytes; v2 ones hold a DER UTF8String.
    return _der_utf8(raw) or raw.decode("utf-8", "replace")


def _der_utf8(raw: bytes) -> str | None:
    if len(raw) >= 2 and raw[0] == 0x0C:
        length, offset = raw[1], 2
        if length & 0x80:
            n = length & 0x7F
            length, offset = int.from_bytes(raw[2 : 2 + n], "big"), 2 + n
        if offset + length == len(raw):
            return raw[offset:].decode("utf-8", "replace")
    return None


def _show(names: Sequence[str]) -> str:
    return repr(names[0]) if len(names) == 1 else repr(list(names))
