"""A Hugging Face model folder as a whole: remote code, templates, shard index, stray files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import scanner
from scanner.model import Report, Severity
from tests.conftest import run_python
from tests.formats.templates import CHATML

CARD = (
    "---\nlicense: apache-2.0\nbase_model: org/base\ndatasets:\n- c4\npipeline_tag: text-generation\n---\n"
    "# Tiny\n"
)


def _repo(root: Path, config: dict[str, object] | None = None) -> Path:
    root.mkdir(exist_ok=True)
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "max_position_embeddings": 4096,
        "torch_dtype": "bfloat16",
        **(config or {}),
    }
    (root / "config.json").write_text(json.dumps(cfg))
    (root / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    (root / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHATML, "bos_token": "<s>"}))
    (root / "README.md").write_text(CARD)
    save_file({"a.weight": np.zeros((4, 4), np.float32)}, str(root / "model-00001-of-00002.safetensors"))
    save_file({"b.weight": np.zeros((8,), np.float32)}, str(root / "model-00002-of-00002.safetensors"))
    index = {
        "metadata": {"total_size": 96},
        "weight_map": {
            "a.weight": "model-00001-of-00002.safetensors",
            "b.weight": "model-00002-of-00002.safetensors",
        },
    }
    (root / "model.safetensors.index.json").write_text(json.dumps(index))
    return root


def _pairs(report: Report) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in report.findings}


def _worst(report: Report) -> Severity:
    return max((f.severity for f in report.findings), default=Severity.INFO)


def test_benign_sharded_repo_is_clean_with_facts(tmp_path: Path) -> None:
    report = scanner.scan(_repo(tmp_path / "m"))
    assert report.findings == ()
    facts = report.facts["."]
    assert facts["architecture"] == "LlamaForCausalLM" and facts["parameter_count"] == 24
    assert facts["context_length"] == 4096 and facts["license"] == "apache-2.0"
    assert facts["base_model"] == "org/base" and facts["datasets"] == ["c4"]
    assert facts["pipeline_tag"] == "text-generation" and len(str(facts["chat_template_sha256"])) == 64


def test_auto_map_code_is_resolved_and_analyzed(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m", {"auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}})
    (root / "configuration_evil.py").write_text(
        "import os\nfrom transformers import PretrainedConfig\n"
        "os.system('touch ' + os.environ.get('MARKER', '/dev/null'))\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'llama'\n"
    )
    report = scanner.scan(root)
    assert ("REMOTE-CODE-001", Severity.LOW) in _pairs(report)
    assert ("REMOTE-CODE-010", Severity.CRITICAL) in _pairs(report)
    assert report.facts["."]["remote_code"] == ["configuration_evil.py"]


@pytest.mark.slow
def test_auto_map_fixture_really_runs_under_transformers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _repo(tmp_path / "m", {"auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}})
    (root / "configuration_evil.py").write_text(
        "import os\nfrom transformers import PretrainedConfig\n"
        "os.system('touch ' + os.environ['MARKER'])\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'llama'\n"
    )
    marker = tmp_path / "ran"
    monkeypatch.setenv("MARKER", str(marker))  # inherited by the victim subprocess only
    proc = run_python(
        f"from transformers import AutoConfig\nAutoConfig.from_pretrained({str(root)!r}, "
        "trust_remote_code=True)",
        cwd=tmp_path,
    )
    assert marker.exists(), proc.stderr[-2000:]


def test_relative_imports_of_remote_code_are_followed(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m", {"auto_map": {"AutoModel": "modeling_x.XModel"}})
    (root / "modeling_x.py").write_text("from .helpers import go\nclass XModel:\n    pass\n")
    (root / "helpers.py").write_text("import subprocess\ndef go():\n    subprocess.run(['true'])\n")
    report = scanner.scan(root)
    assert report.facts["."]["remote_code"] == ["helpers.py", "modeling_x.py"]
    assert ("REMOTE-CODE-010", Severity.HIGH) in _pairs(report)


def test_auto_map_naming_missing_file_is_high(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m", {"auto_map": {"AutoModel": "modeling_gone.Model"}})
    assert ("REMOTE-CODE-002", Severity.HIGH) in _pairs(scanner.scan(root))


def test_auto_map_into_another_repo_is_high(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m", {"auto_map": {"AutoModel": "evil/repo--modeling.Model"}})
    assert ("REMOTE-CODE-003", Severity.HIGH) in _pairs(scanner.scan(root))


def test_tokenizer_auto_map_list_form(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "tokenizer_config.json").write_text(
        json.dumps({"auto_map": {"AutoTokenizer": ["tok_x.T", None]}})
    )
    (root / "tok_x.py").write_text("import pickle, base64\nV = pickle.loads(base64.b64decode(b'gAN9cQAu'))\n")
    assert ("REMOTE-CODE-015", Severity.CRITICAL) in _pairs(scanner.scan(root))


def test_custom_pipeline_impl_is_resolved(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m", {"custom_pipelines": {"text-x": {"impl": "pipe.P", "pt": ["AutoModel"]}}})
    (root / "pipe.py").write_text("class P:\n    pass\n")
    report = scanner.scan(root)
    assert ("REMOTE-CODE-001", Severity.LOW) in _pairs(report) and _worst(report) == Severity.LOW


def test_model_file_without_trust_remote_code(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m", {"model_file": "model.py"})
    (root / "model.py").write_text("import os\nos.system('true')\n")
    pairs = _pairs(scanner.scan(root))
    assert ("REMOTE-CODE-004", Severity.MEDIUM) in pairs and ("REMOTE-CODE-010", Severity.CRITICAL) in pairs


def test_malicious_chat_template_in_tokenizer_config(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": "{{ joiner.__init__.__globals__ }}"})
    )
    assert ("TEMPLATE-DUNDER-001", Severity.CRITICAL) in _pairs(scanner.scan(root))


def test_malicious_chat_template_jinja_file(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "chat_template.jinja").write_text("{{ self._TemplateReference__context }}")
    assert ("TEMPLATE-PRIVATE-001", Severity.HIGH) in _pairs(scanner.scan(root))


def test_tensor_hidden_from_shard_index(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    save_file(
        {"b.weight": np.zeros((8,), np.float32), "stash": np.zeros(2, np.float32)},
        str(root / "model-00002-of-00002.safetensors"),
    )
    assert ("REPO-INDEX-002", Severity.HIGH) in _pairs(scanner.scan(root))


def test_index_naming_missing_shard(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "model-00002-of-00002.safetensors").unlink()
    assert ("REPO-INDEX-002", Severity.HIGH) in _pairs(scanner.scan(root))


def test_tensor_stored_in_two_shards(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    save_file(
        {"b.weight": np.zeros((8,), np.float32), "a.weight": np.zeros((4, 4), np.float32)},
        str(root / "model-00002-of-00002.safetensors"),
    )
    assert ("REPO-INDEX-002", Severity.HIGH) in _pairs(scanner.scan(root))


def test_index_without_weight_map(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "model.safetensors.index.json").write_text("{}")
    assert ("REPO-INDEX-001", Severity.HIGH) in _pairs(scanner.scan(root))


def test_stray_pickle_weights_beside_safetensors(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    assert ("REPO-STRAY-001", Severity.LOW) in _pairs(scanner.scan(root))


def test_elf_executable_in_repo(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "helper").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 100)
    assert ("REPO-EXEC-001", Severity.HIGH) in _pairs(scanner.scan(root))


def test_shebang_script_in_repo(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "setup.sh").write_text("#!/bin/sh\ntrue\n")
    assert ("REPO-EXEC-002", Severity.MEDIUM) in _pairs(scanner.scan(root))


def test_symlink_escaping_repo(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "vocab.txt").symlink_to("/etc/hostname")
    (root / "inside.json").symlink_to("config.json")
    report = scanner.scan(root)
    escaping = [f.artifact for f in report.findings if f.rule_id == "REPO-SYMLINK-001"]
    assert escaping == ["vocab.txt"]


def test_broken_config_json_fails_closed(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "config.json").write_text('{"auto_map": ')
    assert ("REPO-CONFIG-001", Severity.MEDIUM) in _pairs(scanner.scan(root))


def test_diffusers_custom_component_code_is_analyzed(tmp_path: Path) -> None:
    root = tmp_path / "pipe"
    (root / "unet").mkdir(parents=True)
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["my_unet", "MyUNet"],
        "vae": ["diffusers", "AutoencoderKL"],
        "scheduler": ["diffusers", "PNDMScheduler"],
    }
    (root / "model_index.json").write_text(json.dumps(index))
    (root / "unet" / "my_unet.py").write_text("import os\nos.system('true')\nclass MyUNet:\n    pass\n")
    pairs = _pairs(scanner.scan(root))
    assert ("REMOTE-CODE-001", Severity.LOW) in pairs and ("REMOTE-CODE-010", Severity.CRITICAL) in pairs


def test_diffusers_component_naming_missing_code(tmp_path: Path) -> None:
    root = tmp_path / "pipe"
    root.mkdir()
    (root / "model_index.json").write_text(json.dumps({"unet": ["gone_unet", "U"]}))
    assert ("REMOTE-CODE-002", Severity.HIGH) in _pairs(scanner.scan(root))


def test_sentence_transformers_custom_module(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Custom", "type": "custom_pool.Pool"},
    ]
    (root / "modules.json").write_text(json.dumps(modules))
    (root / "1_Custom").mkdir()
    (root / "1_Custom" / "custom_pool.py").write_text("import socket\nsocket.create_connection(('x', 1))\n")
    pairs = _pairs(scanner.scan(root))
    assert ("REMOTE-CODE-001", Severity.LOW) in pairs and ("REMOTE-CODE-013", Severity.HIGH) in pairs


def test_lfs_pointer_instead_of_weights(tmp_path: Path) -> None:
    root = _repo(tmp_path / "m")
    (root / "pytorch_model.bin").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 123\n"
    )
    assert ("REPO-LFS-001", Severity.MEDIUM) in _pairs(scanner.scan(root))
