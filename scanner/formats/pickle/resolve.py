"""What a few callables *return*, computed symbolically, so that chains resolve.

A pickle can reach ``os.system`` without ever naming it: ``getattr(builtins, 'eval')``,
``importlib.import_module('os')``, ``pkgutil.resolve_name('os:system')``,
``operator.attrgetter('system')``, ``dict.get(numpy.__builtins__, 'eval')``,
``pickle.loads`` of ``base64.b64decode('...')``. The recorder asks this module for the result of each
invocation; a result that names an object becomes a ``Global`` that is judged like any import.
Only pure functions of constants are evaluated — nothing here imports or runs scanned code.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable

from scanner.formats.pickle.values import Call, Const, Dict, Getter, Global, Partial, Seq

#: Bytes a decoding function may produce symbolically (a bigger result stays opaque).
MAX_DECODED = 16 << 20

Evaluator = Callable[[tuple[object, ...]], object | None]


def text_of(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    return None


def bytes_of(value: object) -> bytes | None:
    """The bytes of a constant (``bytes``, ``BytesIO(bytes)``, ``bytearray(bytes)``)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, Seq) and value.kind == "bytearray" and value.items:
        return bytes_of(value.items[0])
    if (
        isinstance(value, Call)
        and isinstance(value.func, Global)
        and value.args
        and value.func.full in ("io.BytesIO", "_io.BytesIO", "builtins.bytes", "builtins.bytearray")
    ):
        return bytes_of(value.args[0])
    return None


def module_of(value: object) -> Global | None:
    """A value that stands for an importable object (module, class, function)."""
    return value if isinstance(value, Global) else None


def resolve_dotted(path: str) -> Global:
    """``'os:system'`` / ``'os.system'`` as ``pkgutil.resolve_name`` / ``pydoc.locate`` see it."""
    if ":" in path:
        module, _, qual = path.partition(":")
        return Global(module, qual)
    module, _, qual = path.partition(".")
    return Global(module, qual)


def getattr_of(obj: object, name: object) -> object | None:
    attr = text_of(name)
    g = module_of(obj)
    if attr is None or g is None:
        return None
    if g.qualname.endswith("__builtins__") or g.full == "builtins":
        return Global("builtins", attr)
    return g.attr(attr)


def item_of(obj: object, key: object) -> object | None:
    if isinstance(obj, Dict):
        found = obj.get(key)
        return found
    g = module_of(obj)
    name = text_of(key)
    if g is None or name is None:
        return None
    parts = g.qualname.split(".") if g.qualname else []
    if parts and parts[-1] == "__builtins__":
        return Global("builtins", name)
    if parts and parts[-1] in ("__dict__", "__globals__"):
        return Global(g.module, ".".join([*parts[:-1], name]))
    if g.full == "sys.modules":
        return Global(name, "")
    return None


def _decode(fn: Callable[[bytes], bytes]) -> Evaluator:
    def run(args: tuple[object, ...]) -> object | None:
        raw = args[0] if args else None
        data = raw.encode("ascii", "replace") if isinstance(raw, str) else bytes_of(raw)
        if data is None:
            return None
        try:
            out = fn(data)
        except (ValueError, binascii.Error, zlib.error):
            return None
        return out if len(out) <= MAX_DECODED else None

    return run


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, MAX_DECODED + 1)
    return out


def _fromhex(args: tuple[object, ...]) -> object | None:
    if args and isinstance(args[0], str):
        try:
            return bytes.fromhex(args[0])
        except ValueError:
            return None
    return None


def _codecs_encode(args: tuple[object, ...]) -> object | None:
    # protocol 2 writes bytes as _codecs.encode(str, 'latin1')
    if len(args) >= 1 and isinstance(args[0], str):
        enc = text_of(args[1]) if len(args) > 1 else "utf-8"
        try:
            return args[0].encode(enc or "utf-8")
        except (LookupError, UnicodeEncodeError):
            return None
    return None


def _codecs_decode(args: tuple[object, ...]) -> object | None:
    enc = (text_of(args[1]) or "").lower().replace("-", "_") if len(args) > 1 else ""
    b64, unhex, inflate = _decode(base64.b64decode), _decode(binascii.unhexlify), _decode(_inflate)
    table: dict[str, Evaluator] = {
        "base64": b64,
        "base64_codec": b64,
        "hex": unhex,
        "hex_codec": unhex,
        "zlib": inflate,
        "zlib_codec": inflate,
    }
    if enc in table:
        return table[enc](args)
    return None


