"""Fixture builders for the pickle tests: hand-assembled opcode streams with harmless payloads
(they create a marker file), and a helper that scans bytes with the pickle analyzer only.

Nothing here unpickles anything: victims' loaders run in subprocesses (conftest.run_python).
"""

from __future__ import annotations

import struct
from pathlib import Path

from scanner.formats.interface import Analysis, Context
from scanner.formats.pickle import ANALYZER
from scanner.model import Artifact, Finding, Severity
from scanner.rules import load_rules
from scanner.sources.interface import BytesBlob, Node

_CONTEXT = Context(rules=load_rules())


def scan_bytes(data: bytes, hint: str | None = None, name: str = "sample.bin") -> Analysis:
    """The pickle analyzer's verdict on ``data`` (no container, no engine)."""
    return ANALYZER.analyze(Node(Artifact(name, len(data)), BytesBlob(data), loader_hint=hint), _CONTEXT)


def worst(analysis: Analysis) -> Severity | None:
    return max((f.severity for f in analysis.findings), default=None)


def rules_of(analysis: Analysis) -> set[str]:
    return {f.rule_id for f in analysis.findings}


def finding_for(analysis: Analysis, callable_name: str) -> Finding:
    """The finding about ``callable_name`` (fails the test when there is none)."""
    for f in analysis.findings:
        if f.callable == callable_name:
            return f
    for f in analysis.findings:
        if f.evidence and callable_name in f.evidence:
            return f
    raise AssertionError(f"no finding names {callable_name}: {analysis.findings}")


def touch_command(marker: Path) -> str:
    return f"touch {marker}"


# --- opcode assembly --------------------------------------------------------------------
def proto(n: int) -> bytes:
    return b"\x80" + bytes([n])


def glob(module: str, name: str) -> bytes:
    """GLOBAL (protocol 0 text form)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def string0(text: str) -> bytes:
    """STRING (protocol 0, quoted)."""
    return b"S" + repr(text).encode() + b"\n"


def uni(text: str) -> bytes:
    """SHORT_BINUNICODE or BINUNICODE."""
    raw = text.encode()
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def binbytes(data: bytes) -> bytes:
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + struct.pack("<I", len(data)) + data


def binint(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


MARK, STOP, POP, REDUCE, TUPLE = b"(", b".", b"0", b"R", b"t"
TUPLE1, TUPLE2, TUPLE3 = b"\x85", b"\x86", b"\x87"
EMPTY_TUPLE, EMPTY_DICT, BUILD, NONE, MEMOIZE, STACK_GLOBAL = b")", b"}", b"b", b"N", b"\x94", b"\x93"
SETITEM, OBJ, NEWOBJ = b"s", b"o", b"\x81"


def binput(i: int) -> bytes:
    return b"q" + bytes([i])


def binget(i: int) -> bytes:
    return b"h" + bytes([i])


def ext2(code: int) -> bytes:
    return b"\x83" + struct.pack("<H", code)


def frame(length: int) -> bytes:
    return b"\x95" + struct.pack("<Q", length)


def call_global(module: str, name: str, *args_ops: bytes) -> bytes:
    """``module.name(*args)`` with GLOBAL + MARK/TUPLE + REDUCE."""
    return glob(module, name) + MARK + b"".join(args_ops) + TUPLE + REDUCE


def os_system(marker: Path) -> bytes:
    """A complete protocol-0 pickle: ``os.system('touch <marker>')``."""
    return call_global("os", "system", string0(touch_command(marker))) + STOP


def victim_load(path: Path, how: str = "pickle.load(open(p, 'rb'))", imports: str = "import pickle") -> str:
    """Code a victim runs in a subprocess; exceptions after the payload ran are expected."""
    return (
        f"{imports}\np = {str(path)!r}\ntry:\n    {how}\nexcept Exception as exc:\n"
        f"    print('loader raised', type(exc).__name__, exc)\n"
    )
