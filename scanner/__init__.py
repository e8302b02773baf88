"""modelscan: a model supply-chain scanner that never executes what it scans.

Embedding API::

    import scanner
    policy = scanner.Policy.default()               # or scanner.load_policy("policy.yaml")
    report = scanner.scan("path/to/model", policy)  # -> scanner.model.Report
    verdict = policy.judge(report)
"""

from __future__ import annotations

__version__ = "0.1.0"

from scanner.api import scan
from scanner.model import Finding, Report, Severity, Verdict
from scanner.policy import Policy, PolicyError, load_policy, resolve_policy

__all__ = [
    "Finding",
    "Policy",
    "PolicyError",
    "Report",
    "Severity",
    "Verdict",
    "__version__",
    "load_policy",
    "resolve_policy",
    "scan",
]
