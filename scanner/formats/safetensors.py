"""safetensors: strict header validation without reading a byte of tensor data.

A safetensors file is ``u64 little-endian header length`` + a JSON header + raw tensor bytes.
Loaders trust the header: a lying length prefix allocates gigabytes, duplicate keys are read
differently by different JSON parsers (the scanner sees one tensor, the loader another),
overlapping or non-contiguous offsets alias tensors or hide bytes, and trailing bytes after the
last tensor are a place to smuggle a second file (a polyglot). The scan reads 8 bytes plus the
header through ``blob.read_at`` and checks every one of those properties.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.model import FactValue, Finding, Location
from scanner.sources.interface import Node

#: dtype -> size in *bits* (sub-byte float formats pack several values per byte)
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}

_REF = "https://github.com/huggingface/safetensors#format"


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


@dataclass(frozen=True)
class _Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class SafetensorsAnalyzer(Analyzer):
    formats = ("safetensors",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        path = node.artifact.path
        size = node.blob.size
        found: list[Finding] = []

        if size < 8:
            found.append(
                context.finding(
                    "SAFETENSORS-TRUNC-001",
                    path,
                    "The file is shorter than the 8-byte header length.",
                    reference=_REF,
                )
            )
            return Analysis(findings=tuple(found))
        (n,) = struct.unpack("<Q", node.blob.read_at(0, 8))
        if n > context.limits.max_header:
            found.append(
                context.finding(
                    "SAFETENSORS-HEADER-001",
                    path,
                    f"The header length prefix ({n} bytes) exceeds the "
                    f"{context.limits.max_header}-byte limit; "
                    "a loader would try to allocate it.",
                    location=Location(offset=0),
                    evidence=f"header length {n}",
                    reference=_REF,
                )
            )
            return Analysis(findings=tuple(found))
        if 8 + n > size:
            found.append(
                context.finding(
                    "SAFETENSORS-TRUNC-001",
                    path,
                    f"The header length prefix ({n} bytes) runs past the end of the {size}-byte file.",
                    location=Location(offset=0),
                    evidence=f"header length {n}",
                    reference=_REF,
                )
            )
            return Analysis(findings=tuple(found))
        raw = node.blob.read_at(8, n)
        header = _parse_header(raw, context, path, found)
        if header is None:
            return Analysis(findings=tuple(found))
        tensors = _check_entries(header, context, path, found)
        data_len = size - 8 - n
        _check_layout(tensors, data_len, context, path, found)
        return Analysis(findings=tuple(found), facts=_facts(tensors, header.get("__metadata__")))


def _parse_header(raw: bytes, context: Context, path: str, found: list[Finding]) -> dict[str, Any] | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        found.append(
            context.finding(
                "SAFETENSORS-HEADER-002",
                path,
                "The header is not valid UTF-8.",
                location=Location(offset=8 + exc.start),
                evidence=str(exc),
                reference=_REF,
            )
        )
        return None
    if not text.startswith("{"):
        found.append(
            context.finding(
                "SAFETENSORS-HEADER-002",
                path,
                "The header does not start with a JSON object.",
                location=Location(offset=8),
                evidence=repr(text[:40]),
                reference=_REF,
            )
        )
        return None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as dup:
        found.append(
            context.finding(
                "SAFETENSORS-HEADER-003",
                path,
                "The header repeats a key; JSON parsers disagree on which value wins, so the loader may "
                "read a tensor the scan never saw.",
                evidence=f"duplicate key {dup.args[0]!r}",
                reference=_REF,
            )
        )
        return None
    except (ValueError, RecursionError) as exc:
        found.append(
            context.finding(
                "SAFETENSORS-HEADER-002",
                path,
                "The header is not valid JSON.",
                evidence=str(exc)[:200],
                reference=_REF,
            )
        )
        return None
    if not isinstance(header, dict):
        found.append(
            context.finding(
                "SAFETENSORS-HEADER-002", path, "The header is not a JSON object.", reference=_REF
            )
        )
        return None
    return header


def _check_entries(
    header: dict[str, Any], context: Context, path: str, found: list[Finding]
) -> list[_Tensor]:
    tensors: list[_Tensor] = []
    for name, entry in header.items():
        ptr = "/" + name.replace("~", "~0").replace("/", "~1")
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in entry.items()
            ):
                found.append(
                    context.finding(
                        "SAFETENSORS-META-001",
                        path,
                        "`__metadata__` must map strings to strings; other values are not what "
                        "loaders expect.",
                        location=Location(pointer=ptr),
                        evidence=json.dumps(entry)[:200],
                        reference=_REF,
                    )
                )
            continue
        tensor = _tensor(name, entry)
        if isinstance(tensor, str):
            found.append(
                context.finding(
                    "SAFETENSORS-TENSOR-001",
                    path,
                    f"Tensor {name!r} has a malformed entry: {tensor}.",
                    location=Location(pointer=ptr),
                    evidence=json.dumps(entry)[:200],
                    reference=_REF,
                )
            )
            continue
        bits = DTYPE_BITS[tensor.dtype]
        numel = 1
        for dim in tensor.shape:
            numel *= dim
        expected_bits = numel * bits
        if expected_bits % 8 or tensor.end - tensor.begin != expected_bits // 8:
            found.append(
                context.finding(
                    "SAFETENSORS-TENSOR-002",
                    path,
                    f"Tensor {name!r} spans {tensor.end - tensor.begin} bytes but "
                    f"{tensor.dtype}×{list(tensor.shape)} needs {expected_bits / 8:g}.",
                    location=Location(pointer=ptr),
                    evidence=f"data_offsets [{tensor.begin}, {tensor.end}]",
                    reference=_REF,
                )
            )
        tensors.append(tensor)
    return tensors


def _tensor(name: str, entry: object) -> _Tensor | str:
    if not isinstance(entry, dict):
        return "the entry is not an object"
    if set(entry) != {"dtype", "shape", "data_offsets"}:
        return f"unexpected keys {sorted(entry)}"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        return f"unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
        return "shape is not a list of non-negative integers"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_uint(o) for o in offsets)):
        return "data_offsets is not a pair of non-negative integers"
    if offsets[0] > offsets[1]:
        return "data_offsets end before they begin"
    return _Tensor(name, dtype, tuple(shape), offsets[0], offsets[1])


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _check_layout(
    tensors: list[_Tensor], data_len: int, context: Context, path: str, found: list[Finding]
) -> None:
    cursor = 0
    for t in sorted(tensors, key=lambda t: (t.begin, t.end, t.name)):
        if t.end > data_len:
            found.append(
                context.finding(
                    "SAFETENSORS-TENSOR-002",
                    path,
                    f"Tensor {t.name!r} ends at byte {t.end} of a {data_len}-byte data section "
                    "(out of bounds).",
                    evidence=f"data_offsets [{t.begin}, {t.end}]",
                    reference=_REF,
                )
            )
        if t.begin < cursor:
            found.append(
                context.finding(
                    "SAFETENSORS-TENSOR-003",
                    path,
                    f"Tensor {t.name!r} overlaps the tensor before it; two names alias the same bytes.",
                    evidence=f"begins at {t.begin}, previous ends at {cursor}",
                    reference=_REF,
                )
            )
        elif t.begin > cursor:
            found.append(
                context.finding(
                    "SAFETENSORS-TENSOR-003",
                    path,
                    f"{t.begin - cursor} bytes before tensor {t.name!r} belong to no tensor (hidden data).",
                    evidence=f"gap [{cursor}, {t.begin}]",
                    reference=_REF,
                )
            )
        cursor = max(cursor, t.end)
    if cursor < data_len:
        found.append(
            context.finding(
                "SAFETENSORS-TRAILING-001",
                path,
                f"{data_len - cursor} bytes follow the last tensor; no loader reads them, so they can "
                "carry a "
                "hidden payload (a polyglot file).",
                evidence=f"data section {data_len} bytes, tensors end at {cursor}",
                reference=_REF,
            )
        )


def _facts(tensors: list[_Tensor], metadata: object) -> dict[str, FactValue]:
    params = 0
    dtypes: dict[str, FactValue] = {}
    table: dict[str, FactValue] = {}
    for t in tensors:
        numel = 1
        for dim in t.shape:
            numel *= dim
        params += numel
        prev = dtypes.get(t.dtype, 0)
        dtypes[t.dtype] = (prev if isinstance(prev, int) else 0) + numel
        table[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [t.begin, t.end]}
    facts: dict[str, FactValue] = {
        "tensor_count": len(tensors),
        "parameter_count": params,
        "dtypes": dict(sorted(dtypes.items())),
        "tensors": table,
    }
    if isinstance(metadata, dict):
        facts["metadata"] = {str(k): str(v)[:1000] for k, v in metadata.items()}
    return facts


ANALYZER = SafetensorsAnalyzer()
