"""``modelscan-precommit FILE...``: the pre-commit hook. Scans each staged model file and
prints a report for each one that fails; exits 1 if any does (2 if one cannot be read)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from scanner.engine import scan_target
from scanner.policy import Policy
from scanner.report.text import TextRenderer
from scanner.sources import SourceError


def main(argv: Sequence[str] | None = None) -> int:
    files = list(sys.argv[1:] if argv is None else argv)
    policy = Policy.default()
    status = 0
    for path in files:
        try:
            report = scan_target(path)
        except SourceError as exc:
            print(f"modelscan: {exc}", file=sys.stderr)
            status = 2
            continue
        if not report.verdict(policy).passed:
            print(TextRenderer().render(report, policy))  # scan-safe: our text report
            status = max(status, 1)
    return status


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
