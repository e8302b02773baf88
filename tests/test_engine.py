"""The engine's contract: fail closed on anything it cannot analyze, deterministic output."""

from __future__ import annotations

from pathlib import Path

import scanner
from scanner.model import Severity


def test_unknown_binary_is_a_finding_not_clean(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    report = scanner.scan(tmp_path)
    assert [f.rule_id for f in report.findings] == ["SCAN-UNKNOWN-001"]
    assert not report.verdict().passed


def test_text_files_are_clean(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# A model\n\nSome words.\n")
    report = scanner.scan(tmp_path)
    assert report.findings == ()
    assert report.verdict().passed


def test_symlink_is_reported_and_not_followed(tmp_path: Path) -> None:
    (tmp_path / "link.bin").symlink_to("/etc/hostname")
    report = scanner.scan(tmp_path)
    found = {(f.rule_id, f.severity) for f in report.findings}
    assert ("FILE-SYMLINK-001", Severity.MEDIUM) in found
    # pointing outside the model folder is worse than being a link
    assert ("REPO-SYMLINK-001", Severity.HIGH) in found
    assert [a.format for a in report.artifacts] == ["symlink"]
    assert report.bytes_read == 0


def test_same_input_same_report(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"\x01\x02garbage" * 10)
    (tmp_path / "b.txt").write_text("hello")
    one, two = scanner.scan(tmp_path), scanner.scan(tmp_path)
    assert one.findings == two.findings and one.artifacts == two.artifacts
