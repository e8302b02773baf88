"""The embedding API: scanner.scan(path, policy=...) -> Report; policy.judge(report)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import scanner
from scanner.model import Severity
from scanner.rules import RulesError
from scanner.sources import SourceError


def model_with_unknown_blob(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "README.md").write_text("# a model\n")
    return tmp_path


def test_scan_returns_a_report_judged_by_any_policy(tmp_path: Path) -> None:
    report = scanner.scan(model_with_unknown_blob(tmp_path))
    assert isinstance(report, scanner.Report)
    assert [f.rule_id for f in report.findings] == ["SCAN-UNKNOWN-001"]
    assert scanner.Policy.default().judge(report).passed is False  # default policy: fail on medium
    assert scanner.Policy(fail_on=Severity.HIGH).judge(report).passed is True


def test_policy_argument_changes_the_verdict_not_the_findings(tmp_path: Path) -> None:
    folder = model_with_unknown_blob(tmp_path)
    lenient = scanner.Policy(fail_on=None)
    assert scanner.scan(folder, policy=lenient).findings == scanner.scan(folder).findings


def test_policy_file_is_read_over_the_default(tmp_path: Path) -> None:
    folder = model_with_unknown_blob(tmp_path / "m")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("severity_overrides: {SCAN-UNKNOWN-001: low}\n")
    policy = scanner.load_policy(policy_file)
    verdict = policy.judge(scanner.scan(folder, policy=policy))
    assert verdict.passed and verdict.counts["low"] == 1 and verdict.fail_on == Severity.MEDIUM


def test_hash_files_records_sha256(tmp_path: Path) -> None:
    folder = model_with_unknown_blob(tmp_path)
    digests = {a.path: a.sha256 for a in scanner.scan(folder, hash_files=True).artifacts}
    assert digests["weights.bin"] == hashlib.sha256((folder / "weights.bin").read_bytes()).hexdigest()
    assert all(a.sha256 is None for a in scanner.scan(folder).artifacts)


def test_unreadable_target_raises_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        scanner.scan(tmp_path / "missing")


def test_malformed_rules_dir_raises_rules_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text("entries: []\n")  # no 'kind'
    with pytest.raises(RulesError, match="kind"):
        scanner.scan(model_with_unknown_blob(tmp_path / "m"), rules_dirs=[rules])


def test_progress_callback_sees_every_top_level_file(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    scanner.scan(model_with_unknown_blob(tmp_path), progress=lambda p: seen.append((p.path, p.done, p.total)))
    assert sorted(path for path, _, _ in seen) == ["README.md", "weights.bin"]
    assert seen[-1][1:] == (2, 2)
