"""Static analysis of Python source shipped with a model (``auto_map``, ``custom_pipelines``,
``model_file``): what it would do when a loader imports it with ``trust_remote_code=True``.

Only ``ast`` is used; nothing is imported or executed. Calls are resolved to fully qualified
names through the file's imports (``import subprocess as sp``, ``from os import system``),
``getattr(os, "system")``, ``__import__`` of ``"os"`` then ``.system``, and ``__builtins__["eval"]``, then
matched against ``rules/formats/python.yaml``. A call at module or class level runs on import
and is raised in severity. Decoded constants (base64, zlib, hex) that reach ``exec``/``loads``
are critical, and constant strings passed to ``exec``/``eval`` are analyzed as code themselves.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scanner.model import Finding, Location, Severity
from scanner.rules import RuleSet

_MAX_NESTED = 3
_BUILTIN_CONTAINERS = {
    "__builtins__",
    "builtins",
    "builtins.__dict__",
    "__builtins__.__dict__",
    "globals",
    "builtins.globals",
    "vars",
    "builtins.vars",
}
_WRITE_MODES = set("wax+")
_COPIES = {"shutil.copy", "shutil.copyfile", "shutil.copy2", "shutil.copytree", "shutil.copyfileobj"}


@dataclass(frozen=True)
class Pattern:
    category: str
    rule: str
    severity: Severity
    module_severity: Severity
    callables: tuple[str, ...]
    dynamic_only: bool = False

    def matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pat) for pat in self.callables)


def _patterns(rules: RuleSet) -> tuple[Pattern, ...]:
    return _compile(
        tuple(tuple(sorted((k, repr(v)) for k, v in e.items())) for e in rules.entries("python-patterns"))
    )


@lru_cache(maxsize=8)
def _compile(frozen: tuple[tuple[tuple[str, str], ...], ...]) -> tuple[Pattern, ...]:
    out = []
    for items in frozen:
        e: dict[str, Any] = {k: ast.literal_eval(v) for k, v in items}
        sev = Severity.parse(str(e.get("severity", "info")))
        out.append(
            Pattern(
                str(e.get("category")),
                str(e.get("rule", "")),
                sev,
                Severity.parse(str(e.get("module_severity", sev.label))),
                tuple(str(c) for c in e.get("callables", ())),
                bool(e.get("dynamic_only", False)),
            )
        )
    return tuple(out)


def analyze_source(source: str, artifact: str, rules: RuleSet, _depth: int = 0) -> list[Finding]:
    """Findings for one Python file (or a constant string it executes)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [
            rules.finding(
                "REMOTE-CODE-020",
                artifact,
                "This Python file does not parse, so what it does was not inspected.",
                evidence=f"{type(exc).__name__}: {exc}"[:300],
            )
        ]
    return _Analyzer(source, artifact, _patterns(rules), rules, _depth).run(tree)


