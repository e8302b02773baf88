"""GGUF (llama.cpp): header, metadata key/values and tensor infos, parsed with bounded reads.

Parser bugs in ``gguf_init_from_file`` (integer overflows in counts and lengths) are a known
attack surface, so every count and length is checked against the bytes that remain in the
metadata budget *before* anything is allocated. Tensor data is never read. The chat template
in ``tokenizer.chat_template`` (and named variants ``tokenizer.chat_template.<name>``) is handed
to the static Jinja analysis: servers render it for every request (CVE-2024-34359).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.formats.jinja import analyze_template, template_sha256
from scanner.model import FactValue, Finding, Location
from scanner.sources.interface import Blob, Node

#: ggml type id -> (name, elements per block, bytes per block); from ggml.h / gguf-py constants
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}
#: value type id -> struct format of fixed-size scalars
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 8
_REF = "https://github.com/ggml-org/ggml/blob/master/docs/gguf.md"


class GGUFError(Exception):
    """The bytes break the GGUF format at ``offset``."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class _Cursor:
    """Sequential reads over a blob in 1 MiB windows, never past ``limit`` bytes."""

    CHUNK = 1 << 20

    def __init__(self, blob: Blob, limit: int) -> None:
        self.blob, self.limit, self.pos = blob, min(limit, blob.size), 0
        self._buf, self._buf_at = b"", 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.limit:
            raise GGUFError(
                f"needs {n} bytes at offset {self.pos}, beyond the metadata limit or the file", self.pos
            )
        start = self.pos - self._buf_at
        if start < 0 or start + n > len(self._buf):
            self._buf_at = self.pos
            self._buf = self.blob.read_at(self.pos, min(max(n, self.CHUNK), self.limit - self.pos))
            start = 0
        self.pos += n
        return self._buf[start : start + n]

    def unpack(self, fmt: str) -> int | float | bool:
        value: int | float | bool = struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def u32(self) -> int:
        return int(self.unpack("<I"))

    def u64(self) -> int:
        return int(self.unpack("<Q"))

    def string(self) -> str:
        at = self.pos
        n = self.u64()
        if n > self.limit - self.pos:
            raise GGUFError(f"string length {n} exceeds the remaining metadata", at)
        return self.take(n).decode("utf-8", "replace")

    def skip_string(self) -> None:
        at = self.pos
        n = self.u64()
        if n > self.limit - self.pos:
            raise GGUFError(f"string length {n} exceeds the remaining metadata", at)
        if n < self.CHUNK:
            self.take(n)
        else:  # a long string is skipped, not fetched
            self.pos += n

    def skip_strings(self, count: int) -> None:
        """Skip ``count`` length-prefixed strings (token lists: ~10^5 of them) in one tight loop."""
        unpack = struct.unpack_from
        done = 0
        while done < count:
            start = self.pos - self._buf_at
            buf = self._buf
            end = len(buf)
            while done < count and start + 8 <= end:
                (n,) = unpack("<Q", buf, start)
                if start + 8 + n > end:
                    break
                start += 8 + n
                done += 1
            self.pos = self._buf_at + start
            if done < count:
                self.skip_string()  # crosses the window: refill (and bound-check) the slow way
                done += 1


@dataclass(frozen=True)
class _TensorInfo:
    name: str
    dims: tuple[int, ...]
    type_id: int
    offset: int
    at: int


