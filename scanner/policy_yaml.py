"""Reading a policy file strictly: YAML with its line marks, checked against the schema.

The YAML is composed with its node marks and checked against the published schema
(``docs/policy-schema.json``, shipped as ``rules/policy-schema.json``). A repeated key, an
unknown key, a wrong type or a value outside its enumeration is a ``PolicyError`` naming the
file and the line (exit 2), never a key silently ignored. ``scanner.policy`` builds the typed
policy from the checked document and reports the values the schema cannot judge through
``PolicyDocument.error`` with the same precision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner import datacache
from scanner.rules import builtin_rules_dir
from scanner.schema import validate

if TYPE_CHECKING:
    import yaml

Key = tuple[str | int, ...]
"""A path into the document: mapping keys and list indexes."""


class PolicyError(Exception):
    """A policy file is unreadable, malformed or asks for something impossible (exit 2)."""


@cache
def _loader() -> type[yaml.SafeLoader]:
    """Safe loading without YAML 1.1 timestamps: ``expires: 2026-13-45`` stays a string the
    checks can reject with its line, instead of a constructor error without one. PyYAML is
    imported here, on a data cache miss only (see ``read_policy_document``)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


@dataclass(frozen=True)
class PolicyDocument:
    """A policy file that matches the schema, with the line of every key and value."""

    name: str
    """The file's path, as errors name it."""
    data: Mapping[str, Any]
    """The policy mapping (unwrapped from ``{kind: policy, entries: [...]}``)."""
    marks: Mapping[Key, tuple[int, int]]
    """Path -> (line of the key, line of the value), 1-based."""

    def error(self, path: Key, message: str, at_key: bool = False) -> PolicyError:
        """A ``PolicyError`` for the value (or key) at ``path``: ``file:line: message``."""
        while path not in self.marks and path:
            path = path[:-1]
        key_line, value_line = self.marks.get(path, (0, 0))
        return PolicyError(f"{self.name}:{key_line if at_key else value_line}: {message}")


@cache
def policy_schema() -> Mapping[str, Any]:
    """The published policy schema."""
    schema: Mapping[str, Any] = json.loads(
        (builtin_rules_dir() / "policy-schema.json").read_text(encoding="utf-8")
    )
    return schema


def read_policy_document(path: str | Path) -> PolicyDocument:
    """Read ``path`` and check it against the schema (``PolicyError`` otherwise)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"cannot read policy {name}: it is not UTF-8 text") from None
    key = datacache.key_of(
        [name.encode(), text.encode(), Path(__file__).read_bytes(), json.dumps(policy_schema()).encode()]
    )
    cached = datacache.load("policy", key)
    if isinstance(cached, dict):  # this exact file passed every check below before
        marks = {tuple(k): (int(v[0]), int(v[1])) for k, v in cached["marks"]}
        return PolicyDocument(name, cached["data"], marks)
    data, marks = _compose(text, name)
    data, marks = _unwrap(PolicyDocument(name, {}, marks), data)
    doc = PolicyDocument(name, data if isinstance(data, dict) else {}, marks)
    invalid = validate(data, policy_schema())
    if invalid is not None:
        raise doc.error(invalid.path, invalid.message, invalid.at_key)
    datacache.store("policy", key, {"data": data, "marks": [[list(k), list(v)] for k, v in marks.items()]})
    return doc


def _compose(text: str, name: str) -> tuple[object, dict[Key, tuple[int, int]]]:
    import yaml

    marks: dict[Key, tuple[int, int]] = {}
    try:
        loader = _loader()(text)
        try:
            node = loader.get_single_node()
            data = _plain(node, loader, (), marks, name, set()) if node is not None else {}
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 0
        raise PolicyError(f"{name}:{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{name}: not valid YAML: {exc}") from None
    return data, marks


def _plain(
    node: yaml.Node,
    loader: yaml.SafeLoader,
    path: Key,
    marks: dict[Key, tuple[int, int]],
    name: str,
    seen: set[int],
) -> object:
    """The node as plain data, recording each value's line; a repeated key is an error (YAML
    keeps the last one silently, so the policy would not be what it reads like), and so is an
    alias (``*a``): a policy has no use for one, and a few nested ones expand to billions of
    nodes."""
    import yaml

    line = node.start_mark.line + 1
    if id(node) in seen:
        raise PolicyError(f"{name}:{line}: YAML aliases (*name) are not allowed in a policy")
    seen.add(id(node))
    marks.setdefault(path, (line, line))
    if isinstance(node, yaml.MappingNode):
        out: dict[object, object] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if isinstance(key, (list, dict)):
                raise PolicyError(f"{name}:{key_line}: a key must be plain text")
            if key in out:
                raise PolicyError(f"{name}:{key_line}: key {key!r} appears twice")
            child = (*path, str(key))
            marks[child] = (key_line, value_node.start_mark.line + 1)
            out[key] = _plain(value_node, loader, child, marks, name, seen)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, loader, (*path, i), marks, name, seen) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _unwrap(doc: PolicyDocument, data: object) -> tuple[object, dict[Key, tuple[int, int]]]:
    """The rules-file shape ``{kind: policy, entries: [POLICY]}`` as the bare ``POLICY``."""
    if not (isinstance(data, dict) and "kind" in data):
        return data, dict(doc.marks)
    if data.get("kind") != "policy" or set(data) - {"kind", "entries"}:
        raise doc.error((), "a wrapped policy is {kind: policy, entries: [ ... ]} and nothing else")
    entries = data.get("entries")
    if not isinstance(entries, list) or len(entries) != 1:
        raise doc.error(("entries",), "'entries' must hold exactly one policy")
    prefix: Key = ("entries", 0)
    return entries[0], {k[2:]: v for k, v in doc.marks.items() if k[:2] == prefix}
