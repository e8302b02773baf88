"""Every published vector in shared/testdata/sigstore gives the result its README states, offline."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle
from sigstore.verify import Verifier

from signatures.bundle import parse_bundle
from signatures.errors import BundleError, StatementError
from signatures.policy import GitHubRepository, Identity
from signatures.statement import PREDICATE_V01, PREDICATE_V1, parse_statement
from signatures.trust import SHIPPED_ROOT, load_trust_root
from signatures.verify import CertificateMethod, KeylessMethod, KeyMethod, verify_model

IBM = Identity("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2")
GH_SAN = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
GH_ISSUER = "https://token.actions.githubusercontent.com"


def test_sockets_are_blocked_in_these_tests() -> None:
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_shipped_root_is_the_sigstore_production_root(sigdata: Path) -> None:
    assert SHIPPED_ROOT.read_bytes() == (sigdata / "trust/production.trusted_root.json").read_bytes()
    trust = load_trust_root()
    assert trust.source == "shipped"
    assert trust.digest.startswith("6494e21e")


@pytest.mark.parametrize("folder", ["v1.1.0-sigstore", "v1.0.0-sigstore"])
def test_production_keyless_model_signature_verifies_offline(vectors: Path, folder: str) -> None:
    result = verify_model(vectors / folder, KeylessMethod(IBM))
    assert result.status == "verified", result.reason
    assert result.method == "sigstore"
    assert result.signer == "stefanb@us.ibm.com"
    assert result.issuer == "https://sigstore.verify.ibm.com/oauth2"
    assert result.log_index == {"v1.1.0-sigstore": 598151086, "v1.0.0-sigstore": 206344181}[folder]
    assert result.signed_at is not None and result.signed_at.startswith("2025-")
    assert result.trust_root_digest == load_trust_root().digest
    assert result.predicate_type == PREDICATE_V1 and result.hash_type == "sha256"
    assert result.manifest_digest == "61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226"
    assert {f.path for f in result.files if f.status == "ok"} == {"signme-1", "signme-2"}


def test_v1_1_keyless_reports_signer_ignored_file(vectors: Path) -> None:
    result = verify_model(vectors / "v1.1.0-sigstore", KeylessMethod(IBM))
    ignored = [(f.path, f.status) for f in result.files if f.path == "ignore-me"]
    assert ignored == [("ignore-me", "ignored-by-signer")]


def test_v1_0_keyless_without_recorded_ignores_flags_extra_file(vectors: Path, tmp_path: Path) -> None:
    # v1.0.0 predates recorded ignore_paths: any extra file is unsigned and fails.
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(vectors / "v1.0.0-sigstore", copy)
    (copy / "ignore-me").write_bytes(b"")
    result = verify_model(copy, KeylessMethod(IBM))
    assert result.status == "failed"
    assert ("ignore-me", "unsigned") in [(f.path, f.status) for f in result.files]


def test_elliptic_key_p384_vector_verifies(vectors: Path) -> None:
    result = verify_model(vectors / "v1.1.0-elliptic-key", KeyMethod(vectors / "keys/signing-key-pub.pem"))
    assert result.status == "verified", result.reason
    assert result.signer == "key sha256:e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"


def test_certificate_vector_verifies_to_its_root(vectors: Path) -> None:
    result = verify_model(
        vectors / "v1.1.0-certificate",
        CertificateMethod((vectors / "keys/ca-cert.pem",), ("intermediate-ca",)),
    )
    assert result.status == "verified", result.reason
    assert result.policy == "certificate subject in ['intermediate-ca']"


def test_legacy_v0_2_certificate_signature_verifies_through_compat_path(vectors: Path) -> None:
    result = verify_model(vectors / "v0.2.0-certificate", CertificateMethod((vectors / "keys/ca-cert.pem",)))
    assert result.status == "verified", result.reason
    manifest = parse_statement(parse_bundle((vectors / "v0.2.0-certificate/model.sig").read_bytes()).payload)
    assert manifest.predicate_type == PREDICATE_V01


def test_certificate_vector_is_not_a_key_signature(vectors: Path) -> None:
    result = verify_model(vectors / "v1.1.0-certificate", KeyMethod(vectors / "keys/signing-key-pub.pem"))
    assert result.status == "failed"
    assert "certificate method" in result.reason


# --- plain sigstore-python bundles: our policies and pinned roots under sigstore's Verifier ---


def _verify_plain(sigdata: Path, name: str, root: str, policy: object, artifact: bytes | None = None) -> None:
    folder = sigdata / "sigstore-python"
    bundle_path = (
        folder / (name + ".sigstore")
        if (folder / (name + ".sigstore")).exists()
        else folder / (name + ".sigstore.json")
    )
    bundle = Bundle.from_json(bundle_path.read_bytes())
    trust = load_trust_root(sigdata / "trust" / f"{root}.trusted_root.json")
    data = artifact if artifact is not None else (folder / name).read_bytes()
    Verifier(trusted_root=trust.root).verify_artifact(data, bundle, policy)  # type: ignore[arg-type]


def test_production_github_bundle_verifies_with_exact_identity(sigdata: Path) -> None:
    _verify_plain(sigdata, "bundle_v3_github.whl", "production", Identity(GH_SAN, GH_ISSUER))


def test_production_github_bundle_verifies_with_repository_policy(sigdata: Path) -> None:
    _verify_plain(
        sigdata,
        "bundle_v3_github.whl",
        "production",
        GitHubRepository("trailofbits/rfc8785.py", ref="refs/tags/v*", workflow="release.yml"),
    )


@pytest.mark.parametrize(
    "policy",
    [
        Identity(GH_SAN.replace("v0.1.2", "v0.1.3"), GH_ISSUER),
        GitHubRepository("trailofbits/other"),
        GitHubRepository("trailofbits/rfc8785.py", ref="refs/heads/*"),
        GitHubRepository("trailofbits/rfc8785.py", workflow="ci.yml"),
    ],
)
def test_production_github_bundle_rejects_other_identity(sigdata: Path, policy: object) -> None:
    with pytest.raises(SigstoreError):
        _verify_plain(sigdata, "bundle_v3_github.whl", "production", policy)


def test_production_github_bundle_rejects_one_bit_change(sigdata: Path) -> None:
    data = bytearray((sigdata / "sigstore-python/bundle_v3_github.whl").read_bytes())
    data[100] ^= 1
    with pytest.raises(SigstoreError):
        _verify_plain(sigdata, "bundle_v3_github.whl", "production", Identity(GH_SAN, GH_ISSUER), bytes(data))


def test_production_github_bundle_fails_against_staging_root(sigdata: Path) -> None:
    with pytest.raises(SigstoreError):
        _verify_plain(sigdata, "bundle_v3_github.whl", "staging", Identity(GH_SAN, GH_ISSUER))


@pytest.mark.parametrize(
    ("name", "san", "issuer"),
    [
        ("bundle.txt", "a@tny.town", "https://github.com/login/oauth"),
        ("bundle_v3.txt", "william@yossarian.net", "https://github.com/login/oauth"),
        ("bundle_v3_alt.txt", "william@yossarian.net", "https://github.com/login/oauth"),
        ("staging-rekor-v2.txt", "jku@goto.fi", "https://github.com/login/oauth"),
    ],
)
def test_staging_bundles_verify_against_staging_root_only(
    sigdata: Path, name: str, san: str, issuer: str
) -> None:
    _verify_plain(sigdata, name, "staging", Identity(san, issuer))
    with pytest.raises(SigstoreError):
        _verify_plain(sigdata, name, "production", Identity(san, issuer))


def test_staging_dsse_bundle_verifies_and_payload_flip_fails(sigdata: Path) -> None:
    raw = (sigdata / "sigstore-python/a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    trust = load_trust_root(sigdata / "trust/staging.trusted_root.json")
    san = (
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
        "extremely-dangerous-oidc-beacon.yml@refs/heads/main"
    )
    policy = Identity(san, GH_ISSUER)
    Verifier(trusted_root=trust.root).verify_dsse(Bundle.from_json(raw), policy)
    doc = json.loads(raw)
    import base64

    payload = bytearray(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload[5] ^= 1
    doc["dsseEnvelope"]["payload"] = base64.b64encode(bytes(payload)).decode()
    with pytest.raises(SigstoreError, match="signature"):
        Verifier(trusted_root=trust.root).verify_dsse(Bundle.from_json(json.dumps(doc)), policy)


def test_cve_2022_36056_log_entry_for_other_artifact_fails(sigdata: Path) -> None:
    with pytest.raises(SigstoreError, match="inconsistent"):
        _verify_plain(
            sigdata,
            "bundle_cve_2022_36056.txt",
            "staging",
            Identity("william@yossarian.net", "https://github.com/login/oauth"),
        )


def test_bundle_without_log_entry_is_rejected_at_parse(sigdata: Path) -> None:
    with pytest.raises(SigstoreError, match="exactly one log entry"):
        Bundle.from_json((sigdata / "sigstore-python/bundle_no_log_entry.txt.sigstore").read_bytes())


# --- OMS spec schema vectors ---


@pytest.mark.parametrize("name", ["sigstore", "key", "certificate"])
def test_spec_valid_vectors_parse(sigdata: Path, name: str) -> None:
    bundle = parse_bundle((sigdata / f"oms-spec/test-vectors/v1.0/valid/{name}.bundle.json").read_bytes())
    assert bundle.method == name
    assert parse_statement(bundle.payload).predicate_type == PREDICATE_V1


@pytest.mark.parametrize(
    "name", ["empty", "missing-envelope", "missing-tlog-entries", "missing-verification-material"]
)
def test_spec_invalid_bundles_are_rejected(sigdata: Path, name: str) -> None:
    raw = (sigdata / f"oms-spec/test-vectors/v1.0/invalid/{name}.bundle.json").read_bytes()
    with pytest.raises(BundleError):
        parse_bundle(raw)


def test_spec_wrong_predicate_is_rejected_at_statement_level(sigdata: Path) -> None:
    raw = (sigdata / "oms-spec/test-vectors/v1.0/invalid-payload/wrong-predicate.bundle.json").read_bytes()
    with pytest.raises(StatementError, match="predicate type"):
        parse_statement(parse_bundle(raw).payload)
