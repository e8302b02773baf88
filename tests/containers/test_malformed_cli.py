"""Hostile input through the CLI, as a user runs it: always a finding and exit 1 or 2, within
bounded time and memory, never a traceback."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _scan(path: Path) -> tuple[int, str]:
    proc = run_cli("scan", str(path), "--no-progress", "--format", "json", timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.returncode, proc.stdout


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(os.urandom(100_000))
    code, out = _scan(path)
    assert code in (1, 2) and '"rule_id"' in out


def test_truncated_zip(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00." * 100)
        z.writestr("archive/version", b"3")
    path = tmp_path / "trunc.pt"
    path.write_bytes(buf.getvalue()[:-30])
    code, out = _scan(path)
    assert code == 1 and "ZIP-MALFORMED-001" in out


def test_nested_zip_bomb_42_style(tmp_path: Path) -> None:
    # Each layer holds 16 copies of the layer below; the bottom holds 64 MiB of zeros.
    leaf = io.BytesIO()
    with zipfile.ZipFile(leaf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (64 << 20))
    layer = leaf.getvalue()
    for depth in range(3):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for i in range(16):
                z.writestr(f"l{depth}_{i}.zip", layer)
        layer = buf.getvalue()
    path = tmp_path / "42.zip"
    path.write_bytes(layer)  # ~4096 * 64 MiB = 256 GiB if fully inflated
    code, out = _scan(path)
    assert code == 1 and "ARCHIVE-BOMB-001" in out


def test_deeply_nested_containers_hit_the_depth_limit(tmp_path: Path) -> None:
    data = b"\x80\x02N."
    for i in range(12):
        data = gzip.compress(data) if i % 2 else _zip_of(data)
    path = tmp_path / "deep.bin"
    path.write_bytes(data)
    code, out = _scan(path)
    assert code == 1 and "CONTAINER-DEPTH-001" in out


def _zip_of(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner", data)
    return buf.getvalue()


def test_gzip_bomb(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    with gzip.open(path, "wb", compresslevel=9) as f:
        for _ in range(16):
            f.write(b"\0" * (16 << 20))  # 256 MiB of zeros in ~250 KB: past 1000:1
    code, out = _scan(path)
    assert code == 1 and "ARCHIVE-BOMB-001" in out


@pytest.mark.timeout(300)
def test_tar_with_many_tiny_members_hits_the_member_cap(tmp_path: Path) -> None:
    path = tmp_path / "many.tar"
    info = tarfile.TarInfo("x")
    with path.open("wb") as f:
        for i in range(100_005):
            info.name = f"m{i}"
            f.write(info.tobuf(tarfile.GNU_FORMAT))
        f.write(b"\0" * 1024)
    code, out = _scan(path)
    assert code == 1 and "ARCHIVE-LIMIT-001" in out
