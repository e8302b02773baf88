"""Rewrite the README's performance table from benchmark outputs (never by hand).

    .venv/bin/python bench/startup.py --json .bench/startup.json
    .venv/bin/python bench/remote_latency.py --json .bench/remote.json
    .venv/bin/python bench/readme_table.py .bench/startup.json .bench/remote.json [--readme README.md]

Each bench writes ``{section: {run: figures}, "meta": {...}}``; this script renders the sections
it knows into one Markdown table (ours, the named peer measured in the same run, the ratio) and
replaces the lines between ``<!-- perf-table:begin -->`` and ``<!-- perf-table:end -->``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- perf-table:begin -->", "<!-- perf-table:end -->"
HEADER = "| workload | this modelscan | peer, same run | ours / peer | bench |\n|---|---|---|---|---|"


def _startup(data: Mapping[str, Any]) -> list[str]:
    names = {
        "torch-zip-2gib": "scan a 2 GiB PyTorch zip, whole process",
        "small-files-1000": "scan 1,000 small pickles, whole process",
    }
    rows = []
    for workload, runs in data.items():
        peer = runs.get("picklescan")
        for ours in ("ours --format json", "ours --format text"):
            if ours in runs and peer:
                label = f"{names.get(workload, workload)} ({ours.split(' ', 1)[1]})"
                rows.append(
                    f"| {label} | {runs[ours]:.3f} s | picklescan {peer:.3f} s | "
                    f"{runs[ours] / peer:.2f} | `bench/startup.py` |"
                )
    return rows


def _remote(data: Mapping[str, Any]) -> list[str]:
    peer = data.get("peer: snapshot_download + picklescan")
    rows = []
    for name in ("ours, server with multi-range", "ours, server without multi-range"):
        ours = data.get(name)
        if not ours:
            continue
        figures = f"{ours['wall']:.2f} s, {ours['requests']:.0f} requests, {ours['bytes'] / 1024:.0f} KiB"
        peer_text = (
            f"download + picklescan {peer['wall']:.2f} s, {peer['bytes'] / 2**20:.0f} MiB" if peer else "n/a"
        )
        ratio = f"{ours['wall'] / peer['wall']:.3f}" if peer else "n/a"
        where = name.split(", ", 1)[1]
        rows.append(
            f"| remote scan, 512-member checkpoint, 50 ms/request ({where}) | {figures} | {peer_text} | "
            f"{ratio} | `bench/remote_latency.py` |"
        )
    return rows


RENDERERS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "startup": _startup,
    "remote_latency": _remote,
}


def table(outputs: list[Mapping[str, Any]]) -> str:
    rows: list[str] = []
    notes: list[str] = []
    for out in outputs:
        for section, data in out.items():
            if section in RENDERERS:
                rows += RENDERERS[section](data)
        meta = out.get("meta")
        if isinstance(meta, Mapping):
            notes.append(f"{meta.get('bench')}: {meta.get('when')}, load average {meta.get('load')}")
    lines = [
        BEGIN,
        HEADER,
        *rows,
        "",
        "Measured on a 2-core machine shared with other work: " + "; ".join(notes) + ".",
        END,
    ]
    return "\n".join(lines)


def rewrite(readme: Path, text: str) -> None:
    body = readme.read_text(encoding="utf-8")
    if BEGIN not in body or END not in body:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} markers")
    head, rest = body.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + text + tail, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outputs", nargs="+", type=Path, help="JSON files written by the benches' --json")
    parser.add_argument("--readme", type=Path, default=Path(__file__).resolve().parent.parent / "README.md")
    args = parser.parse_args()
    rewrite(args.readme, table([json.loads(p.read_text()) for p in args.outputs]))
    print(f"rewrote the performance table in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
