"""`modelscan scan` as a user runs it (a subprocess): exit codes 0/1/2, clear errors, formats."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli


def unknown_blob_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 4)  # no known magic: a medium finding
    (folder / "README.md").write_text("# a model\n")
    return folder


def clean_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "clean"
    folder.mkdir()
    (folder / "README.md").write_text("# a model\n")
    (folder / "config.json").write_text('{"hidden_size": 8}\n')
    return folder


def assert_clear_error(proc: object, *needles: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in proc.stderr  # type: ignore[attr-defined]
    for needle in needles:
        assert needle in proc.stderr, proc.stderr  # type: ignore[attr-defined]


def test_clean_folder_exits_0_with_pass_verdict(tmp_path: Path) -> None:
    proc = run_cli("scan", str(clean_folder(tmp_path)), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1].startswith("PASS")


def test_finding_at_threshold_exits_1_and_names_the_file(tmp_path: Path) -> None:
    proc = run_cli("scan", str(unknown_blob_folder(tmp_path)))
    assert proc.returncode == 1, proc.stderr
    assert "weights.bin" in proc.stdout and "SCAN-UNKNOWN-001" in proc.stdout
    assert "\x1b[" not in proc.stdout + proc.stderr  # not a terminal: plain text, no progress bar


def test_fail_on_threshold_and_never(tmp_path: Path) -> None:
    folder = str(unknown_blob_folder(tmp_path))
    assert run_cli("scan", folder, "--fail-on", "high").returncode == 0
    assert run_cli("scan", folder, "--fail-on", "never").returncode == 0
    assert run_cli("scan", folder, "--fail-on", "low").returncode == 1


def test_nonexistent_path_is_a_clear_error(tmp_path: Path) -> None:
    assert_clear_error(run_cli("scan", str(tmp_path / "nope")), "no such file or folder")


def test_special_file_target_is_a_clear_error(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert_clear_error(run_cli("scan", str(fifo), timeout=60), "not a regular file or folder")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads files whatever their mode, so a chmod 000 file is readable",
)
def test_unreadable_target_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "locked.bin"
    target.write_bytes(b"\x80\x04N.")
    target.chmod(0)
    try:
        proc = run_cli("scan", str(target))
    finally:
        target.chmod(0o600)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
    assert "locked.bin" in proc.stdout + proc.stderr


def test_bad_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = str(clean_folder(tmp_path))
    bad_yaml = tmp_path / "policy.yaml"
    bad_yaml.write_text("fail_on: [unclosed\n")
    assert_clear_error(run_cli("scan", folder, "--policy", str(bad_yaml)), "not valid YAML")
    bad_value = tmp_path / "policy2.yaml"
    bad_value.write_text("fail_on: severe\n")
    assert_clear_error(
        run_cli("scan", folder, "--policy", str(bad_value)),
        "policy2.yaml:1: 'fail_on' must be one of",
        "'severe'",
    )
    no_reason = tmp_path / "policy3.yaml"
    no_reason.write_text("suppressions:\n  - {rule: SCAN-UNKNOWN-001}\n")
    assert_clear_error(run_cli("scan", folder, "--policy", str(no_reason)), "needs a 'reason'")


def test_policy_file_threshold_and_suppression_apply(tmp_path: Path) -> None:
    folder = str(unknown_blob_folder(tmp_path))
    policy = tmp_path / "policy.yaml"
    policy.write_text("suppressions:\n  - {rule: SCAN-UNKNOWN-001, path: weights.bin, reason: reviewed}\n")
    assert run_cli("scan", folder, "--policy", str(policy)).returncode == 0
    policy.write_text("fail_on: critical\n")
    assert run_cli("scan", folder, "--policy", str(policy)).returncode == 0
    assert run_cli("scan", folder, "--policy", str(policy), "--fail-on", "medium").returncode == 1


def test_bad_rules_dir_is_a_clear_error(tmp_path: Path) -> None:
    folder = str(clean_folder(tmp_path))
    assert_clear_error(run_cli("scan", folder, "--rules", str(tmp_path / "missing")), "does not exist")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("kind: catalog\nentries: {not: a list}\n")
    assert_clear_error(run_cli("scan", folder, "--rules", str(rules)), "broken.yaml", "must be a list")


def test_unwritable_output_is_refused_before_scanning(tmp_path: Path) -> None:
    folder = str(clean_folder(tmp_path))
    proc = run_cli("scan", folder, "--output", str(tmp_path / "no" / "such" / "dir" / "r.json"))
    assert_clear_error(proc, "cannot write", "does not exist")
    assert_clear_error(run_cli("scan", folder, "--output", str(tmp_path)), "is a directory")


def test_output_file_gets_the_report_and_stdout_stays_empty(tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    proc = run_cli("scan", str(unknown_blob_folder(tmp_path)), "-f", "sarif", "-o", str(out))
    assert proc.returncode == 1 and proc.stdout == ""
    doc = json.loads(out.read_text())
    assert doc["runs"][0]["results"][0]["ruleId"] == "SCAN-UNKNOWN-001"


def test_json_format_with_hash_records_sha256(tmp_path: Path) -> None:
    import hashlib

    folder = unknown_blob_folder(tmp_path)
    doc = json.loads(run_cli("scan", str(folder), "--format", "json", "--hash").stdout)
    digests = {a["path"]: a.get("sha256") for a in doc["artifacts"]}
    assert digests["weights.bin"] == hashlib.sha256((folder / "weights.bin").read_bytes()).hexdigest()
    plain = json.loads(run_cli("scan", str(folder), "--format", "json").stdout)
    assert all("sha256" not in a for a in plain["artifacts"])


def test_unknown_format_option_is_a_usage_error(tmp_path: Path) -> None:
    assert_clear_error(run_cli("scan", str(clean_folder(tmp_path)), "--format", "xml"), "Invalid value")


def test_sarif_describes_rules_from_an_extra_rules_directory(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "acme.yaml").write_text(
        "kind: catalog\nentries:\n  - {id: ACME-GADGET-001, name: acme-gadget, severity: high,"
        " summary: Our in-house gadget., help: Ask the ML platform team.}\n"
    )
    out = tmp_path / "r.sarif"
    run_cli("scan", str(unknown_blob_folder(tmp_path)), "-f", "sarif", "-o", str(out), "--rules", str(rules))
    descriptors = {r["id"]: r for r in json.loads(out.read_text())["runs"][0]["tool"]["driver"]["rules"]}
    assert descriptors["ACME-GADGET-001"]["help"]["text"] == "Ask the ML platform team."
    assert descriptors["ACME-GADGET-001"]["properties"]["security-severity"] == "8.0"