class _Analyzer:
    def __init__(self, source: str, artifact: str, patterns: tuple[Pattern, ...], rules: RuleSet, depth: int):
        self.source, self.artifact, self.patterns, self.rules, self.depth = (
            source,
            artifact,
            patterns,
            rules,
            depth,
        )
        self.aliases: dict[str, str] = {}
        self.tainted: set[str] = set()
        self.out: list[Finding] = []
        self.by_cat = {p.category: p for p in patterns}
        self._lines: list[str] | None = None

    def run(self, tree: ast.Module) -> list[Finding]:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.aliases[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0]
                    )
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        self._bind_aliases(tree)
        self._taint(tree)
        called: set[int] = set()
        for call, at_import in _calls(tree):
            called.add(id(call.func))
            self._call(call, at_import)
        # `run = os.system` binds an alias that _call resolves where it is called: not a use yet
        bound = {
            id(n.value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign)
            and len(n.targets) == 1
            and isinstance(n.targets[0], ast.Name)
            and n.targets[0].id in self.aliases
        }
        for node, at_import in _walk(tree):
            if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in called | bound:
                self._reference(node, at_import)
            if isinstance(node, ast.Attribute):
                self._escape(node, at_import)
        return self.out

    def _dynamic_dangerous_import(self, call: ast.Call, name: str, at_import: bool) -> None:
        """``__import__`` or ``import_module`` of ``"os"``/``"subprocess"``: a plain ``import`` would do, so
        importing a process/code/native module by string is a way to hide it."""
        if name not in ("__import__", "builtins.__import__", "importlib.import_module") or not call.args:
            return
        module = fold_str(call.args[0])
        if module and module.split(".")[0] in _HIDDEN_IMPORTS:
            self._add(
                "REMOTE-CODE-012",
                f"The code imports `{module}` by string"
                + (" at import time" if at_import else "")
                + ", hiding what it uses.",
                call,
                "",
                module,
                severity=Severity.CRITICAL if at_import else Severity.HIGH,
            )

    # -- indirect use -----------------------------------------------------------------------
    def _reference(self, node: ast.Attribute | ast.Name, at_import: bool) -> None:
        """A dangerous callable that is not called where it is named — ``[os.system][0](…)``,
        ``map(os.system, …)``, ``os.system.__call__(…)``, ``f = os.system`` — is still used."""
        name = self.qualname(node)
        if name is None or not isinstance(node.ctx, ast.Load):
            return
        if isinstance(node, ast.Name) and (name == node.id or "." not in name):
            return  # a plain local name, or an imported module itself
        for candidate in _tails(name):
            for pat in self.patterns:
                if pat.rule and not pat.dynamic_only and pat.matches(candidate):
                    # taking the reference runs nothing; where it is called decides, so the
                    # function-level severity applies
                    self._add(
                        pat.rule,
                        f"The code takes `{candidate}` as a value and calls it indirectly ({pat.category}).",
                        node,
                        "",
                        candidate,
                        severity=pat.severity,
                    )
                    return

    def _escape(self, node: ast.Attribute, at_import: bool) -> None:
        """Introspection that leaves the module's namespace: ``f.__globals__``, ``os.__dict__``,
        ``type(x).__getattribute__``, ``cls.__subclasses__()`` — never needed by modeling code."""
        base = self.qualname(node.value)
        module_dict = node.attr == "__dict__" and base is not None and base.split(".")[0] in self._modules
        if node.attr in _ESCAPES or module_dict:
            self._add(
                "REMOTE-CODE-021",
                f"The code reads `{node.attr}`"
                + (" at import time" if at_import else "")
                + ", the introspection path to other modules' functions (sandbox-escape style).",
                node,
                "",
                node.attr,
                severity=Severity.CRITICAL if at_import else Severity.HIGH,
            )

    @property
    def _modules(self) -> set[str]:
        return {v.split(".")[0] for v in self.aliases.values()} | set(self.aliases)

    # -- name resolution -------------------------------------------------------------------
    def _bind_aliases(self, tree: ast.Module) -> None:
        """``run = subprocess.run`` / ``s = getattr(os, "sys" + "tem")``: the name becomes an alias.

        Flow-insensitive on purpose: a name bound anywhere to a dangerous callable is treated
        as that callable wherever it is called."""
        for _ in range(3):
            changed = False
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                ):
                    name = node.targets[0].id
                    if isinstance(node.value, (ast.Attribute, ast.Call, ast.Subscript, ast.Name)):
                        resolved = self.qualname(node.value)
                        if (
                            resolved
                            and resolved != name
                            and self.aliases.get(name) != resolved
                            and resolved.split(".")[0] in _MODULE_ROOTS
                        ):
                            self.aliases[name] = resolved
                            changed = True
            if not changed:
                break

    def qualname(self, expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            return self.aliases.get(expr.id, expr.id)
        if isinstance(expr, ast.Attribute):
            base = self.qualname(expr.value)
            return f"{base}.{expr.attr}" if base else None
        if isinstance(expr, ast.Call):
            func = self.qualname(expr.func)
            arg0 = fold_str(expr.args[0]) if expr.args else None
            if func in ("getattr", "builtins.getattr") and len(expr.args) >= 2:
                base, attr = self.qualname(expr.args[0]), fold_str(expr.args[1])
                return f"{base}.{attr}" if base and attr else None
            if func in ("__import__", "importlib.import_module", "builtins.__import__") and arg0:
                return arg0
            if func in ("globals", "vars", "builtins.globals", "builtins.vars") and not expr.args:
                return "builtins.globals"
        if isinstance(expr, ast.Subscript):
            base, key = self.qualname(expr.value), fold_str(expr.slice)
            if base and key:
                if base in _BUILTIN_CONTAINERS:
                    return key if key in ("__builtins__",) else f"builtins.{key}"
                if base == "sys.modules":
                    return key
        return None

    # -- checks ----------------------------------------------------------------------------
    def _call(self, call: ast.Call, at_import: bool) -> None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "__getattribute__" and call.args:
            # type(os).__getattribute__(os, "system"): attribute lookup on a module, by string
            target = self.qualname(call.args[0])
            if target is not None and target.split(".")[0] in self._modules:
                self._add(
                    "REMOTE-CODE-021",
                    f"The code looks up an attribute of the module `{target}` by string through "
                    "`__getattribute__`, hiding what it calls.",
                    call,
                    "",
                    target,
                    severity=Severity.CRITICAL if at_import else Severity.HIGH,
                )
        name = self.qualname(call.func)
        if name is None and isinstance(call.func, ast.Attribute) and call.func.attr in _PATH_WRITES:
            name = f"<object>.{call.func.attr}"  # Path(...).write_text(...): the receiver is a call
        if name is None:
            return
        self._dynamic_dangerous_import(call, name, at_import)
        name = name.removeprefix("builtins.") if name in ("builtins.open",) else name
        evidence = ""  # rendered only when a finding is raised (_add): most calls raise none
        where = " at import time" if at_import else ""
        sink = self.by_cat.get("sinks")
        if sink and sink.matches(name) and self._carries_payload(call):
            self._add(
                "REMOTE-CODE-015",
                f"Decoded data reaches `{name}`{where}: an embedded payload is executed.",
                call,
                evidence,
                name,
            )
            return
        candidates = _tails(name)
        for pat in self.patterns:
            if not pat.rule or not any(pat.matches(c) for c in candidates):
                continue
            name = next(c for c in candidates if pat.matches(c))
            if pat.dynamic_only and call.args and _const_str(call.args[0]) is not None:
                continue
            sev = pat.module_severity if at_import else pat.severity
            self._add(
                pat.rule,
                f"The code calls `{name}`{where} ({pat.category}).",
                call,
                evidence,
                name,
                severity=sev,
            )
            break
        if name in ("exec", "eval", "compile") and call.args and self.depth < _MAX_NESTED:
            text = fold_str(call.args[0])
            if text is not None:
                self.out.extend(analyze_source(text, self.artifact, self.rules, self.depth + 1))
        if name == "open" or name.endswith((".write_text", ".write_bytes")) or name in _COPIES:
            self._write(call, name, evidence, at_import)

    def _write(self, call: ast.Call, name: str, evidence: str, at_import: bool) -> None:
        if name == "open":
            mode = _const_str(call.args[1]) if len(call.args) > 1 else None
            for kw in call.keywords:
                if kw.arg == "mode":
                    mode = _const_str(kw.value)
            if mode is None or not (_WRITE_MODES & set(mode)):
                return
            target: ast.expr | None = call.args[0] if call.args else None
        elif name in _COPIES:  # save_vocabulary copies its vocab file: only the destination matters
            target = call.args[1] if len(call.args) > 1 else None
        else:
            func = call.func
            target = func.value if isinstance(func, ast.Attribute) else None
        if target is not None and self._outside(target):
            self._add(
                "REMOTE-CODE-014",
                "The code writes a file outside the model folder.",
                call,
                evidence,
                name,
                severity=Severity.CRITICAL if at_import else Severity.HIGH,
            )
        else:
            self._add("REMOTE-CODE-019", "The code writes a file.", call, evidence, name)

    def _outside(self, target: ast.expr) -> bool:
        head = self._leftmost(target)
        if head and (head.startswith(("/", "~", "\\")) or head[1:3] in (":\\", ":/")):
            return True  # an absolute path (only where the path starts: d + "/x" is relative to d)
        for node in ast.walk(target):
            text = _const_str(node) if isinstance(node, ast.Constant) else None
            if text and ".." in text.replace("\\", "/").split("/"):
                return True
            if isinstance(node, (ast.Attribute, ast.Name, ast.Call)):
                q = self.qualname(node.func if isinstance(node, ast.Call) else node) or ""
                if q in (
                    "os.path.expanduser",
                    "pathlib.Path.home",
                    "os.environ",
                    "os.getenv",
                    "tempfile.gettempdir",
                    "os.path.expandvars",
                    "Path.home",
                    "site.getsitepackages",
                ):
                    return True
        return False

    def _leftmost(self, expr: ast.expr) -> str | None:
        """The literal a path expression starts with (``"/etc/x"``, ``"/etc" + n``, ``f"/etc/{n}"``,
        ``os.path.join("/etc", n)``), if it starts with one."""
        for _ in range(20):
            if isinstance(expr, ast.Constant):
                return _const_str(expr)
            if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Div)):
                expr = expr.left
            elif isinstance(expr, ast.JoinedStr) and expr.values:
                expr = expr.values[0]
            elif (
                isinstance(expr, ast.Call)
                and expr.args
                and (self.qualname(expr.func) or "").endswith(
                    ("os.path.join", "Path", "PurePath", "PosixPath")
                )
            ):
                expr = expr.args[0]
            else:
                return None
        return None

    def _carries_payload(self, call: ast.Call) -> bool:
        decoders = self.by_cat.get("decoders")
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            for node in ast.walk(arg):
                if isinstance(node, ast.Name) and node.id in self.tainted:
                    return True
                if isinstance(node, ast.Call) and decoders:
                    q = self.qualname(node.func)
                    if q and decoders.matches(q):
                        return True
        return False

    def _taint(self, tree: ast.Module) -> None:
        """Names bound (anywhere, flow-insensitively) to decoded data."""
        assigns = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.NamedExpr))]
        for _ in range(4):
            before = len(self.tainted)
            for node in assigns:
                value = node.value
                if value is None:
                    continue
                fake = ast.Call(func=ast.Name("_"), args=[value], keywords=[])
                if self._carries_payload(fake):
                    for target in _targets(node):
                        self.tainted.add(target)
            if len(self.tainted) == before:
                break

    def _add(
        self, rule: str, msg: str, node: ast.AST, evidence: str, name: str, severity: Severity | None = None
    ) -> None:
        self.out.append(
            self.rules.finding(
                rule,
                self.artifact,
                msg,
                severity=severity,
                location=Location(line=getattr(node, "lineno", None)),
                evidence=evidence or self._segment(node),
                callable=name,
            )
        )

    def _segment(self, node: ast.AST) -> str:
        text = None
        start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if self.depth == 0 and start is not None and end is not None:
            if self._lines is None:
                self._lines = self.source.splitlines()
            lines = self._lines[start - 1 : min(end, start + 4)]
            if lines:
                text = " ".join(lines)
        return " ".join((text or ast.unparse(node)).split())[:240]


