"""Content digests of artifacts, computed once and shared by the scan, signatures and AI-BOM.

The static scan reads no tensor data; hashing reads everything, so it runs only when asked
(``--hash``, ``sbom``, ``verify``, ``pull``). When it runs it reads each file once, feeding
every requested algorithm from the same buffer, and spreads files (or byte ranges of one big
file) over all cores: hashlib and blake3 release the GIL on large buffers, so threads scale.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from scanner.sources.interface import Blob

CHUNK = 4 * 1024 * 1024
#: Buffer for file reads: large enough that the per-call overhead vanishes, small enough to
#: stay in L2/L3 while every hasher consumes it.
READ_BUFFER = 1024 * 1024
ALGORITHMS = ("sha256", "blake2b", "blake3")


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str, threads: int = 1) -> _Hasher:
    """A fresh hasher; ``blake2b`` is BLAKE2b-512 as the OpenSSF model-signing spec uses it."""
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake2b":
        return hashlib.blake2b()
    if algorithm == "blake3":
        import blake3  # optional extra [sign]; imported here so the scan does not need it

        return blake3.blake3(max_threads=threads)
    raise ValueError(f"unsupported hash algorithm {algorithm!r} (expected one of: {', '.join(ALGORITHMS)})")


def sha256_blob(blob: Blob) -> str:
    """SHA-256 of a blob, read in 4 MiB chunks."""
    h = hashlib.sha256()
    offset = 0
    size = blob.size
    while offset < size:
        chunk = blob.read_at(offset, min(CHUNK, size - offset))
        if not chunk:
            break
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def sha256_blobs(blobs: Sequence[Blob], workers: int | None = None) -> list[str]:
    """SHA-256 of many blobs on all cores, in input order (the scan's ``--hash``)."""
    n = min(workers or default_workers(), max(1, len(blobs)))
    if n == 1:
        return [sha256_blob(b) for b in blobs]
    with ThreadPoolExecutor(max_workers=n) as pool:
        # Largest first, so that one big shard does not start last and leave a core idle.
        order = sorted(range(len(blobs)), key=lambda i: blobs[i].size, reverse=True)
        digests = dict(zip(order, pool.map(lambda i: sha256_blob(blobs[i]), order), strict=True))
    return [digests[i] for i in range(len(blobs))]


@dataclass(frozen=True)
class Span:
    """A byte range of one file to hash: the whole file, or one shard of it."""

    path: Path
    start: int = 0
    end: int | None = None
    """Exclusive end; ``None`` means to the end of the file."""


def hash_span(span: Span, algorithms: Sequence[str], threads: int = 1) -> dict[str, str]:
    """Every requested digest of ``span``, reading its bytes once."""
    hashers = [new_hasher(a, threads) for a in algorithms]
    if algorithms == ("blake3",) and span.start == 0 and span.end is None and threads != 1:
        # blake3's own mmap reader splits one file across cores (rayon); reading it into a
        # Python buffer first would serialize it.
        hashers[0].update_mmap(str(span.path))  # type: ignore[attr-defined]
        return {"blake3": hashers[0].hexdigest()}
    buf = bytearray(READ_BUFFER)
    view = memoryview(buf)
    with open(span.path, "rb", buffering=0) as f:
        f.seek(span.start)
        remaining = -1 if span.end is None else span.end - span.start
        while remaining != 0:
            want = READ_BUFFER if remaining < 0 else min(READ_BUFFER, remaining)
            n = f.readinto(view[:want])
            if not n:
                if remaining > 0:
                    raise OSError(f"{span.path}: file shrank while it was being hashed")
                break
            for h in hashers:
                h.update(view[:n])
            if remaining > 0:
                remaining -= n
    return {a: h.hexdigest() for a, h in zip(algorithms, hashers, strict=True)}


def default_workers() -> int:
    """One worker per core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def hash_spans(
    spans: Iterable[Span],
    algorithms: Sequence[str] = ("sha256",),
    workers: int | None = None,
    on_done: Callable[[Span], None] | None = None,
) -> dict[Span, dict[str, str]]:
    """Hash many spans on all cores; results keyed by span.

    blake3 alone is parallel inside one file, so files are then hashed one at a time with
    every core on each; other algorithms are sequential per stream, so the parallelism is
    across spans, largest first so that no core idles at the end behind one big file.
    """
    algos = tuple(algorithms)
    for a in algos:
        if a not in ALGORITHMS:
            raise ValueError(f"unsupported hash algorithm {a!r}")
    n = workers or default_workers()
    todo = sorted(spans, key=_span_size, reverse=True)
    out: dict[Span, dict[str, str]] = {}
    if algos == ("blake3",):
        for span in todo:
            out[span] = hash_span(span, algos, threads=n if n > 1 else 1)
            if on_done:
                on_done(span)
        return out
    if n == 1 or len(todo) <= 1:
        for span in todo:
            out[span] = hash_span(span, algos)
            if on_done:
                on_done(span)
        return out
    with ThreadPoolExecutor(max_workers=n) as pool:
        for span, digests in zip(todo, pool.map(lambda s: hash_span(s, algos), todo), strict=True):
            out[span] = digests
            if on_done:
                on_done(span)
    return out


def hash_files(
    paths: Iterable[Path], algorithms: Sequence[str] = ("sha256",), workers: int | None = None
) -> Mapping[Path, dict[str, str]]:
    """Whole-file digests of ``paths`` (every algorithm from one read per file)."""
    result = hash_spans((Span(p) for p in paths), algorithms, workers)
    return {span.path: digests for span, digests in result.items()}


def _span_size(span: Span) -> int:
    if span.end is not None:
        return span.end - span.start
    try:
        return span.path.stat().st_size - span.start
    except OSError:
        return 0
