"""Remote scan: bytes transferred and wall time of ``modelscan scan hf://`` against
"download everything, then scan" (``snapshot_download`` + ProtectAI modelscan), in one run.

    .venv/bin/python bench/remote_scan.py [--size-gb 8] [--skip-baseline] [--skip-install]

A generated repo of ``--size-gb`` GB (sharded safetensors + a PyTorch zip checkpoint, the
layout of a typical 4B-parameter model published in both formats) is served by the test fake
hub on 127.0.0.1; file bytes are synthesized on the fly (real headers and pickles, zero tensor
data), so nothing of that size exists on disk except the baseline's download, which is removed
afterwards. Every tool runs in a fresh subprocess with ``HF_ENDPOINT`` pointing at the server:

* ours: ``modelscan scan hf://bench/big --no-cache`` (range reads of what the analyzers need);
* baseline: ``huggingface_hub.snapshot_download`` of the repo, then ``modelscan -p`` from
  ProtectAI (installed from PyPI into ``.bench/venv-modelscan`` by this script).

Figures: bytes the server sent per run (headers included) against the repo size, and wall time.
Localhost is the *best* case for the baseline: on a real network the download dominates further.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.hub.fakehub import Content, FakeHub, safetensors_file  # noqa: E402
from tests.hub.models import CONFIG, torch_zip_checkpoint  # noqa: E402

CACHE = REPO / ".bench"
MIB = 1024 * 1024


def build_repo(hub: FakeHub, size_gb: float) -> int:
    """Half the bytes as 4 safetensors shards, half as one PyTorch zip checkpoint."""
    half = int(size_gb * 1e9 / 2)
    tensor = 4 * MIB
    shards, per_shard = 4, half // 4 // tensor
    files: dict[str, Content | bytes] = {"config.json": CONFIG}
    weight_map: dict[str, str] = {}
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {
            f"model.layers.{s * per_shard + i}.weight": ("F32", [tensor // 4]) for i in range(per_shard)
        }
        weight_map.update(dict.fromkeys(tensors, name))
        files[name] = safetensors_file(tensors, sha256=_digest(name))
    index = {"metadata": {"total_size": shards * per_shard * tensor}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = json.dumps(index).encode()
    n_pt = half // tensor
    files["pytorch_model.bin"] = torch_zip_checkpoint(
        {f"model.layers.{i}.weight": tensor // 4 for i in range(n_pt)}, sha256=_digest("pt")
    )
    hub.add_repo("bench/big", files)
    return sum(c.size for c in hub.repos["bench/big"].commits[hub.repos["bench/big"].refs["main"]].values())


def _digest(label: str) -> str:
    # The remote scan never reads tensor data and snapshot_download does not verify digests,
    # so synthesized gigabytes are never hashed: a declared digest stands in.
    return hashlib.sha256(label.encode()).hexdigest()


def hub_env(hub: FakeHub, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / ".agent_harnesses.json").write_text(json.dumps({"standardEnvVars": [], "harnesses": {}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        {
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_XET": "1",
            "NO_PROXY": "*",
            "MODELSCAN_CACHE_DIR": str(home / "ms-cache"),
        }
    )
    return env


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    return time.perf_counter() - t0, proc


def baseline_venv(skip_install: bool) -> Path | None:
    venv = CACHE / "venv-modelscan"
    tool = venv / "bin" / "modelscan"
    if tool.exists() or skip_install:
        return tool if tool.exists() else None
    print(f"installing ProtectAI modelscan into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "modelscan"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print(f"  could not install modelscan: {proc.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    return tool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=8.0)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-install", action="store_true")
    args = parser.parse_args()

    with FakeHub() as hub, tempfile.TemporaryDirectory(dir=CACHE if CACHE.is_dir() else None) as tmp:
        size = build_repo(hub, args.size_gb)
        print(
            f"repo: bench/big, {len(hub.repos['bench/big'].refs)} ref, {size / 1e9:.2f} GB "
            f"(4 safetensors shards + 1 PyTorch zip checkpoint)"
        )
        rows: list[tuple[str, float, int, str]] = []

        hub.reset_counters()
        wall, proc = timed(
            [
                sys.executable,
                "-m",
                "scanner.cli",
                "scan",
                "hf://bench/big",
                "--no-cache",
                "-f",
                "json",
                "--no-progress",
            ],
            hub_env(hub, Path(tmp) / "ours"),
        )
        if proc.returncode not in (0, 1):
            print(proc.stderr, file=sys.stderr)
            return 2
        report = json.loads(proc.stdout)
        ours_sent, ours_wall = hub.bytes_sent, wall
        phases = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(report.get("timings", {}).items()))
        rows.append(
            (
                "modelscan scan hf:// (ours)",
                wall,
                hub.bytes_sent,
                f"verdict passed={report['verdict']['passed']}, {len(hub.requests)} requests, "
                f"report bytes_read={report['summary']['bytes_read']}; {phases}",
            )
        )

        if not args.skip_baseline:
            tool = baseline_venv(args.skip_install)
            env = hub_env(hub, Path(tmp) / "base")
            hub.reset_counters()
            code = (
                "import sys; from huggingface_hub import snapshot_download; "
                "print(snapshot_download('bench/big', max_workers=8))"
            )
            dl_wall, dl = timed([sys.executable, "-c", code], env)
            if dl.returncode != 0:
                print(dl.stderr[-2000:], file=sys.stderr)
                return 2
            dl_sent = hub.bytes_sent
            folder = dl.stdout.strip().splitlines()[-1]
            rows.append(("snapshot_download (baseline step 1)", dl_wall, dl_sent, ""))
            if tool is not None:
                out = str(Path(tmp) / "pai.json")
                scan_wall, sc = timed([str(tool), "-p", folder, "-r", "json", "-o", out], env)
                rows.append(
                    ("ProtectAI modelscan -p (baseline step 2)", scan_wall, 0, f"exit {sc.returncode}")
                )
                rows.append(("baseline total", dl_wall + scan_wall, dl_sent, ""))
                base_wall = dl_wall + scan_wall
            else:
                base_wall = dl_wall
                rows.append(("baseline total (download only: modelscan not installed)", dl_wall, dl_sent, ""))
            shutil.rmtree(Path(tmp) / "base", ignore_errors=True)

        print(f"\n{'run':<48} {'wall s':>8} {'bytes sent':>16}  notes")
        for name, w, sent, note in rows:
            print(f"{name:<48} {w:>8.2f} {sent:>16,}  {note}")
        print(
            f"\nours: {ours_sent:,} bytes transferred for a {size:,}-byte repo "
            f"= {ours_sent / size:.6%} of the repo ({size / max(ours_sent, 1):,.0f}x less)"
        )
        if not args.skip_baseline:
            print(
                f"wall time: baseline / ours = {base_wall / ours_wall:.1f}x; "
                f"bytes: baseline / ours = {dl_sent / max(ours_sent, 1):,.0f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
