"""The Python API for platforms that embed the scanner."""

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
) -> Report:
    """Scan a local path (or any target a registered source accepts) and return the report.

    ``policy`` is accepted for symmetry with the CLI; it does not change what is found, only
    how ``report.verdict(policy)`` judges it. Raises ``scanner.sources.SourceError`` when the
    target cannot be read.
    """
    del policy  # the verdict is computed on demand: report.verdict(policy)
    return scan_target(str(target), rules_dirs=rules_dirs, limits=limits, progress=progress)
