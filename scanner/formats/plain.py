"""Text, JSON, images and empty files: formats no model loader executes.

They are recognized so that they are not reported as unknown; repo-level analyzers
(``hfrepo``) look at the ones that matter (configs, templates, code) in context.
"""

from __future__ import annotations

from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.sources.interface import Node


class PlainAnalyzer(Analyzer):
    formats = ("text", "json", "image", "empty")

    def analyze(self, node: Node, context: Context) -> Analysis:
        if node.loader_hint == "keras" and node.artifact.path.rsplit("!", 1)[-1] == "config.json":
            # a .keras zip's config.json is code to Keras (CVE-2025-1550): the Keras analysis owns it
            from scanner.formats.keras import ANALYZER as KERAS

            return KERAS.analyze(node, context)
        return Analysis()


ANALYZER = PlainAnalyzer()
