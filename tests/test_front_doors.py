"""One pipeline behind every front door: the CLI, the Python API, the GitHub Action, the
pre-commit hook and the admission service give the same findings and the same verdict for
the same target and policy (``pull`` is checked against ``scan hf://`` in tests/hub).

Threat model: a front door that wires its own pipeline drops a step (the signature check, the
hub cache, the policy) and admits what another door refuses.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

import scanner
from scanner import action, precommit
from scanner.policy import load_policy
from scanner.serve.app import ServiceConfig
from scanner.serve.auth import load_tokens
from tests.conftest import run_cli
from tests.serve.server import running_server

Key = tuple[str, str, str]
TOKEN = "front-door-token"


class _Exploit:
    """Pickled as a call of os.system; never unpickled here."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo front-door",))


def targets(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 4)  # SCAN-UNKNOWN-001, medium
    (folder / "model.pkl").write_bytes(pickle.dumps(_Exploit(), protocol=2))  # PICKLE-EXEC-001
    return {"unknown": folder / "weights.bin", "exec": folder / "model.pkl"}


def with_policy(tmp_path: Path) -> Path:
    """The one policy every door is given: passes a medium finding, fails a critical one."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    policy = tmp_path / ".modelscan.yaml"
    policy.write_text("fail_on: high\n")
    return policy


def keys(findings: list[dict[str, Any]]) -> set[Key]:
    return {(f["rule_id"], f["severity"], f["artifact"]) for f in findings}


def by_cli(target: Path, policy: Path) -> tuple[set[Key], bool]:
    proc = run_cli("scan", str(target), "--policy", str(policy), "-f", "json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == (0 if doc["verdict"]["passed"] else 1)
    return keys(doc["findings"]), doc["verdict"]["passed"]


def by_api(target: Path, policy: Path) -> tuple[set[Key], bool]:
    chosen = load_policy(policy)
    report = scanner.scan(target, policy=chosen)
    found = {(f.rule_id, f.severity.label, f.artifact) for f in report.findings}
    return found, chosen.judge(report).passed


def by_action(target: Path, policy: Path, work: Path) -> tuple[set[Key], bool]:
    sarif, outputs = work / f"{target.name}.sarif", work / f"{target.name}.out"
    env = {
        "MS_PATHS": str(target),
        "MS_POLICY": str(policy),
        "MS_SARIF": str(sarif),
        "GITHUB_OUTPUT": str(outputs),
    }
    code = action.run(env)
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    found = {(r["ruleId"], r["properties"]["severity"], r["properties"]["artifact"]) for r in results}
    verdict = dict(line.split("=", 1) for line in outputs.read_text().splitlines())["verdict"]
    assert code == (0 if verdict == "pass" else 1)
    return found, verdict == "pass"


def by_precommit(target: Path, capsys: pytest.CaptureFixture[str]) -> tuple[set[str], bool]:
    code = precommit.main([str(target)])
    printed = capsys.readouterr().out
    return {r for r in ("SCAN-UNKNOWN-001", "PICKLE-EXEC-001") if r in printed}, code == 0


def by_service(target: Path, policy: Path, db: Path) -> tuple[set[Key], bool]:
    config = ServiceConfig(
        db_url=str(db), tokens=load_tokens(TOKEN, None), policy=load_policy(policy), deadline=20
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with running_server(config) as base:
        body = {"artifacts": [{"uri": f"file://{target}"}]}
        answer = httpx.post(f"{base}/v1/admit", json=body, headers=headers, timeout=60).json()
        report = httpx.get(base + answer["verdicts"][0]["report_url"], headers=headers, timeout=30).json()
    assert report["verdict"]["passed"] == (answer["decision"] == "allow")
    return keys(report["findings"]), answer["decision"] == "allow"


def test_every_front_door_gives_the_same_findings_and_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = with_policy(tmp_path)
    monkeypatch.chdir(tmp_path)  # pre-commit runs at the repository root and finds .modelscan.yaml
    expected_pass = {"unknown": True, "exec": False}
    for name, target in targets(tmp_path).items():
        cli = by_cli(target, policy)
        assert cli[1] is expected_pass[name], cli
        assert by_api(target, policy) == cli
        assert by_action(target, policy, tmp_path) == cli
        assert by_service(target, policy, tmp_path / f"{name}.db") == cli
        printed, passed = by_precommit(target, capsys)
        assert passed is cli[1]
        assert printed == (set() if passed else {rule for rule, _, _ in cli[0]})


def test_empty_folder_is_not_a_pass_at_any_door(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".git").mkdir()  # only ignored things
    (empty / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    proc = run_cli("scan", str(empty), "-f", "json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert [f["rule_id"] for f in doc["findings"]] == ["SCAN-EMPTY-001"]
    report = scanner.scan(empty)
    assert [f.rule_id for f in report.findings] == ["SCAN-EMPTY-001"]
    assert not scanner.Policy.default().judge(report).passed
    (empty / "zero.bin").write_bytes(b"")  # an empty file has nothing a loader could read either
    assert run_cli("scan", str(empty)).returncode == 1
    assert precommit.main([str(empty / "zero.bin")]) == 1


def test_precommit_takes_an_explicit_policy_for_files_at_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = with_policy(tmp_path)  # fail_on: high, beside the staged file
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    monkeypatch.chdir(tmp_path)
    assert precommit.main(["weights.bin"]) == 1  # not discovered: it sits where the scanned file is
    assert precommit.main(["--policy", str(policy), "weights.bin"]) == 0
