"""A model signed with the project's own signer: the verification result round-trips into the BOM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.sbom.bomcheck import assert_refs_sound, assert_valid_cyclonedx

ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")


def modelscan(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run(
        [sys.executable, "-m", "scanner.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture
def signed_model(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "key.pem", tmp_path / "pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    model = tmp_path / "signed-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["TinyNet"]}))
    signed = modelscan("sign", str(model), "--key", str(private))
    assert signed.returncode == 0, signed.stderr
    return model, public


def bom_of(model: Path, public: Path) -> tuple[int, dict[str, Any]]:
    result = modelscan("sbom", str(model), "--key", str(public))
    assert_valid_cyclonedx(result.stdout, "1.6", xml=False)
    doc = json.loads(result.stdout)
    assert_refs_sound(doc)
    return result.returncode, doc


def model_of(doc: dict[str, Any]) -> dict[str, Any]:
    (model,) = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    return model


def test_verified_signature_names_the_signer_in_properties_reference_and_annotation(
    signed_model: tuple[Path, Path],
) -> None:
    code, doc = bom_of(*signed_model)
    assert code == 0
    model = model_of(doc)
    props = {p["name"].split("signature:", 1)[-1]: p["value"] for p in model["properties"]}
    assert props["status"] == "verified" and props["method"] == "key"
    assert props["identity"].startswith("key sha256:")
    (ref,) = [r for r in model["externalReferences"] if r["type"] == "digital-signature"]
    assert ref["url"] == "model.sig" and ref["hashes"][0]["alg"] == "SHA-256"
    (note,) = doc["annotations"]
    assert note["subjects"] == [model["bom-ref"]] and props["identity"] in note["text"]
    assert not [v for v in doc.get("vulnerabilities", []) if v["id"].startswith("SBOM-SIGNATURE")]


def test_tampered_signed_model_gets_a_signature_vulnerability(signed_model: tuple[Path, Path]) -> None:
    model, public = signed_model
    (model / "config.json").write_text(json.dumps({"architectures": ["Swapped"]}))
    code, doc = bom_of(model, public)
    assert code == 1
    (vuln,) = [v for v in doc["vulnerabilities"] if v["id"] == "SBOM-SIGNATURE-001"]
    assert vuln["affects"] == [{"ref": model_of(doc)["bom-ref"]}]
    assert "config.json" in vuln["detail"]
