"""NumPy ``.npy`` files: the header is parsed as a literal (never ``eval``, never ``np.load``).

A plain array is clean and its data is never read (only its length is checked against the
header). An object array's data is a pickle that ``np.load`` with ``allow_pickle`` on runs: it
becomes a child node with ``loader_hint="numpy"`` for the pickle analyzer.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

from scanner.containers.common import child_node, mismatch_findings
from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.model import FactValue, Finding, Location
from scanner.sources.interface import Node

MAGIC = b"\x93NUMPY"
MAX_HEADER = 64 * 1024
"""np.load itself refuses headers over 10,000 bytes unless told otherwise."""
_SIMPLE = re.compile(r"^[<>|=]?(?P<code>[?bBhHiIlLqQpPefdgFDGSaUVcu]|[biufcV])(?P<n>\d*)$")
_TIME = re.compile(r"^[<>|=]?[mM]8(\[\w+\])?$")
_SIZES = {
    "?": 1,
    "b": 1,
    "B": 1,
    "h": 2,
    "H": 2,
    "i": 4,
    "I": 4,
    "l": 8,
    "L": 8,
    "q": 8,
    "Q": 8,
    "p": 8,
    "P": 8,
    "e": 2,
    "f": 4,
    "d": 8,
    "g": 16,
    "F": 8,
    "D": 16,
    "G": 32,
}


class NpyError(ValueError):
    """The header is not a valid .npy header."""


@dataclass(frozen=True)
class Dtype:
    has_object: bool
    itemsize: int | None
    """None when it cannot be computed without NumPy (the size check is then skipped)."""


def parse_descr(descr: object, depth: int = 0) -> Dtype:
    """Classify a ``descr`` the way ``np.lib.format.descr_to_dtype`` would read it."""
    if depth > 32:
        raise NpyError("dtype nesting is too deep")
    if isinstance(descr, str):
        body = descr.lstrip("<>|=")
        if body.startswith("O") or body == "object":
            return Dtype(True, 8)
        if _TIME.match(descr):
            return Dtype(False, 8)
        m = _SIMPLE.match(descr)
        if m is None:
            raise NpyError(f"unknown dtype {descr!r}")
        code, n = m.group("code"), m.group("n")
        if n:
            return Dtype(False, int(n) * (4 if code in "Uw" else 1))
        return Dtype(False, _SIZES.get(code))
    if isinstance(descr, list):
        has_object = False
        total: int | None = 0
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                raise NpyError("a structured dtype field is not (name, dtype[, shape])")
            sub = parse_descr(field[1], depth + 1)
            count = _count(field[2]) if len(field) == 3 else 1
            has_object = has_object or sub.has_object
            total = None if sub.itemsize is None or total is None else total + sub.itemsize * count
        return Dtype(has_object, total)
    raise NpyError(f"descr of type {type(descr).__name__}")


def _count(shape: object) -> int:
    if isinstance(shape, int):
        return shape
    if isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape):
        return math.prod(shape)
    raise NpyError("bad shape")


@dataclass(frozen=True)
class NpyHeader:
    version: tuple[int, int]
    descr: object
    fortran_order: bool
    shape: tuple[int, ...]
    data_offset: int


def parse_header(head: bytes) -> NpyHeader:
    if head[:6] != MAGIC or len(head) < 10:
        raise NpyError("missing .npy magic")
    major, minor = head[6], head[7]
    if major == 1:
        hlen, start = int.from_bytes(head[8:10], "little"), 10
    elif major in (2, 3):
        hlen, start = int.from_bytes(head[8:12], "little"), 12
    else:
        raise NpyError(f"unknown .npy version {major}.{minor}")
    if hlen > MAX_HEADER:
        raise NpyError(f"header of {hlen} bytes exceeds {MAX_HEADER}")
    raw = head[start : start + hlen]
    if len(raw) < hlen:
        raise NpyError("the header is truncated")
    try:
        text = raw.decode("utf-8" if major == 3 else "latin1")
        # A literal parser: names, calls and attributes are rejected, nothing is evaluated.
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as exc:
        raise NpyError(f"the header is not a Python literal ({type(exc).__name__})") from None
    if not isinstance(value, dict) or set(value) != {"descr", "fortran_order", "shape"}:
        raise NpyError("the header must be a dict with exactly descr, fortran_order and shape")
    shape = value["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise NpyError(f"bad shape {shape!r}")
    if not isinstance(value["fortran_order"], bool):
        raise NpyError("fortran_order is not a bool")
    return NpyHeader((major, minor), value["descr"], value["fortran_order"], shape, start + hlen)


class NumpyAnalyzer(Analyzer):
    formats = ("numpy",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        path = node.artifact.path
        findings: list[Finding] = mismatch_findings(context, node, "numpy")
        head = node.blob.head(12)
        hlen = int.from_bytes(head[8:10] if head[6:7] == b"\x01" else head[8:12], "little")
        try:
            header = parse_header(node.blob.head(12 + min(hlen, MAX_HEADER)))
            dtype = parse_descr(header.descr)
        except NpyError as exc:
            findings.append(
                context.finding("NUMPY-MALFORMED-001", path, f"The .npy header is invalid: {exc}.")
            )
            return Analysis(findings=tuple(findings))
        facts: dict[str, FactValue] = {
            "numpy.dtype": repr(header.descr),
            "numpy.shape": list(header.shape),
            "numpy.fortran_order": header.fortran_order,
        }
        data_len = node.blob.size - header.data_offset
        if dtype.has_object:
            findings.append(
                context.finding(
                    "NUMPY-OBJECT-001",
                    path,
                    "This array has an object dtype: its "
                    "data is a pickle that np.load(allow_pickle=True) executes.",
                    location=Location(offset=header.data_offset),
                    evidence=f"descr={header.descr!r}",
                )
            )
            blob = node.blob.window(header.data_offset, data_len)
            child = child_node(node, "pickle", blob, "numpy", "numpy")
            return Analysis(findings=tuple(findings), facts=facts, children=(child,))
        if dtype.itemsize is not None:
            expected = math.prod(header.shape) * dtype.itemsize
            if expected != data_len:
                what = "is truncated" if data_len < expected else "has trailing bytes"
                findings.append(
                    context.finding(
                        "NUMPY-MALFORMED-001",
                        path,
                        f"The array data {what}: the "
                        f"header promises {expected} bytes, the file holds {data_len}.",
                        location=Location(offset=header.data_offset),
                    )
                )
        return Analysis(findings=tuple(findings), facts=facts)


ANALYZER = NumpyAnalyzer()
