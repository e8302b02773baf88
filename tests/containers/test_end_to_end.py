"""End to end through the engine: the container finding AND the payload in the member the
victim's loader reads. Each fixture is proven live in a subprocess by the container tests."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from scanner.api import scan as scan_target
from scanner.model import Report, Severity
from scanner.policy import Policy
from tests.containers.helpers import MarkerPayload, central_offset, payload_pickle, torch_zip


def _payload_found(report: Report, member_suffix: str) -> bool:
    return any(
        f.artifact.endswith(member_suffix) and f.severity >= Severity.HIGH and f.callable == "builtins.exec"
        for f in report.findings
    )


def _ids(report: Report) -> set[str]:
    return {f.rule_id for f in report.findings}


def test_benign_torch_checkpoint_passes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    report = scan_target(str(torch_zip(tmp_path)))
    assert Policy.default().judge(report).passed, report.findings
    assert report.artifacts[0].format == "pytorch-zip"


def test_crc_tampered_checkpoint_payload_is_found(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data = bytearray(torch_zip(tmp_path, tmp_path / "m").read_bytes())
    pos = central_offset(bytes(data), b"model/data.pkl")
    struct.pack_into("<L", data, pos + 16, 0)
    path = tmp_path / "crc.pt"
    path.write_bytes(data)
    report = scan_target(str(path))
    assert "ZIP-CRC-001" in _ids(report)
    assert _payload_found(report, "!model/data.pkl")
    assert not (tmp_path / "m").exists()  # the scan never ran it


def test_payload_in_second_duplicate_member_is_found(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z, pytest.warns(UserWarning):
        z.writestr("data.pkl", b"\x80\x02N.")
        z.writestr("data.pkl", payload_pickle(tmp_path / "m"))
    path = tmp_path / "dup.zip"
    path.write_bytes(buf.getvalue())
    report = scan_target(str(path))
    assert "ZIP-DUP-001" in _ids(report)
    assert _payload_found(report, "!data.pkl#2")


def test_payload_in_7z_wrapped_checkpoint_is_found(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    path = tmp_path / "model.pt"
    with py7zr.SevenZipFile(path, "w") as z:
        z.writestr(payload_pickle(tmp_path / "m"), "archive/data.pkl")
    assert _payload_found(scan_target(str(path)), "!archive/data.pkl")


def test_payload_in_compressed_joblib_is_found(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "model.joblib"
    joblib.dump({"hook": MarkerPayload(tmp_path / "m")}, path, compress=("gzip", 3))
    assert _payload_found(scan_target(str(path)), "!decompressed")


def test_payload_in_truncated_gzip_is_still_found(tmp_path: Path) -> None:
    full = gzip.compress(payload_pickle(tmp_path / "m") + bytes(range(256)) * 400)
    path = tmp_path / "cut.pkl.gz"
    path.write_bytes(full[: len(full) // 2])
    report = scan_target(str(path))
    assert "ARCHIVE-TRUNCATED-001" in _ids(report)
    assert _payload_found(report, "!cut.pkl")


def test_payload_in_object_npy_is_found(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "obj.npy"
    np.save(path, np.array([MarkerPayload(tmp_path / "m")], dtype=object), allow_pickle=True)
    report = scan_target(str(path))
    assert "NUMPY-OBJECT-001" in _ids(report)
    assert _payload_found(report, "!pickle")


def test_payload_in_legacy_torch_tar_is_found(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, body in (
            ("sys_info", b"\x80\x02}q\x00."),
            ("pickle", payload_pickle(tmp_path / "m")),
            ("storages", b"\x80\x02K\x00."),
            ("tensors", b"\x80\x02K\x00."),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    path = tmp_path / "legacy.pt"
    path.write_bytes(buf.getvalue())
    assert _payload_found(scan_target(str(path)), "!pickle")


def test_benign_npz_passes(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "a.npz"
    np.savez_compressed(path, a=np.arange(1000, dtype=np.float32), b=np.eye(3))
    report = scan_target(str(path))
    assert Policy.default().judge(report).passed, report.findings
