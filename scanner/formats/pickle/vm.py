"""A symbolic pickle machine that mirrors CPython's ``_pickle`` Unpickler, opcode by opcode.

It keeps the same state as the real loader — an object stack split from a MARK stack (with the
C unpickler's *fence*: nothing below the top mark can be popped), a memo, the protocol, the
copyreg extension registry — but pushes symbolic values instead of objects, and reports every
callable the stream reaches and every invocation to a ``Recorder``. It stops exactly where the
real loader would raise (stack underflow, unknown memo key, unregistered EXT code, bad
operand), because everything before that point has already run in a victim's process.

Constants are kept as plain Python values (cheap), everything else as ``values.Value``.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import struct
from collections.abc import Callable
from typing import Protocol

from scanner.formats.pickle.fastpath import (
    INLINE_MAX,
    MAX_MEMO,
    MAX_STACK,
    MEMO_DETAIL,
    LimitReached,
    make_tuple,
    run_fast,
)
from scanner.formats.pickle.reader import LineTooLong, StreamReader, Truncated
from scanner.formats.pickle.values import (
    SHARED_DICT,
    SHARED_LIST,
    Call,
    Const,
    Dict,
    Global,
    Opaque,
    Seq,
    Value,
)


class LoaderError(Exception):
    """Where the real unpickler raises: the stream ends there, everything before it ran."""


class Recorder(Protocol):
    """What the machine reports to (see ``recorder.py``)."""

    def reach(self, target: Global, how: str) -> None: ...

    def invoke(
        self, func: object, args: tuple[object, ...], kind: str, kwargs: object | None = None
    ) -> object: ...

    def mutate(self, target: object, how: str, detail: object) -> None: ...

    def persistent(self, pid: object) -> object: ...

    def anomaly(self, rule: str, message: str, evidence: str | None = None) -> None: ...

    def after_build(self, obj: object, reader: StreamReader) -> object: ...

    def bind(self, machine: object) -> None: ...


class Machine:
    """One pickle stream's interpreter state."""

    def __init__(
        self,
        reader: StreamReader,
        recorder: Recorder,
        max_opcodes: int,
        extensions: dict[int, tuple[str, str]] | None = None,
    ) -> None:
        self.r = reader
        self.rec = recorder
        self.max_opcodes = max_opcodes
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo_list: list[object] = []
        self.memo_extra: dict[int, object] = {}
        self.proto = 0
        self.count = 0
        self.op_offset = reader.pos
        self.op_index = 0
        self.extensions = extensions if extensions is not None else {}
        self.result: object = None
        self._table = self._build_table()
        recorder.bind(self)

    # --- stack discipline (the C unpickler's Pdata with its fence) -------------------------
    def _fence(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self) -> object:
        if len(self.stack) <= self._fence():
            raise LoaderError("unpickling stack underflow")
        return self.stack.pop()

    def top(self) -> object:
        if len(self.stack) <= self._fence():
            raise LoaderError("unpickling stack underflow")
        return self.stack[-1]

    def push(self, value: object) -> None:
        if len(self.stack) >= MAX_STACK:
            raise LimitReached(f"stack deeper than {MAX_STACK}")
        self.stack.append(value)

    def pop_mark(self) -> list[object]:
        if not self.marks:
            raise LoaderError("could not find MARK")
        k = self.marks.pop()
        items = self.stack[k:]
        del self.stack[k:]
        return items

    # --- memo ----------------------------------------------------------------------------
    def memo_len(self) -> int:
        return len(self.memo_list) + len(self.memo_extra)

    def memo_put(self, key: int, value: object) -> None:
        if key < 0:
            raise LoaderError("negative PUT argument")
        n = len(self.memo_list)
        if key < n:
            self.memo_list[key] = value
        elif key == n and not self.memo_extra:
            if n >= MAX_MEMO:
                raise LimitReached(f"memo larger than {MAX_MEMO} entries")
            self.memo_list.append(value)
        else:
            if len(self.memo_extra) >= MAX_MEMO:
                raise LimitReached(f"memo larger than {MAX_MEMO} entries")
            self.memo_extra[key] = value

    def memo_get(self, key: int) -> object:
        if 0 <= key < len(self.memo_list):
            return self.memo_list[key]
        if key in self.memo_extra:
            return self.memo_extra[key]
        raise LoaderError(f"memo key {key} was never stored (the real loader raises here)")

    # --- the loop ------------------------------------------------------------------------
    def run(self) -> object:
        """Interpret up to and including STOP; return the unpickled (symbolic) value."""
        while True:
            run_fast(self)
            if self._step():
                return self.result

    def _step(self) -> bool:
        """Execute exactly one opcode through its handler (with every check)."""
        r = self.r
        self.op_offset = r.pos
        code = r.byte()
        handler = self._table[code]
        if handler is None:
            raise LoaderError(f"invalid load key {bytes([code])!r}")
        self.op_index = self.count
        self.count += 1
        if self.count > self.max_opcodes:
            raise LimitReached(f"more than {self.max_opcodes} opcodes")
        return bool(handler())

    def _build_table(self) -> list[Callable[[], bool | None] | None]:
        t: list[Callable[[], bool | None] | None] = [None] * 256
        ops: dict[bytes, Callable[[], bool | None]] = {
            b"(": self.op_mark,
            b".": self.op_stop,
            b"0": self.op_pop,
            b"1": self.op_pop_mark,
            b"2": self.op_dup,
            b"F": self.op_float,
            b"I": self.op_int,
            b"J": self.op_binint,
            b"K": self.op_binint1,
            b"L": self.op_long,
            b"M": self.op_binint2,
            b"N": self.op_none,
            b"P": self.op_persid,
            b"Q": self.op_binpersid,
            b"R": self.op_reduce,
            b"S": self.op_string,
            b"T": self.op_binstring,
            b"U": self.op_short_binstring,
            b"V": self.op_unicode,
            b"X": self.op_binunicode,
            b"a": self.op_append,
            b"b": self.op_build,
            b"c": self.op_global,
            b"d": self.op_dict,
            b"}": self.op_empty_dict,
            b"e": self.op_appends,
            b"g": self.op_get,
            b"h": self.op_binget,
            b"i": self.op_inst,
            b"j": self.op_long_binget,
            b"l": self.op_list,
            b"]": self.op_empty_list,
            b"o": self.op_obj,
            b"p": self.op_put,
            b"q": self.op_binput,
            b"r": self.op_long_binput,
            b"s": self.op_setitem,
            b"t": self.op_tuple,
            b")": self.op_empty_tuple,
            b"u": self.op_setitems,
            b"G": self.op_binfloat,
            b"\x80": self.op_proto,
            b"\x81": self.op_newobj,
            b"\x82": self.op_ext1,
            b"\x83": self.op_ext2,
            b"\x84": self.op_ext4,
            b"\x85": self.op_tuple1,
            b"\x86": self.op_tuple2,
            b"\x87": self.op_tuple3,
            b"\x88": self.op_true,
            b"\x89": self.op_false,
            b"\x8a": self.op_long1,
            b"\x8b": self.op_long4,
            b"B": self.op_binbytes,
            b"C": self.op_short_binbytes,
            b"\x8c": self.op_short_binunicode,
            b"\x8d": self.op_binunicode8,
            b"\x8e": self.op_binbytes8,
            b"\x8f": self.op_empty_set,
            b"\x90": self.op_additems,
            b"\x91": self.op_frozenset,
            b"\x92": self.op_newobj_ex,
            b"\x93": self.op_stack_global,
            b"\x94": self.op_memoize,
            b"\x95": self.op_frame,
            b"\x96": self.op_bytearray8,
            b"\x97": self.op_next_buffer,
            b"\x98": self.op_readonly_buffer,
        }
        for key, fn in ops.items():
            t[key[0]] = fn
        return t

    # --- helpers -------------------------------------------------------------------------
    def _line(self) -> bytes:
        return self.r.readline()[:-1]

    def _lenbytes(self, n: int, into: bool = True) -> object:
        if n < 0:
            raise LoaderError("negative byte count")
        if n > INLINE_MAX:
            start = self.r.skip(n, into)
            return Const(None, (start, n), n)
        return self.r.read(n, into)

    def _lenstr(self, n: int, errors: str = "surrogatepass") -> object:
        data = self._lenbytes(n, into=False)
        if isinstance(data, Const):
            return data
        assert isinstance(data, bytes)
        try:
            return data.decode("utf-8", errors)
        except UnicodeDecodeError as exc:
            raise LoaderError(f"invalid UTF-8 string: {exc}") from None

    def _find_class(self, module: str, name: str, how: str) -> Global:
        # find_class: protocol < 3 maps Python 2 names (``__builtin__`` → ``builtins``).
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        g = Global(module, name)
        self.rec.reach(g, how)
        return g

    # --- opcodes -------------------------------------------------------------------------
    def op_mark(self) -> None:
        self.marks.append(len(self.stack))

    def op_stop(self) -> bool:
        self.result = self.pop()
        return True

    def op_pop(self) -> None:
        if self.marks and self.marks[-1] == len(self.stack):
            self.marks.pop()
        else:
            self.pop()

    def op_pop_mark(self) -> None:
        self.pop_mark()

    def op_dup(self) -> None:
        self.push(self.top())

    def op_float(self) -> None:
        try:
            self.push(float(self._line()))
        except ValueError:
            raise LoaderError("could not convert string to float") from None

    def op_int(self) -> None:
        line = self._line()
        if line == b"00":
            self.push(False)
        elif line == b"01":
            self.push(True)
        else:
            try:
                self.push(int(line, 0) if line[:2].lower() == b"0x" else int(line))
            except ValueError:
                raise LoaderError(f"invalid literal for int(): {line[:40]!r}") from None

    def op_long(self) -> None:
        line = self._line()
        if line.endswith(b"L"):
            line = line[:-1]
        try:
            if len(line) > 10_000:
                raise LimitReached("LONG literal longer than 10000 digits")
            self.push(int(line))
        except ValueError:
            raise LoaderError(f"invalid literal for int(): {line[:40]!r}") from None

    def op_binint(self) -> None:
        self.push(struct.unpack("<i", self.r.read(4))[0])

    def op_binint1(self) -> None:
        self.push(self.r.byte())

    def op_binint2(self) -> None:
        self.push(struct.unpack("<H", self.r.read(2))[0])

    def op_long1(self) -> None:
        n = self.r.byte()
        self.push(int.from_bytes(self.r.read(n), "little", signed=True))

    def op_long4(self) -> None:
        (n,) = struct.unpack("<i", self.r.read(4))
        if n < 0:
            raise LoaderError("LONG pickle has negative byte count")
        if n > 1 << 16:
            self.r.skip(n)
            self.push(Opaque(f"{n}-byte integer"))
            return
        self.push(int.from_bytes(self.r.read(n), "little", signed=True))

    def op_none(self) -> None:
        self.push(None)

    def op_true(self) -> None:
        self.push(True)

    def op_false(self) -> None:
        self.push(False)

    def op_binfloat(self) -> None:
        self.push(struct.unpack(">d", self.r.read(8))[0])

    def op_string(self) -> None:
        line = self._line()
        if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
            body = line[1:-1]
        else:
            raise LoaderError("the STRING opcode argument must be quoted")
        try:
            self.push(codecs.escape_decode(body)[0].decode("latin-1"))
        except ValueError as exc:
            raise LoaderError(f"bad STRING escape: {exc}") from None

    def op_binstring(self) -> None:
        (n,) = struct.unpack("<i", self.r.read(4))
        data = self._lenbytes(n, into=False)
        self.push(data.decode("latin-1") if isinstance(data, bytes) else data)

    def op_short_binstring(self) -> None:
        self.push(self.r.read(self.r.byte()).decode("latin-1"))

    def op_unicode(self) -> None:
        try:
            self.push(self._line().decode("raw-unicode-escape"))
        except UnicodeDecodeError as exc:
            raise LoaderError(f"bad UNICODE operand: {exc}") from None

    def op_binunicode(self) -> None:
        self.push(self._lenstr(struct.unpack("<I", self.r.read(4))[0]))

    def op_short_binunicode(self) -> None:
        self.push(self._lenstr(self.r.byte()))

    def op_binunicode8(self) -> None:
        self.push(self._lenstr(struct.unpack("<Q", self.r.read(8))[0]))

    def op_binbytes(self) -> None:
        self.push(self._lenbytes(struct.unpack("<I", self.r.read(4))[0]))

    def op_short_binbytes(self) -> None:
        self.push(self.r.read(self.r.byte(), into=True))

    def op_binbytes8(self) -> None:
        self.push(self._lenbytes(struct.unpack("<Q", self.r.read(8))[0]))

    def op_bytearray8(self) -> None:
        data = self._lenbytes(struct.unpack("<Q", self.r.read(8))[0])
        self.push(Seq("bytearray", [data]))

    def op_next_buffer(self) -> None:
        # pickle.load without ``buffers=`` raises here; a loader that passes buffers goes on.
        self.push(Opaque("out-of-band buffer"))
        self.rec.anomaly(
            "PICKLE-BUFFER-001",
            "The stream refers to an out-of-band buffer "
            "(protocol 5); its contents are supplied by the loader, not the file.",
        )

    def op_readonly_buffer(self) -> None:
        self.top()

    def op_empty_tuple(self) -> None:
        self.push(())

    def op_tuple(self) -> None:
        self.push(make_tuple(self.pop_mark(), self.memo_len() > MEMO_DETAIL))

    def op_tuple1(self) -> None:
        self.push(make_tuple([self.pop()], False))

    def op_tuple2(self) -> None:
        b = self.pop()
        a = self.pop()
        self.push(make_tuple([a, b], self.memo_len() > MEMO_DETAIL))

    def op_tuple3(self) -> None:
        c = self.pop()
        b = self.pop()
        a = self.pop()
        self.push(make_tuple([a, b, c], self.memo_len() > MEMO_DETAIL))

    def op_empty_list(self) -> None:
        self.push(SHARED_LIST if len(self.memo_list) > MEMO_DETAIL else Seq("list"))

    def op_list(self) -> None:
        self.push(Seq("list", self.pop_mark()))

    def op_empty_dict(self) -> None:
        self.push(SHARED_DICT if len(self.memo_list) > MEMO_DETAIL else Dict())

    def op_dict(self) -> None:
        items = self.pop_mark()
        d = Dict()
        d.add(list(zip(items[::2], items[1::2], strict=False)))
        self.push(d)

    def op_empty_set(self) -> None:
        self.push(Seq("set"))

    def op_frozenset(self) -> None:
        self.push(Seq("frozenset", self.pop_mark()))

    def op_append(self) -> None:
        value = self.pop()
        self._extend(self.top(), [value], "append")

    def op_appends(self) -> None:
        items = self.pop_mark()
        self._extend(self.top(), items, "extend")

    def op_additems(self) -> None:
        items = self.pop_mark()
        target = self.top()
        if isinstance(target, Seq) and target.kind in ("set", "frozenset"):
            target.add(items)
        else:
            self.rec.mutate(target, "add", items)

    def _extend(self, target: object, items: list[object], how: str) -> None:
        if isinstance(target, Seq) and target.kind == "list":
            target.add(items)
        else:
            # Not a real list: the loader calls ``target.append``/``target.extend``.
            self.rec.mutate(target, how, items)

    def op_setitem(self) -> None:
        value = self.pop()
        key = self.pop()
        self._setitems(self.top(), [(key, value)])

    def op_setitems(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise LoaderError("odd number of items for SETITEMS")
        self._setitems(self.top(), list(zip(items[::2], items[1::2], strict=True)))

    def _setitems(self, target: object, pairs: list[tuple[object, object]]) -> None:
        if isinstance(target, Dict):
            target.add(pairs)
        else:
            # Not a real dict: each pair calls ``target.__setitem__``.
            self.rec.mutate(target, "__setitem__", pairs)

    def op_get(self) -> None:
        try:
            key = int(self._line())
        except ValueError:
            raise LoaderError("GET argument is not an integer") from None
        self.push(self.memo_get(key))

    def op_binget(self) -> None:
        self.push(self.memo_get(self.r.byte()))

    def op_long_binget(self) -> None:
        self.push(self.memo_get(struct.unpack("<I", self.r.read(4))[0]))

    def op_put(self) -> None:
        try:
            key = int(self._line())
        except ValueError:
            raise LoaderError("PUT argument is not an integer") from None
        self.memo_put(key, self.top())

    def op_binput(self) -> None:
        self.memo_put(self.r.byte(), self.top())

    def op_long_binput(self) -> None:
        self.memo_put(struct.unpack("<I", self.r.read(4))[0], self.top())

    def op_memoize(self) -> None:
        self.memo_put(self.memo_len(), self.top())

    def op_proto(self) -> None:
        proto = self.r.byte()
        if proto > 5:
            raise LoaderError(f"unsupported pickle protocol: {proto}")
        self.proto = proto

    def op_frame(self) -> None:
        (n,) = struct.unpack("<Q", self.r.read(8))
        self.r.frame(n)

    def op_global(self) -> None:
        module = self._line().decode("utf-8", "surrogateescape")
        name = self._line().decode("utf-8", "surrogateescape")
        self.push(self._find_class(module, name, "GLOBAL"))

    def op_stack_global(self) -> None:
        name = self.pop()
        module = self.pop()
        if isinstance(module, str) and isinstance(name, str):
            self.push(self._find_class(module, name, "STACK_GLOBAL"))
            return
        if isinstance(module, Value) or isinstance(name, Value):
            # A name computed at load time (str.join, a call result): cannot be resolved.
            self.rec.anomaly(
                "PICKLE-DYNAMIC-001",
                "A global is imported by a name computed while loading, so it cannot be resolved statically.",
                f"STACK_GLOBAL({_show(module)}, {_show(name)})",
            )
            self.push(Opaque("dynamically named global"))
            return
        raise LoaderError("STACK_GLOBAL requires str")

    def op_inst(self) -> None:
        module = self._line().decode("utf-8", "surrogateescape")
        name = self._line().decode("utf-8", "surrogateescape")
        args = self.pop_mark()
        cls = self._find_class(module, name, "INST")
        self.push(self.rec.invoke(cls, tuple(args), "INST"))

    def op_obj(self) -> None:
        items = self.pop_mark()
        if not items:
            raise LoaderError("OBJ without a class")
        self.push(self.rec.invoke(items[0], tuple(items[1:]), "OBJ"))

    def _ext(self, code: int) -> None:
        if code <= 0:
            raise LoaderError("EXT specifies code <= 0")
        entry = self.extensions.get(code)
        if entry is None:
            self.rec.anomaly(
                "PICKLE-EXT-001",
                f"The stream uses copyreg extension code {code}, "
                "which no registry entry defines; the real loader stops here.",
                f"EXT code {code}",
            )
            raise LoaderError(f"unregistered extension code {code}")
        self.push(self._find_class(entry[0], entry[1], f"EXT{code}"))

    def op_ext1(self) -> None:
        self._ext(self.r.byte())

    def op_ext2(self) -> None:
        self._ext(struct.unpack("<H", self.r.read(2))[0])

    def op_ext4(self) -> None:
        self._ext(struct.unpack("<i", self.r.read(4))[0])

    def op_reduce(self) -> None:
        args = self.pop()
        func = self.pop()
        self.push(self.rec.invoke(func, _args(args), "REDUCE"))

    def op_newobj(self) -> None:
        args = self.pop()
        cls = self.pop()
        self.push(self.rec.invoke(cls, _args(args), "NEWOBJ"))

    def op_newobj_ex(self) -> None:
        kwargs = self.pop()
        args = self.pop()
        cls = self.pop()
        self.push(self.rec.invoke(cls, _args(args), "NEWOBJ_EX", kwargs))

    def op_build(self) -> None:
        state = self.pop()
        inst = self.top()
        if isinstance(inst, Call) and inst.state is None:
            inst.state = state if isinstance(state, Value) else Const(state)
        self.rec.mutate(inst, "BUILD", state)
        replaced = self.rec.after_build(inst, self.r)
        if replaced is not inst:
            self.stack[-1] = replaced

    def op_persid(self) -> None:
        pid = self.r.readline()[:-1].decode("ascii", "replace")
        self.push(self.rec.persistent(pid))

    def op_binpersid(self) -> None:
        self.push(self.rec.persistent(self.pop()))


def _args(value: object) -> tuple[object, ...]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, Seq) and value.kind == "tuple":
        return tuple(value.items)
    return (value,)


def _show(value: object) -> str:
    return value.render() if isinstance(value, Value) else Const(value).render()  # scan-safe: text


def run_stream(
    reader: StreamReader,
    recorder: Recorder,
    max_opcodes: int,
    extensions: dict[int, tuple[str, str]] | None = None,
) -> tuple[Machine, str, str | None]:
    """Run one stream; return the machine, how it ended (``stop``/``truncated``/``error``/
    ``limit``) and why."""
    machine = Machine(reader, recorder, max_opcodes, extensions)
    try:
        machine.run()
        return machine, "stop", None
    except Truncated as exc:
        return machine, "truncated", str(exc)
    except LoaderError as exc:
        return machine, "error", str(exc)
    except (LimitReached, LineTooLong) as exc:
        return machine, "limit", str(exc)
    except (ValueError, OverflowError, MemoryError, RecursionError) as exc:
        return machine, "error", f"{type(exc).__name__}: {exc}"
