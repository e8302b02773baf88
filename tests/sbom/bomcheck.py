"""Checks every AI-BOM test uses: schema validation plus what the schemas do not check."""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.validation.xml import XmlValidator

from tests.conftest import missing_shared

SCHEMAS = {"1.6": SchemaVersion.V1_6, "1.7": SchemaVersion.V1_7}
SPDX_SCHEMA = (
    Path(__file__).resolve().parents[3] / "shared" / "testdata" / "schemas" / "spdx-3.0.1" / "schema.json"
)


def assert_valid_cyclonedx(text: str, version: str, xml: bool) -> None:
    validator = XmlValidator(SCHEMAS[version]) if xml else JsonStrictValidator(SCHEMAS[version])
    error = validator.validate_str(text)
    assert error is None, f"CycloneDX {version} {'XML' if xml else 'JSON'} invalid: {error}"


def walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON object in ``node``, depth first."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            out.extend(walk(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(walk(value))
    return out


def assert_refs_sound(doc: dict[str, Any]) -> None:
    """bom-refs unique, and every ref / affects / dependsOn / subject points at one of them."""
    refs = [o["bom-ref"] for o in walk(doc) if isinstance(o.get("bom-ref"), str)]
    duplicates = {r for r in refs if refs.count(r) > 1}
    assert not duplicates, f"duplicate bom-refs: {duplicates}"
    defined = set(refs)
    used: list[str] = []
    for obj in walk(doc):
        if isinstance(obj.get("ref"), str):
            used.append(obj["ref"])
        used.extend(r for r in obj.get("dependsOn", []) if isinstance(r, str))
        if isinstance(obj.get("subjects"), list):
            used.extend(s for s in obj["subjects"] if isinstance(s, str))
    dangling = sorted(set(used) - defined)
    assert not dangling, f"references to undefined bom-refs: {dangling}"


def assert_xml_refs_sound(text: str) -> None:
    root = ET.fromstring(text)
    refs = [e.get("bom-ref") for e in root.iter() if e.get("bom-ref")]
    assert len(refs) == len(set(refs)), "duplicate bom-refs in XML"
    used = [e.get("ref") for e in root.iter() if e.get("ref")]
    used += [e.text for e in root.iter() if e.tag.endswith("}ref") and e.text]
    assert set(used) <= set(refs), f"dangling XML refs: {set(used) - set(refs)}"


def spdx_schema() -> dict[str, Any]:
    if not SPDX_SCHEMA.is_file():
        missing_shared(f"SPDX 3.0.1 schema not found at {SPDX_SCHEMA}")
    return _load_spdx_schema()


@functools.cache
def _load_spdx_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SPDX_SCHEMA.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _class_validator(kind: str) -> Any:
    import jsonschema

    schema = _load_spdx_schema()
    return jsonschema.Draft202012Validator(
        {
            "$schema": schema["$schema"],
            "$defs": schema["$defs"],
            "type": "object",
            "$ref": f"#/$defs/{kind}",
            "unevaluatedProperties": False,
        }
    )


def spdx_schema_errors(doc: dict[str, Any]) -> list[str]:
    """Errors of ``doc`` against the SPDX 3.0.1 JSON schema, checked node by node.

    The schema validates each ``@graph`` node against ``anyOf`` *every* class with
    ``unevaluatedProperties: false``, which makes jsonschema evaluate all ~450 branches per
    node (about 20 s per document). A node that is valid against its own declared class with
    no unevaluated property satisfies that ``anyOf`` too, so checking each node against its
    own class is sufficient for validity; ``test_node_by_node_validation_agrees_with_full_schema``
    keeps this honest against the whole schema.
    """
    schema = spdx_schema()
    errors = []
    if set(doc) != {"@context", "@graph"}:
        errors.append(f"top-level keys {sorted(doc)}")
    if doc.get("@context") != schema["properties"]["@context"]["const"]:
        errors.append("wrong @context")
    for node in doc.get("@graph", []):
        kind = node.get("type") if isinstance(node, dict) else None
        if not isinstance(kind, str) or kind not in schema["$defs"]:
            errors.append(f"node of unknown type {kind!r}")
            continue
        errors.extend(f"{kind}: {e.message}" for e in _class_validator(kind).iter_errors(node))
    return errors


def full_spdx_schema_errors(doc: dict[str, Any]) -> list[str]:
    import jsonschema

    return [e.message for e in jsonschema.Draft202012Validator(spdx_schema()).iter_errors(doc)]


def assert_valid_spdx(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    errors = spdx_schema_errors(doc)
    assert not errors, f"SPDX 3.0.1 schema errors: {errors[:5]}"
    return doc
