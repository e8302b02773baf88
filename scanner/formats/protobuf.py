"""The sniffed ``protobuf`` format: decide between ONNX and a TF SavedModel, then dispatch.

Both open with field 1 as a varint; they differ in what follows. A SavedModel holds only fields
1 (schema version) and 2 (meta graphs); an ONNX ModelProto carries its graph in field 7. The
top level is walked with bounded positional reads (tags and lengths only, no payloads).
"""

from __future__ import annotations

from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.formats.onnx_model import analyze_onnx
from scanner.formats.savedmodel import analyze_saved_model
from scanner.sources.interface import Blob, Node

_MAX_TOP_FIELDS = 100_000


def top_level_fields(blob: Blob) -> set[int] | None:
    """Field numbers of the top-level message, or None when the bytes are no protobuf."""
    numbers: set[int] = set()
    pos, size = 0, blob.size
    for _ in range(_MAX_TOP_FIELDS):
        if pos >= size:
            return numbers
        head = blob.read_at(pos, 20)
        key, used = _varint(head)
        if used == 0:
            return None
        number, wire = key >> 3, key & 7
        pos += used
        if wire == 0:
            _, n = _varint(blob.read_at(pos, 10))
            if n == 0:
                return None
            pos += n
        elif wire == 2:
            length, n = _varint(blob.read_at(pos, 10))
            if n == 0:
                return None
            pos += n + length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            return None
        if number == 0 or pos > size:
            return None
        numbers.add(number)
    return numbers


def _varint(data: bytes) -> tuple[int, int]:
    result = shift = 0
    for i, byte in enumerate(data[:10]):
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i + 1
        shift += 7
    return 0, 0


class ProtobufAnalyzer(Analyzer):
    formats = ("protobuf",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        path = node.artifact.path
        numbers = top_level_fields(node.blob)
        name = path.rsplit("!", 1)[-1].rsplit("/", 1)[-1].lower()
        if numbers is not None and numbers <= {1, 2} and (2 in numbers or name == "saved_model.pb"):
            return analyze_saved_model(node, context)
        if numbers is not None and 7 in numbers:
            return analyze_onnx(node, context)
        # malformed structure: the name picks which parser reports what is wrong with it
        if name == "saved_model.pb":
            return analyze_saved_model(node, context)
        if name.endswith(".onnx"):
            return analyze_onnx(node, context)
        return Analysis(
            findings=(
                context.finding(
                    "SCAN-UNKNOWN-001",
                    path,
                    "The file looks like protobuf but is neither an ONNX model nor a "
                    "TensorFlow SavedModel, so it was not inspected.",
                    evidence=f"top-level fields {sorted(numbers or ())}",
                ),
            )
        )


ANALYZER = ProtobufAnalyzer()
