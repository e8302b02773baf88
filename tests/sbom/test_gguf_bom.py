"""The AI-BOM of a GGUF file: facts the GGUF analyzer produces reach the model card."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sbom import render_sbom
from scanner.api import scan as scan_target
from tests.sbom.bomcheck import assert_valid_cyclonedx

gguf = pytest.importorskip("gguf", reason="the gguf package writes the fixture")
np = pytest.importorskip("numpy")

TEMPLATE = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"


def write_gguf(path: Path) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama-test")
    writer.add_context_length(2048)
    writer.add_license("mit")
    writer.add_chat_template(TEMPLATE)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.add_tensor("output.weight", np.zeros((4, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_facts_reach_the_model_card(tmp_path: Path) -> None:
    folder = tmp_path / "gguf-model"
    folder.mkdir()
    write_gguf(folder / "model.gguf")
    report = scan_target(str(folder), hash_files=True)
    text = render_sbom(report)
    assert_valid_cyclonedx(text, "1.6", xml=False)
    (model,) = [c for c in json.loads(text)["components"] if c["type"] == "machine-learning-model"]
    assert model["name"] == "tiny-llama-test"
    assert model["modelCard"]["modelParameters"]["modelArchitecture"] == "llama"
    card = {p["name"].rsplit(":", 1)[1]: p["value"] for p in model["modelCard"]["properties"]}
    assert card["parameter-count"] == str(8 * 4 + 4 * 8)
    assert card["context-length"] == "2048"
    assert card["quantization"] == "F16,F32"
    assert card["chat-template-sha256"] == hashlib.sha256(TEMPLATE.encode()).hexdigest()
    assert model["licenses"] == [{"license": {"id": "MIT"}}]
