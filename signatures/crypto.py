"""The three cryptographic checks: Sigstore keyless, bare EC key, certificate chain.

Keyless verification is delegated whole to sigstore-python (chain to Fulcio at the signed
time, SCT, transparency-log inclusion and SET, TSA timestamps, the DSSE signature, log-entry
consistency) with our identity policy. Key and certificate signatures are plain ECDSA over the
DSSE pre-authentication encoding, checked with ``cryptography``; certificate chains are built
to the caller's roots only, at the current time, never against a system or certifi store.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from signatures.bundle import INTOTO_PAYLOAD_TYPE, ParsedBundle
from signatures.errors import CryptoError, SignatureError
from signatures.policy import IdentityPolicy, oidc_issuer, subject_alternative_names
from signatures.trust import TrustRoot

_CURVE_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
#: sigstore's failure when no trusted time source (a SET-bound log time or a TSA token it
#: knows) vouches for the signature: typically a TSA newer than the trusted root.
_NO_TIME_SOURCE = ("not enough sources of verified time", "no Timestamp Authorities have been provided")


class UnknownSourceError(CryptoError):
    """The signature may be fine but the trusted root does not cover its log or time source."""


@dataclass(frozen=True)
class SignerFacts:
    """Who signed and when, as the verified material says."""

    signer: str | None
    issuer: str | None = None
    log_index: int | None = None
    signed_at: str | None = None


def pae(payload: bytes, payload_type: str = INTOTO_PAYLOAD_TYPE) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def _pae_v02_compat(payload: bytes) -> bytes:
    # model_signing 0.2 formatted the bytes object into a str (b'...' with escapes) and used
    # "DSSEV1"; those signatures are still in use, so the verifier accepts them.
    t = INTOTO_PAYLOAD_TYPE
    return f"DSSEV1 {len(t)} {t} {len(payload)} {payload!r}".encode()


def key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """model_signing's ``publicKey.hint``: sha256 of the PEM SubjectPublicKeyInfo."""
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def load_ec_public_key(pem: bytes, where: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise SignatureError(f"{where} is not a PEM public key: {exc}") from None
    return require_supported_curve(key, where)


def require_supported_curve(key: object, where: str) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVE_HASH:
        raise SignatureError(f"{where}: only EC keys on P-256, P-384 or P-521 are supported")
    return key


def verify_ecdsa(bundle: ParsedBundle, key: ec.EllipticCurvePublicKey) -> None:
    """The DSSE signature over the statement, or ``CryptoError``."""
    digest = _CURVE_HASH[key.curve.name]()
    try:
        key.verify(bundle.signature, pae(bundle.payload), ec.ECDSA(digest))
        return
    except InvalidSignature:
        pass
    try:
        key.verify(bundle.signature, _pae_v02_compat(bundle.payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CryptoError(
            "the signature does not match the signed statement "
            "(the bundle was edited, or another key signed it)"
        ) from None


def verify_key(bundle: ParsedBundle, key: ec.EllipticCurvePublicKey) -> SignerFacts:
    fingerprint = key_fingerprint(key)
    if bundle.key_hint is not None and bundle.key_hint != fingerprint:
        raise CryptoError(f"signed by key {bundle.key_hint[:16]}…, not the given key {fingerprint[:16]}…")
    verify_ecdsa(bundle, key)
    return SignerFacts(signer=f"key sha256:{fingerprint}")


def verify_certificate(
    bundle: ParsedBundle,
    roots: Sequence[x509.Certificate],
    subject_policy: IdentityPolicy | None,
    now: _dt.datetime | None = None,
) -> tuple[SignerFacts, x509.Certificate]:
    """Chain to ``roots`` valid *now*, a signing-capable leaf, the subject allowlist, the signature."""
    try:
        certs = [x509.load_der_x509_certificate(der) for der in bundle.certificates]
    except ValueError as exc:
        raise CryptoError(f"a certificate in the bundle does not parse: {exc}") from None
    leaf, intermediates = certs[0], certs[1:]
    moment = now or _dt.datetime.now(_dt.timezone.utc)
    if not leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc:
        raise CryptoError(
            "the signing certificate is not valid now (valid "
            f"{leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d})"
        )
    # Private PKIs issue signing leaves that WebPKI rules would reject (model_signing's own
    # test leaf has CA:TRUE), so the leaf's extensions are checked below instead.
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(moment)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        raise CryptoError(
            f"the certificate chain does not lead to a given root at the current time: {exc}"
        ) from None
    if not _can_sign(leaf):
        raise CryptoError("the signing certificate allows neither digitalSignature nor codeSigning")
    if subject_policy is not None and (why := subject_policy.check(leaf)) is not None:
        raise CryptoError(why)
    verify_ecdsa(bundle, require_supported_curve(leaf.public_key(), "signing certificate"))
    return SignerFacts(signer=leaf.subject.rfc4514_string(), issuer=leaf.issuer.rfc4514_string()), leaf


def verify_keyless(bundle: ParsedBundle, trust: TrustRoot, policy: IdentityPolicy) -> SignerFacts:
    """sigstore-python's full keyless check with ``policy``; the payload it returns must be ours."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier

    try:
        parsed = Bundle.from_json(bundle.raw)
    except Exception as exc:  # InvalidBundle, pydantic and JSON errors all mean a bad bundle
        raise CryptoError(f"not a valid Sigstore bundle: {exc}") from None
    # A log the root does not list is the usual face of a stale root (Rekor v2 shards rotate):
    # say so instead of calling it tampering. It is still not verified.
    log_id = parsed.log_entry._inner.log_id.key_id
    known_logs = {t.log_id.key_id for t in trust.root._inner.tlogs}
    if log_id not in known_logs:
        raise UnknownSourceError(
            f"unknown log or time source: transparency log {log_id.hex()[:16]}… "
            "is not in this trusted root; if the root is stale, "
            "run `modelscan trust update`"
        )
    try:
        ptype, payload = Verifier(trusted_root=trust.root).verify_dsse(parsed, policy)
    except SigstoreError as exc:
        text = str(exc)
        if policy.check(parsed.signing_certificate) is None and any(m in text for m in _NO_TIME_SOURCE):
            raise UnknownSourceError(
                f"unknown log or time source for this trusted root ({text}); "
                "if the root is stale, run `modelscan trust update`"
            ) from None
        if "certificate chain" in text:
            text = f"the signing certificate was not issued by a Fulcio CA of the trusted root ({text})"
        raise CryptoError(text) from None
    if ptype != INTOTO_PAYLOAD_TYPE or payload != bundle.payload:
        raise CryptoError("the verified DSSE payload is not the statement in the bundle")
    cert = parsed.signing_certificate
    sans = subject_alternative_names(cert)
    entry = parsed.log_entry._inner
    when = (
        _dt.datetime.fromtimestamp(int(entry.integrated_time), _dt.timezone.utc).isoformat()
        if entry.integrated_time
        else _tsa_time(parsed)
    )
    return SignerFacts(
        signer=sans[0] if sans else None,
        issuer=oidc_issuer(cert),
        log_index=int(entry.log_index),
        signed_at=when,
    )


def _tsa_time(bundle: Any) -> str | None:
    """The earliest RFC 3161 time (Rekor v2 entries carry none); sigstore verified the tokens."""
    data = bundle.verification_material.timestamp_verification_data
    times = [ts.tst_info.gen_time for ts in (data.rfc3161_timestamps if data is not None else [])]
    return min(times).isoformat() if times else None


def _can_sign(cert: x509.Certificate) -> bool:
    try:
        if cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        return (
            ExtendedKeyUsageOID.CODE_SIGNING
            in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    except x509.ExtensionNotFound:
        return False
