"""Keras model configs (``config.json`` of a ``.keras`` zip, ``model_config`` of a legacy H5).

Loading a Keras model *is* running its config: ``module``/``class_name`` are imported and
called (CVE-2025-1550 named arbitrary modules past safe_mode), ``Lambda`` layers carry
marshal-ed bytecode (CVE-2024-3660; legacy H5 ignores safe_mode, CVE-2025-9905), and some
Keras classes themselves load foreign code (``TFSMLayer``, ``TorchModuleWrapper``,
``get_file``). The config is walked as JSON; Lambda bytecode is never unmarshalled — the names
it references are read from the raw bytes as evidence. Allowlists are in ``rules/formats/keras.yaml``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scanner.formats.interface import Analysis, Analyzer, Context, Recognizer
from scanner.model import FactValue, Finding, Location, Severity
from scanner.rules import RuleSet
from scanner.sources.interface import Node

KERAS_CONFIG = "keras-config"
"""The format of a JSON file Keras reads as a model config."""
_MAX_NODES = 1_000_000
_NAMES = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]{2,}")


@dataclass(frozen=True)
class KerasRules:
    prefixes: tuple[str, ...]
    dangerous: frozenset[str]
    gadgets: frozenset[str]
    classes: frozenset[str]


def keras_rules(rules: RuleSet) -> KerasRules:
    by: dict[str, set[str]] = {}
    for entry in rules.entries("keras-allowlist"):
        by.setdefault(str(entry.get("category")), set()).update(str(n) for n in entry.get("names", ()))
    return KerasRules(
        tuple(sorted(by.get("module-prefixes", ()))),
        frozenset(by.get("dangerous-modules", ())),
        frozenset(by.get("gadgets", ())),
        frozenset(by.get("classes", ())),
    )


def analyze_config_text(text: str, path: str, context: Context) -> Analysis:
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Analysis(
            findings=(
                context.finding(
                    "KERAS-PARSE-001",
                    path,
                    "The Keras model config is not valid JSON, so it was not inspected.",
                    evidence=str(exc)[:200],
                ),
            )
        )
    return analyze_config(config, path, context)


def analyze_config(config: object, path: str, context: Context) -> Analysis:
    rules = keras_rules(context.rules)
    found: list[Finding] = []
    layers: dict[str, int] = {}
    for pointer, obj in _objects(config):
        if isinstance(obj, str):
            if obj in rules.gadgets or any(g in obj for g in ("enable_unsafe_deserialization", "get_file")):
                found.append(
                    context.finding(
                        "KERAS-GADGET-001",
                        path,
                        f"The config names `{obj}`, a known Keras safe_mode bypass.",
                        location=Location(pointer=pointer),
                        evidence=obj[:200],
                    )
                )
            continue
        cls = obj.get("class_name")
        if not isinstance(cls, str):
            continue
        layers[cls] = layers.get(cls, 0) + 1
        found.extend(_check_object(obj, cls, pointer, path, rules, context))
    facts: dict[str, FactValue] = {"framework": "keras", "classes": dict(sorted(layers.items()))}
    if isinstance(config, dict) and isinstance(config.get("class_name"), str):
        facts["architecture"] = config["class_name"]
    return Analysis(findings=tuple(found), facts=facts)


def _check_object(
    obj: dict[str, Any], cls: str, pointer: str, path: str, rules: KerasRules, context: Context
) -> list[Finding]:
    out: list[Finding] = []
    loc = Location(pointer=pointer)
    module = obj.get("module")
    registered = obj.get("registered_name")
    if cls in ("Lambda", "__lambda__"):
        out.append(
            context.finding(
                "KERAS-LAMBDA-001",
                path,
                "A Lambda carries Python code that runs when the model is loaded.",
                location=loc,
                evidence=_lambda_evidence(obj.get("config")),
                reference="CVE-2024-3660",
            )
        )
    if cls in rules.gadgets:
        out.append(
            context.finding(
                "KERAS-GADGET-001",
                path,
                f"`{cls}` loads foreign code or models at load time, past safe_mode.",
                location=loc,
                evidence=cls,
            )
        )
    if isinstance(module, str) and module and not _is_keras(module, rules):
        root = module.split(".")[0]
        sev = Severity.CRITICAL if root in rules.dangerous else Severity.HIGH
        out.append(
            context.finding(
                "KERAS-MODULE-001",
                path,
                f"The config makes Keras import `{module}` and call `{cls}` from it.",
                severity=sev,
                location=loc,
                evidence=f"{module}.{obj.get('config') if cls == 'function' else cls}"[:200],
                callable=f"{module}.{cls}",
                reference="CVE-2025-1550",
            )
        )
    elif (
        module is None
        and cls not in rules.classes
        and cls not in ("Lambda", "__lambda__")
        and cls not in rules.gadgets
    ):
        out.append(
            context.finding(
                "KERAS-CUSTOM-001",
                path,
                f"`{cls}` is not a built-in Keras class; loading needs custom code.",
                location=loc,
                evidence=cls,
            )
        )
    if isinstance(registered, str) and ">" in registered and not registered.startswith("keras"):
        out.append(
            context.finding(
                "KERAS-CUSTOM-001",
                path,
                f"The config needs the registered custom object `{registered}`.",
                location=loc,
                evidence=registered,
            )
        )
    inner = obj.get("config")
    if (
        isinstance(inner, dict)
        and inner.get("function_type") == "function"
        and isinstance(inner.get("module"), str)
    ):
        fn_module = inner["module"]
        if not _is_keras(fn_module, rules):
            sev = Severity.CRITICAL if fn_module.split(".")[0] in rules.dangerous else Severity.HIGH
            out.append(
                context.finding(
                    "KERAS-MODULE-001",
                    path,
                    f"A Lambda imports its function from `{fn_module}`.",
                    severity=sev,
                    location=loc,
                    evidence=f"{fn_module}.{inner.get('function')}"[:200],
                    reference="CVE-2024-3660",
                )
            )
    return out


def _is_keras(module: str, rules: KerasRules) -> bool:
    return any(module == p or module.startswith(p + ".") for p in rules.prefixes)


def _lambda_evidence(config: object) -> str:
    """Names referenced by a Lambda's marshal-ed code, read from its bytes (never unmarshalled)."""
    code: object = None
    if isinstance(config, dict):
        fn = config.get("function", config.get("code"))
        if isinstance(fn, dict):
            fn = fn.get("config", {}).get("code") if isinstance(fn.get("config"), dict) else None
        code = fn[0] if isinstance(fn, list) and fn else fn
    if not isinstance(code, str):
        return "Lambda (code not embedded)"
    try:
        raw = base64.b64decode(code.encode("ascii"), validate=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return f"source: {code[:200]}"
    names = sorted({m.decode() for m in _NAMES.findall(raw)})
    return ("names in bytecode: " + ", ".join(names))[:300]


def _objects(root: object) -> Iterator[tuple[str, Any]]:
    """Every dict and string in the config with its JSON pointer (iterative, bounded)."""
    stack: list[tuple[str, object]] = [("", root)]
    seen = 0
    while stack and seen < _MAX_NODES:
        pointer, obj = stack.pop()
        seen += 1
        if isinstance(obj, dict):
            yield pointer, obj
            for key, value in reversed(list(obj.items())):
                stack.append((f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}", value))
        elif isinstance(obj, list):
            for i in range(len(obj) - 1, -1, -1):
                stack.append((f"{pointer}/{i}", obj[i]))
        elif isinstance(obj, str):
            yield pointer, obj


def is_keras_config(node: Node, context: Context) -> bool:
    """Whether a JSON file is a serialized Keras object (top-level ``class_name`` + ``config``)."""
    if node.blob.size > context.limits.max_text:
        return False
    try:
        doc = json.loads(node.blob.read_at(0, node.blob.size))
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("class_name"), str) and "config" in doc


class KerasConfigRecognizer(Recognizer):
    """A ``config.json`` that Keras reads as code (CVE-2025-1550): inside a ``.keras`` zip
    (the container's loader hint says so) or a serialized Keras object on its own (keras_hub
    presets, an unzipped ``.keras``)."""

    def recognize(self, node: Node, context: Context) -> str | None:
        name = node.artifact.path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
        if name == "config.json" and (node.loader_hint == "keras" or is_keras_config(node, context)):
            return KERAS_CONFIG
        return None


class KerasConfigAnalyzer(Analyzer):
    """A Keras model config (recognized by ``KerasConfigRecognizer``)."""

    formats = (KERAS_CONFIG,)

    def analyze(self, node: Node, context: Context) -> Analysis:
        size = node.blob.size
        if size > context.limits.max_text:
            return Analysis(
                findings=(
                    context.finding(
                        "SCAN-LIMIT-001",
                        node.artifact.path,
                        "The Keras config exceeds the text limit and was not inspected.",
                    ),
                )
            )
        return analyze_config_text(
            node.blob.read_at(0, size).decode("utf-8", "replace"), node.artifact.path, context
        )


RECOGNIZER = KerasConfigRecognizer()
ANALYZER = KerasConfigAnalyzer()