class GGUFAnalyzer(Analyzer):
    formats = ("gguf",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        path = node.artifact.path
        found: list[Finding] = []
        cur = _Cursor(node.blob, 8 * 3 + context.limits.max_header)
        meta: dict[str, FactValue] = {}
        tensors: list[_TensorInfo] = []
        try:
            version = self._header(cur, meta, tensors, path, found, context)
        except GGUFError as exc:
            found.append(
                context.finding(
                    "GGUF-HEADER-001",
                    path,
                    f"The GGUF header is malformed: {exc}.",
                    location=Location(offset=exc.offset),
                    reference=_REF,
                )
            )
            return Analysis(findings=tuple(found), facts=_facts(meta, tensors))
        if version:
            self._layout(node, cur.pos, meta, tensors, path, found, context)
        return Analysis(findings=tuple(found), facts=_facts(meta, tensors))

    def _header(
        self,
        cur: _Cursor,
        meta: dict[str, FactValue],
        tensors: list[_TensorInfo],
        path: str,
        found: list[Finding],
        context: Context,
    ) -> int:
        cur.take(4)
        version = cur.u32()
        if version not in (2, 3):
            found.append(
                context.finding(
                    "GGUF-VERSION-001",
                    path,
                    f"GGUF version {version} is not supported, so the file was not inspected.",
                    location=Location(offset=4),
                    reference=_REF,
                )
            )
            return 0
        n_tensors, n_kv = cur.u64(), cur.u64()
        # every key/value needs at least 12 bytes, every tensor info at least 28: bound counts first
        if n_kv * 12 > cur.limit or n_tensors * 28 > cur.limit:
            raise GGUFError(f"counts ({n_kv} keys, {n_tensors} tensors) cannot fit the metadata", 8)
        seen: set[str] = set()
        for _ in range(n_kv):
            at = cur.pos
            key = cur.string()
            if key in seen:
                found.append(
                    context.finding(
                        "GGUF-HEADER-002",
                        path,
                        "A metadata key repeats; readers disagree on which value wins.",
                        location=Location(offset=at),
                        evidence=key,
                        reference=_REF,
                    )
                )
            seen.add(key)
            value = _value(cur, cur.u32(), key)
            if value is not None:
                meta[key] = value
            is_template = key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template.")
            if is_template and isinstance(value, str):
                found.extend(analyze_template(value, path, key, context.rules))
                meta[key] = {"sha256": template_sha256(value), "length": len(value)}
        for _ in range(n_tensors):
            at = cur.pos
            name = cur.string()
            n_dims = cur.u32()
            if n_dims > _MAX_DIMS:
                raise GGUFError(f"tensor {name!r} claims {n_dims} dimensions", at)
            dims = tuple(cur.u64() for _ in range(n_dims))
            tensors.append(_TensorInfo(name, dims, cur.u32(), cur.u64(), at))
        return version

    def _layout(
        self,
        node: Node,
        info_end: int,
        meta: dict[str, FactValue],
        tensors: list[_TensorInfo],
        path: str,
        found: list[Finding],
        context: Context,
    ) -> None:
        align = meta.get("general.alignment", 32)
        if not isinstance(align, int) or align <= 0 or align & (align - 1):
            found.append(
                context.finding(
                    "GGUF-HEADER-001",
                    path,
                    f"general.alignment {align!r} is not a power of two.",
                    reference=_REF,
                )
            )
            return
        data_start = -(-info_end // align) * align
        spans: list[tuple[int, int, str]] = []
        names: set[str] = set()
        for t in tensors:

            def bad(msg: str, t: _TensorInfo = t) -> None:
                found.append(
                    context.finding(
                        "GGUF-TENSOR-001",
                        path,
                        f"Tensor {t.name!r}: {msg}.",
                        location=Location(offset=t.at),
                        reference=_REF,
                    )
                )

            if t.name in names:
                bad("the name repeats")
            names.add(t.name)
            if t.type_id not in GGML_TYPES:
                bad(f"unknown ggml type {t.type_id}")
                continue
            _, block, block_bytes = GGML_TYPES[t.type_id]
            numel = 1
            for dim in t.dims:
                numel *= dim
            if numel >= 1 << 62 or (t.dims and t.dims[0] % block):
                bad(f"dimensions {list(t.dims)} do not fit its type's block size {block}")
                continue
            nbytes = numel // block * block_bytes
            if t.offset % align:
                bad(f"offset {t.offset} is not aligned to {align}")
            if data_start + t.offset + nbytes > node.blob.size:
                bad(f"data [{t.offset}, {t.offset + nbytes}) runs past the end of the file")
            spans.append((t.offset, t.offset + nbytes, t.name))
        end = 0
        for begin, stop, name in sorted(spans):
            if begin < end:
                found.append(
                    context.finding(
                        "GGUF-TENSOR-001",
                        path,
                        f"Tensor {name!r} overlaps the tensor before it.",
                        reference=_REF,
                    )
                )
            end = max(end, stop)
        trailing = node.blob.size - (data_start + -(-end // align) * align)
        if tensors and trailing > 0:
            found.append(
                context.finding(
                    "GGUF-TRAILING-001",
                    path,
                    f"{trailing} bytes follow the last tensor; no loader reads them.",
                    location=Location(offset=data_start + end),
                    reference=_REF,
                )
            )


def _value(cur: _Cursor, type_id: int, key: str) -> FactValue:
    """Read one value; strings are kept only when short or a chat template, arrays only counted."""
    if type_id in _SCALARS:
        return cur.unpack(_SCALARS[type_id])
    if type_id == _STRING:
        if key.startswith("tokenizer.chat_template") or key.startswith("general."):
            return cur.string()
        text = cur.string()
        return text if len(text) <= 256 else None
    if type_id == _ARRAY:
        at = cur.pos
        item_type, count = cur.u32(), cur.u64()
        if count > cur.limit - cur.pos:
            raise GGUFError(f"array of {count} items exceeds the remaining metadata", at)
        if item_type in _SCALARS:
            size = struct.calcsize(_SCALARS[item_type]) * count
            if size > cur.limit - cur.pos:
                raise GGUFError(f"array of {count} items exceeds the remaining metadata", at)
            cur.take(size)
        elif item_type == _STRING:
            cur.skip_strings(count)
        elif item_type == _ARRAY:
            for _ in range(count):
                _value(cur, _ARRAY, key)
        else:
            raise GGUFError(f"unknown array item type {item_type}", at)
        return {"array_length": count}
    raise GGUFError(f"unknown value type {type_id} for key {key!r}", cur.pos - 4)


def _facts(meta: dict[str, FactValue], tensors: list[_TensorInfo]) -> dict[str, FactValue]:
    arch = meta.get("general.architecture")
    quant: dict[str, int] = {}
    params = 0
    for t in tensors:
        numel = 1
        for dim in t.dims:
            numel *= dim
        params += numel
        name = GGML_TYPES.get(t.type_id, (f"type{t.type_id}", 1, 1))[0]
        quant[name] = quant.get(name, 0) + 1
    facts: dict[str, FactValue] = {
        "architecture": arch,
        "tensor_count": len(tensors),
        "parameter_count": params,
        "quantization": dict(sorted(quant.items())),
        "metadata": {k: v for k, v in meta.items() if not k.startswith("tokenizer.chat_template")},
    }
    if isinstance(arch, str) and f"{arch}.context_length" in meta:
        facts["context_length"] = meta[f"{arch}.context_length"]
    if "general.file_type" in meta:
        facts["file_type"] = meta["general.file_type"]
    for key in ("general.name", "general.license", "general.base_model.0.name"):
        if key in meta:
            facts[key.split(".", 1)[1]] = meta[key]
    templates = {k: v for k, v in meta.items() if k.startswith("tokenizer.chat_template")}
    if templates:
        facts["chat_templates"] = templates
    return facts


ANALYZER = GGUFAnalyzer()
