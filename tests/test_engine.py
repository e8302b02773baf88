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


def test_hugging_face_cache_snapshot_links_are_scanned_as_their_blobs(tmp_path: Path) -> None:
    # huggingface_hub's cache: snapshots/<rev>/<file> -> ../../blobs/<digest>. Loaders read the
    # blobs, so the scan must too (and not call every file an escaping symlink).
    repo = tmp_path / "models--acme--tiny"
    blobs, snap = repo / "blobs", repo / "snapshots" / "0123abc"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (blobs / "aaa").write_text('{"model_type": "bert"}')
    (blobs / "bbb").write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    (snap / "config.json").symlink_to("../../blobs/aaa")
    (snap / "weights.bin").symlink_to("../../blobs/bbb")
    (snap / "stray").symlink_to("/etc/hostname")
    report = scanner.scan(snap)
    by_file = {f.artifact: f.rule_id for f in report.findings}
    assert by_file.get("weights.bin") == "PICKLE-EXEC-001"
    assert "config.json" not in by_file
    assert by_file.get("stray") in ("FILE-SYMLINK-001", "REPO-SYMLINK-001")


def test_internal_errors_end_in_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.conftest import run_python

    code = ("import sys; from scanner import cli; from scanner.report import text\n"
            "text.TextRenderer.render = lambda *a: 1 / 0\n"
            "sys.argv = ['modelscan', 'scan', sys.argv[1], '--no-progress']; cli.main()")
    (tmp_path / "a.txt").write_text("hello")
    result = run_python(code, args=(str(tmp_path),))
    assert result.returncode == 2
    assert "internal error (ZeroDivisionError" in result.stderr
    assert "Traceback" not in result.stderr
