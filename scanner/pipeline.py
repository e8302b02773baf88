"""The one scan pipeline behind every front door: ``scan(target, options) -> Report``.

::

    resolve (sources/) → engine (cached per content key; run by an Executor) → hash
      → policy files shipped in the target → signature step → probe step → Report

The CLI (``scan``, ``pull``, ``sbom``, ``probe``), the Python API, the GitHub Action, the
pre-commit hook and the admission service call ``scan`` and judge its report with their
``Policy`` (``policy.judge(report)``); none assembles a pipeline of its own. A new front door
is a few lines over this function; a new hub is a ``sources/`` module (a source that can name
its content immutably sets ``Tree.content_key`` and gets the result cache).

The engine runs through an ``Executor``: ``InProcessExecutor`` today. An executor that runs
the engine in a worker process under wall-clock and memory limits (turning a killed worker
into a ``SCAN-LIMIT`` finding) plugs in here without a front door changing.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from scanner import __version__
from scanner.detect import SYMLINK
from scanner.engine import ProgressCallback, now, scan_tree
from scanner.formats.interface import Limits
from scanner.model import Finding, Report, SignatureResult
from scanner.policy import POLICY_FILE_NAME, Policy
from scanner.rules import load_rules
from scanner.sources import resolve_target
from scanner.sources.interface import Tree

if TYPE_CHECKING:
    from scanner.probes.interface import ProbeOptions


@dataclass(frozen=True)
class EngineJob:
    """One run of the engine over a resolved tree: everything an executor needs."""

    tree: Tree
    rules_dirs: tuple[str, ...]
    limits: Limits
    started: str
    progress: ProgressCallback | None = None


class Executor(ABC):
    """Runs the engine. The seam for isolation: an executor may run the job in a worker process
    with a wall-clock and a memory limit, and report a killed worker as a finding."""

    @abstractmethod
    def run(self, job: EngineJob) -> Report:
        """The engine's report on ``job.tree``; raises only when the scan cannot be done."""


class InProcessExecutor(Executor):
    """The engine in this process and thread."""

    def run(self, job: EngineJob) -> Report:
        return scan_tree(job.tree, job.rules_dirs, job.limits, job.progress, job.started)


@dataclass(frozen=True)
class ScanOptions:
    """How to scan. Every front door builds one; nothing else changes what a scan does."""

    policy: Policy | None = None
    """The policy the scan is for: its signer decides the signature step, and a policy file
    inside the target that is not this one is reported. None: the built-in policy. (Front
    doors that honour ``.modelscan.yaml`` resolve it first: ``scanner.policy.resolve_policy``.)"""
    rules_dirs: tuple[str, ...] = ()
    """Extra rule folders (``--rules``)."""
    limits: Limits = field(default_factory=Limits)
    hash_files: bool = False
    """Record every top-level file's SHA-256 (reads all bytes; the scan alone reads headers)."""
    measured_sha256: Mapping[str, str] = field(default_factory=dict)
    """SHA-256 of top-level files this run already measured from the very bytes scanned (``pull``
    hashes what it writes): recorded on the artifacts and reused by the signature step."""
    signature_file: str | None = None
    """The signature to verify instead of ``MODEL/model.sig`` (``--signature``)."""
    use_cache: bool = True
    """Reuse the cached result for content a source names immutably (a hub commit)."""
    progress: ProgressCallback | None = field(default=None, compare=False)
    """Called after each top-level file of the engine."""
    static: bool = True
    """Run the static scan (engine, hashes, signature); False runs the probe alone."""
    probe: ProbeOptions | None = None
    """Also run the backdoor probes (safetensors weights) and join their result."""
    executor: Executor = field(default_factory=InProcessExecutor, compare=False)


def scan(target: str | Tree, options: ScanOptions | None = None) -> Report:
    """Scan ``target`` (a path, ``hf://org/name[@rev]``, ``https://…``, or a ``Tree`` a caller
    resolved itself) and return the report. Raises ``SourceError`` when the target cannot be
    read, ``RulesError`` for a malformed rules folder and ``SignatureError`` for an unusable
    signer (an unreadable key); everything wrong inside the model is a finding."""
    opts = options or ScanOptions()
    policy = opts.policy or Policy.default()
    started = now()
    if not opts.static:
        return _probe_step(_nothing_scanned(str(target), opts, started), str(target), opts)
    t0 = time.perf_counter()
    tree = target if isinstance(target, Tree) else resolve_target(target)
    resolved = time.perf_counter() - t0
    report = _engine(tree, opts, started)
    report = replace(report, timings={"resolve": round(resolved, 6), **report.timings})
    if opts.hash_files or opts.measured_sha256:
        report = _hashed(report, tree, opts)
    report = _with_findings(report, _shipped_policies(report, tree, policy, opts))
    report = _signature_step(report, tree, policy, opts)
    return _probe_step(report, tree.target, opts)