def _targets(node: ast.Assign | ast.AnnAssign | ast.NamedExpr) -> Iterator[str]:
    targets: list[ast.expr] = list(node.targets) if isinstance(node, ast.Assign) else [node.target]
    for t in targets:
        for n in ast.walk(t):
            if isinstance(n, ast.Name):
                yield n.id


#: module roots worth tracking through assignments (what the patterns can match)
_MODULE_ROOTS = {
    "os",
    "posix",
    "nt",
    "subprocess",
    "builtins",
    "importlib",
    "socket",
    "pickle",
    "marshal",
    "ctypes",
    "pty",
    "runpy",
    "urllib",
    "requests",
    "shutil",
    "base64",
    "zlib",
    "codecs",
    "sys",
    "eval",
    "exec",
    "compile",
    "__import__",
    "open",
    "http",
    "ftplib",
    "httpx",
    "dill",
    "types",
}


def fold_str(node: ast.AST, depth: int = 0) -> str | None:
    """The string an expression builds from literals only (``"o" + "s"``, ``"".join([...])``,
    ``"metsys"[::-1]``, ``chr(111)``, ``b"..".decode()``), else None."""
    if depth > 20:
        return None
    d = depth + 1
    if isinstance(node, ast.Constant):
        return _const_str(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = fold_str(node.left, d), fold_str(node.right, d)
        return (
            left + right if left is not None and right is not None and len(left) + len(right) < 4096 else None
        )
    if isinstance(node, ast.JoinedStr):
        parts = [fold_str(v.value if isinstance(v, ast.FormattedValue) else v, d) for v in node.values]
        return "".join(p for p in parts if p is not None) if all(p is not None for p in parts) else None
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        base, sl = fold_str(node.value, d), node.slice
        if (
            base is not None
            and sl.lower is None
            and sl.upper is None
            and isinstance(sl.step, ast.UnaryOp)
            and isinstance(sl.step.operand, ast.Constant)
            and sl.step.operand.value == 1
        ):
            return base[::-1]
        return None
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "chr" and len(node.args) == 1:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, int) and 0 <= arg.value < 0x110000:
                return chr(arg.value)
        if isinstance(func, ast.Attribute) and func.attr == "join" and len(node.args) == 1:
            sep = fold_str(func.value, d)
            items = node.args[0]
            if sep is not None and isinstance(items, (ast.List, ast.Tuple)):
                parts = [fold_str(e, d) for e in items.elts]
                return (
                    sep.join(p for p in parts if p is not None) if all(p is not None for p in parts) else None
                )
        if isinstance(func, ast.Attribute) and func.attr == "decode" and isinstance(func.value, ast.Constant):
            return _const_str(func.value)
    return None


