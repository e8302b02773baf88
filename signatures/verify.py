"""Verifying a model folder against its OpenSSF model signature: one function, one result.

``verify_model`` never raises for a signature that does not verify: it returns a
``SignatureResult`` whose status says what happened (``verified``, ``failed``: the signature
or a file does not match, ``missing``: no signature, ``error``: it could not be checked, e.g.
a trusted root that does not know the signature's log) and whose reason is one sentence. It
raises ``SignatureError`` only when the request itself is unusable (unreadable key or root).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from scanner.model import SignatureResult
from signatures.bundle import CERTIFICATE, KEY, MAX_BUNDLE_BYTES, SIGSTORE, ParsedBundle, parse_bundle
from signatures.crypto import (
    SignerFacts,
    UnknownSourceError,
    load_ec_public_key,
    verify_certificate,
    verify_key,
    verify_keyless,
)
from signatures.errors import BundleError, CryptoError, SignatureError, StatementError
from signatures.manifest import IGNORED, MISMATCH, MISSING, UNSIGNED, check_manifest
from signatures.paths import default_signature_path
from signatures.policy import CertificateSubject, IdentityPolicy
from signatures.statement import parse_statement
from signatures.trust import TrustRoot, load_trust_root

INTEGRITY_ONLY = "integrity only: any leaf under the given roots (no subject allowlist)"


@dataclass(frozen=True)
class KeylessMethod:
    """Sigstore keyless: who may have signed, and the trusted root (None: our pinned one)."""

    policy: IdentityPolicy
    trust_root: Path | None = None


@dataclass(frozen=True)
class KeyMethod:
    public_key: Path


@dataclass(frozen=True)
class CertificateMethod:
    """Certificate chains to ``roots`` only; ``subjects`` allowlists the leaf's CN or SAN."""

    roots: tuple[Path, ...]
    subjects: tuple[str, ...] = ()


Method = KeylessMethod | KeyMethod | CertificateMethod


def verify_model(
    model: str | Path,
    method: Method | None,
    signature: str | Path | None = None,
    known_sha256: Mapping[str, str] | None = None,
    workers: int | None = None,
    now: _dt.datetime | None = None,
) -> SignatureResult:
    """Verify ``model`` (a folder or one file) against its signature with ``method``."""
    return verify_with_digests(model, method, signature, known_sha256, workers, now)[0]


