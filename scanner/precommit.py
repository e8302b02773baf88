"""``modelscan-precommit [--policy FILE] FILE...``: the pre-commit hook. Scans each staged model
file through the pipeline and prints a report for each one that fails; exits 1 if any does (2 if
one cannot be read or the policy is bad). The policy is ``--policy`` (``args: [--policy,
.modelscan.yaml]`` in the hook config), else the ``.modelscan.yaml`` discovery finds (pre-commit
runs at the repository root; a policy in the folder of a staged file is not discovered: name it),
else the built-in one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scanner import pipeline
from scanner.pipeline import ScanOptions
from scanner.policy import PolicyError, resolve_policy
from scanner.report.text import TextRenderer
from scanner.rules import RulesError
from scanner.sources import SourceError
from signatures.errors import SignatureError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelscan-precommit", description="Scan staged model files.")
    parser.add_argument("--policy", help="policy file [default: the .modelscan.yaml discovery finds]")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    files: list[str] = args.files
    try:
        policy = resolve_policy(args.policy, files)
    except (PolicyError, RulesError) as exc:
        print(f"modelscan: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in files:
        try:
            report = pipeline.scan(path, ScanOptions(policy=policy))
        except (SourceError, SignatureError) as exc:
            print(f"modelscan: {exc}", file=sys.stderr)
            status = 2
            continue
        if not policy.judge(report).passed:
            print(TextRenderer().render(report, policy))  # scan-safe: our text report
            status = max(status, 1)
    return status


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
