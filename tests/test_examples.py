"""The bundled example: what a new user sees first must be a real checkpoint and a real catch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, missing_shared, run_cli, run_python

GENERATOR = REPO / "examples" / "generate.py"


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    out = tmp_path / "examples"
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_generator_needs_only_the_standard_library(tmp_path: Path) -> None:
    # The README's first command installs the core package only: no torch, no numpy.
    code = (
        "import sys, runpy; sys.modules['torch'] = None; sys.modules['numpy'] = None; "
        f"sys.argv = ['generate.py', '--out', {str(tmp_path)!r}]; "
        f"runpy.run_path({str(GENERATOR)!r}, run_name='__main__')"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "benign" / "pytorch_model.bin").stat().st_size > 0
    assert (tmp_path / "malicious" / "pytorch_model.bin").stat().st_size > 0


def test_generated_examples_are_deterministic(tmp_path: Path, examples: Path) -> None:
    again = tmp_path / "again"
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(again)], check=True, timeout=60)
    for name in ("benign", "malicious"):
        one = (examples / name / "pytorch_model.bin").read_bytes()
        assert one == (again / name / "pytorch_model.bin").read_bytes()


def test_benign_example_is_a_real_state_dict_under_weights_only_torch_load(examples: Path) -> None:
    pytest.importorskip("torch", reason="the loader proof needs torch (dev extras)")
    code = (
        "import torch; sd = torch.load('benign/pytorch_model.bin', weights_only=True); "
        "print(sorted(sd), sd['weight'].tolist())"
    )
    proc = run_python(code, cwd=examples)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['weight'] [0.5, -1.25, 2.0, 3.75]"


def test_malicious_example_payload_really_runs_under_torch_load(examples: Path) -> None:
    pytest.importorskip("torch", reason="the loader proof needs torch (dev extras)")
    code = (
        "import torch; sd = torch.load('malicious/pytorch_model.bin', weights_only=False); "
        "print('loaded', sd['weight'].tolist())"
    )
    proc = run_python(code, cwd=examples)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # The command ran while loading, and the model still loads normally afterwards.
    assert lines == [
        "modelscan demo: this line was printed by LOADING malicious/pytorch_model.bin",
        "loaded [0.5, -1.25, 2.0, 3.75]",
    ]


def test_torch_default_weights_only_refuses_the_malicious_example(examples: Path) -> None:
    pytest.importorskip("torch", reason="the loader proof needs torch (dev extras)")
    proc = run_python("import torch; torch.load('malicious/pytorch_model.bin')", cwd=examples)
    assert proc.returncode != 0 and "modelscan demo" not in proc.stdout
    assert "posix.system" in proc.stderr or "posix" in proc.stderr


def test_scanning_never_runs_the_payload(tmp_path: Path) -> None:
    # Same technique as the example, with a payload that leaves a marker file behind.
    import runpy

    write_checkpoint = runpy.run_path(str(GENERATOR))["write_checkpoint"]
    marker = tmp_path / "marker"
    model = write_checkpoint(tmp_path / "model" / "pytorch_model.bin", payload=f"touch {marker}")
    proc = run_cli("scan", str(model.parent), "--no-progress")
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
    assert not marker.exists()
    pytest.importorskip("torch", reason="the loader proof needs torch (dev extras)")
    run_python(f"import torch; torch.load({str(model)!r}, weights_only=False)")
    assert marker.exists()  # the fixture is live: the scan above really did not run it


def test_scan_of_the_examples_catches_the_malicious_checkpoint(examples: Path) -> None:
    proc = run_cli("scan", str(examples), "--no-progress")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "malicious/pytorch_model.bin!archive/data.pkl" in out
    assert "CRITICAL PICKLE-EXEC-001" in out
    assert "posix.system(\"echo 'modelscan demo: this line was printed by LOADING" in out
    assert "benign/pytorch_model.bin" not in out  # the ordinary checkpoint raises nothing
    assert out.rstrip().splitlines()[-1].startswith("FAIL")


def test_benign_example_alone_passes(examples: Path) -> None:
    proc = run_cli("scan", str(examples / "benign"), "--no-progress", "--fail-on", "info")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("PASS  no findings at or above info")


def test_example_reports_validate_end_to_end(examples: Path, tmp_path: Path) -> None:
    import json

    import jsonschema

    from tests.test_report_sarif import github_problems

    sarif_file, json_file = tmp_path / "r.sarif", tmp_path / "r.json"
    assert run_cli("scan", str(examples), "-f", "sarif", "-o", str(sarif_file)).returncode == 1
    assert run_cli("scan", str(examples), "-f", "json", "-o", str(json_file)).returncode == 1
    doc = json.loads(sarif_file.read_text())
    assert github_problems(doc) == []
    [result] = doc["runs"][0]["results"]
    assert result["ruleId"] == "PICKLE-EXEC-001" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "malicious/pytorch_model.bin", "uriBaseId": "TARGET"}
    }
    schema = json.loads((REPO / "docs" / "report-schema.json").read_text())
    report = json.loads(json_file.read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    assert [f["callable"] for f in report["findings"]] == ["posix.system"]


def test_example_sarif_validates_against_the_official_schema(
    examples: Path, tmp_path: Path, shared_dir: Path
) -> None:
    import json

    import jsonschema

    schema_file = shared_dir / "testdata" / "schemas" / "sarif-schema-2.1.0.json"
    if not schema_file.is_file():
        missing_shared(f"SARIF schema not found at {schema_file}")
    out = tmp_path / "r.sarif"
    assert run_cli("scan", str(examples), "-f", "sarif", "-o", str(out)).returncode == 1
    jsonschema.Draft4Validator(json.loads(schema_file.read_text())).validate(json.loads(out.read_text()))