def verify_with_digests(
    model: str | Path,
    method: Method | None,
    signature: str | Path | None = None,
    known_sha256: Mapping[str, str] | None = None,
    workers: int | None = None,
    now: _dt.datetime | None = None,
) -> tuple[SignatureResult, Mapping[str, Mapping[str, str]]]:
    """``verify_model``, plus the whole-file digests it computed (per relative path and
    algorithm), so the scan and the AI-BOM need not read the files again."""
    root = Path(model)
    if not root.exists():
        raise SignatureError(f"model {root} does not exist")
    sig_path = Path(signature) if signature is not None else default_signature_path(root)
    material = _prepare(method)
    if not sig_path.is_file():
        return SignatureResult(status="missing", reason=f"no signature found at {sig_path}"), {}
    try:
        if sig_path.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(f"signature is over the {MAX_BUNDLE_BYTES}-byte limit")
        raw = sig_path.read_bytes()
        bundle = parse_bundle(raw)
    except OSError as exc:
        raise SignatureError(f"cannot read signature {sig_path}: {exc.strerror}") from None
    except BundleError as exc:
        return _failed(f"the signature file is malformed: {exc}"), {}
    if method is None:
        return SignatureResult(
            status="error",
            method=bundle.method,
            reason=(
                f"a {bundle.method} signature is present but no identity, key or certificate root was "
                "given to verify it against"
            ),
        ), {}
    expected = {KeylessMethod: SIGSTORE, KeyMethod: KEY, CertificateMethod: CERTIFICATE}[type(method)]
    if bundle.method != expected:
        return _failed(
            f"the model is signed with the {bundle.method} method, but {expected} was required",
            method=bundle.method,
        ), {}

    trust_digest = material.digest if isinstance(material, TrustRoot) else None
    try:
        facts, policy_name = _verify_crypto(bundle, method, material, now)
        manifest = parse_statement(bundle.payload)
    except UnknownSourceError as exc:
        return SignatureResult(
            status="error", reason=str(exc), method=expected, trust_root_digest=trust_digest
        ), {}
    except (CryptoError, StatementError) as exc:
        return _failed(str(exc), method=expected, trust_root_digest=trust_digest), {}

    skip = _own_signature(root, sig_path)
    check = check_manifest(root, manifest, skip=skip, known_sha256=known_sha256, workers=workers)
    bad = {s: check.count(s) for s in (MISMATCH, MISSING, UNSIGNED) if check.count(s)}
    ignored = check.count(IGNORED)
    if bad:
        detail = ", ".join(f"{n} {s}" for s, n in bad.items())
        first = next(f for f in check.files if f.status in bad)
        reason = f"the model does not match its signature ({detail}; e.g. {first.path}: {first.status})"
        status = "failed"
    else:
        reason = (
            f"signed by {facts.signer}"
            + (f" via {facts.issuer}" if facts.issuer else "")
            + f"; all {check.count('ok')} signed files match"
        )
        if ignored:
            reason += f"; {ignored} file(s) excluded by the signer"
        status = "verified"
    return SignatureResult(
        status=status,
        reason=reason,
        method=expected,
        signer=facts.signer,
        issuer=facts.issuer,
        log_index=facts.log_index,
        signed_at=facts.signed_at,
        trust_root_digest=trust_digest,
        policy=policy_name,
        files=check.files,
        predicate_type=manifest.predicate_type,
        hash_type=manifest.hash_type,
        manifest_digest=manifest.root_digest,
        ignore_paths=manifest.ignore_paths,
    ), check.digests


def _prepare(method: Method | None) -> TrustRoot | object | None:
    """Load what the method needs before touching the model, so bad arguments fail early."""
    if isinstance(method, KeylessMethod):
        return load_trust_root(method.trust_root)
    if isinstance(method, KeyMethod):
        return load_ec_public_key(_read(method.public_key, "public key"), str(method.public_key))
    if isinstance(method, CertificateMethod):
        if not method.roots:
            raise SignatureError("certificate verification needs at least one root certificate")
        roots: list[x509.Certificate] = []
        for path in method.roots:
            try:
                roots += x509.load_pem_x509_certificates(_read(path, "certificate"))
            except ValueError as exc:
                raise SignatureError(f"{path} holds no PEM certificate: {exc}") from None
        return roots
    return None


def _verify_crypto(
    bundle: ParsedBundle, method: Method, material: object, now: _dt.datetime | None
) -> tuple[SignerFacts, str]:
    if isinstance(method, KeylessMethod):
        assert isinstance(material, TrustRoot)
        return verify_keyless(bundle, material, method.policy), method.policy.name
    if isinstance(method, KeyMethod):
        facts = verify_key(bundle, material)  # type: ignore[arg-type]
        return facts, "holder of the given public key"
    subjects = CertificateSubject(method.subjects) if method.subjects else None
    facts, _ = verify_certificate(bundle, material, subjects, now)  # type: ignore[arg-type]
    name = subjects.name if subjects else INTEGRITY_ONLY
    return facts, name


def _own_signature(root: Path, sig_path: Path) -> tuple[str, ...]:
    """The signature file, when it lies inside the model folder, is not part of the model."""
    if not root.is_dir():
        return ()
    try:
        rel = sig_path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ()
    return (rel,)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot read {what} {path}: {exc.strerror}") from None


def _failed(reason: str, method: str | None = None, trust_root_digest: str | None = None) -> SignatureResult:
    return SignatureResult(status="failed", reason=reason, method=method, trust_root_digest=trust_root_digest)
