"""Tar: links, special files, traversal names, legacy PyTorch layout, broken headers, member cap."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from scanner.formats.interface import Limits
from tests.containers.helpers import analyze, child, payload_pickle, rule_ids


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return out.getvalue()


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def test_symlink_and_hardlink_members_are_flagged() -> None:
    data = _tar(
        [_special("weights", tarfile.SYMTYPE, "/etc/passwd"), _special("w2", tarfile.LNKTYPE, "weights")]
    )
    result = analyze(data, "links.tar")
    assert sum(f.rule_id == "TAR-LINK-001" for f in result.findings) == 2
    assert result.children == ()


def test_device_and_fifo_members_are_flagged() -> None:
    data = _tar([_special("dev", tarfile.CHRTYPE), _special("pipe", tarfile.FIFOTYPE)])
    assert sum(f.rule_id == "TAR-DEVICE-001" for f in analyze(data, "d.tar").findings) == 2


def test_traversal_member_names_are_flagged() -> None:
    data = _tar([("../../home/user/.bashrc", b"echo hi"), ("/etc/cron.d/job", b"x")])
    assert sum(f.rule_id == "TAR-PATH-001" for f in analyze(data, "slip.tar").findings) == 2


def test_legacy_torch_tar_members_get_the_torch_hint(tmp_path: Path) -> None:
    pkl = payload_pickle(tmp_path / "m")
    data = _tar(
        [
            ("sys_info", b"\x80\x02}q\x00."),
            ("pickle", pkl),
            ("storages", b"\x80\x02K\x00."),
            ("tensors", b"\x80\x02K\x00."),
        ]
    )
    result = analyze(data, "legacy.pt")
    assert result.format == "pytorch-tar"
    assert child(result, "!pickle").loader_hint == "torch"
    assert child(result, "!pickle").blob.read_at(0, len(pkl)) == pkl


def test_v7_tar_without_magic_is_detected_and_opened() -> None:
    data = _tar([("a.pkl", b"\x80\x02N.")], fmt=tarfile.USTAR_FORMAT)
    header = bytearray(data[:512])
    header[257:265] = b"\0" * 8  # strip the ustar magic and version, then fix the checksum
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    result = analyze(bytes(header) + data[512:], "old.tar")
    assert child(result, "a.pkl").blob.read_at(0, 2) == b"\x80\x02"


def test_garbage_header_after_members_is_flagged_not_silently_ignored(tmp_path: Path) -> None:
    body = _tar([("a.txt", b"hello")])
    end = body.index(b"\0" * 1024, 1024)
    data = body[:end] + b"X" * 512 + _tar([("hidden.pkl", payload_pickle(tmp_path / "m"))])
    result = analyze(data, "g.tar")
    assert "TAR-MALFORMED-001" in rule_ids(result)


def test_truncated_tar_member_is_flagged() -> None:
    data = _tar([("big.bin", b"A" * 10_000)])
    result = analyze(data[:3000], "t.tar")
    assert "TAR-MALFORMED-001" in rule_ids(result)


def test_duplicate_tar_member_names_are_flagged() -> None:
    data = _tar([("pickle", b"one"), ("pickle", b"two")])
    result = analyze(data, "dup.tar")
    assert "TAR-DUP-001" in rule_ids(result)
    assert len(result.children) == 2


def test_member_cap_is_a_finding() -> None:
    data = _tar([(f"f{i}", b"") for i in range(300)])
    result = analyze(data, "many.tar", Limits(max_members=100))
    assert "ARCHIVE-LIMIT-001" in rule_ids(result)
    assert len(result.children) == 100
