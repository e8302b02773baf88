"""Hashing throughput of a multi-shard model folder: ours against named baselines, side by side.

Generates a model folder of several safetensors-sized shards under ``.bench/`` (gitignored),
warms the page cache, then hashes it with every method, interleaved round by round so that
load from other processes hits all methods alike. Prints GB/s (wall) and GB per CPU-second,
and ratios against Python ``hashlib.sha256`` single-threaded and coreutils ``sha256sum``.
For blake3 it prints the efficiency against single-core blake3 x usable cores.

    .venv/bin/python bench/hash_speed.py [--size-gb 2] [--shards 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import blake3

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scanner.hashing import default_workers, hash_files  # noqa: E402

MiB = 1024 * 1024


def make_model(folder: Path, size: int, shards: int) -> list[Path]:
    """``shards`` files totalling ``size`` bytes of incompressible data (reused when present)."""
    folder.mkdir(parents=True, exist_ok=True)
    per = size // shards
    paths = [folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
    for i, p in enumerate(paths):
        if p.exists() and p.stat().st_size == per:
            continue
        block = os.urandom(8 * MiB)
        with open(p, "wb") as f:
            written = 0
            while written < per:
                n = min(len(block), per - written)
                f.write(block[:n])
                written += n
                block = block[1:] + bytes([(i + written) % 256])  # vary blocks cheaply
    return paths


def warm(paths: list[Path]) -> None:
    buf = bytearray(8 * MiB)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def python_sha256_single(paths: list[Path]) -> None:
    buf = bytearray(MiB)
    view = memoryview(buf)
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
        h.hexdigest()


def sha256sum(paths: list[Path]) -> None:
    subprocess.run(["sha256sum", *map(str, paths)], check=True, stdout=subprocess.DEVNULL)


def blake3_single_core(paths: list[Path]) -> None:
    for p in paths:
        blake3.blake3(max_threads=1).update_mmap(str(p)).hexdigest()


def model_signing_sha256(paths: list[Path]) -> None:
    import model_signing

    model_signing.hashing.Config().use_file_serialization(hashing_algorithm="sha256").hash(paths[0].parent)


def measure(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children)."""
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before, strict=True))
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=REPO / ".bench" / "hash_model")
    parser.add_argument("--no-model-signing", action="store_true", help="Skip the model_signing baseline.")
    args = parser.parse_args()

    size = int(args.size_gb * 1e9) // args.shards * args.shards
    paths = make_model(args.folder, size, args.shards)
    total = sum(p.stat().st_size for p in paths)
    warm(paths)
    cores = default_workers()

    methods: dict[str, Callable[[], None]] = {
        "python hashlib.sha256, 1 thread": lambda: python_sha256_single(paths),
        "coreutils sha256sum": lambda: sha256sum(paths),
        "ours sha256 (scanner.hashing, all cores)": lambda: hash_files(paths, ("sha256",)),
        "blake3 single-core (max_threads=1)": lambda: blake3_single_core(paths),
        "ours blake3 (scanner.hashing, all cores)": lambda: hash_files(paths, ("blake3",)),
        "ours sha256+blake2b+blake3, one read": lambda: hash_files(paths, ("sha256", "blake2b", "blake3")),
    }
    if not args.no_model_signing:
        methods["model_signing 1.1 sha256 files"] = lambda: model_signing_sha256(paths)
    if shutil.which("sha256sum") is None:
        del methods["coreutils sha256sum"]

    results: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    for _ in range(args.rounds):  # interleaved: each round runs every method once
        for name, fn in methods.items():
            results[name].append(measure(fn))

    gb = total / 1e9
    wall = {n: statistics.median(w for w, _ in r) for n, r in results.items()}
    cpu = {n: statistics.median(c for _, c in r) for n, r in results.items()}
    base_py = wall["python hashlib.sha256, 1 thread"]
    base_sum = wall.get("coreutils sha256sum")
    print(
        f"model: {len(paths)} shards, {gb:.2f} GB in {args.folder} (page cache warm); "
        f"usable cores: {cores}; load average: {os.getloadavg()[0]:.2f}; "
        f"median of {args.rounds} interleaved rounds"
    )
    print(f"{'method':<44} {'GB/s':>7} {'GB/CPU-s':>9} {'vs hashlib':>11} {'vs sha256sum':>13}")
    for name in methods:
        vs_sum = f"{base_sum / wall[name]:>12.2f}x" if base_sum else f"{'n/a':>13}"
        print(
            f"{name:<44} {gb / wall[name]:>7.2f} {gb / cpu[name] if cpu[name] else float('nan'):>9.2f} "
            f"{base_py / wall[name]:>10.2f}x {vs_sum}"
        )
    ideal = gb / wall["blake3 single-core (max_threads=1)"] * cores
    ours = gb / wall["ours blake3 (scanner.hashing, all cores)"]
    print(
        f"blake3: ours {ours:.2f} GB/s = {ours / ideal:.0%} of single-core x {cores} cores ({ideal:.2f} GB/s)"
    )
    sha_ideal = gb / base_py * min(cores, len(paths))
    sha_ours = gb / wall["ours sha256 (scanner.hashing, all cores)"]
    print(
        f"sha256: ours {sha_ours:.2f} GB/s = {sha_ours / sha_ideal:.0%} of 1-thread hashlib x "
        f"{min(cores, len(paths))} ({sha_ideal:.2f} GB/s)"
    )


if __name__ == "__main__":
    main()
