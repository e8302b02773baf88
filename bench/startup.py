"""Whole-process wall time of a scan: ours against picklescan, interleaved, same run (issue 16.1).

    .venv/bin/python bench/startup.py [--rounds 5] [--skip-install] [--json OUT]

Two workloads, each timed as the whole command a user runs (interpreter start-up, imports,
rule loading, the scan, the report), every tool in a fresh subprocess, rounds interleaved so
load from other processes hits every tool alike; the median of ``--rounds`` counts:

* ``torch-zip-2gib``: a 2 GiB PyTorch checkpoint written by a real ``torch.save`` (16 x 128 MiB
  tensors; shared with ``scan_speed.py`` under ``.bench/``);
* ``small-files-1000``: a folder of 1,000 small pickles (``.pkl``, a few hundred bytes each:
  dicts, lists and ``collections.OrderedDict``, what a tokenizer or sklearn side file holds).

Ours runs ``modelscan scan TARGET --no-progress --format json`` and also ``--format text``
(the default; the text renderer is rich); picklescan runs ``picklescan -p TARGET``. Prints the
medians, the ratio ours / picklescan (< 1 is faster), and the load average it ran under.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from scan_speed import CACHE, baseline_venv, build_torch_checkpoints  # noqa: E402


def build_small_files(count: int = 1000) -> Path:
    """``count`` small pickles of plain data in one folder (reused when present)."""
    folder = CACHE / f"small-files-{count}"
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        data = OrderedDict((f"token_{i}_{j}", [j, float(j) / 3, f"v{j}", (j, j + 1)]) for j in range(8))
        (folder / f"part-{i:04d}.pkl").write_bytes(pickle.dumps(data, protocol=4))
    return folder


WORKLOADS: dict[str, Callable[[], Path]] = {
    "torch-zip-2gib": lambda: build_torch_checkpoints()[0],
    "small-files-1000": build_small_files,
}


def commands(skip_install: bool, before: Path | None) -> dict[str, Callable[[Path], list[str]]]:
    ours = [sys.executable, "-m", "scanner.cli", "scan"]
    found: dict[str, Callable[[Path], list[str]]] = {
        "ours --format json": lambda p: [*ours, str(p), "--no-progress", "--format", "json"],
        "ours --format text": lambda p: [*ours, str(p), "--no-progress"],
    }
    if before is not None:  # another checkout of ours (e.g. `git archive main`), same interpreter
        found["before --format json"] = lambda p: [
            "env",
            f"--chdir={before}",
            *ours,
            str(p),
            "--no-progress",
            "--format",
            "json",
        ]
    ps = baseline_venv("picklescan", skip_install)
    if ps is not None:
        found["picklescan"] = lambda p: [str(ps.parent / "picklescan"), "-p", str(p)]
    return found


#: every tool runs from compiled bytecode, as an installed package does (pip compiles on install):
#: the warm-up run writes ours; with PYTHONDONTWRITEBYTECODE set, every run would compile our
#: sources again and the bench would time the compiler
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=BENCH.parent, env=ENV
    )
    return time.perf_counter() - t0, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument(
        "--before", type=Path, help="also time the checkout of ours in this folder (for before/after)"
    )
    parser.add_argument("--json", type=Path, help="also write the medians here (for bench/readme_table.py)")
    args = parser.parse_args()
    tools = commands(args.skip_install, args.before)
    results: dict[str, dict[str, float]] = {}
    load_before = os.getloadavg()[0]
    for workload, build in WORKLOADS.items():
        target = build()
        runs: dict[str, list[float]] = {name: [] for name in tools}
        codes: dict[str, int] = {}
        for cmd in tools.values():  # one untimed warm-up each: page cache, .pyc files
            wall(cmd(target))
        for _ in range(args.rounds):
            for name, cmd in tools.items():
                seconds, codes[name] = wall(cmd(target))
                runs[name].append(seconds)
        results[workload] = {name: statistics.median(r) for name, r in runs.items()}
        print(f"\n== {workload}: {target} ==")
        print(f"{'tool':<22} {'median s':>9} {'min s':>7} {'exit':>5}")
        for name, r in runs.items():
            print(f"{name:<22} {statistics.median(r):>9.3f} {min(r):>7.3f} {codes[name]:>5}")
        base = results[workload].get("picklescan")
        if base:
            for name in tools:
                if name != "picklescan":
                    ratio = results[workload][name] / base
                    print(f"{name} / picklescan = {ratio:.2f} ({'at or below' if ratio <= 1 else 'ABOVE'})")
    print(
        f"\nmedian of {args.rounds} interleaved rounds; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    if args.json:
        meta = {
            "bench": f"bench/startup.py --rounds {args.rounds}",
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": f"{load_before:.2f}",
        }
        args.json.write_text(json.dumps({"startup": results, "meta": meta}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
