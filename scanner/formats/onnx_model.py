"""ONNX models, parsed with the ``onnx`` package (protobuf only: nothing is run).

What matters for safety: ``external_data`` locations that escape the model folder (absolute
paths, ``..``, symlinks: CVE-2022-25882, CVE-2024-27318) make a runtime read arbitrary files as
weights; custom operator domains need a native custom-op library; model-local functions and
subgraphs hide nodes from a shallow look; initializers whose bytes disagree with their dims.
``onnx`` is optional: without it the file is reported as not inspected, never as clean.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

from scanner.formats.interface import Analysis, Context
from scanner.model import FactValue, Finding
from scanner.sources.interface import Node

_PROTOBUF_LIMIT = 2**31 - 1
_ELEM_BYTES = {
    1: 4,
    2: 1,
    3: 1,
    4: 2,
    5: 2,
    6: 4,
    7: 8,
    9: 1,
    10: 2,
    11: 8,
    12: 4,
    13: 8,
    14: 8,
    15: 16,
    16: 2,
    17: 1,
    18: 1,
    19: 1,
    20: 1,
}
_DRIVE = re.compile(r"^[A-Za-z]:")


def analyze_onnx(node: Node, context: Context) -> Analysis:
    path = node.artifact.path
    try:
        import onnx
    except ImportError:
        return Analysis(
            findings=(
                context.finding(
                    "SCAN-UNSUPPORTED-001",
                    path,
                    "This ONNX file was not inspected: the optional package 'onnx' is not "
                    "installed (pip install model-scanner[onnx]).",
                ),
            )
        )
    if node.blob.size > _PROTOBUF_LIMIT:
        return Analysis(
            findings=(
                context.finding(
                    "ONNX-PARSE-001",
                    path,
                    "The file exceeds protobuf's 2 GiB message limit, so it is no valid ONNX model.",
                ),
            )
        )
    try:
        model = onnx.load_model_from_string(node.blob.read_at(0, node.blob.size))
    except Exception as exc:  # DecodeError and friends: fail closed
        return Analysis(
            findings=(
                context.finding(
                    "ONNX-PARSE-001",
                    path,
                    f"The file does not parse as an ONNX model: {type(exc).__name__}.",
                    evidence=str(exc)[:200],
                ),
            )
        )
    return _Check(path, node, context).run(model)


class _Check:
    def __init__(self, path: str, node: Node, context: Context) -> None:
        self.path, self.node, self.context = path, node, context
        self.found: list[Finding] = []
        known: set[str] = set()
        for entry in context.rules.entries("onnx-domains"):
            known.update(str(d) for d in entry.get("domains", ()))
        self.known_domains = known

    def add(self, rule: str, msg: str, evidence: str | None = None, ref: str | None = None) -> None:
        self.found.append(self.context.finding(rule, self.path, msg, evidence=evidence, reference=ref))

    def run(self, model: Any) -> Analysis:
        local_functions = {(f.domain, f.name) for f in model.functions}
        function_domains = {f.domain for f in model.functions}
        if model.functions:
            self.add(
                "ONNX-FUNC-001",
                f"The model defines {len(model.functions)} local function(s).",
                ", ".join(sorted(f"{d}::{n}" for d, n in local_functions))[:300],
            )
        domains: set[str] = {o.domain for o in model.opset_import}
        ops: set[str] = set()
        params = 0
        for graph in _graphs(model):
            for tensor in [
                *graph.initializer,
                *(s.values for s in graph.sparse_initializer),
                *_constants(graph),
            ]:
                params += self.tensor(tensor)
            for n in graph.node:
                domains.add(n.domain)
                ops.add(f"{n.domain}::{n.op_type}" if n.domain else n.op_type)
        for fn in model.functions:
            for n in fn.node:
                domains.add(n.domain)
                ops.add(f"{n.domain}::{n.op_type}" if n.domain else n.op_type)
        for domain in sorted(domains - self.known_domains - function_domains):
            self.add(
                "ONNX-DOMAIN-001",
                f"The model uses operators from the custom domain {domain!r}; a runtime needs a native "
                "custom-op library to run them.",
                domain,
            )
        graph = model.graph
        facts: dict[str, FactValue] = {
            "framework": "onnx",
            "ir_version": int(model.ir_version),
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "opset": {o.domain or "ai.onnx": int(o.version) for o in model.opset_import},
            "inputs": [_value_info(v) for v in graph.input],
            "outputs": [_value_info(v) for v in graph.output],
            "op_types": list[FactValue](sorted(ops)),
            "parameter_count": params,
        }
        return Analysis(findings=tuple(self.found), facts=facts, format="onnx")

    def tensor(self, tensor: Any) -> int:
        numel = 1
        for d in tensor.dims:
            numel *= int(d)
        if tensor.data_location == 1:  # EXTERNAL
            self.external(tensor)
            return numel
        raw = len(tensor.raw_data)
        size = _ELEM_BYTES.get(int(tensor.data_type))
        if raw and size and raw != numel * size and tensor.data_type not in (16, 17, 18, 19, 20):
            self.add(
                "ONNX-INIT-001",
                f"Initializer {tensor.name!r} holds {raw} bytes but its dims {list(tensor.dims)} need "
                f"{numel * size}.",
                tensor.name,
            )
        return numel

    def external(self, tensor: Any) -> None:
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        normalized = location.replace("\\", "/")
        escapes = (
            not location
            or normalized.startswith("/")
            or bool(_DRIVE.match(location))
            or ".." in normalized.split("/")
        )
        folder = posixpath.dirname(self.path.split("!")[0])
        target = posixpath.normpath(posixpath.join(folder, normalized)) if not escapes else ""
        tree = self.context.tree
        is_link = tree is not None and any(
            n.artifact.path == target and n.artifact.format == "symlink" for n in tree.nodes
        )
        if escapes or is_link:
            why = "is a symbolic link" if is_link else "leaves the model folder"
            self.add(
                "ONNX-EXTDATA-001",
                f"Tensor {tensor.name!r} reads its data from {location!r}, which {why}; a runtime would "
                "read that file as weights.",
                location,
                "CVE-2024-27318",
            )


def _graphs(model: Any) -> Iterator[Any]:
    """The main graph and every subgraph (If/Loop/Scan bodies), in main graphs and functions."""
    stack = [model.graph]
    for fn in model.functions:
        stack.extend(_subgraphs(fn.node))
    seen = 0
    while stack and seen < 100_000:
        graph = stack.pop()
        seen += 1
        yield graph
        stack.extend(_subgraphs(graph.node))


def _subgraphs(nodes: Any) -> Iterator[Any]:
    for n in nodes:
        for attr in n.attribute:
            if attr.HasField("g"):
                yield attr.g
            yield from attr.graphs


def _constants(graph: Any) -> Iterator[Any]:
    for n in graph.node:
        if n.op_type == "Constant":
            for attr in n.attribute:
                if attr.HasField("t"):
                    yield attr.t


def _value_info(value: Any) -> FactValue:
    shape: list[FactValue] = []
    tensor_type = value.type.tensor_type
    for dim in tensor_type.shape.dim:
        shape.append(dim.dim_param if dim.dim_param else int(dim.dim_value))
    return {"name": value.name, "elem_type": int(tensor_type.elem_type), "shape": shape}
