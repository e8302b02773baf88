"""The AI-BOM of a Hugging Face repo: identity pinned to the resolved commit, hashes of the served bytes.

Runs ``modelscan sbom hf://…`` in a subprocess against the hub engineer's fake hub on 127.0.0.1
(the real ``huggingface_hub`` client, pointed at it with ``HF_ENDPOINT``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.fakehub import FakeHub, safetensors_file
from tests.sbom.bomcheck import assert_refs_sound, assert_valid_cyclonedx

README = (
    b"---\nlicense: mit\nbase_model: acme/base\ndatasets:\n- acme/corpus\n"
    b"pipeline_tag: text-classification\n---\n"
)
CONFIG = json.dumps({"architectures": ["TinyForSequenceClassification"], "model_type": "tiny"}).encode()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


def hub_env(hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "hf-home"
    home.mkdir()
    # The client fetches an agent-harness registry once a day; pre-seeded so nothing leaves 127.0.0.1.
    (home / ".agent_harnesses.json").write_text(json.dumps({"standardEnvVars": [], "harnesses": {}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        {
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_XET": "1",
            "NO_PROXY": "*",
            "MODELSCAN_CACHE_DIR": str(tmp_path / "ms-cache"),
            "SOURCE_DATE_EPOCH": "1700000000",
        }
    )
    return env


def test_hub_model_bom_is_pinned_to_the_commit_with_served_hashes(hub: FakeHub, tmp_path: Path) -> None:
    weights = safetensors_file({"w": ("F32", [4, 4])})
    repo = hub.add_repo(
        "acme/tiny", {"README.md": README, "config.json": CONFIG, "model.safetensors": weights}
    )
    commit = repo.refs["main"]
    out = tmp_path / "bom.json"
    result = subprocess.run(
        [sys.executable, "-m", "scanner.cli", "sbom", "hf://acme/tiny", "-o", str(out)],
        env=hub_env(hub, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert_valid_cyclonedx(text, "1.6", xml=False)
    doc = json.loads(text)
    assert_refs_sound(doc)
    (model,) = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    assert model["purl"] == f"pkg:huggingface/acme/tiny@{commit}"
    assert model["version"] == commit and model["supplier"] == {"name": "acme"}
    assert {"type": "distribution", "url": f"https://huggingface.co/acme/tiny/tree/{commit}"} in model[
        "externalReferences"
    ]
    assert model["pedigree"]["ancestors"][0]["purl"] == "pkg:huggingface/acme/base"
    files = {c["name"]: c["hashes"][0]["content"] for c in model["components"]}
    served = {"README.md": README, "config.json": CONFIG, "model.safetensors": weights.read()}
    assert files == {name: hashlib.sha256(data).hexdigest() for name, data in served.items()}
