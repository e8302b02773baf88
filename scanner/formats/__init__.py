"""The analyzer registry: one analyzer per format, no ``if format == ...`` chains elsewhere.

Analyzer modules register themselves when ``scanner.formats.registry`` imports them; the engine
asks ``analyzer_for(format)``. A format with no analyzer is a finding, never silence.
"""

from __future__ import annotations

from scanner.formats.interface import Analysis, Analyzer, Context, Limits, TreeAnalyzer

__all__ = ["Analysis", "Analyzer", "Context", "Limits", "TreeAnalyzer"]
