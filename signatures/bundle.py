"""Parsing an OpenSSF model-signing bundle (Sigstore bundle JSON) into what verification needs.

Only structure is checked here, with size caps; no cryptography. The signing method is read
from the verification material: a transparency-log entry with a certificate means Sigstore
keyless, a ``publicKey`` means a bare key, an ``x509CertificateChain`` without a log entry
means a private PKI certificate.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from signatures.errors import BundleError

#: A model.sig for a million-file model is a few hundred MiB at most; anything larger is not
#: a signature we should parse into memory.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_CHAIN = 10
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
)

SIGSTORE, KEY, CERTIFICATE = "sigstore", "key", "certificate"


@dataclass(frozen=True)
class ParsedBundle:
    """The parts of a bundle that verification uses."""

    raw: bytes
    """The bundle bytes as read (sigstore-python re-parses them for keyless)."""
    media_type: str
    method: str
    """``sigstore | key | certificate``."""
    payload_type: str
    payload: bytes
    """The DSSE payload (the in-toto statement JSON), decoded from base64."""
    signature: bytes
    """The one DSSE signature."""
    certificates: tuple[bytes, ...] = ()
    """DER certificates, leaf first (keyless: the Fulcio leaf; certificate: leaf + chain)."""
    key_hint: str | None = None
    """``publicKey.hint`` of a key bundle: sha256 of the signer's PEM SubjectPublicKeyInfo."""


def parse_bundle(raw: bytes) -> ParsedBundle:
    """Parse and structurally check a bundle; raise ``BundleError`` saying what is wrong."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise BundleError(f"signature is {len(raw)} bytes, over the {MAX_BUNDLE_BYTES}-byte limit")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"signature is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BundleError("signature is not a JSON object")
    media_type = doc.get("mediaType")
    if media_type not in BUNDLE_MEDIA_TYPES:
        raise BundleError(f"unknown bundle media type {media_type!r}")
    material = _obj(doc, "verificationMaterial")
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise BundleError("bundle has no DSSE envelope (a model signature signs an in-toto statement)")
    payload_type = envelope.get("payloadType")
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise BundleError(f"DSSE payload type is {payload_type!r}, expected {INTOTO_PAYLOAD_TYPE!r}")
    payload = _b64(envelope.get("payload"), "dsseEnvelope.payload")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict):
        raise BundleError("DSSE envelope must carry exactly one signature")
    signature = _b64(sigs[0].get("sig"), "dsseEnvelope.signatures[0].sig")

    tlog = material.get("tlogEntries", [])
    if not isinstance(tlog, list):
        raise BundleError("verificationMaterial.tlogEntries is not a list")
    if "publicKey" in material:
        key = material["publicKey"]
        hint = key.get("hint") if isinstance(key, dict) else None
        return ParsedBundle(
            raw,
            media_type,
            KEY,
            payload_type,
            payload,
            signature,
            key_hint=hint if isinstance(hint, str) and hint else None,
        )
    certs = _certificates(material)
    if "certificate" in material and not tlog:
        # A lone certificate is a Fulcio one (keyless); without its log entry the signing
        # time and transparency cannot be checked (spec bundle schema).
        raise BundleError("a keyless (single certificate) bundle has no transparency log entry")
    method = SIGSTORE if tlog else CERTIFICATE
    return ParsedBundle(raw, media_type, method, payload_type, payload, signature, certificates=certs)


def _certificates(material: dict[str, Any]) -> tuple[bytes, ...]:
    if "certificate" in material:
        cert = material["certificate"]
        return (_b64(cert.get("rawBytes") if isinstance(cert, dict) else None, "certificate.rawBytes"),)
    chain = material.get("x509CertificateChain")
    if not isinstance(chain, dict):
        raise BundleError("verification material holds no public key, certificate or certificate chain")
    certs = chain.get("certificates")
    if not isinstance(certs, list) or not certs:
        raise BundleError("x509CertificateChain is empty")
    if len(certs) > MAX_CHAIN:
        raise BundleError(f"certificate chain has {len(certs)} certificates, over the limit of {MAX_CHAIN}")
    return tuple(
        _b64(c.get("rawBytes") if isinstance(c, dict) else None, f"x509CertificateChain[{i}]")
        for i, c in enumerate(certs)
    )


def _obj(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise BundleError(f"bundle has no {key}")
    return value


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise BundleError(f"{where} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{where} is not valid base64") from None
