"""A real scan with findings round-trips into the BOM: torch zip members nest, findings affect files."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from sbom import render_sbom
from scanner.api import scan as scan_target
from scanner.model import Report
from tests.sbom.bomcheck import assert_refs_sound, assert_valid_cyclonedx, assert_xml_refs_sound, walk

torch = pytest.importorskip("torch")


class SystemCall:
    """A pickle that would run ``true`` when loaded (never loaded here)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


@pytest.fixture
def scanned(tmp_path: Path) -> Report:
    torch.save({"w": torch.zeros(2, 2)}, tmp_path / "pytorch_model.bin")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(SystemCall()))
    return scan_target(str(tmp_path), hash_files=True)


@pytest.mark.parametrize("version", ["1.6", "1.7"])
def test_scanned_checkpoint_bom_validates_in_json_and_xml(scanned: Report, version: str) -> None:
    for xml in (False, True):
        text = render_sbom(scanned, spec_version=version, xml=xml)
        assert_valid_cyclonedx(text, version, xml)
        if xml:
            assert_xml_refs_sound(text)
        else:
            assert_refs_sound(json.loads(text))


def test_malicious_pickle_finding_affects_its_file_and_members_nest(scanned: Report) -> None:
    doc = json.loads(render_sbom(scanned))
    exec_findings = [v for v in doc["vulnerabilities"] if v["affects"] == [{"ref": "file:evil.pkl"}]]
    assert exec_findings, doc["vulnerabilities"]
    assert exec_findings[0]["ratings"][0]["severity"] in ("high", "critical")
    assert "posix.system('true')" in exec_findings[0]["detail"]
    comps = {c["bom-ref"]: c for c in walk(doc["components"]) if "bom-ref" in c and "type" in c}
    nested = [c["bom-ref"] for c in comps["file:pytorch_model.bin"].get("components", [])]
    assert "file:pytorch_model.bin!pytorch_model/data.pkl" in nested
    assert comps["file:pytorch_model.bin"]["hashes"][0]["alg"] == "SHA-256"
