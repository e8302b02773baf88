"""Threat model for the signed statement: a validly signed but hostile or sloppy manifest."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signatures.crypto import pae
from signatures.errors import StatementError
from signatures.statement import parse_statement, root_digest
from signatures.verify import KeyMethod, verify_model
from tests.signatures.pki import Pki


def _statement(resources: list[dict[str, str]], **serialization: object) -> dict[str, object]:
    ser = {
        "method": "files",
        "hash_type": "sha256",
        "allow_symlinks": False,
        "ignore_paths": [],
        **serialization,
    }
    root = root_digest([(r["name"], r["digest"]) for r in resources])
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m", "digest": {"sha256": root}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {"resources": resources, "serialization": ser},
    }


def _sign_raw(model: Path, statement: dict[str, object], pki: Pki) -> None:
    """Sign an arbitrary statement with the test key, as a malicious or buggy signer could."""
    key = serialization.load_pem_private_key(pki.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payload = json.dumps(statement).encode()
    sig = key.sign(pae(payload), ec.ECDSA(hashes.SHA256()))
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }
    (model / "model.sig").write_text(json.dumps(bundle))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_dot_dot_resource_name_is_refused_before_reading(tmp_path: Path, pki: Pki) -> None:
    # model-transparency#647: "../secret" must never make the verifier read outside the model.
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "secret").write_bytes(b"outside")
    resources = [{"name": "../secret", "algorithm": "sha256", "digest": _sha(b"outside")}]
    _sign_raw(model, _statement(resources), pki)
    result = verify_model(model, KeyMethod(pki.public_key))
    assert result.status == "failed"
    assert "path traversal" in result.reason


@pytest.mark.parametrize("name", ["/etc/passwd", "a/../../b", "a//b", "./a", "a\\..\\b", ""])
def test_unsafe_resource_names_are_rejected(name: str) -> None:
    st = _statement([{"name": name, "algorithm": "sha256", "digest": "0" * 64}])
    with pytest.raises(StatementError):
        parse_statement(json.dumps(st).encode())


def test_inconsistent_root_digest_is_rejected() -> None:
    st = _statement([{"name": "a", "algorithm": "sha256", "digest": "1" * 64}])
    st["subject"] = [{"name": "m", "digest": {"sha256": "2" * 64}}]
    with pytest.raises(StatementError, match="inconsistent"):
        parse_statement(json.dumps(st).encode())


def test_duplicate_resource_is_rejected() -> None:
    r = {"name": "a", "algorithm": "sha256", "digest": "1" * 64}
    with pytest.raises(StatementError, match="twice"):
        parse_statement(json.dumps(_statement([r, r])).encode())


def test_unsupported_hash_type_is_rejected() -> None:
    st = _statement([{"name": "a", "algorithm": "md5", "digest": "1" * 32}], hash_type="md5")
    with pytest.raises(StatementError, match="unsupported hash type"):
        parse_statement(json.dumps(st).encode())


def test_resource_algorithm_must_match_declared_hash_type() -> None:
    st = _statement([{"name": "a", "algorithm": "blake3", "digest": "1" * 64}])
    with pytest.raises(StatementError, match="not the declared"):
        parse_statement(json.dumps(st).encode())


def test_float_shard_size_from_model_signing_is_accepted() -> None:
    st = _statement(
        [{"name": "a:0:3", "algorithm": "sha256-sharded-512", "digest": "1" * 64}],
        method="shards",
        shard_size=512.0,
    )
    assert parse_statement(json.dumps(st).encode()).shard_size == 512


def test_fractional_shard_size_is_rejected() -> None:
    st = _statement(
        [{"name": "a:0:3", "algorithm": "sha256", "digest": "1" * 64}], method="shards", shard_size=512.5
    )
    with pytest.raises(StatementError, match="shard_size"):
        parse_statement(json.dumps(st).encode())


def test_shards_that_skip_bytes_do_not_verify(tmp_path: Path, pki: Pki) -> None:
    # A signer that signs only the first bytes of a file leaves the rest swappable.
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"abcdefgh")
    st = _statement(
        [{"name": "w.bin:0:4", "algorithm": "sha256", "digest": _sha(b"abcd")}],
        method="shards",
        shard_size=4,
        ignore_paths=["model.sig"],
    )
    _sign_raw(model, st, pki)
    result = verify_model(model, KeyMethod(pki.public_key))
    assert result.status == "failed"
    assert {f.path: f.status for f in result.files}["w.bin"] == "mismatch"


def test_signer_ignoring_a_loadable_file_is_flagged(tmp_path: Path, pki: Pki) -> None:
    from signatures.scan_step import signature_findings

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_bytes(b"{}")
    (model / "evil.pkl").write_bytes(b"\x80\x04K\x01.")
    st = _statement(
        [{"name": "config.json", "algorithm": "sha256", "digest": _sha(b"{}")}],
        ignore_paths=["model.sig", "evil.pkl"],
    )
    _sign_raw(model, st, pki)
    result = verify_model(model, KeyMethod(pki.public_key))
    assert result.status == "verified"  # the signer's choice is honoured ...
    assert {f.path: f.status for f in result.files}["evil.pkl"] == "ignored-by-signer"
    findings = signature_findings(result, "model.sig")  # ... and shown to the reviewer
    assert [(f.rule_id, f.artifact) for f in findings] == [("SIG-IGNORED-001", "evil.pkl")]


def test_legacy_digests_v0_1_subject_with_traversal_is_rejected() -> None:
    st = {
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": "https://model_signing/Digests/v0.1",
        "subject": [{"name": "../x", "digest": {"sha256": "0" * 64}}],
        "predicate": {},
    }
    with pytest.raises(StatementError, match="path traversal"):
        parse_statement(json.dumps(st).encode())
