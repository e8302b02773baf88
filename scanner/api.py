"""The Python API for platforms that embed the scanner: a few lines over ``scanner.pipeline``.

::

    import scanner
    policy = scanner.load_policy("policy.yaml")          # validated; PolicyError names the line
    report = scanner.scan("models/tiny", policy=policy)  # never executes what it reads
    verdict = policy.judge(report)
    if not verdict.passed:
        raise SystemExit("; ".join(verdict.reasons))

``scan`` raises ``scanner.sources.SourceError`` when the target cannot be read,
``scanner.rules.RulesError`` when a ``rules_dirs`` folder holds a malformed rule file and
``signatures.SignatureError`` when the policy names a signer that cannot be used (an
unreadable key); everything wrong *inside* the model is a finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scanner.engine import ProgressCallback
from scanner.formats.interface import Limits
from scanner.model import Report
from scanner.pipeline import ScanOptions
from scanner.pipeline import scan as run_pipeline
from scanner.policy import Policy


def scan(
    target: str | Path,
    policy: Policy | None = None,
    rules_dirs: Sequence[str | Path] = (),
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    hash_files: bool = False,
) -> Report:
    """Scan a local file or folder (or any target a registered source accepts).

    ``policy`` is the policy the report will be judged by (``policy.judge(report)``; the
    built-in one when None): a signer it names is verified and required, exactly as the
    command line does. The API does not look for ``.modelscan.yaml`` (pass
    ``scanner.resolve_policy(None, [target])`` for that). ``rules_dirs`` adds rule folders
    (``--rules``); ``hash_files`` records each file's SHA-256 (reads every byte);
    ``progress`` is called after each top-level file.
    """
    options = ScanOptions(
        policy=policy,
        rules_dirs=tuple(str(d) for d in rules_dirs),
        limits=limits or Limits(),
        hash_files=hash_files,
        progress=progress,
    )
    return run_pipeline(str(target), options)