def _str_join(args: tuple[object, ...]) -> object | None:
    if len(args) == 2 and isinstance(args[0], str):
        seq = args[1]
        items = (
            seq
            if isinstance(seq, tuple)
            else (seq.items if isinstance(seq, Seq) and seq.count == len(seq.items) else None)
        )
        if items is not None and all(isinstance(i, str) for i in items):
            return args[0].join(items)  # type: ignore[arg-type]
    return None


def _import(args: tuple[object, ...]) -> object | None:
    name = text_of(args[0]) if args else None
    if not name:
        return None
    fromlist = args[3] if len(args) > 3 else None
    if fromlist in (None, (), []) or (isinstance(fromlist, Seq) and not fromlist.count):
        return Global(name.split(".")[0], "")
    return Global(name, "")


_EVALUATORS: dict[str, Evaluator] = {
    "builtins.getattr": lambda a: getattr_of(a[0], a[1]) if len(a) >= 2 else None,
    "operator.getitem": lambda a: item_of(a[0], a[1]) if len(a) == 2 else None,
    "builtins.dict.get": lambda a: item_of(a[0], a[1]) if len(a) >= 2 else None,
    "builtins.dict.__getitem__": lambda a: item_of(a[0], a[1]) if len(a) == 2 else None,
    "builtins.__import__": _import,
    "importlib.import_module": lambda a: Global(t, "") if a and (t := text_of(a[0])) else None,
    "importlib.__import__": _import,
    "pkgutil.resolve_name": lambda a: resolve_dotted(t) if a and (t := text_of(a[0])) else None,
    "pydoc.locate": lambda a: resolve_dotted(t) if a and (t := text_of(a[0])) else None,
    "operator.attrgetter": lambda a: Getter("attrgetter", Const(a[0])) if len(a) == 1 else None,
    "operator.itemgetter": lambda a: Getter("itemgetter", Const(a[0])) if len(a) == 1 else None,
    "operator.methodcaller": lambda a: Getter("methodcaller", Const(a[0]), a[1:]) if a else None,
    "functools.partial": lambda a: Partial(a[0], a[1:]) if a else None,
    "codecs.encode": _codecs_encode,
    "codecs.decode": _codecs_decode,
    "base64.b64decode": _decode(base64.b64decode),
    "base64.standard_b64decode": _decode(base64.standard_b64decode),
    "base64.urlsafe_b64decode": _decode(base64.urlsafe_b64decode),
    "base64.b32decode": _decode(base64.b32decode),
    "base64.b16decode": _decode(base64.b16decode),
    "base64.a85decode": _decode(base64.a85decode),
    "base64.b85decode": _decode(base64.b85decode),
    "base64.decodebytes": _decode(base64.decodebytes),
    "binascii.a2b_base64": _decode(binascii.a2b_base64),
    "binascii.unhexlify": _decode(binascii.unhexlify),
    "binascii.a2b_hex": _decode(binascii.a2b_hex),
    "builtins.bytes.fromhex": _fromhex,
    "zlib.decompress": _decode(_inflate),
    "builtins.str.join": _str_join,
}

#: Module aliases for evaluation only (the loader sees the same function under both names).
_SAME = {
    "_operator": "operator",
    "_codecs": "codecs",
    "_functools": "functools",
    "__builtin__": "builtins",
    "_io": "io",
    "_pickle": "pickle",
}


def canonical(full: str) -> str:
    module, dot, rest = full.partition(".")
    return _SAME.get(module, module) + dot + rest


def evaluate(target: Global, args: tuple[object, ...]) -> object | None:
    """The symbolic result of ``target(*args)`` when it is known; None otherwise."""
    fn = _EVALUATORS.get(canonical(target.full))
    if fn is None:
        return None
    try:
        return fn(args)
    except (IndexError, TypeError, ValueError):
        return None


def attribute_call(getter: Getter, args: tuple[object, ...]) -> tuple[object | None, tuple[object, ...]]:
    """Calling an ``attrgetter``/``itemgetter``/``methodcaller``: (what is reached, its args).

    For ``methodcaller`` the reached object is then *called* with the stored arguments."""
    obj = args[0] if args else None
    key = getter.key.value if isinstance(getter.key, Const) else getter.key
    if getter.kind == "itemgetter":
        return item_of(obj, key), ()
    target = None
    text = text_of(key)
    if text is not None and isinstance(obj, Global):
        target = obj
        for part in text.split("."):
            target = getattr_of(target, part)  # type: ignore[assignment]
    stored = tuple(a.value if isinstance(a, Const) and a.blob_ref is None else a for a in getter.args)
    return target, stored
