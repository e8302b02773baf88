"""Remote scan over a slow network: a 512-member PyTorch checkpoint behind a hub that answers
every request after ``--latency`` seconds (issue 16.4), ours against "download, then scan".

    .venv/bin/python bench/remote_latency.py [--latency 0.05] [--members 512] [--rounds 3]
        [--before DIR] [--skip-baseline] [--json OUT]

The repo (``config.json`` + ``pytorch_model.bin``, a zip of ``--members`` 1 MiB tensors written
like ``torch.save``) is served by the test fake hub on 127.0.0.1 with its ``latency`` knob. Runs,
each a fresh ``modelscan scan hf://... --no-cache`` subprocess, interleaved, median of rounds:

* ours, the server answering multi-range requests (``multipart/byteranges``, as nginx, Apache
  and most CDNs do);
* ours, the server ignoring them (whole-file answer, as S3): one probe, then single ranges;
* ``--before DIR``: another checkout of ours (e.g. ``git archive main``) on the first server;
* peer: ``huggingface_hub.snapshot_download`` then ``picklescan -p`` (installed under
  ``.bench/venv-picklescan``), the usual way to scan a hub model without a remote reader.

Prints wall seconds, requests and bytes the server sent per run, and ours / peer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from remote_scan import hub_env  # noqa: E402
from scan_speed import CACHE, baseline_venv  # noqa: E402

from tests.hub.fakehub import Content, FakeHub  # noqa: E402
from tests.hub.models import CONFIG, torch_zip_checkpoint  # noqa: E402

MIB = 1 << 20


def build(hub: FakeHub, members: int) -> int:
    label = hashlib.sha256(f"latency-{members}".encode()).hexdigest()
    files: dict[str, Content | bytes] = {
        "config.json": CONFIG,
        "pytorch_model.bin": torch_zip_checkpoint(
            {f"model.layers.{i}.weight": MIB // 4 for i in range(members)}, sha256=label
        ),
    }
    repo = hub.add_repo("bench/latency", files)
    return sum(c.size for c in repo.commits[repo.refs["main"]].values())


def run(hub: FakeHub, cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, int, int]:
    hub.reset_counters()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:], file=sys.stderr)
    return wall, len(hub.requests), hub.bytes_sent, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--members", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="also run the checkout of ours in this folder")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the medians here")
    args = parser.parse_args()
    scan = [sys.executable, "-m", "scanner.cli", "scan", "hf://bench/latency", "--no-cache", "-f", "json"]
    scan += ["--no-progress"]
    CACHE.mkdir(exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    with FakeHub() as hub, tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        size = build(hub, args.members)
        hub.latency = args.latency
        env = hub_env(hub, Path(tmp) / "home")
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled bytecode
        runs: dict[str, list[tuple[float, int, int, int]]] = {}

        def ours(name: str, multipart: bool, cwd: Path) -> None:
            hub.multipart_ranges = multipart
            runs.setdefault(name, []).append(run(hub, scan, env, cwd))

        ps = None if args.skip_baseline else baseline_venv("picklescan", args.skip_install)
        for _ in range(args.rounds):
            ours("ours, server with multi-range", True, REPO)
            ours("ours, server without multi-range", False, REPO)
            if args.before is not None:
                ours("before, server with multi-range", True, args.before)
            if ps is not None:
                hub.multipart_ranges = True
                dl = Path(tmp) / "dl"
                code = (
                    "from huggingface_hub import snapshot_download; "
                    f"print(snapshot_download('bench/latency', local_dir={str(dl)!r}, max_workers=8))"
                )
                w1, n1, b1, _ = run(hub, [sys.executable, "-c", code], env, REPO)
                w2, _, _, c2 = run(hub, [str(ps.parent / "picklescan"), "-p", str(dl)], env, REPO)
                runs.setdefault("peer: snapshot_download + picklescan", []).append((w1 + w2, n1, b1, c2))
                shutil.rmtree(dl, ignore_errors=True)
    print(
        f"repo: config.json + a {args.members}-member PyTorch zip checkpoint, {size / MIB:.0f} MiB; "
        f"{args.latency * 1000:.0f} ms per request; median of {args.rounds} rounds; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'run':<40} {'wall s':>7} {'requests':>9} {'bytes sent':>12} {'exit':>5}")
    for name, rs in runs.items():
        wall = statistics.median(r[0] for r in rs)
        requests = statistics.median(r[1] for r in rs)
        sent = statistics.median(r[2] for r in rs)
        results[name] = {"wall": wall, "requests": requests, "bytes": sent}
        print(f"{name:<40} {wall:>7.2f} {requests:>9.0f} {sent:>12,.0f} {rs[-1][3]:>5}")
    ours_wall = results["ours, server with multi-range"]["wall"]
    ours_bytes = results["ours, server with multi-range"]["bytes"]
    print(
        f"targets: 512-member checkpoint under 2 s: {'met' if ours_wall < 2 else 'MISSED'}; "
        f"under 1 MiB: {'met' if ours_bytes < MIB else 'MISSED'}"
    )
    peer = results.get("peer: snapshot_download + picklescan")
    if peer:
        for name in results:
            if name != "peer: snapshot_download + picklescan":
                print(f"{name} / peer: wall x{results[name]['wall'] / peer['wall']:.3f}")
    if args.json:
        meta = {
            "bench": f"bench/remote_latency.py --latency {args.latency} --rounds {args.rounds}",
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": f"{os.getloadavg()[0]:.2f}",
        }
        args.json.write_text(json.dumps({"remote_latency": results, "meta": meta}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
