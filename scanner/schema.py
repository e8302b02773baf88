"""Validating plain data against the JSON Schema keywords our published schemas use.

``docs/policy-schema.json`` is the contract for policy files. The ``jsonschema`` package would
add seconds to every command that reads a policy (it compiles format grammars on import), so
this module interprets the keywords that schema uses — ``type``, ``enum``, ``properties``,
``additionalProperties``, ``required``, ``propertyNames``, ``pattern``, ``minLength``,
``items``, ``minItems`` — and refuses a schema that uses any other, so the two can never
silently disagree (``tests/test_policy.py`` checks them against ``jsonschema`` on a corpus).
An error names the path of the offending value, which callers turn into a file line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]

_KNOWN = frozenset(
    {
        "$schema",
        "$id",
        "title",
        "description",
        "type",
        "enum",
        "properties",
        "additionalProperties",
        "required",
        "propertyNames",
        "pattern",
        "minLength",
        "items",
        "minItems",
    }
)
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}


class SchemaError(Exception):
    """The schema itself uses a keyword this validator does not implement."""


@dataclass(frozen=True)
class Invalid:
    """Why a document does not match: where (``path``; a key's own line when ``at_key``)."""

    path: Path
    message: str
    at_key: bool = False


def validate(doc: object, schema: Mapping[str, Any]) -> Invalid | None:
    """The first way ``doc`` breaks ``schema`` (document order), or None when it matches."""
    return _check(doc, schema, ())


def _check(value: object, schema: Mapping[str, Any], path: Path) -> Invalid | None:
    unknown = set(schema) - _KNOWN
    if unknown:
        raise SchemaError(f"schema keyword(s) {sorted(unknown)} are not implemented")
    where = _name(path)
    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        if not any(_is(value, n) for n in names):
            return Invalid(path, f"{where} must be {' or '.join(_A[n] for n in names)}, not {_shown(value)}")
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        choices = ", ".join(str(e) for e in schema["enum"])
        return Invalid(path, f"{where} must be one of: {choices} (not {_shown(value)})")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return Invalid(path, f"{where} must not be empty")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return Invalid(path, f"{where} {value!r} does not have the expected form ({schema['pattern']})")
    if isinstance(value, list):
        return _check_array(value, schema, path)
    if isinstance(value, dict):
        return _check_object(value, schema, path)
    return None


def _check_array(value: Sequence[object], schema: Mapping[str, Any], path: Path) -> Invalid | None:
    if len(value) < schema.get("minItems", 0):
        return Invalid(path, f"{_name(path)} must list at least {schema['minItems']} item(s)")
    items = schema.get("items")
    for i, item in enumerate(value):
        if items is not None and (bad := _check(item, items, (*path, i))) is not None:
            return bad
    return None


def _check_object(value: Mapping[object, object], schema: Mapping[str, Any], path: Path) -> Invalid | None:
    properties: Mapping[str, Any] = schema.get("properties", {})
    missing = [k for k in schema.get("required", ()) if k not in value]
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    for key, item in value.items():
        if not isinstance(key, str):
            return Invalid((*path, str(key)), f"key {key!r} in {_name(path)} must be a string", at_key=True)
        child = (*path, key)
        if names is not None and (bad := _check(key, names, child)) is not None:
            return Invalid(child, f"key {bad.message.split(' ', 1)[1]}", at_key=True)
        if key in properties:
            sub: Mapping[str, Any] | None = properties[key]
        elif extra is False:
            return Invalid(child, _unknown_key(key, path, properties), at_key=True)
        else:
            sub = extra if isinstance(extra, Mapping) else None
        if sub is not None and (bad := _check(item, sub, child)) is not None:
            return bad
    if missing:
        return Invalid(path, f"{_name(path)} needs a {' and a '.join(repr(k) for k in missing)}")
    return None


def _unknown_key(key: str, path: Path, properties: Mapping[str, Any]) -> str:
    import difflib  # only on the error path: it is not needed to read a valid policy

    close = difflib.get_close_matches(key, list(properties), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(properties)})"
    where = f" in {_name(path)}" if path else ""
    return f"unknown key {key!r}{where}{hint}"


_A = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "null": "empty",
}


def _is(value: object, type_name: str) -> bool:
    if isinstance(value, bool) and type_name in ("integer", "number"):
        return False  # JSON Schema: true is not 1
    return isinstance(value, _TYPES[type_name])


def _same(value: object, expected: object) -> bool:
    return type(value) is type(expected) and value == expected


def _name(path: Path) -> str:
    if not path:
        return "the policy"
    return (
        "'"
        + "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))
        + "'"
    )


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
