"""Prometheus text exposition of the service's counters (scans, queue, verdicts, latency)."""

from __future__ import annotations

import threading
from collections import Counter

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scans: Counter[str] = Counter()
        self._verdicts: Counter[str] = Counter()
        self._queue = 0
        self._latency_buckets = [0] * len(_BUCKETS)
        self._latency_sum = 0.0
        self._latency_count = 0
        self._scan_seconds = 0.0

    def queue_changed(self, delta: int) -> None:
        with self._lock:
            self._queue += delta

    def scan_done(self, result: str, seconds: float) -> None:
        with self._lock:
            self._scans[result] += 1
            self._scan_seconds += seconds

    def decision(self, decision: str, seconds: float) -> None:
        with self._lock:
            self._verdicts[decision] += 1
            self._latency_sum += seconds
            self._latency_count += 1
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    self._latency_buckets[i] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP modelscan_scans_total Scans finished, by result.",
                "# TYPE modelscan_scans_total counter",
                *(f'modelscan_scans_total{{result="{k}"}} {v}' for k, v in sorted(self._scans.items())),
                "# HELP modelscan_scan_seconds_total Time spent scanning.",
                "# TYPE modelscan_scan_seconds_total counter",
                f"modelscan_scan_seconds_total {self._scan_seconds:.6f}",
                "# HELP modelscan_queue_depth Scans queued or running.",
                "# TYPE modelscan_queue_depth gauge",
                f"modelscan_queue_depth {self._queue}",
                "# HELP modelscan_admission_decisions_total Admission answers, by decision.",
                "# TYPE modelscan_admission_decisions_total counter",
                *(
                    f'modelscan_admission_decisions_total{{decision="{k}"}} {v}'
                    for k, v in sorted(self._verdicts.items())
                ),
                "# HELP modelscan_admission_seconds Admission answer latency.",
                "# TYPE modelscan_admission_seconds histogram",
                *(
                    f'modelscan_admission_seconds_bucket{{le="{b}"}} {n}'
                    for b, n in zip(_BUCKETS, self._latency_buckets, strict=True)
                ),
                f'modelscan_admission_seconds_bucket{{le="+Inf"}} {self._latency_count}',
                f"modelscan_admission_seconds_sum {self._latency_sum:.6f}",
                f"modelscan_admission_seconds_count {self._latency_count}",
            ]
        return "\n".join(lines) + "\n"
