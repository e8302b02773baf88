"""Scan speed: bytes read, wall time and peak RSS of ours vs ProtectAI modelscan and picklescan.

    .venv/bin/python bench/scan_speed.py [--repeat N] [--skip-install]

Builds (once, cached under ``.bench/``) a 2 GiB PyTorch checkpoint with a real ``torch.save``
(16 x 128 MiB tensors) and a tiny one, installs the baselines from PyPI into their own venvs
under ``.bench/`` and runs every tool on both, each in a fresh subprocess:

* extra bytes read: ``rchar`` from ``/proc/self/io`` at interpreter exit on the big checkpoint
  minus the same on the tiny one (interpreter start-up and imports cancel out);
* wall time of the whole command on the big checkpoint (best of ``--repeat``);
* peak RSS of the command: ``VmHWM`` of the process at exit (``os.wait4``'s ``ru_maxrss``
  would include the benchmark's own pages from before ``exec``);
* for ours, also the scan phase alone (``timings.scan`` of the JSON report), which excludes
  interpreter start-up, imports and rule loading.

It prints a table and the ratios of ours against each baseline. Targets (issue 2): < 107 KiB
extra with every zip local header checked, wall <= 0.3 s, peak RSS < 100 MB. Add further
cases (e.g. sharded safetensors, issue 3) to ``CASES``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".bench"
MIB = 1024 * 1024

# Runs a tool's CLI in this interpreter and, at exit, writes the process's own I/O count.
_WRAPPER = r"""
import atexit, json, runpy, sys
out = sys.argv[1]
def _dump():
    io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    hwm = int(status["VmHWM"].split()[0]) * 1024
    with open(out, "w") as f:
        json.dump({"rchar": int(io["rchar"]), "read_bytes": int(io["read_bytes"]), "hwm": hwm}, f)
atexit.register(_dump)
kind, target = sys.argv[2], sys.argv[3]
sys.argv = [target, *sys.argv[4:]]
if kind == "-m":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    import importlib
    mod, func = target.split(":")
    sys.exit(getattr(importlib.import_module(mod), func)())
"""


@dataclass(frozen=True)
class Tool:
    name: str
    python: Path
    entry: tuple[str, str]
    """("-m", module) or ("-e", "module:function")."""
    args: Callable[[Path], list[str]]


@dataclass(frozen=True)
class Measure:
    rchar: int
    wall: float
    peak_rss: int
    exit_code: int
    scan_phase: float | None = None


_BUILD_TORCH = """
import sys, torch
big, tiny = sys.argv[1], sys.argv[2]
torch.save({"w": torch.zeros(4)}, tiny)
torch.save({f"layer{i}.weight": torch.full((32 * 1024 * 1024,), float(i)) for i in range(16)}, big)
"""


def build_torch_checkpoints() -> tuple[Path, Path]:
    # Built in a child process: torch must not inflate this process, whose children it measures.
    CACHE.mkdir(exist_ok=True)
    big, tiny = CACHE / "big-2gib.pt", CACHE / "tiny.pt"
    if not big.exists() or not tiny.exists():
        tmp = big.with_suffix(".tmp")
        subprocess.run([sys.executable, "-c", _BUILD_TORCH, str(tmp), str(tiny)], check=True)
        tmp.rename(big)
    return big, tiny


#: name -> builder of (big, tiny); add e.g. a sharded safetensors case here (issue 3).
CASES: dict[str, Callable[[], tuple[Path, Path]]] = {
    "pytorch-zip 2 GiB (16 x 128 MiB)": build_torch_checkpoints
}


def baseline_venv(package: str, skip_install: bool) -> Path | None:
    venv = CACHE / f"venv-{package}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    if skip_install:
        return None
    print(f"installing {package} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", package], capture_output=True, text=True
    )
    if proc.returncode != 0:
        print(f"  could not install {package}: {proc.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    return python


def run_once(tool: Tool, target: Path) -> Measure:
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "io.json"
        wrapper = Path(tmp) / "wrap.py"
        wrapper.write_text(_WRAPPER)
        cmd = [str(tool.python), str(wrapper), str(stats), *tool.entry, *tool.args(target)]
        t0 = time.perf_counter()
        out = Path(tmp) / "stdout"
        with out.open("wb") as sink:
            proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        io_stats = json.loads(stats.read_text()) if stats.exists() else {"rchar": -1, "hwm": -1}
        return Measure(io_stats["rchar"], wall, io_stats["hwm"], proc.returncode, _scan_phase(out))


def _scan_phase(stdout: Path) -> float | None:
    try:
        value = json.loads(stdout.read_text())["timings"]["scan"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value)


def measure(tool: Tool, big: Path, tiny: Path, repeat: int) -> tuple[Measure, Measure]:
    runs_big = [run_once(tool, big) for _ in range(repeat)]
    runs_tiny = [run_once(tool, tiny) for _ in range(repeat)]
    best = min(runs_big, key=lambda m: m.wall)
    return best, min(runs_tiny, key=lambda m: m.wall)


#: our own CLI, the same way in every benchmark
OURS = Tool(
    "ours (modelscan-ng)",
    Path(sys.executable),
    ("-m", "scanner.cli"),
    lambda p: ["scan", str(p), "--no-progress", "--format", "json"],
)


def tools(skip_install: bool) -> list[Tool]:
    found = [OURS]
    ms = baseline_venv("modelscan", skip_install)
    if ms is not None:
        found.append(Tool("ProtectAI modelscan", ms, ("-e", "modelscan.cli:main"), lambda p: ["-p", str(p)]))
    ps = baseline_venv("picklescan", skip_install)
    if ps is not None:
        found.append(Tool("picklescan", ps, ("-e", "picklescan.cli:main"), lambda p: ["-p", str(p)]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per tool and file; the best wall time counts"
    )
    parser.add_argument("--skip-install", action="store_true", help="do not pip-install missing baselines")
    args = parser.parse_args()
    found = tools(args.skip_install)
    for case, build in CASES.items():
        big, tiny = build()
        print(f"\n== {case}: {big.stat().st_size / MIB:.0f} MiB vs tiny {tiny.stat().st_size} B ==")
        print(f"{'tool':<22} {'extra read':>12} {'wall (s)':>9} {'peak RSS':>10} {'exit':>5}")
        results: dict[str, tuple[int, float, int]] = {}
        for tool in found:
            b, t = measure(tool, big, tiny, args.repeat)
            extra = b.rchar - t.rchar
            results[tool.name] = (extra, b.wall, b.peak_rss)
            rss = b.peak_rss / MIB
            print(f"{tool.name:<22} {extra / 1024:>9.1f} KiB {b.wall:>9.3f} {rss:>7.1f} MB {b.exit_code:>5}")
            if b.scan_phase is not None:
                print(f"{'':<22} (scan phase alone, from the report: {b.scan_phase:.3f} s)")
        ours = results[found[0].name]
        for name, (extra, wall, rss) in list(results.items())[1:]:
            print(
                f"ours vs {name}: extra read x{ours[0] / max(extra, 1):.2f}, wall x{ours[1] / wall:.2f}, "
                f"peak RSS x{ours[2] / rss:.2f}"
            )
        print(
            f"targets: extra < 107 KiB: {'met' if ours[0] < 107 * 1024 else 'MISSED'}; "
            f"wall <= 0.3 s: {'met' if ours[1] <= 0.3 else 'MISSED'}; "
            f"peak RSS < 100 MB: {'met' if ours[2] < 100 * MIB else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
