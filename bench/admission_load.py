"""Cached-verdict latency of the admission service under load, on loopback.

Starts ``modelscan serve`` in its own process, warms the verdict of a small model, then drives
``POST /v1/admit`` from this (second) process at a fixed concurrency and prints p50/p99 latency
and requests per second, next to the same figures for ``GET /healthz`` — the baseline: what the
HTTP stack alone costs on this machine.

    python bench/admission_load.py [--concurrency 16] [--requests 4000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def drive(
    call: Callable[[httpx.Client], httpx.Response], concurrency: int, total: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [total]

    def worker() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                start = time.perf_counter()
                response = call(client)
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def describe(name: str, latencies: list[float], wall: float) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rps = len(ordered) / wall
    print(f"{name:<22} {len(ordered):>7} {p50:>9.2f} {p99:>9.2f} {rps:>9.0f}")
    return p50, p99, rps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        model.mkdir()
        (model / "config.json").write_text('{"model_type": "bert"}')
        port = free_port()
        env = {**os.environ, "MODELSCAN_API_TOKENS": TOKEN, "MODELSCAN_DB": str(Path(tmp) / "db.sqlite")}
        server = subprocess.Popen(
            [sys.executable, "-m", "scanner.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        body = {"artifacts": [{"uri": f"file://{model}"}]}
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the service did not start")
                time.sleep(0.1)
            while httpx.post(f"{base}/v1/admit", json=body, headers=headers).json()["decision"] != "allow":
                time.sleep(0.1)

            print(
                f"concurrency {args.concurrency}, {args.requests} requests each, loopback, 1 server process"
            )
            print(f"{'endpoint':<22} {'n':>7} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9}")
            h = describe(
                "GET /healthz (base)",
                *drive(lambda c: c.get(f"{base}/healthz"), args.concurrency, args.requests),
            )
            a = describe(
                "POST /v1/admit cached",
                *drive(
                    lambda c: c.post(f"{base}/v1/admit", json=body, headers=headers),
                    args.concurrency,
                    args.requests,
                ),
            )
            print(
                f"ratio admit/healthz: p50 {a[0] / h[0]:.2f}x, p99 {a[1] / h[1]:.2f}x, "
                f"throughput {a[2] / h[2]:.2f}x"
            )
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