def _engine(tree: Tree, opts: ScanOptions, started: str) -> Report:
    """The engine's report, from the result cache when the tree names immutable content."""
    job = EngineJob(tree, opts.rules_dirs, opts.limits, started, opts.progress)
    if tree.content_key is None or not opts.use_cache:
        return opts.executor.run(job)
    from scanner import cache  # only hub-like sources name immutable content; a local scan skips it

    key = cache.cache_key(tree.content_key, __version__, load_rules(opts.rules_dirs).digest)
    t0 = time.perf_counter()
    hit = cache.load(key)
    if hit is not None:  # this run read nothing; its only phase was the lookup
        return replace(
            hit, target=tree.target, bytes_read=0, timings={"cache": round(time.perf_counter() - t0, 6)}
        )
    report = opts.executor.run(job)
    cache.store(key, report)
    return report


def _hashed(report: Report, tree: Tree, opts: ScanOptions) -> Report:
    """Every top-level file's SHA-256, measured here or earlier in this run (a digest a hub
    claims is only ever compared, never recorded as measured)."""
    t0 = time.perf_counter()
    digests = dict(opts.measured_sha256)
    if opts.hash_files:
        from scanner.hashing import sha256_blobs  # its thread pool only when asked to hash

        nodes = [n for n in tree.nodes if n.artifact.format != SYMLINK and n.artifact.path not in digests]
        digests.update(
            zip((n.artifact.path for n in nodes), sha256_blobs([n.blob for n in nodes]), strict=True)
        )
    artifacts = tuple(
        replace(a, sha256=digests[a.path]) if a.depth == 0 and a.path in digests else a
        for a in report.artifacts
    )
    return replace(
        report, artifacts=artifacts, timings={**report.timings, "hash": round(time.perf_counter() - t0, 6)}
    )


def _shipped_policies(report: Report, tree: Tree, policy: Policy, opts: ScanOptions) -> list[Finding]:
    """A modelscan policy file inside the scanned target is never used (the model would choose
    its own policy); it is reported, unless it is the very file the user named with --policy."""
    given = Path(policy.source).resolve() if policy.origin == "given" else None
    root = Path(tree.root) if tree.local_dir is not None else None
    out = []
    for a in report.artifacts:
        if a.depth != 0 or a.path.rsplit("/", 1)[-1] != POLICY_FILE_NAME:
            continue
        if given is not None and root is not None and (root / a.path).resolve() == given:
            continue
        out.append(
            load_rules(opts.rules_dirs).finding(
                "POLICY-IN-TARGET-001",
                a.path,
                "The scanned model ships a modelscan policy file; it was not used: a model cannot "
                "choose the policy it is judged by.",
            )
        )
    return out


def _signature_step(report: Report, tree: Tree, policy: Policy, opts: ScanOptions) -> Report:
    """Verify the model's signature when one is present or the policy names a signer or
    requires one. A remote tree has no local ``model.sig`` to read: when one is required, its
    report says the signature is missing (and why), which the policy refuses."""
    if tree.local_dir is None:
        if policy.require_signature and report.signature is None:
            why = "a remote scan reads no signature; `modelscan pull` verifies one on the downloaded files"
            return replace(report, signature=SignatureResult(status="missing", reason=why))
        return report
    from signatures.paths import default_signature_path

    model = Path(tree.root)
    present = opts.signature_file is not None or default_signature_path(model).is_file()
    if not (present or policy.require_signature):
        return report  # nothing to verify and nothing asked: sigstore is not even imported
    from signatures.scan_step import attach_signature
    from signatures.signer import method_for

    t0 = time.perf_counter()
    signed = attach_signature(report, str(model), method_for(policy.signer), opts.signature_file, True)
    return replace(signed, timings={**signed.timings, "verify": round(time.perf_counter() - t0, 6)})


def _probe_step(report: Report, target: str, opts: ScanOptions) -> Report:
    """The backdoor probes' result and findings joined into the report."""
    if opts.probe is None:
        return report
    from scanner.probes import probe_report

    probed = probe_report(target, opts.probe)
    merged = _with_findings(report, probed.findings)
    return replace(merged, probe=probed.probe, timings={**report.timings, **probed.timings})


def _nothing_scanned(target: str, opts: ScanOptions, started: str) -> Report:
    rules = load_rules(opts.rules_dirs)
    return Report(target, __version__, (), (), rules_version=rules.digest, started_at=started)


def _with_findings(report: Report, extra: list[Finding] | tuple[Finding, ...]) -> Report:
    if not extra:
        return report
    return replace(report, findings=tuple(sorted(set(report.findings) | set(extra), key=Finding.sort_key)))


__all__ = ["EngineJob", "Executor", "InProcessExecutor", "ScanOptions", "scan"]
