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
        assert got[p] == {
            "sha256": hashlib.sha256(data).hexdigest(),
            "blake2b": hashlib.blake2b(data).hexdigest(),
            "blake3": blake3.blake3(data).hexdigest(),
        }


@pytest.mark.parametrize("workers", [1, 2])
def test_blake3_alone_uses_multithreaded_mmap_and_agrees(files: list[Path], workers: int) -> None:
    got = hash_files(files, ("blake3",), workers=workers)
    assert all(got[p]["blake3"] == blake3.blake3(p.read_bytes()).hexdigest() for p in files)


def test_span_hashes_only_its_byte_range(files: list[Path]) -> None:
    p = files[-1]
    data = p.read_bytes()
    assert (
        hash_span(Span(p, 1000, 2_000_000), ("sha256",))["sha256"]
        == hashlib.sha256(data[1000:2_000_000]).hexdigest()
    )


def test_span_past_end_of_file_is_an_error_not_a_short_digest(files: list[Path]) -> None:
    with pytest.raises(OSError, match="shrank"):
        hash_spans([Span(files[1], 0, 10)], ("sha256",))


def test_unknown_algorithm_is_refused(files: list[Path]) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        hash_files(files, ("md5",))


def test_sha256_blobs_keeps_input_order(files: list[Path]) -> None:
    from scanner.hashing import sha256_blobs
    from scanner.sources.interface import BytesBlob

    blobs = [BytesBlob(p.read_bytes()) for p in files]
    assert sha256_blobs(blobs, workers=2) == [hashlib.sha256(p.read_bytes()).hexdigest() for p in files]


def test_known_hub_digest_is_reused_instead_of_reading(
    model: Path, pki: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signatures.manifest as manifest
    from signatures.sign import KeySigner, sign_model
    from signatures.verify import KeyMethod, verify_model

    sign_model(model, KeySigner(pki.key))  # type: ignore[attr-defined]
    weights = hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()
    hashed: list[Path] = []
    real = manifest.hash_spans

    def spy(spans, *args, **kwargs):  # type: ignore[no-untyped-def]
        spans = list(spans)
        hashed.extend(s.path for s in spans)
        return real(spans, *args, **kwargs)

    monkeypatch.setattr(manifest, "hash_spans", spy)
    result = verify_model(
        model,
        KeyMethod(pki.public_key),  # type: ignore[attr-defined]
        known_sha256={"model.safetensors": weights},
    )
    assert result.verified
    assert model / "model.safetensors" not in hashed and model / "config.json" in hashed
