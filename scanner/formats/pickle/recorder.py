"""Judging what a stream reaches and invokes, as the machine reports it.

Each distinct callable is one ``Use`` (first position, how it was reached, the first invocation
rendered as Python). At the end of a stream every use is judged once against the profile's
allowlist, so a million allowlisted rebuild calls cost a counter, and a gadget is one finding
with readable evidence, never a storm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scanner import rules
from scanner.formats.pickle.policy import CallablePolicy, CallableRule, has_dunder, is_class_name
from scanner.formats.pickle.reader import StreamReader
from scanner.formats.pickle.resolve import attribute_call, bytes_of, evaluate
from scanner.formats.pickle.values import Call, Const, Getter, Global, Opaque, Partial, Seq, Value
from scanner.model import Finding, Location, Severity

MAX_USES = 20_000
MAX_ANOMALIES_PER_RULE = 20
MAX_NESTED = 16

_CATEGORY_RULE = {
    "exec": "PICKLE-EXEC-001",
    "shell": "PICKLE-EXEC-001",
    "code": "PICKLE-EXEC-001",
    "network": "PICKLE-NETWORK-001",
    "file": "PICKLE-FILE-001",
    "import": "PICKLE-IMPORT-001",
    "deserialize": "PICKLE-DESERIALIZE-001",
    "native": "PICKLE-NATIVE-001",
    "debug": "PICKLE-DEBUG-001",
    "install": "PICKLE-INSTALL-001",
    "process": "PICKLE-EXEC-001",
}
_STORAGE_DTYPES = {
    "FloatStorage": ("float32", 4),
    "DoubleStorage": ("float64", 8),
    "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2),
    "LongStorage": ("int64", 8),
    "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1),
    "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1),
    "ComplexFloatStorage": ("complex64", 8),
    "ComplexDoubleStorage": ("complex128", 16),
    "QInt8Storage": ("qint8", 1),
    "QUInt8Storage": ("quint8", 1),
    "QInt32Storage": ("qint32", 4),
    "QUInt4x2Storage": ("quint4x2", 1),
    "QUInt2x4Storage": ("quint2x4", 1),
    "UntypedStorage": ("uint8", 1),
}


@dataclass
class Use:
    target: Global
    offset: int
    index: int
    how: str
    calls: int = 0
    with_args: bool = False
    sample: str | None = None
    call_offset: int | None = None
    shape_failure: str | None = None
    covered: bool = False
    """Reached only as the result of an allowlisted, shape-checked call (``getattr``)."""


@dataclass
class StreamFacts:
    storages: dict[str, int] = field(default_factory=dict)
    """Legacy torch: storage key → element size (to walk the raw storage tail)."""
    dtypes: set[str] = field(default_factory=set)
    tensors: int = 0


class StreamRecorder:
    """Receives the machine's reports for one stream and turns them into findings."""

    def __init__(
        self,
        policy: CallablePolicy,
        profile: str,
        artifact: str,
        stream: int,
        extensions: dict[int, tuple[str, str]],
    ) -> None:
        self.policy = policy
        self.profile = profile
        self.artifact = artifact
        self.stream = stream
        self.extensions = extensions
        self.machine_pos: tuple[int, int] = (0, 0)
        self.uses: dict[str, Use] = {}
        self.findings: list[Finding] = []
        self._anomaly_counts: dict[str, int] = {}
        self.nested: list[tuple[int, bytes | tuple[int, int], str, bool]] = []
        """(offset, bytes or a blob window, callable, whether the call itself is allowlisted)"""
        self.facts = StreamFacts()
        self.overflow = False
        self.build_hook: object = None
        self._pos_source: object = None

    # The machine sets this so findings carry the current opcode's position.
    def bind(self, pos_source: object) -> None:
        self._pos_source = pos_source

    def _where(self) -> tuple[int, int]:
        m = self._pos_source
        return (getattr(m, "op_offset", 0), getattr(m, "op_index", 0))

    def _use(self, target: Global, how: str) -> Use | None:
        key = target.full
        use = self.uses.get(key)
        if use is None:
            if len(self.uses) >= MAX_USES:
                self.overflow = True
                return None
            off, idx = self._where()
            use = Use(target, off, idx, how)
            self.uses[key] = use
        return use

    # --- Recorder protocol -----------------------------------------------------------------
    def reach(self, target: Global, how: str) -> None:
        self._use(target, how)

    def invoke(
        self, func: object, args: tuple[object, ...], kind: str, kwargs: object | None = None
    ) -> object:
        while isinstance(func, Partial):
            args = (
                tuple(a.value if isinstance(a, Const) and a.blob_ref is None else a for a in func.args) + args
            )
            func = func.func
        if isinstance(func, Getter):
            reached, extra = attribute_call(func, args)
            if isinstance(reached, Global):
                self._use(reached, func.kind)
                if func.kind == "methodcaller":
                    return self.invoke(reached, extra, kind)
                return reached
            if reached is not None:
                return reached
            self._dynamic(func, args)
            return Call(func, _wrap(args))
        if not isinstance(func, Global):
            self._dynamic(func, args)
            return Call(func if isinstance(func, Value) else Const(func), _wrap(args))
        call_kind = "new" if kind.startswith("NEWOBJ") else "call"
        result_value = Call(func, _wrap(args), call_kind, kwargs if isinstance(kwargs, Value) else None)
        use = self._use(func, kind)
        rule = self.policy.allowed(func.full, self.profile)
        shape_ok = True
        if use is not None:
            use.calls += 1
            if args and kind in ("REDUCE", "OBJ", "INST"):
                use.with_args = True
            if use.sample is None:
                use.sample = result_value.render()  # scan-safe: symbolic value's text
                use.call_offset = self._where()[0]
            if rule is not None and rule.args is not None:
                shape_ok = self._shape_ok(rule, args)
                if not shape_ok and use.shape_failure is None:
                    use.shape_failure = result_value.render()  # scan-safe: symbolic value's text
        self._special(func, args)
        result = evaluate(func, args)
        if result is None:
            return result_value
        if isinstance(result, Global):
            covered = rule is not None and rule.args is not None and shape_ok
            reached = self._use(result, f"{func.full}()")
            if reached is not None and covered and reached.calls == 0:
                reached.covered = True
            elif reached is not None and not covered:
                reached.covered = False
        return result

    def mutate(self, target: object, how: str, detail: object) -> None:
        if isinstance(target, Global):
            shown = _render(detail)
            evidence = (
                f"{target.full}.__setstate__({shown})" if how == "BUILD" else f"{target.full}.{how}({shown})"
            )
            self.anomaly(
                "PICKLE-MUTATE-001",
                f"The pickle modifies the imported object "
                f"{target.full} ({how}), which changes code the process goes on to use.",
                evidence,
                target.full,
            )

    def persistent(self, pid: object) -> object:
        items = pid if isinstance(pid, tuple) else (tuple(pid.items) if isinstance(pid, Seq) else ())
        if len(items) >= 3 and items[0] == "storage" and isinstance(items[1], Global):
            name = items[1].qualname.rsplit(".", 1)[-1]
            dtype, size = _STORAGE_DTYPES.get(name, (name, 0))
            self.facts.dtypes.add(dtype)
            if isinstance(items[2], str) and len(self.facts.storages) < 1_000_000:
                self.facts.storages.setdefault(items[2], size)
        return Opaque("persistent object")

    def anomaly(
        self, rule: str, message: str, evidence: str | None = None, callable_name: str | None = None
    ) -> None:
        n = self._anomaly_counts.get(rule, 0)
        self._anomaly_counts[rule] = n + 1
        if n >= MAX_ANOMALIES_PER_RULE:
            return
        off, idx = self._where()
        self.findings.append(
            rules.finding(
                rule,
                self.artifact,
                message,
                location=Location(offset=off, opcode_index=idx, stream=self.stream),
                evidence=evidence,
                callable=callable_name,
            )
        )

    def after_build(self, obj: object, reader: StreamReader) -> object:
        hook = self.build_hook
        if hook is None:
            return obj
        return hook(obj, reader)  # type: ignore[operator]

    # --- internals -------------------------------------------------------------------------
    def _dynamic(self, func: object, args: tuple[object, ...]) -> None:
        shown = f"{_render(func)}({', '.join(_render(a) for a in args[:4])})"
        self.anomaly(
            "PICKLE-DYNAMIC-001",
            "The pickle calls an object that is itself the result "
            "of loading (not a named callable), which hides what really runs.",
            shown,
        )

    def _special(self, func: Global, args: tuple[object, ...]) -> None:
        full = self.policy.normalize(func.full)
        if full == "copyreg.add_extension" and len(args) == 3:
            mod, name, code = args
            if isinstance(mod, str) and isinstance(name, str) and isinstance(code, int):
                self.extensions[code] = (mod, name)
        if "_rebuild_tensor" in full or "_rebuild_parameter" in full or "_rebuild_qtensor" in full:
            self.facts.tensors += 1
        deny = self.policy.deny.get(full) or self.policy.denied([full])
        allow = self.policy.allowed(full, self.profile)
        nested = (deny is not None and deny.nested) or (allow is not None and allow.nested)
        if nested and args and len(self.nested) < MAX_NESTED:
            allowed = allow is not None and (allow.args is None or self._shape_ok(allow, args))
            arg = args[0]
            data = bytes_of(arg)
            if data is not None:
                self.nested.append((self._where()[0], data, func.full, allowed))
            elif isinstance(arg, Const) and arg.blob_ref is not None:
                self.nested.append((self._where()[0], arg.blob_ref, func.full, allowed))

    def _shape_ok(self, rule: CallableRule, args: tuple[object, ...]) -> bool:
        spec = rule.args or ()
        if len(args) != len(spec):
            return False
        for arg, want in zip(args, spec, strict=True):
            if want == "any":
                continue
            if want == "class":
                if not (isinstance(arg, Global) and is_class_name(arg.full)):
                    return False
            elif want == "constant":
                if isinstance(arg, Value) and not isinstance(arg, Const):
                    return False
            elif want in ("allowlisted", "allowlisted-class"):
                if not isinstance(arg, Global):
                    return False
                inner = self.policy.allowed(arg.full, self.profile)
                denied = self.policy.denied(self.policy.candidates(arg.module, arg.qualname))
                if (
                    inner is None
                    or inner.args is not None
                    or (denied is not None and inner.action != "allow")
                ):
                    return False
                if want == "allowlisted-class" and not is_class_name(arg.full):
                    return False
            elif isinstance(want, dict) and "one_of" in want:
                if arg not in want["one_of"]:
                    return False
            else:
                return False
        return True

    # --- verdicts --------------------------------------------------------------------------
    def judge(self) -> list[Finding]:
        out = list(self.findings)
        for use in self.uses.values():
            finding = self._judge_use(use)
            if finding is not None:
                out.append(finding)
        if self.overflow:
            out.append(
                rules.finding(
                    "PICKLE-LIMIT-001",
                    self.artifact,
                    f"The stream reaches more than {MAX_USES} distinct callables; "
                    "the ones after that were not judged.",
                    location=Location(stream=self.stream),
                )
            )
        return out

    def _judge_use(self, use: Use) -> Finding | None:
        t = use.target
        names = self.policy.candidates(t.module, t.qualname)
        deny = self.policy.denied(names)
        # a deny reached through an attribute walk (pathlib + os.system) always wins
        deny_via_walk = self.policy.denied(names[1:]) is not None
        allow = self.policy.allowed(t.full, self.profile, t.qualname)
        if allow is not None and allow.name_only and use.calls:
            allow = None
        loc = Location(
            offset=use.call_offset if use.call_offset is not None else use.offset,
            opcode_index=use.index,
            stream=self.stream,
        )
        evidence = use.sample or f"{t.full}  (imported via {use.how})"
        if allow is not None and allow.args is not None and (use.shape_failure or use.calls == 0):
            evidence = use.shape_failure or evidence
            allow = None  # the constraint is what made it safe, and it is not met
        if use.covered and deny is None:
            return None
        if (
            allow is not None
            and allow.action == "allow"
            and (
                deny is None
                or (
                    not allow.pattern.endswith(".*")
                    and not deny_via_walk
                    and allow.specificity >= deny.specificity
                )
            )
        ):
            return None
        verb = "calls" if use.calls else "imports"
        if deny is not None:
            rule_id = _CATEGORY_RULE.get(deny.category, "PICKLE-GADGET-001")
            why = f": {deny.why}" if deny.why else ""
            return rules.finding(
                rule_id,
                self.artifact,
                f"The pickle {verb} {t.full}{why}.",
                severity=deny.severity,
                location=loc,
                evidence=evidence,
                callable=t.full,
                reference=deny.reference,
            )
        if has_dunder(t.qualname):
            return rules.finding(
                "PICKLE-INTROSPECT-001",
                self.artifact,
                f"The pickle reaches {t.full} through a dunder attribute, the path "
                "sandbox escapes take to builtins and other modules.",
                location=loc,
                evidence=evidence,
                callable=t.full,
            )
        if allow is not None and allow.action == "class" and not use.with_args:
            return rules.finding(
                "PICKLE-CLASS-001",
                self.artifact,
                f"The pickle rebuilds the class {t.full} (a whole-object checkpoint, not "
                "plain weights); its code runs from the installed package.",
                severity=Severity.LOW,
                location=loc,
                evidence=evidence,
                callable=t.full,
            )
        if is_class_name(t.full) and not use.with_args:
            return rules.finding(
                "PICKLE-CLASS-001",
                self.artifact,
                f"The pickle imports and rebuilds the class {t.full}, which is not on the "
                f"{self.profile} allowlist; loading runs whatever that class defines.",
                location=loc,
                evidence=evidence,
                callable=t.full,
            )
        return rules.finding(
            "PICKLE-UNKNOWN-001",
            self.artifact,
            f"The pickle {verb} {t.full}, which is not on the allowlist for {self.profile} files.",
            location=loc,
            evidence=evidence,
            callable=t.full,
        )


def _wrap(args: tuple[object, ...]) -> tuple[Value, ...]:
    return tuple(a if isinstance(a, Value) else Const(a) for a in args)


def _render(value: object) -> str:
    return value.render() if isinstance(value, Value) else Const(value).render()  # scan-safe: text
