"""A scan imports only what its target needs (issue 16.1): start-up was most of a small scan's
wall time. Asserted on ``sys.modules`` of a real CLI run in a subprocess, never by timing."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest

#: what a scan of one small pickle must not import: template, remote-code and model-card
#: analyzers, the hub and HTTP sources (and their thread pools), YAML parsing (the rules and the
#: built-in policy come from the data cache), SARIF, signatures' crypto, the AI-BOM
HEAVY = (
    "yaml",
    "jinja2",
    "huggingface_hub",
    "concurrent.futures",
    "tempfile",
    "importlib.resources",
    "scanner.formats.jinja",
    "scanner.formats.pysource",
    "scanner.formats.modelcard",
    "scanner.formats.shards",
    "scanner.sources.hf",
    "scanner.sources.https",
    "scanner.hashing",
    "scanner.cache",
    "scanner.report.sarif",
    "sigstore",
    "cryptography",
    "sbom",
)

_RUN = r"""
import json, runpy, sys
sys.argv = ["modelscan", "scan", *sys.argv[2:]]
code = 0
try:
    runpy.run_module("scanner.cli", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
with open(OUT, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def _scan_modules(tmp_path: Path, target: Path, *args: str) -> tuple[int, set[str]]:
    out = tmp_path / "modules.json"
    code = "OUT = " + repr(str(out)) + "\n" + _RUN
    env = {**os.environ, "MODELSCAN_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", code, "-", str(target), "--no-progress", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.exists(), proc.stderr
    data = json.loads(out.read_text())
    return int(data["code"] or 0), set(data["modules"])


def _imported(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


@pytest.fixture
def small_pickle(tmp_path: Path) -> Path:
    path = tmp_path / "model" / "small.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps(OrderedDict(a=[1, 2.5, "x"]), protocol=4))
    return path


def test_scan_of_a_small_pickle_imports_no_heavy_module(tmp_path: Path, small_pickle: Path) -> None:
    first_code, first = _scan_modules(tmp_path, small_pickle, "--format", "json")
    assert first_code == 0
    assert "yaml" in first  # the first run parses the rule files and fills the data cache
    code, modules = _scan_modules(tmp_path, small_pickle, "--format", "json")
    assert code == 0
    assert "scanner.formats.pickle" in modules  # the scan really ran its analyzer
    assert [name for name in HEAVY if _imported(modules, name)] == []
    assert not _imported(modules, "rich")  # JSON output: the text renderer's rich is not needed


def test_text_report_imports_rich_but_nothing_else_heavy(tmp_path: Path, small_pickle: Path) -> None:
    _scan_modules(tmp_path, small_pickle)
    code, modules = _scan_modules(tmp_path, small_pickle)
    assert code == 0
    assert "rich.console" in modules
    assert [name for name in HEAVY if _imported(modules, name)] == []


def test_a_folder_with_a_chat_template_still_loads_the_template_analyzer(tmp_path: Path) -> None:
    """The lazy imports move work, never skip it: a repo folder with a template is analyzed."""
    model = tmp_path / "repo"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (model / "chat_template.jinja").write_text("{{ cycler.__init__.__globals__.os.popen('id').read() }}")
    _scan_modules(tmp_path, model, "--format", "json")
    code, modules = _scan_modules(tmp_path, model, "--format", "json")
    assert code == 1
    assert "scanner.formats.jinja" in modules
