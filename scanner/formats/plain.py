"""Text, JSON, images and empty files: formats no model loader executes.

They are recognized so that they are not reported as unknown; repo-level analyzers
(``hfrepo``) look at the ones that matter (configs, templates, code) in context, and the
registry routes JSON that Keras reads as code (a Keras ``config.json``) to ``keras``.
"""

from __future__ import annotations

from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.sources.interface import Node


class PlainAnalyzer(Analyzer):
    formats = ("text", "json", "image", "empty")

    def analyze(self, node: Node, context: Context) -> Analysis:
        return Analysis()


ANALYZER = PlainAnalyzer()
