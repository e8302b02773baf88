"""``modelscan sbom`` and ``scan --sbom`` as a user runs them (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sbom.bomcheck import assert_valid_cyclonedx


def modelscan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["TinyNet"], "model_type": "tiny"}))
    (folder / "README.md").write_text("---\nlicense: mit\ndatasets:\n- imdb\n---\n# tiny\n")
    return folder


def test_sbom_command_writes_identical_boms_for_two_scans(model_dir: Path, tmp_path: Path) -> None:
    epoch = {"SOURCE_DATE_EPOCH": "1700000000"}
    first, second = tmp_path / "a.cdx.json", tmp_path / "b.cdx.json"
    for out in (first, second):
        result = modelscan("sbom", str(model_dir), "--spec-version", "1.7", "-o", str(out), env=epoch)
        assert result.returncode == 0, result.stderr
    assert first.read_bytes() == second.read_bytes()
    assert_valid_cyclonedx(first.read_text(), "1.7", xml=False)


def test_sbom_command_writes_xml_and_spdx(model_dir: Path, tmp_path: Path) -> None:
    xml = modelscan("sbom", str(model_dir), "--xml")
    assert xml.returncode == 0, xml.stderr
    assert_valid_cyclonedx(xml.stdout, "1.6", xml=True)
    spdx = modelscan("sbom", str(model_dir), "--format", "spdx")
    assert spdx.returncode == 0, spdx.stderr
    assert json.loads(spdx.stdout)["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"


def test_sbom_exit_code_follows_the_verdict(model_dir: Path) -> None:
    (model_dir / "mystery.bin").write_bytes(b"\x8f\x01\x02\x03 not a model format")
    result = modelscan("sbom", str(model_dir))
    assert result.returncode == 1, result.stderr
    vulns = json.loads(result.stdout)["vulnerabilities"]
    assert any(v["affects"] == [{"ref": "file:mystery.bin"}] for v in vulns)


def test_scan_sbom_option_writes_the_bom_beside_the_report(model_dir: Path, tmp_path: Path) -> None:
    bom = tmp_path / "scan.cdx.json"
    result = modelscan("scan", str(model_dir), "--sbom", str(bom), "-f", "json", "--no-progress")
    assert result.returncode == 0, result.stderr
    text = bom.read_text()
    assert_valid_cyclonedx(text, "1.6", xml=False)
    (model,) = [c for c in json.loads(text)["components"] if c["type"] == "machine-learning-model"]
    hashes = {c["name"]: c.get("hashes") for c in model["components"]}
    assert hashes["config.json"] and hashes["README.md"]


def test_check_scores_an_existing_bom(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bom.json"
    assert modelscan("sbom", str(model_dir), "-o", str(out)).returncode == 0
    result = modelscan("sbom", "--check", str(out))
    assert result.returncode == 0, result.stderr
    assert "AI-BOM completeness (cyclonedx):" in result.stdout
    assert "missing  version" in result.stdout  # a local folder has no pinned revision
    assert "ok       file-hashes" in result.stdout


def test_check_refuses_a_file_that_is_no_bom(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    result = modelscan("sbom", "--check", str(junk))
    assert result.returncode == 2
    assert "not a CycloneDX JSON or SPDX 3" in result.stderr and "Traceback" not in result.stderr


def test_sbom_without_target_or_check_is_a_usage_error() -> None:
    result = modelscan("sbom")
    assert result.returncode == 2 and "TARGET" in result.stderr


def test_spdx_as_xml_is_a_usage_error(model_dir: Path) -> None:
    result = modelscan("sbom", str(model_dir), "--format", "spdx", "--xml")
    assert result.returncode == 2 and "JSON-LD only" in result.stderr


def test_sbom_with_required_signature_missing_records_it_as_a_vulnerability(model_dir: Path) -> None:
    result = modelscan("sbom", str(model_dir), "--require-signature")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert [v["id"] for v in doc["vulnerabilities"]] == ["SBOM-SIGNATURE-002"]
    (model,) = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    assert {"name": "internal:modelscan:signature:status", "value": "missing"} in model["properties"]
