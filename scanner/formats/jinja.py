"""Static analysis of Jinja chat templates (GGUF ``tokenizer.chat_template``, HF
``tokenizer_config.json`` / ``chat_template.jinja``).

Inference servers render these templates for every request; several did so without a sandbox
(CVE-2024-34359 "Llama Drama", CVE-2026-5760), so a template that reaches ``__globals__`` is
remote code execution. The template is *parsed* by Jinja's own parser (the sandboxed
environment's, so the grammar is exactly what servers accept) and the AST is walked; nothing is
ever rendered. Allowlist first: the filters, tests, globals and methods real chat templates use
come from ``rules/formats/jinja.yaml``; everything else is at least medium, any road to a dunder
attribute is critical — whether written ``x.__class__``, ``x|attr('__cl' ~ 'ass__')`` or
``x[['__','class','__']|join]``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from scanner.model import Finding, Location, Severity
from scanner.rules import RuleSet

_REF = "CVE-2024-34359"
_DUNDER = re.compile(r"__\w+__")
_MAX_FOLD = 4096
#: filters that take an attribute name (``map(attribute='x.y')``) a gadget can smuggle a dunder into
_ATTRIBUTE_FILTERS = {"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max"}


@dataclass(frozen=True)
class TemplateRules:
    filters: frozenset[str]
    tests: frozenset[str]
    globals: frozenset[str]
    methods: frozenset[str]
    gadget_roots: frozenset[str]
    internals: frozenset[str]
    strings: tuple[re.Pattern[str], ...]


def template_rules(rules: RuleSet) -> TemplateRules:
    return _compile(
        tuple((str(e.get("category")), _names(e), _regexes(e)) for e in rules.entries("jinja-patterns"))
    )


def _names(entry: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(n) for n in entry.get("names", ()))


def _regexes(entry: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(r) for r in entry.get("regexes", ()))


@lru_cache(maxsize=8)
def _compile(entries: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]) -> TemplateRules:
    by: dict[str, set[str]] = {}
    regexes: list[re.Pattern[str]] = []
    for category, names, pats in entries:
        by.setdefault(category, set()).update(names)
        regexes.extend(re.compile(p) for p in pats)
    return TemplateRules(
        filters=frozenset(by.get("filters", ())),
        tests=frozenset(by.get("tests", ())),
        globals=frozenset(by.get("globals", ())),
        methods=frozenset(by.get("methods", ())),
        gadget_roots=frozenset(by.get("gadget-roots", ())),
        internals=frozenset(by.get("python-internals", ())),
        strings=tuple(regexes),
    )


def template_sha256(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def analyze_template(source: str, artifact: str, where: str | None, rules: RuleSet) -> list[Finding]:
    """Findings for one template; ``where`` is a JSON pointer or key naming it inside ``artifact``."""
    out: list[Finding] = []

    def add(
        rule: str, msg: str, line: int | None, evidence: str | None, severity: Severity | None = None
    ) -> None:
        where_in = Location(pointer=where, line=line)
        out.append(
            rules.finding(
                rule, artifact, msg, severity=severity, location=where_in, evidence=evidence, reference=_REF
            )
        )

    try:
        tree = ImmutableSandboxedEnvironment().parse(source)
    except RecursionError:
        add("TEMPLATE-PARSE-001", "The chat template nests too deeply to be parsed.", None, None)
        return out
    except Exception as exc:  # TemplateSyntaxError and friends: a server would fail too, but fail closed
        add(
            "TEMPLATE-PARSE-001",
            "The chat template does not parse as Jinja, so it was not inspected.",
            getattr(exc, "lineno", None),
            f"{type(exc).__name__}: {exc}"[:300],
        )
        return out
    _Walker(template_rules(rules), add).walk(tree)
    return out


class _Add(Protocol):
    def __call__(
        self, rule: str, msg: str, line: int | None, evidence: str | None, severity: Severity | None = None
    ) -> None: ...


class _Walker:
    def __init__(self, rules: TemplateRules, add: _Add) -> None:
        self.r = rules
        self.add = add
        self.macros: set[str] = set()
        self.bindings: dict[str, object] = {}

    def walk(self, tree: nodes.Template) -> None:
        # macros the template defines itself are callable like globals (Command-R's tool templates)
        self.macros = {m.name for m in _descendants(tree) if isinstance(m, nodes.Macro)}
        # {% set k = ['_','_','init','_','_']|join %}: names bound to constants are folded where
        # they are used, so a dunder spread over assignments is still a dunder.
        for node in _descendants(tree):
            if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
                value = fold(node.node, self.bindings)
                if value is not None:
                    self.bindings[node.target.name] = value
        for node in _descendants(tree):
            self.visit(node)

    def visit(self, node: nodes.Node) -> None:
        line = getattr(node, "lineno", None)
        if isinstance(node, nodes.Getattr):
            self.name(node.attr, line, f".{node.attr}")
        elif isinstance(node, nodes.NSRef):
            self.name(node.attr, line, f"{node.name}.{node.attr}")
        elif isinstance(node, nodes.Getitem):
            self.item(node, line)
        elif isinstance(node, nodes.Filter):
            self.filter(node, line)
        elif isinstance(node, nodes.Test):
            if node.name not in self.r.tests:
                self.add(
                    "TEMPLATE-UNLISTED-001",
                    f"The template uses the test `{node.name}`, which chat templates do not use.",
                    line,
                    f"is {node.name}",
                )
        elif isinstance(node, nodes.Call):
            self.call(node, line)
        elif isinstance(node, nodes.Keyword):
            self.name(node.key, line, f"{node.key}=")
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in self.r.gadget_roots:
            self.add(
                "TEMPLATE-GADGET-001",
                f"The template references `{node.name}`, the root of known sandbox-escape chains; "
                "chat templates never need it.",
                line,
                node.name,
            )
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            self.const(node.value, line)
        elif isinstance(node, (nodes.Concat, nodes.Add, nodes.Mul, nodes.Mod, nodes.Assign)):
            folded = fold(node.node if isinstance(node, nodes.Assign) else node, self.bindings)
            if isinstance(folded, str) and _DUNDER.search(folded):
                self.add(
                    "TEMPLATE-DUNDER-001",
                    "The template builds a dunder name from pieces, a way to reach Python internals "
                    "past simple filters.",
                    line,
                    repr(folded[:200]),
                )
        elif isinstance(node, (nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends)):
            self.add(
                "TEMPLATE-INCLUDE-001",
                "The template imports or includes another template; chat templates are self-contained.",
                line,
                type(node).__name__,
            )

    def name(self, attr: str, line: int | None, shown: str) -> None:
        if _DUNDER.fullmatch(attr):
            self.add(
                "TEMPLATE-DUNDER-001",
                f"The template accesses the dunder attribute `{attr}`, the first step of every Jinja "
                "sandbox escape (CVE-2024-34359).",
                line,
                shown,
            )
        elif attr.startswith("_"):
            self.add(
                "TEMPLATE-PRIVATE-001",
                f"The template accesses the private attribute `{attr}` (e.g. the mangled "
                "`_TemplateReference__context`).",
                line,
                shown,
            )
        elif attr in self.r.internals:
            self.add(
                "TEMPLATE-INTERNAL-001",
                f"The template accesses `{attr}`, a Python internal that leads to code or frames.",
                line,
                shown,
            )

    def item(self, node: nodes.Getitem, line: int | None) -> None:
        arg = node.arg
        base = node.node
        if isinstance(base, nodes.Name) and (base.name in self.r.globals or base.name in self.r.gadget_roots):
            self.add(
                "TEMPLATE-GADGET-001",
                f"The template subscripts the global `{base.name}` itself, the way sandbox escapes "
                "walk from a callable to its `__init__.__globals__`.",
                line,
                f"{base.name}[...]",
            )
        if isinstance(arg, (nodes.Slice, nodes.Const)):
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                self.name(arg.value, line, f"[{arg.value!r}]")
            return
        folded = fold(arg, self.bindings)
        if isinstance(folded, str):
            self.name(folded, line, f"[{folded!r}] (computed)")
            if not folded.startswith("_") and folded not in self.r.internals:
                self.add(
                    "TEMPLATE-COMPUTED-001",
                    "The template builds a subscript key from string pieces.",
                    line,
                    repr(folded[:200]),
                    Severity.MEDIUM,
                )
        elif _stringy(arg):
            self.add(
                "TEMPLATE-COMPUTED-001",
                "The template subscripts with a key computed by string operations the scan cannot "
                "resolve; this is how dunder names are hidden from filters.",
                line,
                type(arg).__name__,
            )

    def filter(self, node: nodes.Filter, line: int | None) -> None:
        if node.name not in self.r.filters and node.name != "attr":
            self.add(
                "TEMPLATE-UNLISTED-001",
                f"The template uses the filter `{node.name}`, which chat templates do not use.",
                line,
                f"|{node.name}",
            )
        names: list[nodes.Expr] = []
        if node.name == "attr":
            names = list(node.args[:1])
        elif node.name in _ATTRIBUTE_FILTERS:
            names = [kw.value for kw in node.kwargs if kw.key == "attribute"]
            if node.name in ("map", "selectattr", "rejectattr"):
                names += list(node.args[:1])
        for expr in names:
            value = fold(expr, self.bindings)
            if isinstance(value, str):
                for part in value.split("."):
                    self.name(part, line, f"|{node.name}({value!r})")
            elif node.name == "attr":
                self.add(
                    "TEMPLATE-COMPUTED-001",
                    "The template reads an attribute whose name is computed at render time "
                    "(`|attr(...)` with a non-constant name).",
                    line,
                    "|attr(<computed>)",
                )

    def call(self, node: nodes.Call, line: int | None) -> None:
        callee = node.node
        if isinstance(callee, nodes.Name):
            known = callee.name in self.r.globals or callee.name in self.macros
            if not known and callee.name not in self.r.gadget_roots:
                self.add(
                    "TEMPLATE-UNLISTED-001",
                    f"The template calls `{callee.name}()`, which chat templates do not use.",
                    line,
                    f"{callee.name}()",
                )
        elif isinstance(callee, nodes.Getattr):
            method = callee.attr
            if method not in self.r.methods and not method.startswith("_") and method not in self.r.internals:
                self.add(
                    "TEMPLATE-UNLISTED-001",
                    f"The template calls the method `.{method}()`, which chat templates do not use.",
                    line,
                    f".{method}()",
                )
        else:
            self.add(
                "TEMPLATE-UNLISTED-001",
                "The template calls the result of an expression (a subscript or a call), which "
                "chat templates do not do.",
                line,
                type(callee).__name__,
            )

    def const(self, value: str, line: int | None) -> None:
        if _DUNDER.search(value):
            self.add(
                "TEMPLATE-DUNDER-001",
                "A string in a template expression names a dunder; chat templates never need one.",
                line,
                repr(value[:200]),
            )
            return
        for pattern in self.r.strings:
            if pattern.search(value):
                self.add(
                    "TEMPLATE-STRING-001",
                    "A string in a template expression names a process, import or shell.",
                    line,
                    repr(value[:200]),
                )
                return


def _descendants(node: nodes.Node) -> Iterator[nodes.Node]:
    # iterative: a hostile template may nest deep enough to exhaust Python's stack
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(current.iter_child_nodes())))


def _stringy(expr: nodes.Node) -> bool:
    """Whether ``expr`` involves string building (as opposed to index arithmetic on names)."""
    for n in _descendants(expr):
        if isinstance(n, (nodes.Concat, nodes.Filter, nodes.Call, nodes.Mod, nodes.List, nodes.Tuple)):
            return True
        if isinstance(n, nodes.Const) and isinstance(n.value, str):
            return True
    return False


def fold(expr: nodes.Node, bindings: Mapping[str, object] | None = None) -> object:
    """The constant value of ``expr`` when it is built only from literals (and names bound to
    constants by ``{% set %}``), else ``None``."""
    try:
        value = _fold(expr, 0, bindings or {})
    except (TypeError, ValueError, OverflowError, IndexError, KeyError, MemoryError):
        return None
    if isinstance(value, str) and len(value) > _MAX_FOLD:
        return None
    return value


def _fold(expr: nodes.Node, depth: int, env: Mapping[str, object]) -> object:
    if depth > 50:
        return None
    d = depth + 1
    if isinstance(expr, nodes.Const):
        return expr.value
    if isinstance(expr, nodes.Name) and expr.ctx == "load":
        return env.get(expr.name)
    if isinstance(expr, (nodes.List, nodes.Tuple)):
        items = [_fold(i, d, env) for i in expr.items]
        return None if any(i is None for i in items) else items
    if isinstance(expr, nodes.Concat):
        parts = [_fold(n, d, env) for n in expr.nodes]
        return "".join(str(p) for p in parts) if all(p is not None for p in parts) else None
    if isinstance(expr, (nodes.Add, nodes.Mul, nodes.Mod)):
        left, right = _fold(expr.left, d, env), _fold(expr.right, d, env)
        if left is None or right is None:
            return None
        if isinstance(expr, nodes.Add) and type(left) is type(right) and isinstance(left, (str, int, list)):
            return left + right  # type: ignore[operator]
        if isinstance(expr, nodes.Mul) and isinstance(left, str) and isinstance(right, int) and right < 64:
            return left * right
        if isinstance(expr, nodes.Mod) and isinstance(left, str) and len(left) < 256:
            args = tuple(right) if isinstance(right, list) else right
            return left % args
        return None
    if isinstance(expr, nodes.Filter) and expr.node is not None:
        base = _fold(expr.node, d, env)
        args = [_fold(a, d, env) for a in expr.args]
        if base is None or any(a is None for a in args):
            return None
        return _apply_filter(expr.name, base, args)
    return None


def _apply_filter(name: str, base: object, args: list[object]) -> object:
    if name == "join" and isinstance(base, list):
        sep = args[0] if args and isinstance(args[0], str) else ""
        return sep.join(str(b) for b in base)
    if isinstance(base, str):
        if name in ("lower", "upper", "trim", "string", "title", "capitalize"):
            return {
                "lower": base.lower,
                "upper": base.upper,
                "trim": base.strip,
                "string": lambda: base,
                "title": base.title,
                "capitalize": base.capitalize,
            }[name]()
        if name == "reverse":
            return base[::-1]
        if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            return base.replace(args[0], args[1])
        if name == "format" and len(base) < 256:
            return base % tuple(args)
    if name == "reverse" and isinstance(base, list):
        return base[::-1]
    if name == "list" and isinstance(base, str):
        return list(base)
    return None
