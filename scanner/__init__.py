"""modelscan: a model supply-chain scanner that never executes what it scans.

Embedding API::

    import scanner
    report = scanner.scan("path/to/model")          # -> scanner.model.Report
    verdict = report.verdict(scanner.Policy.default())
"""

from __future__ import annotations

__version__ = "0.1.0"

from scanner.api import scan
from scanner.model import Finding, Report, Severity, Verdict
from scanner.policy import Policy

__all__ = ["Finding", "Policy", "Report", "Severity", "Verdict", "__version__", "scan"]
