"""The GitHub Action, the documented workflow and the pre-commit hook, run the way CI runs them."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

BIN = Path(sys.executable).parent


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema is not installed (dev extra)")
    return subprocess.run([exe, "--builtin-schema", schema, *map(str, files)], capture_output=True, text=True)


def test_action_yml_validates_against_the_github_action_schema() -> None:
    result = _check_jsonschema("vendor.github-actions", REPO / "action.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_broken_action_is_rejected_by_the_same_schema(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    broken.write_text((REPO / "action.yml").read_text().replace("using: composite", "using: compositee"))
    assert _check_jsonschema("vendor.github-actions", broken).returncode != 0


def test_documented_workflows_validate_against_the_workflow_schema() -> None:
    workflows = sorted((REPO / "docs" / "workflows").glob("*.yml"))
    assert workflows
    result = _check_jsonschema("vendor.github-workflows", *workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_inputs_reach_shell_steps_only_through_env() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], f"expression inside run: of step {step.get('name')}"
    for workflow in (REPO / "docs" / "workflows").glob("*.yml"):
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), f"{workflow.name}: expression inside run:"


def _run_action_steps(tmp_path: Path, inputs: dict[str, str]) -> tuple[dict[str, str], str, int]:
    """Run the action's own shell steps (not the `uses:` ones, not the pip install) as a runner would."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    defaults = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    values = {**defaults, **inputs}
    output_file, summary_file = tmp_path / "github_output", tmp_path / "step_summary"
    output_file.touch()
    summary_file.touch()
    step_outputs: dict[str, dict[str, str]] = {}
    last = 0
    for step in action["runs"]["steps"]:
        if "run" not in step or step.get("id") == "install":
            continue

        def expand(text: str) -> str:
            def value(m: re.Match[str]) -> str:
                expr = m.group(1).strip()
                if expr.startswith("inputs."):
                    return values[expr[len("inputs.") :]]
                step_id, _, key = expr[len("steps.") :].partition(".outputs.")
                return step_outputs.get(step_id, {}).get(key, "")

            return re.sub(r"\$\{\{(.*?)\}\}", value, text)

        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(summary_file),
        }
        env.update({k: expand(str(v)) for k, v in step.get("env", {}).items()})
        before = output_file.read_text()
        proc = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        last = proc.returncode
        new = output_file.read_text()[len(before) :]
        step_outputs[step.get("id", "")] = dict(
            line.split("=", 1) for line in new.splitlines() if "=" in line
        )
        if proc.returncode != 0:
            break
    outputs = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
    return outputs, summary_file.read_text(), last


def test_action_on_a_malicious_model_fails_with_summary_sarif_and_outputs(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "README.md").write_text("# models\n")
    (models / "evil.pkl").write_bytes(pickle.dumps(_Exploit(tmp_path / "pwned"), protocol=2))
    outputs, summary, exit_code = _run_action_steps(tmp_path, {"paths": "models/", "sbom": ""})
    assert exit_code == 1
    assert outputs["verdict"] == "fail"
    assert int(outputs["findings"]) >= 1
    assert "modelscan: ❌ failed" in summary and "evil.pkl" in summary
    sarif = json.loads((tmp_path / outputs["sarif-file"]).read_text())
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]
    }
    assert uris == {"evil.pkl"}
    assert sarif["runs"][0]["originalUriBaseIds"]["TARGET"] == {"uri": "models/", "uriBaseId": "%SRCROOT%"}
    assert not (tmp_path / "pwned").exists()


def test_action_on_benign_models_passes_and_writes_an_sbom(tmp_path: Path) -> None:
    pytest.importorskip("cyclonedx")
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text('{"model_type": "bert"}')
    outputs, summary, exit_code = _run_action_steps(
        tmp_path, {"paths": "a b", "sbom": "aibom.cdx.json", "fail-on": "low"}
    )
    assert exit_code == 0, summary
    assert outputs["verdict"] == "pass" and outputs["findings"] == "0"
    assert "modelscan: ✅ passed" in summary and "aibom.cdx.json" in summary
    bom = json.loads((tmp_path / "aibom.cdx.json").read_text())
    names = {c.get("name") for c in bom.get("components", [])}
    names |= {sub.get("name") for c in bom.get("components", []) for sub in c.get("components", [])}
    assert {"a/config.json", "b/config.json"} <= names, names


def test_action_without_targets_is_an_error_not_a_pass(tmp_path: Path) -> None:
    outputs, summary, exit_code = _run_action_steps(tmp_path, {"paths": "", "repos": ""})
    assert exit_code == 2
    assert outputs["verdict"] == "error"
    assert "could not scan" in summary


def test_precommit_hook_blocks_a_malicious_file_and_passes_clean_ones(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    entry = hooks[0]["entry"]
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Exploit(tmp_path / "pwned"), protocol=2))
    clean = tmp_path / "config.json"
    clean.write_text("{}")
    exe = str(BIN / entry)
    blocked = subprocess.run([exe, str(clean), str(evil)], capture_output=True, text=True, timeout=120)
    passed = subprocess.run([exe, str(clean)], capture_output=True, text=True, timeout=120)
    assert blocked.returncode == 1 and "evil.pkl" in blocked.stdout
    assert passed.returncode == 0
    assert not (tmp_path / "pwned").exists()
