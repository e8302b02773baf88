"""Background scans for the service: single flight per artifact, results into the store."""

from __future__ import annotations

import hashlib
import importlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from scanner import pipeline
from scanner.model import Report
from scanner.pipeline import ScanOptions
from scanner.policy import Policy
from scanner.report.json import judged_report_dict
from scanner.rules import load_rules
from scanner.serve.metrics import Metrics
from scanner.serve.store import CachedVerdict, Store
from scanner.serve.uris import ArtifactRef

ScanFunction = Callable[[str, ScanOptions], Report]
"""Scans a target and returns its report (``pipeline.scan`` by default; tests may slow it down
or map hub targets to local folders)."""


@dataclass(frozen=True)
class Job:
    scan_id: str
    key: str
    ref: ArtifactRef
    future: Future[CachedVerdict]
    policy: Policy
    """The policy this scan is judged by (the service's, or the client token's own)."""


class ScanQueue:
    """Runs scans in worker threads; the same cache key is scanned once however often it is asked."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        rules_dirs: Sequence[str | Path] = (),
        workers: int = 1,
        scan_fn: ScanFunction | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.rules_dirs = tuple(str(d) for d in rules_dirs)
        self.rules_digest = load_rules(self.rules_dirs).digest
        self.metrics = metrics or Metrics()
        self._scan_fn = scan_fn or pipeline.scan
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="modelscan-scan")
        self._lock = threading.Lock()
        self._inflight: dict[str, Job] = {}

    def key_for(self, ref: ArtifactRef, policy: Policy | None = None) -> str:
        """Verdicts are valid only for the rules and policy they were judged with."""
        return f"{ref.identity}|rules:{self.rules_digest}|policy:{(policy or self.policy).digest}"

    def cached(self, ref: ArtifactRef, policy: Policy | None = None) -> CachedVerdict | None:
        return self.store.verdict(self.key_for(ref, policy))

    def submit(self, ref: ArtifactRef, policy: Policy | None = None) -> Job:
        """Queue a scan of ``ref`` for ``policy`` (the service's when None) unless one for the
        same key is already queued or running."""
        chosen = policy or self.policy
        key = self.key_for(ref, chosen)
        with self._lock:
            job = self._inflight.get(key)
            if job is not None:
                return job
            scan_id = uuid.uuid4().hex
            future: Future[CachedVerdict] = Future()
            job = Job(scan_id, key, ref, future, chosen)
            self._inflight[key] = job
            self.store.add_scan(scan_id, key, ref.identity, ref.target)
        self.metrics.queue_changed(+1)
        self._pool.submit(self._run, job)
        return job

    def resubmit(self, scan_id: str, key: str, ref: ArtifactRef, policy: Policy) -> None:
        """Queue again a scan left unfinished by a previous process (same id)."""
        with self._lock:
            if key in self._inflight:
                return
            job = Job(scan_id, key, ref, Future(), policy)
            self._inflight[key] = job
        self.metrics.queue_changed(+1)
        self._pool.submit(self._run, job)

    def queue_depth(self) -> int:
        with self._lock:
            return len(self._inflight)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        self.store.set_scan(job.scan_id, "running")
        try:
            policy = job.policy
            options = ScanOptions(policy=policy, rules_dirs=self.rules_dirs, hash_files=True)
            report = self._scan_fn(job.ref.target, options)
            verdict = policy.judge(report)
            cached = CachedVerdict(
                key=job.key,
                identity=job.ref.identity,
                decision="allow" if verdict.passed else "deny",
                reasons=verdict.reasons
                + tuple(
                    f"{f.rule_id} {f.artifact}: {f.message}"
                    for f in report.findings
                    if policy.fail_on is not None and f.severity >= policy.fail_on
                )[:20],
                worst=verdict.worst.label if verdict.worst is not None else None,
                findings=len(report.findings),
                scan_id=job.scan_id,
                content_digest=content_digest(report),
                created_at=time.time(),
            )
            self.store.put_verdict(cached)
            self.store.set_scan(
                job.scan_id,
                "done",
                report=judged_report_dict(report, policy),
                sbom=_sbom_or_none(report, policy),
            )
            self.metrics.scan_done("allow" if verdict.passed else "deny", time.perf_counter() - started)
            job.future.set_result(cached)
        except Exception as exc:  # a failed scan is recorded and never becomes an allow
            self.store.set_scan(job.scan_id, "error", error=f"{type(exc).__name__}: {exc}")
            self.metrics.scan_done("error", time.perf_counter() - started)
            job.future.set_exception(exc)
        finally:
            with self._lock:
                self._inflight.pop(job.key, None)
            self.metrics.queue_changed(-1)


def content_digest(report: Report) -> str | None:
    """A digest of the scanned content: the file's sha256, or one over (path, sha256) of a folder."""
    top = [a for a in report.artifacts if a.depth == 0]
    if not top or any(a.sha256 is None for a in top):
        return None
    if len(top) == 1 and top[0].path == Path(report.target).name:
        return f"sha256:{top[0].sha256}"
    h = hashlib.sha256()
    for a in sorted(top, key=lambda a: a.path):
        h.update(f"{a.path}\0{a.sha256}\n".encode())
    return f"sha256:{h.hexdigest()}"


def _sbom_or_none(report: Report, policy: Policy) -> str | None:
    """The CycloneDX AI-BOM of the report, when the sbom package is available."""
    try:
        cyclonedx = importlib.import_module("sbom.cyclonedx")
    except ImportError:
        return None
    render = getattr(cyclonedx, "render_cyclonedx", None)
    if render is None:
        return None
    try:
        out = render(report, policy)
    except Exception:  # the BOM is an extra; the verdict never depends on it
        return None
    return out if isinstance(out, str) else None
