"""Text, JSON, images, empty files and TensorFlow checkpoint side files (index, raw tensor
shards, fingerprint): formats no model loader executes.

They are recognized so that they are not reported as unknown; repo-level analyzers
(``hfrepo``) look at the ones that matter (configs, templates, code) in context.
"""

from __future__ import annotations

from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.sources.interface import Node


class PlainAnalyzer(Analyzer):
    formats = ("text", "json", "image", "empty", "tf-bundle-index", "tf-bundle-data", "tf-fingerprint")

    def analyze(self, node: Node, context: Context) -> Analysis:
        from scanner.formats.keras import ANALYZER as KERAS
        from scanner.formats.keras import is_keras_config

        name = node.artifact.path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
        # a Keras config.json is code to Keras (CVE-2025-1550), whether the zip container said so
        # or the JSON itself is a serialized Keras object (keras_hub presets, unzipped .keras)
        if name == "config.json" and (node.loader_hint == "keras" or is_keras_config(node, context)):
            return KERAS.analyze(node, context)
        return Analysis()


ANALYZER = PlainAnalyzer()
