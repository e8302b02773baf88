"""TensorFlow SavedModel (``saved_model.pb``): every operator of every graph and function.

Without TensorFlow: a minimal protobuf wire-format reader and the field numbers of
tensorflow/core/protobuf/saved_model.proto (SavedModel: 1 schema version, 2 meta_graphs),
meta_graph.proto (MetaGraphDef: 1 meta_info_def, 2 graph_def; MetaInfoDef: 4 tags,
5 tensorflow_version), graph.proto (GraphDef: 1 node, 2 library), node_def.proto (NodeDef:
1 name, 2 op) and function.proto (FunctionDefLibrary: 1 function; FunctionDef: 1 signature,
3 node_def; OpDef: 1 name). Operators that touch files, run Python or reach the network are
listed as data in ``rules/formats/tensorflow.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from scanner.formats.interface import Analysis, Context
from scanner.model import FactValue, Finding, Location, Severity
from scanner.sources.interface import Node

_MAX_FIELDS = 5_000_000


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)``: varints as int, length-delimited as a memoryview."""
    view = memoryview(data)
    pos, count = 0, 0
    while pos < len(view):
        count += 1
        if count > _MAX_FIELDS:
            raise WireError("too many fields")
        key, pos = read_varint(view, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            value, pos = read_varint(view, pos)
            yield number, wire, value
        elif wire == 2:
            n, pos = read_varint(view, pos)
            if pos + n > len(view):
                raise WireError(f"field {number} runs past the end of its message")
            yield number, wire, view[pos : pos + n]
            pos += n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(view):
                raise WireError("truncated fixed-width field")
            yield number, wire, int.from_bytes(view[pos : pos + size], "little")
            pos += size
        else:
            raise WireError(f"unsupported wire type {wire}")


def _children(data: memoryview, number: int) -> Iterator[memoryview]:
    for num, wire, value in fields(data):
        if num == number and wire == 2 and isinstance(value, memoryview):
            yield value


def _text(data: memoryview) -> str:
    return bytes(data).decode("utf-8", "replace")


@dataclass
class _Graphs:
    ops: dict[str, int] = field(default_factory=dict)
    functions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


def parse_saved_model(data: bytes) -> _Graphs:
    out = _Graphs()
    for meta_graph in _children(memoryview(data), 2):
        for info in _children(meta_graph, 1):
            out.tags += [_text(t) for t in _children(info, 4)]
            out.versions += [_text(v) for v in _children(info, 5)]
        for graph in _children(meta_graph, 2):
            for node in _children(graph, 1):
                _count_op(out, node)
            for library in _children(graph, 2):
                for function in _children(library, 1):
                    for signature in _children(function, 1):
                        out.functions += [_text(n) for n in _children(signature, 1)]
                    for node in _children(function, 3):
                        _count_op(out, node)
    return out


def _count_op(out: _Graphs, node: memoryview) -> None:
    for op in _children(node, 2):
        name = _text(op)
        out.ops[name] = out.ops.get(name, 0) + 1


def dangerous_ops(context: Context) -> dict[str, tuple[str, Severity]]:
    table: dict[str, tuple[str, Severity]] = {}
    for entry in context.rules.entries("tf-ops"):
        sev = Severity.parse(str(entry.get("severity", "high")))
        for op in entry.get("ops", ()):
            table[str(op)] = (str(entry.get("category", "")), sev)
    return table


def analyze_saved_model(node: Node, context: Context) -> Analysis:
    path = node.artifact.path
    size = node.blob.size
    if size > context.limits.max_header:
        return Analysis(
            findings=(
                context.finding(
                    "SCAN-LIMIT-001",
                    path,
                    f"The SavedModel is larger than the {context.limits.max_header}-byte "
                    "metadata limit and was not inspected.",
                ),
            )
        )
    try:
        graphs = parse_saved_model(node.blob.read_at(0, size))
    except WireError as exc:
        return Analysis(
            findings=(
                context.finding(
                    "TF-PARSE-001",
                    path,
                    f"The SavedModel protobuf is malformed: {exc}.",
                    location=Location(offset=0),
                ),
            )
        )
    found: list[Finding] = []
    deny = dangerous_ops(context)
    for op, count in sorted(graphs.ops.items()):
        if op in deny:
            category, sev = deny[op]
            found.append(
                context.finding(
                    "TF-OP-001",
                    path,
                    f"The graph uses the `{op}` operator ({category}) {count} time(s); running the "
                    "model executes it.",
                    severity=sev,
                    evidence=op,
                    reference="https://www.tensorflow.org/api_docs/python/tf/raw_ops",
                )
            )
    facts: dict[str, FactValue] = {
        "framework": "tensorflow",
        "tags": list[FactValue](sorted(set(graphs.tags))),
        "op_types": list[FactValue](sorted(graphs.ops)),
        "function_count": len(graphs.functions),
    }
    if graphs.versions:
        facts["tensorflow_version"] = graphs.versions[0]
    return Analysis(findings=tuple(found), facts=facts, format="tf-savedmodel")
