"""Symbolic values on the pickle VM's stack and memo, and how they render as Python.

The VM never builds real objects: it keeps just enough of each value to resolve callables
(names, constant arguments) and to show a person what a call would do. Containers keep their
first few items only, so a pickle with a million entries costs a few bytes per entry.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Items a container keeps for evidence and argument checks; the rest are only counted.
KEEP_ITEMS = 16
#: Longest constant text kept in a rendering.
RENDER_CHARS = 160


def show(value: object, depth: int = 0) -> str:
    """Any stack value (a plain constant or a ``Value``) as Python source."""
    if isinstance(value, Value):
        return value.render(depth)  # scan-safe: symbolic value's text
    return Const(value).render(depth)  # scan-safe: symbolic value's text


class Value:
    """Base of every symbolic value."""

    __slots__ = ()

    def render(self, depth: int = 0) -> str:
        return "<?>"


class Const(Value):
    """A constant (None, bool, int, float, str, bytes). Large bytes keep only a reference into
    the blob (``blob_ref``), read again only if something must look inside them."""

    __slots__ = ("blob_ref", "size", "value")

    def __init__(self, value: object, blob_ref: tuple[int, int] | None = None, size: int = -1) -> None:
        self.value = value
        self.blob_ref = blob_ref
        self.size = size

    def render(self, depth: int = 0) -> str:
        if self.blob_ref is not None:
            return f"<{self.size} bytes at offset {self.blob_ref[0]}>"
        text = repr(self.value)
        if len(text) > RENDER_CHARS:
            text = text[: RENDER_CHARS - 5] + "…" + text[-4:]
        return text


class Seq(Value):
    """A tuple, list, set, frozenset or bytearray: first items kept, the rest counted.

    ``owner`` is set when the value is not a builtin container but an object that APPEND/
    SETITEM reach through its methods (the qualified class name)."""

    __slots__ = ("count", "items", "kind")

    def __init__(self, kind: str, items: Sequence[object] = ()) -> None:
        self.kind = kind
        self.items: list[object] = list(items[:KEEP_ITEMS])
        self.count = len(items)

    def add(self, items: Sequence[object]) -> None:
        room = KEEP_ITEMS - len(self.items)
        if room > 0:
            self.items.extend(items[:room])
        self.count += len(items)

    def render(self, depth: int = 0) -> str:
        if depth > 3:
            return "…"
        inner = ", ".join(show(v, depth + 1) for v in self.items)
        if self.count > len(self.items):
            inner += f", …{self.count - len(self.items)} more"
        if self.kind == "tuple":
            return f"({inner},)" if self.count == 1 else f"({inner})"
        if self.kind == "list":
            return f"[{inner}]"
        if self.kind == "set":
            return "{" + inner + "}" if self.count else "set()"
        return f"{self.kind}([{inner}])"


class Dict(Value):
    """A dict: first items kept, the rest counted."""

    __slots__ = ("count", "items")

    def __init__(self) -> None:
        self.items: list[tuple[object, object]] = []
        self.count = 0

    def add(self, pairs: Sequence[tuple[object, object]]) -> None:
        room = KEEP_ITEMS - len(self.items)
        if room > 0:
            self.items.extend(pairs[:room])
        self.count += len(pairs)

    def get(self, key: object, default: object = None) -> object:
        for k, v in self.items:
            plain = k.value if isinstance(k, Const) else k
            if not isinstance(plain, Value) and type(plain) is type(key) and plain == key:
                return v
        return default

    def render(self, depth: int = 0) -> str:
        if depth > 3:
            return "{…}"
        inner = ", ".join(f"{show(k, depth + 1)}: {show(v, depth + 1)}" for k, v in self.items)
        if self.count > len(self.items):
            inner += f", …{self.count - len(self.items)} more"
        return "{" + inner + "}"


class Global(Value):
    """An object reached by name: ``module`` plus a (possibly dotted) ``qualname``.

    A module itself has an empty ``qualname``."""

    __slots__ = ("module", "qualname")

    def __init__(self, module: str, qualname: str) -> None:
        self.module = module
        self.qualname = qualname

    @property
    def full(self) -> str:
        return f"{self.module}.{self.qualname}" if self.qualname else self.module

    def attr(self, name: str) -> Global:
        return Global(self.module, f"{self.qualname}.{name}" if self.qualname else name)

    def render(self, depth: int = 0) -> str:
        return self.full


class Call(Value):
    """The result of invoking ``func`` (REDUCE, NEWOBJ, OBJ, INST, a callable's result).

    ``kind`` says how: ``call`` (``f(*args)``), ``new`` (``cls.__new__(cls, *args)``)."""

    __slots__ = ("args", "func", "kind", "kwargs", "state")

    def __init__(
        self, func: Value, args: Sequence[object], kind: str = "call", kwargs: Value | None = None
    ) -> None:
        self.func = func
        self.args = tuple(args[:KEEP_ITEMS])
        self.kwargs = kwargs
        self.kind = kind
        self.state: Value | None = None

    def render(self, depth: int = 0) -> str:
        if depth > 4:
            return "…(…)"
        head = self.func.render(depth + 1)  # scan-safe: symbolic value's text
        if self.kind == "new":
            head += ".__new__"
        parts = [show(a, depth + 1) for a in self.args]
        if isinstance(self.kwargs, Dict):
            parts += [f"**{self.kwargs.render(depth + 1)}"]  # scan-safe: symbolic value's text
        return f"{head}({', '.join(parts)})"


class Opaque(Value):
    """Something the VM does not model further (a persistent id's object, a buffer, ...)."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def render(self, depth: int = 0) -> str:
        return f"<{self.label}>"


class Partial(Value):
    """``functools.partial(func, *args)``: calling it calls ``func``."""

    __slots__ = ("args", "func")

    def __init__(self, func: object, args: Sequence[object]) -> None:
        self.func = func
        self.args = tuple(args)

    def render(self, depth: int = 0) -> str:
        inner = ", ".join([show(self.func, depth + 1), *(show(a, depth + 1) for a in self.args)])
        return f"functools.partial({inner})"


class Getter(Value):
    """``operator.attrgetter(name)`` / ``itemgetter(key)`` / ``methodcaller(name, *args)``."""

    __slots__ = ("args", "key", "kind")

    def __init__(self, kind: str, key: object, args: Sequence[object] = ()) -> None:
        self.kind = kind
        self.key = key
        self.args = tuple(args)

    def render(self, depth: int = 0) -> str:
        inner = ", ".join(show(a, depth + 1) for a in (self.key, *self.args))
        return f"operator.{self.kind}({inner})"


class SharedSeq(Seq):
    """Stands in for every new builtin list/set once a stream has a huge memo: the VM keeps
    the memory of a 10-million-opcode pickle bounded by forgetting container *contents*
    (never names, callables or call results); such containers render as ``[…]``."""

    __slots__ = ()

    def add(self, items: Sequence[object]) -> None:
        return None

    def render(self, depth: int = 0) -> str:
        return "[…]" if self.kind == "list" else f"{self.kind}(…)"


class SharedDict(Dict):
    """The dict counterpart of ``SharedSeq``."""

    __slots__ = ()

    def add(self, pairs: Sequence[tuple[object, object]]) -> None:
        return None

    def render(self, depth: int = 0) -> str:
        return "{…}"


SHARED_LIST = SharedSeq("list")
SHARED_SET = SharedSeq("set")
SHARED_DICT = SharedDict()


def const_text(value: Value | None) -> str | None:
    """The text of a constant str (or ASCII bytes) operand, else None."""
    if isinstance(value, Const) and value.blob_ref is None:
        if isinstance(value.value, str):
            return value.value
        if isinstance(value.value, (bytes, bytearray)):
            try:
                return bytes(value.value).decode("ascii")
            except UnicodeDecodeError:
                return None
    return None


def class_of(value: Value) -> Global | None:
    """The class an object was made from (``C.__new__(C)`` / ``C(...)``), if known."""
    if isinstance(value, Call) and isinstance(value.func, Global):
        if value.kind == "new":
            return value.func
        # copyreg._reconstructor(cls, base, state) builds an instance of ``cls``
        if value.func.full == "copyreg._reconstructor" and value.args and isinstance(value.args[0], Global):
            return value.args[0]
        return value.func
    return None
