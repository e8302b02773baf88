"""The scan pipeline: target → sources → detect → analyzers (recursing into containers) → Report.

The engine is generic: it knows no format. It sniffs each node, hands it to the registered
analyzer, scans the children a container returns (depth-limited), runs the tree analyzers,
and turns any analyzer failure into a finding (fail closed), never into a traceback.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scanner import __version__
from scanner.detect import (
    SNIFF_BYTES,
    SYMLINK,
    TF_BUNDLE_DATA,
    TF_BUNDLE_INDEX,
    TF_FINGERPRINT,
    UNKNOWN,
    bundle_index_for,
    is_tf_bundle_index,
    is_tf_fingerprint,
    sniff,
)
from scanner.formats.interface import Analysis, Context, Limits
from scanner.formats.registry import Unavailable, analyzer_for, tree_analyzers
from scanner.hashing import sha256_blobs
from scanner.model import Artifact, Facts, Finding, Location, Report, ScanError, Severity
from scanner.rules import RuleSet, load_rules
from scanner.sources import resolve_target
from scanner.sources.interface import Node, Tree


@dataclass(frozen=True)
class Progress:
    """One step of a scan, for progress bars: ``done`` of ``total`` top-level files."""

    path: str
    done: int
    total: int
    bytes_done: int
    bytes_total: int


ProgressCallback = Callable[[Progress], None]


@dataclass
class _Collected:
    artifacts: list[Artifact]
    findings: list[Finding]
    facts: dict[str, Facts]
    formats: dict[str, str]


def scan_target(
    target: str,
    rules_dirs: Sequence[str | Path] = (),
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    hash_files: bool = False,
) -> Report:
    """Resolve ``target`` with the registered sources and scan it (raises ``SourceError``)."""
    started = _now()
    t0 = time.perf_counter()
    tree = resolve_target(target)
    resolved = time.perf_counter()
    report = scan_tree(tree, rules_dirs, limits, progress, started=started, hash_files=hash_files)
    timings = {**report.timings, "resolve": round(resolved - t0, 6)}
    return replace(report, timings=timings)


def scan_tree(
    tree: Tree,
    rules_dirs: Sequence[str | Path] = (),
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    started: str | None = None,
    hash_files: bool = False,
) -> Report:
    """Scan an already resolved tree; with ``hash_files`` every top-level file's SHA-256 is
    computed (this reads all bytes, which the static scan alone never does)."""
    t0 = time.perf_counter()
    rules = load_rules(rules_dirs)
    context = Context(rules=rules, limits=limits or Limits(), tree=tree)
    out = _Collected([], [], {}, {})
    total_bytes = sum(n.artifact.size for n in tree.nodes)
    done_bytes = 0
    to_hash = [
        i
        for i, n in enumerate(tree.nodes)
        if hash_files and n.artifact.sha256 is None and n.artifact.format != SYMLINK
    ]
    digests = dict(zip(to_hash, sha256_blobs([tree.nodes[i].blob for i in to_hash]), strict=True))
    for i, node in enumerate(tree.nodes):
        if i in digests:
            node = replace(node, artifact=replace(node.artifact, sha256=digests[i]))
        _scan_node(node, context, out)
        done_bytes += node.artifact.size
        if progress is not None:
            progress(Progress(node.artifact.path, i + 1, len(tree.nodes), done_bytes, total_bytes))
    for analyzer in tree_analyzers():
        tree_context = replace(context, facts=dict(out.facts))
        _absorb(out, None, _run_tree(analyzer, tree, out.formats, tree_context))
    findings = tuple(sorted(set(out.findings), key=Finding.sort_key))
    return Report(
        target=tree.target,
        tool_version=__version__,
        artifacts=tuple(out.artifacts),
        findings=findings,
        facts=dict(sorted(out.facts.items())),
        revision=tree.revision,
        errors=(),
        timings={"scan": round(time.perf_counter() - t0, 6)},
        bytes_read=tree.counter.total,
        bytes_total=total_bytes,
        rules_version=rules.digest,
        started_at=started or _now(),
    )


def _scan_node(node: Node, context: Context, out: _Collected) -> None:
    art = node.artifact
    if art.format == SYMLINK:
        out.artifacts.append(art)
        out.formats[art.path] = SYMLINK
        out.findings.append(
            Finding(
                "FILE-SYMLINK-001",
                Severity.MEDIUM,
                art.path,
                "This file is a symbolic link; loaders follow it but the scan does not.",
            )
        )
        return
    try:
        fmt = sniff(node.blob, art.path)
    except Exception as exc:  # an unreadable file is a finding, not a crash
        fmt = UNKNOWN
        out.findings.append(_failed(art.path, f"the file could not be read: {exc}"))
    if fmt == UNKNOWN:
        fmt = _companion_format(node, context)
    analysis = _analyze(node, fmt, context)
    final_fmt = analysis.format or fmt
    out.artifacts.append(replace(art, format=final_fmt))
    out.formats[art.path] = final_fmt
    _absorb(out, art.path, analysis)
    for child in analysis.children:
        if child.artifact.depth > context.limits.max_depth:
            out.findings.append(
                Finding(
                    "CONTAINER-DEPTH-001",
                    Severity.MEDIUM,
                    child.artifact.path,
                    f"Container nesting exceeds the depth limit of {context.limits.max_depth}; "
                    "this member was not opened.",
                    location=Location(member=child.artifact.path.rsplit("!", 1)[-1]),
                )
            )
            out.artifacts.append(child.artifact)
            continue
        _scan_node(child, context, out)


def _companion_format(node: Node, context: Context) -> str:
    """Formats with no magic at their start, recognized by structure: a TensorFlow checkpoint
    index (table magic at its end), the raw tensor shard such an index describes (only beside
    a valid index), a SavedModel fingerprint. Anything else stays unknown (fail closed)."""
    blob, path = node.blob, node.artifact.path
    if is_tf_bundle_index(blob):
        return TF_BUNDLE_INDEX
    if is_tf_fingerprint(blob.head(SNIFF_BYTES)):
        return TF_FINGERPRINT
    index = bundle_index_for(path)
    if index is not None and context.tree is not None:
        sibling = next((n for n in context.tree.nodes if n.artifact.path == index), None)
        if sibling is not None and is_tf_bundle_index(sibling.blob):
            return TF_BUNDLE_DATA
    return UNKNOWN


def _analyze(node: Node, fmt: str, context: Context) -> Analysis:
    path = node.artifact.path
    analyzer = analyzer_for(fmt)
    if analyzer is None:
        return Analysis(
            findings=(
                Finding(
                    "SCAN-UNKNOWN-001",
                    Severity.MEDIUM,
                    path,
                    "The file's bytes match no known format, so it was not inspected.",
                    evidence=f"first bytes: {node.blob.head(16).hex()}",
                ),
            )
        )
    if isinstance(analyzer, Unavailable):
        return Analysis(
            findings=(
                Finding(
                    "SCAN-UNSUPPORTED-001",
                    Severity.MEDIUM,
                    path,
                    f"This {fmt} file was not inspected: {analyzer.reason}.",
                ),
            )
        )
    try:
        return analyzer.analyze(node, context)
    except Exception as exc:  # fail closed: an analyzer bug must not pass a file as clean
        return Analysis(findings=(_failed(path, f"the {fmt} analyzer failed: {type(exc).__name__}: {exc}"),))


def _run_tree(analyzer: object, tree: Tree, formats: dict[str, str], context: Context) -> Analysis:
    from scanner.formats.interface import TreeAnalyzer

    assert isinstance(analyzer, TreeAnalyzer)
    try:
        return analyzer.analyze_tree(tree, formats, context)
    except Exception as exc:
        name = type(analyzer).__name__
        return Analysis(findings=(_failed(tree.root, f"{name} failed: {type(exc).__name__}: {exc}"),))


def _absorb(out: _Collected, path: str | None, analysis: Analysis) -> None:
    out.findings.extend(analysis.findings)
    if analysis.facts:
        key = path if path is not None else "."
        merged = dict(out.facts.get(key, {}))
        merged.update(analysis.facts)
        out.facts[key] = merged


def _failed(path: str, why: str) -> Finding:
    message = f"The file could not be analyzed completely: {why}."
    return Finding("SCAN-ERROR-001", Severity.MEDIUM, path, message)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def default_rules() -> RuleSet:
    return load_rules()


__all__ = ["Progress", "ProgressCallback", "ScanError", "scan_target", "scan_tree"]
