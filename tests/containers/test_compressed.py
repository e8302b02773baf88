"""Compressed streams: every joblib compressor is opened, bombs and truncation are findings, and a
truncated stream's prefix is still scanned (the loader unpickles as it inflates)."""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import lzma
import zlib
from pathlib import Path

import pytest

from scanner.formats.interface import Limits
from tests.conftest import run_python
from tests.containers.helpers import MarkerPayload, analyze, child, payload_pickle, rule_ids

COMPRESSORS = ["zlib", "gzip", "bz2", "lzma", "xz"]


@pytest.mark.parametrize("compress", COMPRESSORS)
def test_each_joblib_compressor_yields_a_joblib_pickle_child(tmp_path: Path, compress: str) -> None:
    joblib = pytest.importorskip("joblib")
    marker = tmp_path / f"marker-{compress}"
    path = tmp_path / f"model-{compress}.joblib"
    joblib.dump({"hook": MarkerPayload(marker), "coef": [1.0, 2.0]}, path, compress=(compress, 3))
    result = analyze(path.read_bytes(), path.name)
    assert rule_ids(result) == set()
    node = child(result, "!decompressed")
    assert node.loader_hint == "joblib"
    assert node.blob.read_at(0, 1) == b"\x80"
    proc = run_python(f"import joblib; joblib.load({str(path)!r})")
    assert proc.returncode == 0 and marker.exists()  # the victim's loader really runs it


def test_gzip_bomb_is_a_finding_not_an_allocation() -> None:
    data = gzip.compress(b"\0" * (256 * 1024 * 1024), 9)
    result = analyze(data, "bomb.gz", Limits(max_inflate=512 * 1024 * 1024))
    assert "ARCHIVE-BOMB-001" in rule_ids(result)
    # Stopped within a few 16 KiB input steps of crossing 1000:1, far below the 256 MiB it holds.
    assert child(result, "bomb").blob.size < 40 * 1024 * 1024


def test_size_limit_stops_inflation() -> None:
    data = bz2.compress(bytes(range(256)) * 40_000)
    result = analyze(data, "x.bz2", Limits(max_inflate=1_000_000))
    assert "ARCHIVE-BOMB-001" in rule_ids(result)
    assert child(result, "!x").blob.size == 1_000_000


@pytest.mark.parametrize(
    "compress", [gzip.compress, lambda b: bz2.compress(b, 1), lzma.compress, zlib.compress]
)
def test_truncated_stream_is_flagged_and_its_prefix_scanned(tmp_path: Path, compress: object) -> None:
    # bzip2 yields nothing before a whole block (100 KB at level 1) decodes: make several.
    pkl = payload_pickle(tmp_path / "m") + bytes(range(256)) * 1600
    assert callable(compress)
    full = compress(pkl)
    result = analyze(full[: len(full) * 2 // 3], "cut.joblib")
    assert "ARCHIVE-TRUNCATED-001" in rule_ids(result)
    assert child(result, "!decompressed").blob.read_at(0, 2) == b"\x80\x02"


def test_concatenated_gzip_members_are_all_inflated() -> None:
    data = gzip.compress(b"\x80\x02(K\x01") + gzip.compress(b"K\x02l.")
    result = analyze(data, "two.gz")
    assert child(result, "!two").blob.read_at(0, 100) == b"\x80\x02(K\x01K\x02l."


def test_trailing_bytes_after_stream_are_flagged() -> None:
    data = zlib.compress(b"\x80\x02N.") + b"second payload here"
    assert "ARCHIVE-TRAILING-001" in rule_ids(analyze(data, "t.joblib"))


def test_lz4_without_the_package_is_unsupported_not_clean() -> None:
    if importlib.util.find_spec("lz4") is not None:
        pytest.skip("lz4 is installed here; the unsupported path cannot be exercised")
    data = b"\x04\x22\x4d\x18" + b"\x00" * 32
    assert rule_ids(analyze(data, "m.joblib")) == {"SCAN-UNSUPPORTED-001"}
