"""The verify / sign / trust commands and scan's signature options, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.signatures.pki import Pki

IBM = ["--identity", "stefanb@us.ibm.com", "--issuer", "https://sigstore.verify.ibm.com/oauth2"]


def test_verify_keyless_vector_exits_0(vectors: Path) -> None:
    proc = run_cli("verify", str(vectors / "v1.1.0-sigstore"), *IBM)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("VERIFIED: signed by stefanb@us.ibm.com")


def test_verify_wrong_identity_exits_1_with_reason(vectors: Path) -> None:
    proc = run_cli(
        "verify",
        str(vectors / "v1.1.0-sigstore"),
        "--identity",
        "eve@example.com",
        "--issuer",
        "https://sigstore.verify.ibm.com/oauth2",
        "--format",
        "json",
    )
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["status"] == "failed" and "eve@example.com" in doc["reason"]


def test_verify_without_expected_signer_exits_2(vectors: Path) -> None:
    proc = run_cli("verify", str(vectors / "v1.1.0-sigstore"))
    assert proc.returncode == 2
    assert "--identity" in proc.stderr and "Traceback" not in proc.stderr


def test_verify_identity_without_issuer_exits_2(vectors: Path) -> None:
    proc = run_cli("verify", str(vectors / "v1.1.0-sigstore"), "--identity", "stefanb@us.ibm.com")
    assert proc.returncode == 2 and "--issuer" in proc.stderr


def test_verify_with_non_key_file_exits_2(vectors: Path) -> None:
    proc = run_cli("verify", str(vectors / "v1.1.0-elliptic-key"), "--key", str(vectors / "keys/ca-cert.pem"))
    assert proc.returncode == 2 and "not a PEM public key" in proc.stderr


def test_verify_missing_signature_exits_1(model: Path, pki: Pki) -> None:
    proc = run_cli("verify", str(model), "--key", str(pki.public_key))
    assert proc.returncode == 1 and "MISSING" in proc.stdout


def test_sign_then_verify_with_key(model: Path, pki: Pki) -> None:
    proc = run_cli("sign", str(model), "--key", str(pki.key), "--hash", "blake3")
    assert proc.returncode == 0, proc.stderr
    assert (model / "model.sig").is_file()
    assert run_cli("verify", str(model), "--key", str(pki.public_key)).returncode == 0
    (model / "extra.py").write_text("import os\n")
    proc = run_cli("verify", str(model), "--key", str(pki.public_key))
    assert proc.returncode == 1 and "unsigned" in proc.stdout and "extra.py" in proc.stdout


def test_sign_with_certificate_chain_and_verify_subject(model: Path, pki: Pki) -> None:
    proc = run_cli(
        "sign",
        str(model),
        "--key",
        str(pki.key),
        "--cert",
        str(pki.leaf),
        "--chain",
        str(pki.intermediate),
        "--root",
        str(pki.root),
    )
    assert proc.returncode == 0, proc.stderr
    ok = run_cli("verify", str(model), "--certificate-chain", str(pki.root), "--subject", "ml-release-signer")
    assert ok.returncode == 0, ok.stdout
    bad = run_cli("verify", str(model), "--certificate-chain", str(pki.root), "--subject", "intruder")
    assert bad.returncode == 1


def test_sign_needs_exactly_one_method(model: Path, pki: Pki) -> None:
    proc = run_cli("sign", str(model), "--key", str(pki.key), "--sigstore")
    assert proc.returncode == 2
    assert not (model / "model.sig").exists()


def test_scan_require_signature_fails_unsigned_model(model: Path) -> None:
    proc = run_cli("scan", str(model), "--require-signature", "--no-progress", "--format", "json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["signature"]["status"] == "missing"


def test_scan_with_key_records_verified_signature(model: Path, pki: Pki) -> None:
    assert run_cli("sign", str(model), "--key", str(pki.key)).returncode == 0
    proc = run_cli(
        "scan",
        str(model),
        "--key",
        str(pki.public_key),
        "--require-signature",
        "--no-progress",
        "--format",
        "json",
    )
    doc = json.loads(proc.stdout)
    assert doc["signature"]["status"] == "verified", doc["signature"]
    assert proc.returncode == 0, proc.stdout


def test_scan_flags_tampered_signed_model_even_when_not_required(model: Path, pki: Pki) -> None:
    assert run_cli("sign", str(model), "--key", str(pki.key)).returncode == 0
    (model / "config.json").write_text('{"model_type": "evil"}')
    proc = run_cli("scan", str(model), "--key", str(pki.public_key), "--no-progress", "--format", "json")
    doc = json.loads(proc.stdout)
    assert doc["signature"]["status"] == "failed"
    assert "SIG-FAILED-001" in [f["rule_id"] for f in doc["findings"]]
    assert proc.returncode == 1


def test_trust_show_prints_pinned_root_digest(tmp_path: Path) -> None:
    proc = run_cli("trust", "show")
    assert proc.returncode == 0
    assert "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66" in proc.stdout
    assert "rekor.sigstore.dev" in proc.stdout


def test_scan_reuses_verifier_digests_for_the_report(model: Path, pki: Pki) -> None:
    import hashlib

    assert run_cli("sign", str(model), "--key", str(pki.key)).returncode == 0
    proc = run_cli("scan", str(model), "--key", str(pki.public_key), "--no-progress", "--format", "json")
    artifacts = {a["path"]: a for a in json.loads(proc.stdout)["artifacts"]}
    expected = hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()
    assert artifacts["model.safetensors"]["sha256"] == expected


def test_policy_file_signatures_section_requires_and_names_the_signer(
    model: Path, pki: Pki, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"signatures:\n  required: true\n  key: {pki.public_key.name}\n")
    (tmp_path / pki.public_key.name).write_bytes(pki.public_key.read_bytes())  # relative to the policy
    unsigned = run_cli("scan", str(model), "--policy", str(policy), "--no-progress", "--format", "json")
    assert unsigned.returncode == 1, unsigned.stderr
    assert json.loads(unsigned.stdout)["signature"]["status"] == "missing"
    assert run_cli("sign", str(model), "--key", str(pki.key)).returncode == 0
    signed = run_cli("scan", str(model), "--policy", str(policy), "--no-progress", "--format", "json")
    assert json.loads(signed.stdout)["signature"]["status"] == "verified"
    assert signed.returncode == 0


def test_policy_file_keyless_identities_any_of(vectors: Path, tmp_path: Path) -> None:
    from scanner.policy import load_policy
    from signatures.signer import method_for
    from signatures.verify import verify_model

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "signatures:\n  identities:\n"
        "    - {identity: someone@else.com, issuer: https://sigstore.verify.ibm.com/oauth2}\n"
        "    - {identity_regex: '[a-z]+@us\\.ibm\\.com', issuer: https://sigstore.verify.ibm.com/oauth2}\n"
    )
    loaded = load_policy(policy)
    assert loaded.require_signature  # naming a signer requires the signature (issue 12)
    assert verify_model(vectors / "v1.1.0-sigstore", method_for(loaded.signer)).status == "verified"


def test_keyless_signing_offline_is_a_clear_error_and_writes_nothing(
    model: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from signatures.errors import SignatureError
    from signatures.sign import SigstoreSigner, sign_model

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SIGSTORE_ID_TOKEN", raising=False)
    with pytest.raises(SignatureError, match="keyless signing"):
        sign_model(model, SigstoreSigner(identity_token="not-a-jwt"))
    assert not (model / "model.sig").exists()


def test_trust_update_offline_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from signatures.errors import SignatureError
    from signatures.trust import load_trust_root, update_trust_root

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with pytest.raises(SignatureError, match="could not refresh"):
        update_trust_root()
    assert load_trust_root().source == "shipped"  # nothing half-written was pinned


# -- naming a signer requires a signature that verifies (issue 12) ------------------------------
SIGNERS = {
    "key": lambda pki: ["--key", str(pki.public_key)],
    "identity": lambda pki: IBM,
    "certificate-chain": lambda pki: ["--certificate-chain", str(pki.root)],
    "github-repository": lambda pki: ["--github-repository", "acme/models"],
}


def test_scan_with_key_on_a_model_whose_signature_was_deleted_exits_1(model: Path, pki: Pki) -> None:
    assert run_cli("sign", str(model), "--key", str(pki.key)).returncode == 0
    signed = run_cli("scan", str(model), "--key", str(pki.public_key), "--no-progress")
    assert signed.returncode == 0, signed.stdout
    (model / "model.sig").unlink()
    proc = run_cli("scan", str(model), "--key", str(pki.public_key), "--no-progress", "--format", "json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1, doc["verdict"]
    assert doc["signature"]["status"] == "missing"
    assert any("a verified signature is required" in r for r in doc["verdict"]["reasons"])


def test_every_signer_option_requires_the_signature_in_scan(model: Path, pki: Pki) -> None:
    for name, args in SIGNERS.items():
        proc = run_cli("scan", str(model), *args(pki), "--no-progress", "--format", "json")
        assert proc.returncode == 1, (name, proc.stderr)
        assert json.loads(proc.stdout)["signature"]["status"] == "missing", name


def test_sbom_with_key_on_an_unsigned_model_exits_1(model: Path, pki: Pki, tmp_path: Path) -> None:
    out = tmp_path / "bom.json"
    proc = run_cli("sbom", str(model), "--key", str(pki.public_key), "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert run_cli("sign", str(model), "--key", str(pki.key)).returncode == 0
    assert run_cli("sbom", str(model), "--key", str(pki.public_key), "-o", str(out)).returncode == 0


def test_two_signing_methods_on_the_command_line_are_exit_2(model: Path, pki: Pki) -> None:
    proc = run_cli("scan", str(model), "--key", str(pki.public_key), "--certificate-chain", str(pki.root))
    assert proc.returncode == 2 and "choose one" in proc.stderr
