"""Pickle analysis memory: peak RSS and CPU of a scan of a large pickle of small objects, ours
against picklescan on the same file in the same run (issue 16.2).

    .venv/bin/python bench/pickle_memory.py [--objects 1000000] [--rounds 3] [--before DIR]
        [--json OUT]

The pickle (built once under ``.bench/``, protocol 4, ~64 bytes per object) is a list of
``--objects`` records, each a dict with an int, two strings, a float and a ``datetime.date``
(a REDUCE of a memoized global, so a callable is resolved for every record), the shape of
a large metadata or tokenizer pickle. Each tool runs as a fresh process; peak RSS is the
process's ``VmHWM`` at exit, CPU is user + system seconds. Prints medians and ours / peer.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from scan_speed import _WRAPPER, CACHE, baseline_venv  # noqa: E402

MIB = 1 << 20


def build(objects: int) -> Path:
    path = CACHE / f"records-{objects}.pkl"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        records = [
            {
                "id": i,
                "name": f"item{i}",
                "label": f"L{i:06d}",
                "score": i / 7,
                "day": datetime.date(2020, 1, 1 + i % 28),
            }
            for i in range(objects)
        ]
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(records, protocol=4))
        tmp.rename(path)
    return path


def measure(python: str, entry: tuple[str, str], args: list[str]) -> tuple[float, float, int, int]:
    """(wall s, CPU s, peak RSS bytes, exit code) of one run in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        stats, wrapper = Path(tmp) / "io.json", Path(tmp) / "wrap.py"
        wrapper.write_text(_WRAPPER)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [python, str(wrapper), str(stats), *entry, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=BENCH.parent,
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        hwm = json.loads(stats.read_text())["hwm"] if stats.exists() else -1
        return wall, cpu, hwm, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="also run the checkout of ours in this folder")
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    target = build(args.objects)
    ours_args = ["scan", str(target), "--no-progress", "--format", "json"]
    tools: dict[str, tuple[str, tuple[str, str], list[str], Path]] = {
        "ours": (sys.executable, ("-m", "scanner.cli"), ours_args, BENCH.parent),
    }
    if args.before is not None:
        tools["before"] = (sys.executable, ("-m", "scanner.cli"), ours_args, args.before)
    ps = baseline_venv("picklescan", args.skip_install)
    if ps is not None:
        tools["picklescan"] = (str(ps), ("-e", "picklescan.cli:main"), ["-p", str(target)], BENCH.parent)
    runs: dict[str, list[tuple[float, float, int, int]]] = {name: [] for name in tools}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, (python, entry, targs, cwd) in tools.items():
            os.chdir(cwd)
            runs[name].append(measure(python, entry, targs))
    os.chdir(BENCH.parent)
    print(
        f"{target.name}: {target.stat().st_size / MIB:.1f} MiB, {args.objects:,} records; "
        f"median of {args.rounds}; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"{'tool':<12} {'wall s':>8} {'CPU s':>8} {'peak RSS':>10} {'exit':>5}")
    results: dict[str, dict[str, float]] = {}
    for name, rs in runs.items():
        wall = statistics.median(r[0] for r in rs)
        cpu = statistics.median(r[1] for r in rs)
        rss = statistics.median(r[2] for r in rs)
        results[name] = {"wall": wall, "cpu": cpu, "rss": rss}
        print(f"{name:<12} {wall:>8.2f} {cpu:>8.2f} {rss / MIB:>7.1f} MB {rs[-1][3]:>5}")
    if "picklescan" in results:
        peer = results["picklescan"]
        for name in results:
            if name != "picklescan":
                print(
                    f"{name} / picklescan: peak RSS x{results[name]['rss'] / peer['rss']:.2f}, "
                    f"CPU x{results[name]['cpu'] / peer['cpu']:.2f}"
                )
    ours = results["ours"]["rss"]
    print(f"target: peak RSS < 128 MB: {'met' if ours < 128 * MIB else 'MISSED'} ({ours / MIB:.1f} MB)")
    if args.json:
        meta = {
            "bench": f"bench/pickle_memory.py --objects {args.objects} --rounds {args.rounds}",
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": f"{load:.2f}",
        }
        args.json.write_text(json.dumps({"pickle_memory": results, "meta": meta}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