def _const_str(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        v = node.value
        return v if isinstance(v, str) else v.decode("latin-1")
    return None


def _calls(tree: ast.Module) -> Iterator[tuple[ast.Call, bool]]:
    """Every call, with whether it runs at import time (not inside a function or a main guard)."""
    for node, at_import in _walk(tree):
        if isinstance(node, ast.Call):
            yield node, at_import


#: modules whose import by string (``__import__`` of ``"os"``) only hides a process/code/native sink
_HIDDEN_IMPORTS = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "pty",
        "socket",
        "ctypes",
        "builtins",
        "sys",
        "shutil",
        "runpy",
        "code",
        "marshal",
        "pickle",
        "_pickle",
        "importlib",
    }
)
#: path methods that change files whatever the receiver is
_PATH_WRITES = frozenset({"write_text", "write_bytes"})

#: attributes that walk from an object to other modules' namespaces or to code objects
#: (``__func__``, ``__mro__``, ``__getattribute__`` on objects are ordinary Python and left alone)
_ESCAPES = frozenset(
    {
        "__globals__",
        "__builtins__",
        "__subclasses__",
        "__code__",
        "__closure__",
        "f_globals",
        "f_locals",
        "f_back",
        "gi_frame",
        "tb_frame",
    }
)


def _tails(name: str) -> list[str]:
    """``posixpath.os.system`` is ``os.system``: modules re-export the modules they import,
    so every tail of an attribute chain is a name the code may really reach."""
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(len(parts) - 1)] or [name]


def _walk(tree: ast.Module) -> Iterator[tuple[ast.AST, bool]]:
    """Every node, with whether it runs at import time: a function's body runs when called
    (its decorators and defaults on import); so does a lambda's; a main guard never on import."""
    stack: list[tuple[ast.AST, bool]] = [(tree, True)]
    while stack:
        node, at_import = stack.pop()
        yield node, at_import
        for child in ast.iter_child_nodes(node):
            inner = at_import
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and child in node.body:
                inner = False
            if isinstance(node, ast.Lambda) and child is node.body:
                inner = False
            if isinstance(node, ast.If) and _is_main_guard(node.test) and child is not node.test:
                inner = False
            stack.append((child, inner))


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(_const_str(c) == "__main__" for c in test.comparators)
    )


def summarize(findings: list[Finding]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.rule_id] = counts.get(f.rule_id, 0) + 1
    return counts
