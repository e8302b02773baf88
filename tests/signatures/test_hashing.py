"""scanner.hashing: one read per file for every algorithm, same digests as the reference libraries."""

from __future__ import annotations

import hashlib
from pathlib import Path

import blake3
import pytest

from scanner.hashing import Span, hash_files, hash_span, hash_spans


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    out = []
    for i, size in enumerate([0, 1, 1024 * 1024 - 1, 1024 * 1024 + 7, 3 * 1024 * 1024 + 5]):
        p = tmp_path / f"f{i}.bin"
        pattern = bytes((j * 31 + i) % 251 for j in range(251))
        p.write_bytes((pattern * (size // 251 + 1))[:size])
        out.append(p)
    return out


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_parallel_digests_equal_hashlib_and_blake3(files: list[Path], workers: int) -> None:
    got = hash_files(files, ("sha256", "blake2b", "blake3"), workers=workers)
    for p in files:
        data = p.read_bytes()
        assert got[p] == {"sha256": hashlib.sha256(data).hexdigest(),
                          "blake2b": hashlib.blake2b(data).hexdigest(),
                          "blake3": blake3.blake3(data).hexdigest()}


@pytest.mark.parametrize("workers", [1, 2])
def test_blake3_alone_uses_multithreaded_mmap_and_agrees(files: list[Path], workers: int) -> None:
    got = hash_files(files, ("blake3",), workers=workers)
    assert all(got[p]["blake3"] == blake3.blake3(p.read_bytes()).hexdigest() for p in files)


def test_span_hashes_only_its_byte_range(files: list[Path]) -> None:
    p = files[-1]
    data = p.read_bytes()
    assert hash_span(Span(p, 1000, 2_000_000), ("sha256",))["sha256"] == \
        hashlib.sha256(data[1000:2_000_000]).hexdigest()


def test_span_past_end_of_file_is_an_error_not_a_short_digest(files: list[Path]) -> None:
    with pytest.raises(OSError, match="shrank"):
        hash_spans([Span(files[1], 0, 10)], ("sha256",))


def test_unknown_algorithm_is_refused(files: list[Path]) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        hash_files(files, ("md5",))
