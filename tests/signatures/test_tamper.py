"""Threat model: every way to tamper with a signed model fails, with the right status or reason."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from signatures.policy import Identity
from signatures.sign import CertificateSigner, KeySigner, sign_model
from signatures.verify import CertificateMethod, KeylessMethod, KeyMethod, Method, verify_model
from tests.signatures.pki import Pki, make_pki

IBM = Identity("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2")


def _methods(vectors: Path) -> dict[str, Method]:
    keys = vectors / "keys"
    return {
        "v1.1.0-sigstore": KeylessMethod(IBM),
        "v1.0.0-sigstore": KeylessMethod(IBM),
        "v1.1.0-elliptic-key": KeyMethod(keys / "signing-key-pub.pem"),
        "v1.1.0-certificate": CertificateMethod((keys / "ca-cert.pem",)),
        "v0.2.0-certificate": CertificateMethod((keys / "ca-cert.pem",)),
    }


VECTORS = [
    "v1.1.0-sigstore",
    "v1.0.0-sigstore",
    "v1.1.0-elliptic-key",
    "v1.1.0-certificate",
    "v0.2.0-certificate",
]


def statuses(result: object) -> dict[str, str]:
    return {f.path: f.status for f in result.files}  # type: ignore[attr-defined]


@pytest.mark.parametrize("folder", VECTORS)
def test_changed_byte_is_a_mismatch(vectors: Path, copy_vector: Callable[[str], Path], folder: str) -> None:
    model = copy_vector(folder)
    data = bytearray((model / "signme-1").read_bytes())
    data[0] ^= 0x01
    (model / "signme-1").write_bytes(bytes(data))
    result = verify_model(model, _methods(vectors)[folder])
    assert result.status == "failed"
    assert statuses(result)["signme-1"] == "mismatch"
    assert statuses(result)["signme-2"] == "ok"


@pytest.mark.parametrize("folder", VECTORS)
def test_added_file_is_unsigned_and_fails(
    vectors: Path, copy_vector: Callable[[str], Path], folder: str
) -> None:
    model = copy_vector(folder)
    (model / "evil.pkl").write_bytes(b"\x80\x04K\x01.")
    result = verify_model(model, _methods(vectors)[folder])
    assert result.status == "failed"
    assert statuses(result)["evil.pkl"] == "unsigned"
    assert "unsigned" in result.reason


@pytest.mark.parametrize("folder", VECTORS)
def test_removed_file_is_missing(vectors: Path, copy_vector: Callable[[str], Path], folder: str) -> None:
    model = copy_vector(folder)
    (model / "signme-2").unlink()
    result = verify_model(model, _methods(vectors)[folder])
    assert result.status == "failed"
    assert statuses(result)["signme-2"] == "missing"


@pytest.mark.parametrize("folder", VECTORS)
def test_renamed_file_is_missing_plus_unsigned(
    vectors: Path, copy_vector: Callable[[str], Path], folder: str
) -> None:
    model = copy_vector(folder)
    (model / "signme-1").rename(model / "signme-1.bak")
    result = verify_model(model, _methods(vectors)[folder])
    assert result.status == "failed"
    assert statuses(result)["signme-1"] == "missing"
    assert statuses(result)["signme-1.bak"] == "unsigned"


@pytest.mark.parametrize("folder", VECTORS)
def test_renamed_model_folder_still_verifies(
    vectors: Path, tmp_path: Path, copy_vector: Callable[[str], Path], folder: str
) -> None:
    # subject.name is informational (spec): identity is never bound to the folder name.
    model = copy_vector(folder).rename(tmp_path / "renamed")
    assert verify_model(model, _methods(vectors)[folder]).status == "verified"


@pytest.mark.parametrize("folder", VECTORS)
def test_statement_edited_after_signing_fails(
    vectors: Path, copy_vector: Callable[[str], Path], folder: str
) -> None:
    # The attacker changes a signed digest to match a swapped file, keeping the old signature.
    model = copy_vector(folder)
    (model / "signme-1").write_bytes(b"swapped!")
    doc = json.loads((model / "model.sig").read_bytes())
    payload = base64.b64decode(doc["dsseEnvelope"]["payload"]).decode()
    import hashlib

    old = next(part for part in payload.split('"') if len(part) == 64)
    payload = payload.replace(old, hashlib.sha256(b"swapped!").hexdigest(), 1)
    doc["dsseEnvelope"]["payload"] = base64.b64encode(payload.encode()).decode()
    (model / "model.sig").write_text(json.dumps(doc))
    result = verify_model(model, _methods(vectors)[folder])
    assert result.status == "failed"
    assert not result.files  # nothing is trusted from an unverified statement


@pytest.mark.parametrize("folder", VECTORS)
def test_signature_bytes_edited_fails(vectors: Path, copy_vector: Callable[[str], Path], folder: str) -> None:
    model = copy_vector(folder)
    doc = json.loads((model / "model.sig").read_bytes())
    sig = bytearray(base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[10] ^= 0xFF
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    (model / "model.sig").write_text(json.dumps(doc))
    result = verify_model(model, _methods(vectors)[folder])
    assert result.status == "failed"


def test_truncated_bundle_fails_as_malformed(copy_vector: Callable[[str], Path], vectors: Path) -> None:
    model = copy_vector("v1.1.0-elliptic-key")
    raw = (model / "model.sig").read_bytes()
    (model / "model.sig").write_bytes(raw[: len(raw) // 2])
    result = verify_model(model, _methods(vectors)["v1.1.0-elliptic-key"])
    assert result.status == "failed"
    assert "malformed" in result.reason


def test_missing_signature_is_reported_missing(model: Path, pki: Pki) -> None:
    result = verify_model(model, KeyMethod(pki.public_key))
    assert result.status == "missing"
    assert "no signature" in result.reason


def test_keyless_wrong_identity_fails(vectors: Path) -> None:
    result = verify_model(
        vectors / "v1.1.0-sigstore", KeylessMethod(Identity("attacker@example.com", IBM.issuer))
    )
    assert result.status == "failed"
    assert "stefanb@us.ibm.com" in result.reason and "attacker@example.com" in result.reason


def test_keyless_wrong_issuer_fails(vectors: Path) -> None:
    result = verify_model(
        vectors / "v1.1.0-sigstore", KeylessMethod(Identity(IBM.identity, "https://accounts.google.com"))
    )
    assert result.status == "failed"
    assert "issuer" in result.reason


def test_keyless_against_wrong_root_is_unknown_source_not_tampering(vectors: Path, sigdata: Path) -> None:
    result = verify_model(
        vectors / "v1.1.0-sigstore", KeylessMethod(IBM, sigdata / "trust/staging.trusted_root.json")
    )
    assert result.status == "error"
    assert "unknown log or time source" in result.reason
    assert "trust update" in result.reason
    assert result.trust_root_digest is not None and not result.trust_root_digest.startswith("6494e21e")


def test_key_signature_with_other_key_fails(model: Path, pki: Pki, tmp_path: Path) -> None:
    sign_model(model, KeySigner(pki.key))
    other = make_pki(tmp_path / "other")
    result = verify_model(model, KeyMethod(other.public_key))
    assert result.status == "failed"
    assert "not the given key" in result.reason


def test_certificate_against_wrong_root_fails(model: Path, pki: Pki) -> None:
    sign_model(model, CertificateSigner(pki.key, pki.leaf, (pki.intermediate, pki.root)))
    result = verify_model(model, CertificateMethod((pki.other_root,)))
    assert result.status == "failed"
    assert "chain" in result.reason


def test_certificate_disallowed_subject_fails(model: Path, pki: Pki) -> None:
    sign_model(model, CertificateSigner(pki.key, pki.leaf, (pki.intermediate, pki.root)))
    assert verify_model(model, CertificateMethod((pki.root,), ("ml-release-signer",))).status == "verified"
    assert verify_model(model, CertificateMethod((pki.root,), ("release@example.org",))).status == "verified"
    result = verify_model(model, CertificateMethod((pki.root,), ("someone-else",)))
    assert result.status == "failed"
    assert "not on the allowlist" in result.reason


def test_certificate_expired_now_fails_although_model_signing_accepts_it(model: Path, tmp_path: Path) -> None:
    # model_signing checks validity at the leaf's notBefore, so an expired leaf passes there.
    import model_signing

    now = dt.datetime.now(dt.timezone.utc)
    expired = make_pki(
        tmp_path / "expired", not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=30)
    )
    (
        model_signing.signing.Config()
        .use_certificate_signer(
            private_key=expired.key,
            signing_certificate=expired.leaf,
            certificate_chain=[expired.intermediate],
        )
        .set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"]))
        .sign(model, model / "model.sig")
    )
    model_signing.verifying.Config().use_certificate_verifier(certificate_chain=[expired.root]).verify(
        model, model / "model.sig"
    )  # the oracle accepts it: this is the pitfall we close
    result = verify_model(model, CertificateMethod((expired.root,)))
    assert result.status == "failed"
    assert "not valid now" in result.reason


def test_vector_certificate_fails_once_expired(vectors: Path) -> None:
    later = dt.datetime(2036, 1, 1, tzinfo=dt.timezone.utc)
    result = verify_model(
        vectors / "v1.1.0-certificate", CertificateMethod((vectors / "keys/ca-cert.pem",)), now=later
    )
    assert result.status == "failed"
    assert "not valid now" in result.reason


def test_leaf_without_signing_usage_is_rejected(model: Path, tmp_path: Path) -> None:
    import model_signing

    tls_like = make_pki(tmp_path / "tls", code_signing=False)
    (
        model_signing.signing.Config()
        .use_certificate_signer(
            private_key=tls_like.key,
            signing_certificate=tls_like.leaf,
            certificate_chain=[tls_like.intermediate],
        )
        .set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"]))
        .sign(model, model / "model.sig")
    )
    result = verify_model(model, CertificateMethod((tls_like.root,)))
    assert result.status == "failed"
    assert "digitalSignature" in result.reason


def test_symlink_in_place_of_signed_file_is_not_followed(model: Path, pki: Pki, tmp_path: Path) -> None:
    sign_model(model, KeySigner(pki.key))
    target = tmp_path / "outside.json"
    target.write_bytes((model / "config.json").read_bytes())
    (model / "config.json").unlink()
    os.symlink(target, model / "config.json")
    result = verify_model(model, KeyMethod(pki.public_key))
    assert result.status == "failed"
    assert statuses(result)["config.json"] == "mismatch"


def test_git_metadata_changes_do_not_break_the_signature(model: Path, pki: Pki) -> None:
    sign_model(model, KeySigner(pki.key))
    (model / ".git" / "HEAD").write_text("ref: refs/heads/other\n")
    assert verify_model(model, KeyMethod(pki.public_key)).status == "verified"


def test_nested_git_folder_is_not_ignored(model: Path, pki: Pki) -> None:
    # The default ignores are top-level only: a nested .git could hide anything.
    sign_model(model, KeySigner(pki.key))
    (model / "tokenizer" / ".git").mkdir()
    (model / "tokenizer" / ".git" / "hook.py").write_text("import os")
    result = verify_model(model, KeyMethod(pki.public_key))
    assert statuses(result)["tokenizer/.git/hook.py"] == "unsigned"


def test_keyless_certificate_from_another_ca_fails_as_untrusted_not_stale(
    copy_vector: Callable[[str], Path], tmp_path: Path
) -> None:
    # A look-alike "Fulcio" certificate (same SAN) from the attacker's own CA, in a bundle whose
    # log entry and timestamps are genuine: this is forgery, not a stale root.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.signatures.pki import issue

    model = copy_vector("v1.1.0-sigstore")
    doc = json.loads((model / "model.sig").read_bytes())
    ca_key = ec.generate_private_key(ec.SECP384R1())
    since = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)  # valid when the real one was signed
    ca = issue("sigstore-intermediate", ca_key, None, ca_key, ca=True, not_before=since)
    leaf = issue(
        "sigstore",
        ec.generate_private_key(ec.SECP256R1()),
        ca,
        ca_key,
        ca=False,
        email="stefanb@us.ibm.com",
        not_before=since,
    )
    doc["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(
        leaf.public_bytes(serialization.Encoding.DER)
    ).decode()
    (model / "model.sig").write_text(json.dumps(doc))
    assert isinstance(leaf, x509.Certificate)
    result = verify_model(model, KeylessMethod(IBM))
    assert result.status == "failed"
    assert "not issued by a Fulcio CA" in result.reason
    assert "candidates exhausted" in result.reason  # no chain to a trusted CA, not a date problem


def test_stale_root_without_the_bundles_timestamp_authority_is_unknown_source(
    sigdata: Path, tmp_path: Path
) -> None:
    # Rekor v2 entries carry no log time: only a TSA vouches for the time. A root that predates
    # that TSA must say "unknown time source", not "tampered".
    from signatures.bundle import parse_bundle
    from signatures.crypto import UnknownSourceError, verify_keyless
    from signatures.trust import load_trust_root

    root = json.loads((sigdata / "trust/staging.trusted_root.json").read_bytes())
    assert root["timestampAuthorities"]
    root["timestampAuthorities"] = []
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(root))
    raw = (sigdata / "sigstore-python/a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    san = (
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
        "extremely-dangerous-oidc-beacon.yml@refs/heads/main"
    )
    policy = Identity(san, "https://token.actions.githubusercontent.com")
    bundle = parse_bundle(raw)
    facts = verify_keyless(bundle, load_trust_root(sigdata / "trust/staging.trusted_root.json"), policy)
    assert facts.signed_at == "2026-05-13T19:23:33+00:00"  # from the TSA: Rekor v2 has no log time
    with pytest.raises(UnknownSourceError, match="unknown log or time source"):
        verify_keyless(bundle, load_trust_root(stale), policy)
