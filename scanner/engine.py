"""The engine: a resolved ``Tree`` → detect → analyzers (recursing into containers) → ``Report``.

The engine is generic: it knows no format. It sniffs each node, lets the registry refine the
format and pick the analyzer, scans the children a container returns (depth-limited), runs
the tree analyzers, and turns any analyzer failure into a finding (fail closed), never into
a traceback. A tree with nothing to scan is a finding too. Resolving targets, hashing,
signatures and caching are the pipeline's (``scanner.pipeline``); the engine only reads what
its analyzers ask for.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scanner import __version__
from scanner.detect import SYMLINK, UNKNOWN, sniff
from scanner.formats.interface import Analysis, Context, Limits, TreeAnalyzer
from scanner.formats.registry import Unavailable, analyzer_for, refine, tree_analyzers
from scanner.model import Artifact, Facts, Finding, Location, Report
from scanner.rules import load_rules
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


def scan_tree(
    tree: Tree,
    rules_dirs: Sequence[str | Path] = (),
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    started: str | None = None,
) -> Report:
    """Scan an already resolved tree. Reads headers, metadata and pickles, never tensor data."""
    t0 = time.perf_counter()
    rules = load_rules(rules_dirs)
    context = Context(rules=rules, limits=limits or Limits(), tree=tree)
    out = _Collected([], [], {}, {})
    if tree.prefetch is not None:
        tree.prefetch()
    total_bytes = sum(n.artifact.size for n in tree.nodes)
    done_bytes = 0
    for i, node in enumerate(tree.nodes):
        _scan_node(node, context, out)
        done_bytes += node.artifact.size
        if progress is not None:
            progress(Progress(node.artifact.path, i + 1, len(tree.nodes), done_bytes, total_bytes))
    for analyzer in tree_analyzers():
        tree_context = replace(context, facts=dict(out.facts))
        _absorb(out, None, _run_tree(analyzer, tree, out.formats, tree_context))
    if not any(n.artifact.size > 0 and n.artifact.format != SYMLINK for n in tree.nodes):
        out.findings.append(_empty(tree, context))
    return Report(
        target=tree.target,
        tool_version=__version__,
        artifacts=tuple(out.artifacts),
        findings=tuple(sorted(set(out.findings), key=Finding.sort_key)),
        facts=dict(sorted(out.facts.items())),
        revision=tree.revision,
        timings={"scan": round(time.perf_counter() - t0, 6)},
        bytes_read=tree.counter.total,
        bytes_total=total_bytes,
        rules_version=rules.digest,
        started_at=started or now(),
    )


def _scan_node(node: Node, context: Context, out: _Collected) -> None:
    art = node.artifact
    if art.format == SYMLINK:
        out.artifacts.append(art)
        out.formats[art.path] = SYMLINK
        message = "This file is a symbolic link; loaders follow it but the scan does not."
        out.findings.append(context.finding("FILE-SYMLINK-001", art.path, message))
        return
    try:
        fmt = sniff(node.blob, art.path)
    except Exception as exc:  # an unreadable file is a finding, not a crash
        fmt = UNKNOWN
        out.findings.append(_failed(context, art.path, f"the file could not be read: {exc}"))
    fmt = refine(node, fmt, context)
    analysis = _analyze(node, fmt, context)
    final_fmt = analysis.format or fmt
    out.artifacts.append(replace(art, format=final_fmt))
    out.formats[art.path] = final_fmt
    _absorb(out, art.path, analysis)
    for child in analysis.children:
        if child.artifact.depth > context.limits.max_depth:
            out.findings.append(
                context.finding(
                    "CONTAINER-DEPTH-001",
                    child.artifact.path,
                    f"Container nesting exceeds the depth limit of {context.limits.max_depth}; "
                    "this member was not opened.",
                    location=Location(member=child.artifact.path.rsplit("!", 1)[-1]),
                )
            )
            out.artifacts.append(child.artifact)
            continue
        _scan_node(child, context, out)


def _analyze(node: Node, fmt: str, context: Context) -> Analysis:
    path = node.artifact.path
    analyzer = analyzer_for(fmt)
    if analyzer is None:
        message = "The file's bytes match no known format, so it was not inspected."
        evidence = f"first bytes: {node.blob.head(16).hex()}"
        return Analysis(findings=(context.finding("SCAN-UNKNOWN-001", path, message, evidence=evidence),))
    if isinstance(analyzer, Unavailable):
        message = f"This {fmt} file was not inspected: {analyzer.reason}."
        return Analysis(findings=(context.finding("SCAN-UNSUPPORTED-001", path, message),))
    try:
        return analyzer.analyze(node, context)
    except Exception as exc:  # fail closed: an analyzer bug must not pass a file as clean
        why = f"the {fmt} analyzer failed: {type(exc).__name__}: {exc}"
        return Analysis(findings=(_failed(context, path, why),))


def _run_tree(analyzer: TreeAnalyzer, tree: Tree, formats: dict[str, str], context: Context) -> Analysis:
    try:
        return analyzer.analyze_tree(tree, formats, context)
    except Exception as exc:
        why = f"{type(analyzer).__name__} failed: {type(exc).__name__}: {exc}"
        return Analysis(findings=(_failed(context, tree.root, why),))


def _absorb(out: _Collected, path: str | None, analysis: Analysis) -> None:
    out.findings.extend(analysis.findings)
    if analysis.facts:
        key = path if path is not None else "."
        merged = dict(out.facts.get(key, {}))
        merged.update(analysis.facts)
        out.facts[key] = merged


def _failed(context: Context, path: str, why: str) -> Finding:
    return context.finding("SCAN-ERROR-001", path, f"The file could not be analyzed completely: {why}.")


def _empty(tree: Tree, context: Context) -> Finding:
    """Nothing was there to inspect: no file, or only empty files and links. A scan that looked
    at nothing must not read as a pass (a wrong path, a failed download, a checkout without
    its LFS objects)."""
    files = sum(1 for n in tree.nodes if n.artifact.format != SYMLINK)
    links = len(tree.nodes) - files
    evidence = f"{files} file(s), all empty; {links} symbolic link(s)" if tree.nodes else "no files"
    message = "The target holds nothing to scan, so nothing was inspected."
    return context.finding("SCAN-EMPTY-001", ".", message, evidence=evidence)


def now() -> str:
    """The current UTC time as the report records it (``2026-01-02T03:04:05Z``)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


__all__ = ["Progress", "ProgressCallback", "now", "scan_tree"]
