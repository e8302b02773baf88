"""Sharded safetensors scan: bytes read and wall time of ours vs modelaudit, ProtectAI modelscan
and a "read everything" baseline (issue 3).

    .venv/bin/python bench/scan_safetensors.py [--repeat N] [--skip-install]

Builds (once, cached under ``.bench/``) a Hugging Face folder with 2 GiB of safetensors weights
in 4 shards of 512 MiB (128 F16 tensors of 2048x1024 each, with ``model.safetensors.index.json``
and ``config.json``) and the same layout with one tiny tensor. Tensor data is written sparse:
the header and layout are real, the bytes are zeros.

Two measurements, both printed:

* in-process (ours only): ``Report.bytes_read`` against the minimum any full header validation
  must read (8 + header length per shard, plus the index and config), and wall time of
  ``scanner.scan`` after one warm-up run;
* per command (every tool, via ``bench/scan_speed.py``'s runner, each in a fresh subprocess):
  ``rchar`` on the big folder minus on the tiny one (start-up and imports cancel out), wall time
  of the whole command (best of ``--repeat``), peak RSS.

Targets (issue 3): extra bytes read under 64 KiB with full header validation; scan wall time
within 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scan_speed import CACHE, MIB, OURS, Tool, baseline_venv, measure

SHARDS = 4
TENSORS_PER_SHARD = 128
SHAPE = (2048, 1024)  # F16: 4 MiB per tensor, 512 MiB per shard


def _write_shard(path: Path, tensors: list[tuple[str, tuple[int, ...]]]) -> int:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        nbytes = 2 * shape[0] * shape[1]
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    body = json.dumps(header, separators=(",", ":")).encode()
    body += b" " * (-len(body) % 8)  # the reference writer pads the header to 8 bytes
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(body)) + body)
        fh.truncate(8 + len(body) + offset)  # sparse tensor data
    return 8 + len(body)


def build_folder(root: Path, shards: int, per_shard: int, shape: tuple[int, ...]) -> int:
    """The folder, and the bytes a full header validation must read at least."""
    root.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    minimum = 0
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        tensors = [(f"model.layers.{s * per_shard + i}.weight", shape) for i in range(per_shard)]
        minimum += _write_shard(root / name, tensors)
        weight_map.update({t: name for t, _ in tensors})
    total = shards * per_shard * 2 * shape[0] * shape[1]
    (root / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    )
    (root / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    )
    return minimum + sum((root / n).stat().st_size for n in ("model.safetensors.index.json", "config.json"))


def build() -> tuple[Path, Path, int]:
    big, tiny = CACHE / "st-sharded-2gib", CACHE / "st-sharded-tiny"
    minimum = build_folder(big, SHARDS, TENSORS_PER_SHARD, SHAPE)
    build_folder(tiny, 1, 1, (1, 4))
    return big, tiny, minimum


def read_everything(big: Path, repeat: int) -> tuple[int, float]:
    """The baseline a validator that touches the data pays: every byte of every file, once."""
    best, total = float("inf"), 0
    for _ in range(repeat):
        t0, total = time.perf_counter(), 0
        for path in sorted(big.iterdir()):
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 24):
                    total += len(chunk)
        best = min(best, time.perf_counter() - t0)
    return total, best


def in_process(big: Path, minimum: int, repeat: int) -> tuple[int, float, int]:
    import scanner

    scanner.scan(big)  # warm-up: imports, rule loading
    best, report = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = scanner.scan(big)
        best = min(best, time.perf_counter() - t0)
    assert report is not None
    worst = max((f.severity.label for f in report.findings), default="none")
    print(
        f"ours in-process: {report.bytes_read} B read of {report.bytes_total / MIB:.0f} MiB; minimum for "
        f"full header validation {minimum} B; extra {report.bytes_read - minimum} B "
        f"({(report.bytes_read - minimum) / 1024:.1f} KiB); wall {best:.3f} s; "
        f"findings: {len(report.findings)} (worst {worst}); "
        f"parameters {report.facts['.'].get('parameter_count')}"
    )
    return report.bytes_read, best, report.bytes_read - minimum


def tools(skip_install: bool) -> list[Tool]:
    found = [OURS]
    ma = baseline_venv("modelaudit", skip_install)
    if ma is not None:
        found.append(
            Tool(
                "modelaudit",
                ma,
                ("-e", "modelaudit.cli:main"),
                lambda p: ["scan", "--no-cache", "--format", "json", str(p)],
            )
        )
    ms = baseline_venv("modelscan", skip_install)
    if ms is not None:
        found.append(Tool("ProtectAI modelscan", ms, ("-e", "modelscan.cli:main"), lambda p: ["-p", str(p)]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best wall time counts")
    parser.add_argument("--skip-install", action="store_true", help="do not pip-install missing baselines")
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    big, tiny, minimum = build()
    print(
        f"== sharded safetensors: {SHARDS} shards, "
        f"{sum(p.stat().st_size for p in big.iterdir()) / MIB:.0f} MiB =="
    )
    read_in, wall_in, extra_in = in_process(big, minimum, args.repeat)
    everything, wall_all = read_everything(big, args.repeat)
    print(
        f"read everything (in-process): {everything} B, wall {wall_all:.3f} s -> ours reads "
        f"x{read_in / everything:.2e} the bytes in x{wall_in / wall_all:.3f} the time"
    )
    print(f"{'tool':<22} {'extra read':>14} {'wall (s)':>9} {'peak RSS':>10} {'exit':>5}")
    results: dict[str, tuple[int, float]] = {}
    for tool in tools(args.skip_install):
        b, t = measure(tool, big, tiny, args.repeat)
        extra = b.rchar - t.rchar
        results[tool.name] = (extra, b.wall)
        print(
            f"{tool.name:<22} {extra / 1024:>10.1f} KiB {b.wall:>9.3f} "
            f"{b.peak_rss / MIB:>7.1f} MB {b.exit_code:>5}"
        )
    ours = results["ours (modelscan-ng)"]
    for name, (extra, wall) in results.items():
        if name != "ours (modelscan-ng)":
            print(
                f"ours vs {name}: extra read x{ours[0] / max(extra, 1):.3g} (theirs/ours "
                f"{extra / max(ours[0], 1):.3g}), command wall x{ours[1] / wall:.3g}"
            )
    print(
        f"targets: extra read < 64 KiB (in-process, over the header minimum): "
        f"{'met' if extra_in < 64 * 1024 else 'MISSED'}; scan wall <= 0.3 s (in-process): "
        f"{'met' if wall_in <= 0.3 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
