"""fickling as an independent second opinion on what a classic malicious pickle calls.

fickling (Trail of Bits) decompiles a pickle into the Python it would run, with its own parser.
Where it can read a pickle, the callable it says the pickle imports must be among those our VM
reports, and fickling must not call the pickle safe: if the two readers disagree on a classic
payload, one of them is wrong. (The techniques built to get past fickling — an OBJ whose result
is popped, EXT codes, frame desync — are tested against the victim's loader in
``test_techniques.py``; here only the pickles both readers understand are compared.)
"""

from __future__ import annotations

import _compat_pickle
import ast
import os
import pickle
from collections.abc import Callable

import pytest
from fickling.analysis import Severity as FicklingSeverity
from fickling.analysis import check_safety
from fickling.fickle import Pickled

from scanner.model import Severity
from tests.pickle.builders import (
    MEMOIZE,
    POP,
    REDUCE,
    STACK_GLOBAL,
    STOP,
    TUPLE1,
    binget,
    binput,
    glob,
    proto,
    scan_bytes,
    string0,
    uni,
)

COMMAND = "echo fickling-oracle"


def _reduce(func: Callable[..., object], *args: object) -> Callable[[int], bytes]:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[object, ...]]:
            return (func, args)

    return lambda protocol: pickle.dumps(Payload(), protocol=protocol)


CASES: dict[str, bytes] = {
    "global-protocol-0": glob("os", "system") + b"(" + string0(COMMAND) + b"tR.",
    "stack-global-from-memo": proto(4)
    + uni("os")
    + binput(0)
    + POP
    + uni("system")
    + MEMOIZE
    + POP
    + binget(0)
    + binget(1)
    + STACK_GLOBAL
    + uni(COMMAND)
    + TUPLE1
    + REDUCE
    + STOP,
    **{f"os-system-protocol-{p}": _reduce(os.system, COMMAND)(p) for p in (0, 2, 4, 5)},
    "builtins-eval": _reduce(eval, "1 + 1")(2),
    "subprocess-popen": _reduce(__import__("subprocess").Popen, ["echo", "x"])(4),
}


def _fickling_imports(data: bytes) -> set[str]:
    """What fickling says the pickle imports, as Python 3's unpickler names it (protocols < 3
    map Python 2 names such as ``__builtin__`` through ``_compat_pickle``, as ``pickle.load`` does)."""
    tree = Pickled.load(data).ast
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                module = _compat_pickle.IMPORT_MAPPING.get(node.module, node.module)
                module, name = _compat_pickle.NAME_MAPPING.get(
                    (node.module, alias.name), (module, alias.name)
                )
                out.add(f"{module}.{name}")
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_fickling_and_our_scan_name_the_same_callable(name: str) -> None:
    data = CASES[name]
    ours = {f.callable for f in scan_bytes(data).findings if f.callable and f.severity >= Severity.HIGH}
    theirs = _fickling_imports(data)
    assert theirs, f"fickling decompiled no import from {name}"
    assert theirs <= ours, (theirs, ours)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fickling_does_not_call_our_malicious_fixtures_safe(name: str) -> None:
    verdict = check_safety(Pickled.load(CASES[name])).severity
    assert verdict > FicklingSeverity.LIKELY_SAFE, (name, verdict)
