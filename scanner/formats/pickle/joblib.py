"""joblib's inline NumPy buffers: skipped exactly as ``joblib.numpy_pickle`` reads them.

An uncompressed joblib file is one pickle in which every ``NumpyArrayWrapper`` BUILD is
followed by the array's raw bytes, read straight from the file by joblib's ``load_build``
(after a padding-length byte and padding when the wrapper records an alignment). Object arrays
are an inline *nested pickle stream* instead, loaded by a fresh unpickler — scanned here with
the same recorder so its callables are judged like the outer ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scanner.formats.pickle.reader import StreamReader
from scanner.formats.pickle.values import Call, Const, Dict, Opaque, Seq, class_of
from scanner.formats.pickle.vm import LoaderError, Machine, Recorder

WRAPPERS = ("joblib.numpy_pickle.NumpyArrayWrapper",)
_KIND_SIZE = re.compile(r"^[<>=|]?([a-zA-Z])(\d*)")


def _const(value: object) -> object:
    return value.value if isinstance(value, Const) and value.blob_ref is None else value


def dtype_info(dtype: object) -> tuple[int, bool] | None:
    """(itemsize, has_object) of a symbolic ``numpy.dtype(str, ...)`` with its BUILD state."""
    if not isinstance(dtype, Call) or not dtype.args:
        return None
    code = _const(dtype.args[0])
    if not isinstance(code, str):
        return None
    state = _const(dtype.state) if dtype.state is not None else None
    if isinstance(state, Seq):
        state = tuple(_const(i) for i in state.items)
    if isinstance(state, tuple) and len(state) >= 8 and isinstance(state[7], int) and state[7] & 1:
        return (8, True)
    m = _KIND_SIZE.match(code)
    if m is None:
        return None
    kind, digits = m.group(1), m.group(2)
    if kind == "O":
        return (8, True)
    if isinstance(state, tuple) and len(state) >= 6 and isinstance(state[5], int) and state[5] > 0:
        return (state[5], False)
    if kind in "?b" and not digits:
        return (1, False)
    if not digits:
        return None
    size = int(digits)
    return (size * 4 if kind == "U" else size, False)


def _shape_count(shape: object) -> int | None:
    items: list[object]
    if isinstance(shape, tuple):
        items = list(shape)
    elif isinstance(shape, Seq) and shape.count == len(shape.items):
        items = [_const(i) for i in shape.items]
    else:
        return None
    count = 1
    for dim in items:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
            return None
        count *= dim
    return count


def build_hook(
    recorder: Recorder, max_opcodes: int, extensions: dict[int, tuple[str, str]]
) -> Callable[[object, StreamReader], object]:
    """The BUILD hook joblib's ``NumpyUnpickler`` installs, over our reader."""

    def hook(obj: object, reader: StreamReader) -> object:
        if not isinstance(obj, Call):
            return obj
        cls = class_of(obj)
        if cls is None or cls.full not in WRAPPERS:
            return obj
        state = obj.state
        if not isinstance(state, Dict):
            raise LoaderError("a NumpyArrayWrapper without a state dict: the array data cannot be located")
        info = dtype_info(state.get("dtype"))
        count = _shape_count(_const(state.get("shape")))
        if info is None or count is None:
            raise LoaderError(
                "the NumpyArrayWrapper's dtype or shape is not a constant; the array data cannot be located"
            )
        itemsize, has_object = info
        if has_object:
            # joblib: ``Unpickler(file_handle).load()`` — a whole nested stream, inline.
            inner = Machine(reader, recorder, max_opcodes, extensions)
            outer = getattr(recorder, "_pos_source", None)
            recorder.bind(inner)
            try:
                inner.run()
            finally:
                recorder.bind(outer)
            return Opaque("object ndarray")
        # joblib: ``getattr(self, "numpy_array_alignment_bytes", None) is not None``
        if _const(state.get("numpy_array_alignment_bytes")) is not None:
            pad = reader.read(1)[0]
            if pad:
                reader.skip(pad)
        reader.skip(count * itemsize)
        return Opaque("ndarray")

    return hook
