"""TensorFlow checkpoint side files: the bundle index (``variables.index``), the raw tensor
shards it describes (``variables.data-00000-of-00001``) and SavedModel fingerprints.

None starts with a magic number, so the engine's sniff calls them unknown; the registry asks
this module's ``RECOGNIZER`` to recognize them by structure instead: the index by the table
magic at its end, a shard only beside a valid index that names it, a fingerprint by its
protobuf fields. TensorFlow reads none of them as code (ops live in ``saved_model.pb``, which
``protobuf``/``savedmodel`` analyze), so recognized files need no further analysis; anything
that fails these checks stays unknown (fail closed).
"""

from __future__ import annotations

from scanner.detect import (
    SNIFF_BYTES,
    TF_BUNDLE_DATA,
    TF_BUNDLE_INDEX,
    TF_FINGERPRINT,
    bundle_index_for,
    is_tf_bundle_index,
    is_tf_fingerprint,
)
from scanner.formats.interface import Analysis, Analyzer, Context, Recognizer
from scanner.sources.interface import Node


class TfCheckpointRecognizer(Recognizer):
    def recognize(self, node: Node, context: Context) -> str | None:
        blob, path = node.blob, node.artifact.path
        if is_tf_bundle_index(blob):
            return TF_BUNDLE_INDEX
        if is_tf_fingerprint(blob.head(SNIFF_BYTES)):
            return TF_FINGERPRINT
        index = bundle_index_for(path)
        if index is not None and context.tree is not None:
            sibling = next((n for n in context.tree.nodes if n.artifact.path == index), None)
            if sibling is not None and is_tf_bundle_index(sibling.blob):
                return TF_BUNDLE_DATA
        return None


class TfCheckpointAnalyzer(Analyzer):
    formats = (TF_BUNDLE_INDEX, TF_BUNDLE_DATA, TF_FINGERPRINT)

    def analyze(self, node: Node, context: Context) -> Analysis:
        return Analysis()


RECOGNIZER = TfCheckpointRecognizer()
ANALYZER = TfCheckpointAnalyzer()
