"""Cached scan results for hub revisions, so a second scan of the same commit is instant.

A result is keyed by everything that could change it: the repo, the commit sha (content is
immutable per commit), the files scanned, the tool version and the digest of the rule set.
A new release or any rule change misses the cache. Entries are plain JSON written atomically
under ``$MODELSCAN_CACHE_DIR`` (default ``~/.cache/modelscan``); an unreadable or malformed
entry is a miss, never an error, and never a verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scanner.model import Artifact, Finding, Location, Report, ScanError, Severity

FORMAT = 1
"""Bumped whenever the stored layout changes; older entries are then misses."""


def cache_dir() -> Path:
    env = os.environ.get("MODELSCAN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelscan"


def cache_key(repo_id: str, commit: str, tool_version: str, rules_digest: str, paths: Iterable[str]) -> str:
    body = json.dumps([FORMAT, repo_id, commit, tool_version, rules_digest, sorted(paths)])
    return hashlib.sha256(body.encode()).hexdigest()


def load(key: str) -> Report | None:
    path = cache_dir() / "results" / f"{key}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT or doc.get("key") != key:
            return None
        return report_from_dict(doc["report"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(key: str, report: Report) -> None:
    """Write atomically; a cache that cannot be written is silently skipped (it is an optimization)."""
    folder = cache_dir() / "results"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"format": FORMAT, "key": key, "report": report_to_dict(report)}, out)
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        return


def report_to_dict(report: Report) -> dict[str, Any]:
    """The static-scan part of a report (signature and probe results are never cached)."""
    return {
        "target": report.target,
        "tool_version": report.tool_version,
        "artifacts": [asdict(a) for a in report.artifacts],
        "findings": [{**asdict(f), "severity": f.severity.label} for f in report.findings],
        "facts": dict(report.facts),
        "revision": report.revision,
        "errors": [asdict(e) for e in report.errors],
        "timings": dict(report.timings),
        "bytes_read": report.bytes_read,
        "bytes_total": report.bytes_total,
        "rules_version": report.rules_version,
        "started_at": report.started_at,
    }


def report_from_dict(doc: dict[str, Any]) -> Report:
    findings = tuple(
        Finding(**{**f, "severity": Severity.parse(f["severity"]), "location": Location(**f["location"])})
        for f in doc["findings"]
    )
    return Report(
        target=str(doc["target"]),
        tool_version=str(doc["tool_version"]),
        artifacts=tuple(Artifact(**a) for a in doc["artifacts"]),
        findings=findings,
        facts=dict(doc["facts"]),
        revision=doc["revision"],
        errors=tuple(ScanError(**e) for e in doc["errors"]),
        timings={str(k): float(v) for k, v in doc["timings"].items()},
        bytes_read=int(doc["bytes_read"]),
        bytes_total=int(doc["bytes_total"]),
        rules_version=str(doc["rules_version"]),
        started_at=str(doc["started_at"]),
    )
