"""The engine's contract: fail closed on anything it cannot analyze, deterministic output."""

from __future__ import annotations

import struct
from pathlib import Path

import scanner
from scanner.model import Severity
from scanner.policy import Policy


def test_unknown_binary_is_a_finding_not_clean(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    report = scanner.scan(tmp_path)
    assert [f.rule_id for f in report.findings] == ["SCAN-UNKNOWN-001"]
    assert not Policy.default().judge(report).passed


def test_text_files_are_clean(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# A model\n\nSome words.\n")
    report = scanner.scan(tmp_path)
    assert report.findings == ()
    assert Policy.default().judge(report).passed


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

    code = (
        "import sys; from scanner import cli; from scanner.report import text\n"
        "text.TextRenderer.render = lambda *a: 1 / 0\n"
        "sys.argv = ['modelscan', 'scan', sys.argv[1], '--no-progress']; cli.main()"
    )
    (tmp_path / "a.txt").write_text("hello")
    result = run_python(code, args=(str(tmp_path),))
    assert result.returncode == 2
    assert "internal error (ZeroDivisionError" in result.stderr
    assert "Traceback" not in result.stderr


def _sstable(payload: bytes) -> bytes:
    # a TensorBundle index is an SSTable: blocks, then a 48-byte footer ending in the table magic
    return payload + b"\x00" * 40 + struct.pack("<Q", 0xDB4775248B80FB57)


def test_tensorflow_checkpoint_side_files_are_recognized_by_structure(tmp_path: Path) -> None:
    variables = tmp_path / "variables"
    variables.mkdir()
    (variables / "variables.index").write_bytes(_sstable(b"\x00\x11" * 30))
    (variables / "variables.data-00000-of-00001").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "fingerprint.pb").write_bytes(b"\x08\xd2\x85\xd8\xcc\x04\x10\x95\x9a\xef\x3a\x28\x01")
    report = scanner.scan(tmp_path)
    assert report.findings == ()
    assert {a.path: a.format for a in report.artifacts} == {
        "fingerprint.pb": "tf-fingerprint",
        "variables/variables.data-00000-of-00001": "tf-bundle-data",
        "variables/variables.index": "tf-bundle-index",
    }


def test_a_data_shard_without_a_valid_index_stays_unknown(tmp_path: Path) -> None:
    (tmp_path / "variables.index").write_bytes(b"\x01\xfe\x00" * 30)  # binary, no table magic
    (tmp_path / "variables.data-00000-of-00001").write_bytes(bytes(range(256)) * 8)
    rules = sorted(f.rule_id for f in scanner.scan(tmp_path).findings)
    assert rules == ["SCAN-UNKNOWN-001", "SCAN-UNKNOWN-001"]


def test_a_pickle_named_like_a_data_shard_is_still_a_pickle(tmp_path: Path) -> None:
    (tmp_path / "variables.index").write_bytes(_sstable(b"\x00" * 16))
    (tmp_path / "variables.data-00000-of-00001").write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    assert [f.rule_id for f in scanner.scan(tmp_path).findings] == ["PICKLE-EXEC-001"]
