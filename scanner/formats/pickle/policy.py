"""The callable policy: allowlists per loader profile and a denylist that only sets severity.

Rules are data (``rules/pickle/*.yaml``, kind ``pickle-callables``); each entry names callables
and one action:

* ``deny: [patterns]`` with ``severity``, ``category``, ``why``, ``reference`` (and ``nested:
  true`` for loads-like callables whose byte-string argument is scanned as a pickle). A deny
  pattern matches the name and everything under it (``asyncio`` covers
  ``asyncio.unix_events._UnixSubprocessTransport._start``).
* ``allow: [patterns]`` for ``profiles`` (``pickle`` means every profile). Exact names, or a
  prefix when the pattern ends in ``.*``; ``classes_only`` restricts a prefix to class names;
  ``args`` constrains each positional argument (``allowlisted`` — an allowlisted callable,
  ``constant``, ``any``, or ``{one_of: [...]}``).
* ``class: [patterns]``: classes a profile expects to see rebuilt (``torch.nn.modules.*`` in a
  full-model checkpoint) — reported low, not as an unknown callable.

An allow overrides a deny only when it names the callable exactly and the deny matched that
same name (not a tail reached through an attribute walk); a prefix allow never overrides a deny.
Anything unmatched is an unknown callable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scanner.model import Severity
from scanner.rules import RuleSet

PROFILES = ("pickle", "torch", "joblib", "numpy")


@dataclass(frozen=True)
class CallableRule:
    """One pattern of one rule entry."""

    pattern: str
    action: str
    """``allow``, ``deny`` or ``class``."""
    profiles: frozenset[str]
    severity: Severity = Severity.MEDIUM
    category: str = ""
    why: str = ""
    reference: str | None = None
    classes_only: bool = False
    nested: bool = False
    name_only: bool = False
    """Allowed as a reference (a class argument of a rebuild helper), never as a callee:
    ``numpy.memmap`` rebuilt through ``_reconstruct`` is data; *calling* it creates files."""
    args: tuple[object, ...] | None = None
    """Constraints on positional arguments, or None for no constraint."""

    @property
    def specificity(self) -> int:
        return self.pattern.rstrip(".*").count(".") + 1


def is_class_name(full: str) -> bool:
    """Classes are CapWords by convention; private ones too (sklearn's ``_BinMapper``)."""
    last = full.rsplit(".", 1)[-1].lstrip("_")
    return last[:1].isupper()


def has_dunder(qualname: str) -> bool:
    return any(p.startswith("__") and p.endswith("__") and len(p) > 4 for p in qualname.split("."))


class CallablePolicy:
    """Matches fully qualified callable names against the pickle rules."""

    def __init__(self, entries: Sequence[Mapping[str, Any]], aliases: Mapping[str, str]) -> None:
        self.deny: dict[str, CallableRule] = {}
        self.allow_exact: dict[str, list[CallableRule]] = {}
        self.allow_prefix: dict[str, list[CallableRule]] = {}
        self.aliases = dict(aliases)
        for entry in entries:
            for rule in _rules_of(entry):
                if rule.action == "deny":
                    self.deny[rule.pattern] = rule
                elif rule.pattern.endswith(".*"):
                    self.allow_prefix.setdefault(rule.pattern[:-2], []).append(rule)
                else:
                    self.allow_exact.setdefault(rule.pattern, []).append(rule)

    @classmethod
    def from_rules(cls, rules: RuleSet) -> CallablePolicy:
        aliases: dict[str, str] = {}
        for entry in rules.entries("pickle-aliases"):
            aliases[str(entry["alias"])] = str(entry["module"])
        return cls(rules.entries("pickle-callables"), aliases)

    def normalize(self, full: str) -> str:
        module, dot, rest = full.partition(".")
        return self.aliases.get(module, module) + dot + rest

    def candidates(self, module: str, qualname: str) -> list[str]:
        """Names a reached object may really be: itself, and for an attribute chain every
        tail (``pathlib`` + ``os.system`` is ``os.system``; find_class walks ``getattr``)."""
        full = self.normalize(f"{module}.{qualname}" if qualname else module)
        out = [full]
        parts = qualname.split(".") if qualname else []
        for i in range(0 if len(parts) > 1 else 1, len(parts)):
            out.append(self.normalize(".".join(parts[i:])))
        return out

    def denied(self, names: Sequence[str]) -> CallableRule | None:
        best: CallableRule | None = None
        for name in names:
            parts = name.split(".")
            for n in range(len(parts), 0, -1):
                rule = self.deny.get(".".join(parts[:n]))
                if rule is not None:
                    if (
                        best is None
                        or rule.specificity > best.specificity
                        or (rule.specificity == best.specificity and rule.severity > best.severity)
                    ):
                        best = rule
                    break
        return best

    def allowed(self, full: str, profile: str, qualname: str = "") -> CallableRule | None:
        """The allow (or class) rule for ``full`` in ``profile``; exact before prefix.

        A prefix rule (``sklearn.*``) covers names a module defines, never an attribute walk
        that ``find_class`` would follow from there: ``transformers.training_args`` +
        ``torch.ctypes.CDLL`` reaches ctypes through a module attribute. A dotted
        ``qualname`` matches a prefix rule only when every segment is a class (nested classes).
        """
        full = self.normalize(full)
        for rule in self.allow_exact.get(full, ()):
            if _in_profile(rule, profile):
                return rule
        if has_dunder(qualname) or (
            "." in qualname and not all(is_class_name(part) for part in qualname.split("."))
        ):
            return None
        parts = full.split(".")
        is_class = is_class_name(full)
        for n in range(len(parts) - 1, 0, -1):
            for rule in self.allow_prefix.get(".".join(parts[:n]), ()):
                if _in_profile(rule, profile) and (is_class or not rule.classes_only):
                    return rule
        return None


def _in_profile(rule: CallableRule, profile: str) -> bool:
    return "pickle" in rule.profiles or profile in rule.profiles


def _rules_of(entry: Mapping[str, Any]) -> list[CallableRule]:
    profiles = frozenset(str(p) for p in entry.get("profiles", ["pickle"]))
    common: dict[str, Any] = {
        "profiles": profiles,
        "severity": Severity.parse(str(entry.get("severity", "medium"))),
        "category": str(entry.get("category", "")),
        "why": str(entry.get("why", "")),
        "reference": str(entry["reference"]) if entry.get("reference") else None,
        "classes_only": bool(entry.get("classes_only", False)),
        "nested": bool(entry.get("nested", False)),
        "name_only": bool(entry.get("name_only", False)),
        "args": tuple(entry["args"]) if "args" in entry else None,
    }
    out: list[CallableRule] = []
    for action in ("deny", "allow", "class"):
        for pattern in entry.get(action, ()) or ():
            out.append(CallableRule(pattern=str(pattern), action=action, **common))
    return out
