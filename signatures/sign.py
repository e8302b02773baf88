"""Signing a model folder: OpenSSF model-signing v1.0 exactly as the spec writes it.

Unlike model_signing <= 1.1.1 we emit an integer ``shard_size``, ``algorithm == hash_type``
and the basename for a single-file model; the signature file itself is excluded and recorded
in ``ignore_paths``. Every signature is verified by our own verifier before ``sign_model``
returns; a signature that does not verify is deleted, never left behind.

Known divergence: model_signing 1.1.1 refuses spec-form *shard* signatures (it demands
``sha256-sharded-N`` as the algorithm), so sign with the default ``files`` serialization
when the other side runs model_signing.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from scanner.hashing import Span, hash_spans
from scanner.model import SignatureResult
from signatures.bundle import BUNDLE_MEDIA_TYPES, INTOTO_PAYLOAD_TYPE
from signatures.crypto import _CURVE_HASH, key_fingerprint, pae, require_supported_curve
from signatures.errors import SignatureError
from signatures.manifest import DEFAULT_IGNORES, enumerate_model
from signatures.paths import default_signature_path
from signatures.policy import Identity
from signatures.statement import HASH_TYPES, PREDICATE_V1, STATEMENT_TYPE, resource_order, root_digest
from signatures.verify import (
    CertificateMethod,
    KeylessMethod,
    KeyMethod,
    Method,
    verify_model,
)


@dataclass(frozen=True)
class HashingOptions:
    hash_type: str = "sha256"
    shard_size: int | None = None
    """Sign byte ranges of this size instead of whole files (``shards`` serialization)."""
    ignore_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeySigner:
    private_key: Path
    password: bytes | None = None


@dataclass(frozen=True)
class CertificateSigner:
    """A private key, its leaf certificate and the intermediates up to (not incl.) the root."""

    private_key: Path
    certificate: Path
    chain: tuple[Path, ...] = ()
    password: bytes | None = None


@dataclass(frozen=True)
class SigstoreSigner:
    """Keyless: needs the network (Fulcio, Rekor, TSA) and an OIDC token."""

    identity_token: str | None = None
    staging: bool = False


SignerChoice = KeySigner | CertificateSigner | SigstoreSigner


def build_statement(model: Path, signature: Path, options: HashingOptions = HashingOptions()) -> bytes:
    """The in-toto statement over ``model`` as JSON bytes."""
    if options.hash_type not in HASH_TYPES:
        raise SignatureError(f"unsupported hash type {options.hash_type!r}")
    if options.shard_size is not None and (options.shard_size <= 0 or options.hash_type == "blake3"):
        raise SignatureError("shards need a positive shard size and sha256 or blake2b")
    ignore = list(dict.fromkeys([*DEFAULT_IGNORES, *options.ignore_paths, *_inside(model, signature)]))
    files = enumerate_model(model, ignore if model.is_dir() else ())
    odd = [f.rel for f in files if not f.regular]
    if odd:
        raise SignatureError(f"refusing to sign symlinks or special files: {', '.join(odd[:5])}")
    spans: dict[Span, str] = {}
    for f in files:
        if options.shard_size is None:
            spans[Span(f.path)] = f.rel
            continue
        for start in range(0, max(f.size, 1), options.shard_size):
            end = min(start + options.shard_size, f.size)
            spans[Span(f.path, start, end)] = f"{f.rel}:{start}:{end}"
    digests = hash_spans(spans, (options.hash_type,))
    resources = sorted(
        (
            {"name": name, "algorithm": options.hash_type, "digest": digests[span][options.hash_type]}
            for span, name in spans.items()
        ),
        key=lambda r: resource_order(r["name"]),
    )
    serialization_block: dict[str, object] = {
        "method": "shards" if options.shard_size else "files",
        "hash_type": options.hash_type,
        "allow_symlinks": False,
        "ignore_paths": ignore,
    }
    if options.shard_size:
        serialization_block["shard_size"] = options.shard_size
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": model.resolve().name,
                "digest": {
                    "sha256": root_digest([(r["name"], r["digest"]) for r in resources], presorted=True)
                },
            }
        ],
        "predicateType": PREDICATE_V1,
        "predicate": {"resources": resources, "serialization": serialization_block},
    }
    return json.dumps(statement, separators=(",", ":")).encode()


def sign_model(
    model: str | Path,
    signer: SignerChoice,
    signature: str | Path | None = None,
    options: HashingOptions = HashingOptions(),
    verify_roots: Sequence[Path] = (),
) -> SignatureResult:
    """Sign ``model``, write the bundle, verify it with our verifier and return that result.

    ``verify_roots``: for certificate signing, the root(s) to check our own output against
    (default: the last certificate of the given chain).
    """
    root = Path(model)
    if not root.exists():
        raise SignatureError(f"model {root} does not exist")
    out = Path(signature) if signature is not None else default_signature_path(root)
    payload = build_statement(root, out, options)
    with tempfile.TemporaryDirectory(prefix="modelscan-sign-") as scratch:
        if isinstance(signer, SigstoreSigner):
            bundle_json, method = _sign_keyless(payload, signer, Path(scratch))
        else:
            bundle_json, method = _sign_locally(payload, signer, verify_roots, Path(scratch))
        _write_atomically(out, bundle_json)
        result = verify_model(root, method, out)
    if not result.verified:
        out.unlink(missing_ok=True)
        raise SignatureError(
            f"the signature just written does not verify, so it was removed: {result.reason}"
        )
    return result


def _sign_locally(
    payload: bytes, signer: KeySigner | CertificateSigner, verify_roots: Sequence[Path], scratch: Path
) -> tuple[bytes, Method]:
    key = _load_private_key(signer.private_key, signer.password)
    public = key.public_key()
    sig = key.sign(pae(payload), ec.ECDSA(_CURVE_HASH[public.curve.name]()))
    method: Method
    if isinstance(signer, KeySigner):
        material: dict[str, object] = {"publicKey": {"hint": key_fingerprint(public)}, "tlogEntries": []}
        pub_path = scratch / "key.pub"
        pub_path.write_bytes(
            public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        method = KeyMethod(pub_path)
    else:
        certs = [*_load_certs(signer.certificate), *(c for p in signer.chain for c in _load_certs(p))]
        if certs[0].public_key() != public:
            raise SignatureError(f"{signer.certificate} does not certify the key in {signer.private_key}")
        der = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs]
        material = {
            "x509CertificateChain": {"certificates": [{"rawBytes": d} for d in der]},
            "tlogEntries": [],
        }
        roots = tuple(verify_roots) or ((signer.chain[-1],) if signer.chain else (signer.certificate,))
        method = CertificateMethod(roots)
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPES[0],
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": INTOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }
    return json.dumps(bundle, indent=2).encode(), method


def _sign_keyless(payload: bytes, signer: SigstoreSigner, scratch: Path) -> tuple[bytes, Method]:
    # Needs Fulcio, Rekor and a TSA: not testable offline; tests verify recorded vectors instead.
    from sigstore import dsse
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken, detect_credential
    from sigstore.sign import SigningContext

    try:
        config = ClientTrustConfig.staging() if signer.staging else ClientTrustConfig.production()
        raw_token = signer.identity_token or os.environ.get("SIGSTORE_ID_TOKEN") or detect_credential()
        if not raw_token:
            raise SignatureError(
                "keyless signing needs an OIDC token (--identity-token or SIGSTORE_ID_TOKEN)"
            )
        token = IdentityToken(raw_token)
        with SigningContext.from_trust_config(config).signer(token) as s:
            bundle = s.sign_dsse(dsse.Statement(payload))
    except SignatureError:
        raise
    except Exception as exc:  # network, OIDC and Fulcio errors: all mean "could not sign"
        raise SignatureError(f"keyless signing failed: {exc}") from None
    issuer = token.federated_issuer or token.issuer
    trust = None
    if signer.staging:
        trust = scratch / "trusted_root.json"
        trust.write_text(config.trusted_root._inner.to_json(), encoding="utf-8")
    return bundle.to_json().encode(), KeylessMethod(Identity(token.identity, issuer), trust)


def _load_private_key(path: Path, password: bytes | None) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password)
    except OSError as exc:
        raise SignatureError(f"cannot read private key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{path} is not a usable PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SignatureError(f"{path}: only EC keys on P-256, P-384 or P-521 are supported")
    require_supported_curve(key.public_key(), str(path))
    return key


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise SignatureError(f"cannot read certificate {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SignatureError(f"{path} holds no PEM certificate: {exc}") from None


def _inside(model: Path, signature: Path) -> list[str]:
    if not model.is_dir():
        return []
    try:
        return [signature.resolve().relative_to(model.resolve()).as_posix()]
    except ValueError:
        return []


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".model.sig.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise SignatureError(f"cannot write signature {path}: {exc.strerror}") from None
