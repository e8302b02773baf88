"""The Python API for platforms that embed the scanner.

::

    import scanner
    report = scanner.scan("models/tiny")                    # never executes what it reads
    verdict = report.verdict(scanner.Policy.from_file("policy.yaml"))
    if not verdict.passed:
        raise SystemExit("; ".join(verdict.reasons))

``scan`` raises ``scanner.sources.SourceError`` when the target cannot be read and
``scanner.rules.RulesError`` when a ``rules_dirs`` folder holds a malformed rule file;
everything wrong *inside* the model (unparseable, truncated, unknown format) is a finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scanner.engine import ProgressCallback, scan_target
from scanner.formats.interface import Limits
from scanner.model import Report


def scan(
    target: str | Path,
    policy: object | None = None,
    rules_dirs: Sequence[str | Path] = (),
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    hash_files: bool = False,
) -> Report:
    """Scan a local file or folder (or any target a registered source accepts).

    ``policy`` (a ``scanner.Policy``) is accepted for symmetry with the CLI: it does not change
    what is found, only how ``report.verdict(policy)`` judges it, so one report can be judged
    by several policies. ``rules_dirs`` adds rule folders (``--rules``). ``hash_files`` computes
    each file's SHA-256 into ``Artifact.sha256`` (reads every byte; the static scan alone
    reads only metadata and pickles). ``progress`` is called after each top-level file.
    """
    del policy  # the verdict is computed on demand: report.verdict(policy)
    return scan_target(
        str(target), rules_dirs=rules_dirs, limits=limits, progress=progress, hash_files=hash_files
    )
