"""Which recommended AI-BOM fields a document fills, for CycloneDX JSON and SPDX 3 JSON-LD.

One field list serves two purposes: a BOM we write names the fields it could not fill (no
licence in the card, no datasets declared) instead of inventing values, and
``modelscan sbom --check FILE`` scores any existing AI-BOM against the same list. Placeholders
are not filled fields: a ``NOASSERTION`` supplier, a local ``file://`` download location or a
content-digest version (what our SPDX writer must put in the AI profile's mandatory slots) all
count as missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]

#: How a BOM we write states its own score; such a statement names fields, it fills none.
COMPLETENESS_PREFIX = "AI-BOM completeness"


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    weight: int
    cyclonedx: Callable[[Doc], bool]
    spdx: Callable[[Doc], bool]


@dataclass(frozen=True)
class Score:
    format: str
    """``cyclonedx`` or ``spdx``."""
    score: int
    """0–100: weighted share of the fields filled."""
    filled: tuple[str, ...]
    missing: tuple[str, ...]

    def render(self) -> str:
        lines = [f"{COMPLETENESS_PREFIX} ({self.format}): {self.score}/100"]
        lines += [f"  ok       {f}" for f in self.filled]
        lines += [f"  missing  {f}" for f in self.missing]
        return "\n".join(lines) + "\n"


class CompletenessError(ValueError):
    """The file is not an AI-BOM this checker understands."""


# --- CycloneDX ------------------------------------------------------------------------------


def _models(doc: Doc) -> list[Doc]:
    return [
        c for c in _cdx_components(doc.get("components", [])) if c.get("type") == "machine-learning-model"
    ]


def _cdx_components(items: Any) -> list[Doc]:
    out: list[Doc] = []
    for c in items if isinstance(items, list) else []:
        if isinstance(c, dict):
            out.append(c)
            out.extend(_cdx_components(c.get("components", [])))
    return out


def _model(doc: Doc) -> Doc:
    models = _models(doc)
    return models[0] if models else {}


def _card_param(key: str) -> Callable[[Doc], bool]:
    return lambda doc: bool(_model(doc).get("modelCard", {}).get("modelParameters", {}).get(key))


def _cdx_hashes(doc: Doc) -> bool:
    # Top-level files: the bytes a loader reads. Members nested in a container file are
    # covered by the container's hash (scanners need not hash every member).
    files = [c for c in _model(doc).get("components", []) if isinstance(c, dict) and c.get("type") == "file"]
    return bool(files) and all(c.get("hashes") for c in files)


def _cdx_ext_ref(kind: str) -> Callable[[Doc], bool]:
    return lambda doc: any(r.get("type") == kind for r in _model(doc).get("externalReferences", []))


def _cdx_param_count(doc: Doc) -> bool:
    props = _model(doc).get("modelCard", {}).get("properties", []) + _model(doc).get("properties", [])
    return any("parameter" in str(p.get("name", "")).lower() for p in props)


def _cdx_supplier(doc: Doc) -> bool:
    supplier = _model(doc).get("supplier", {})
    return bool(supplier.get("name")) and supplier.get("name") != "NOASSERTION"


def _cdx_tool(doc: Doc) -> bool:
    tools = doc.get("metadata", {}).get("tools", {})
    return bool(tools.get("components") if isinstance(tools, dict) else tools)


def _cdx_scan(doc: Doc) -> bool:
    return "vulnerabilities" in doc or any(
        str(p.get("name", "")).endswith(":verdict") for p in doc.get("metadata", {}).get("properties", [])
    )


# --- SPDX 3 ---------------------------------------------------------------------------------


def _graph(doc: Doc) -> list[Doc]:
    graph = doc.get("@graph", [])
    return [n for n in graph if isinstance(n, dict)] if isinstance(graph, list) else []


def _ai(doc: Doc) -> Doc:
    return next((n for n in _graph(doc) if n.get("type") == "ai_AIPackage"), {})


def _by_id(doc: Doc) -> dict[str, Doc]:
    return {str(n.get("spdxId", n.get("@id"))): n for n in _graph(doc)}


def _rel(kind: str) -> Callable[[Doc], bool]:
    def check(doc: Doc) -> bool:
        model = _ai(doc).get("spdxId")
        return any(n.get("relationshipType") == kind and n.get("from") == model for n in _graph(doc))

    return check


def _spdx_supplier(doc: Doc) -> bool:
    supplier = _by_id(doc).get(str(_ai(doc).get("suppliedBy")), {})
    return bool(supplier.get("name")) and supplier.get("name") != "NOASSERTION"


def _spdx_hashes(doc: Doc) -> bool:
    nodes = _by_id(doc)
    members = {
        ref
        for n in _graph(doc)
        if n.get("relationshipType") == "contains"
        and nodes.get(str(n.get("from")), {}).get("type") == "software_File"
        for ref in n.get("to", [])
    }
    files = [n for n in _graph(doc) if n.get("type") == "software_File" and n.get("spdxId") not in members]
    return bool(files) and all(n.get("verifiedUsing") for n in files)


def _spdx_version(doc: Doc) -> bool:
    version = str(_ai(doc).get("software_packageVersion", ""))
    return bool(version) and not version.startswith("sha256:")


def _spdx_download(doc: Doc) -> bool:
    return str(_ai(doc).get("software_downloadLocation", "")).startswith(("https://", "http://"))


def _spdx_hyper(key: str) -> Callable[[Doc], bool]:
    return lambda doc: any(e.get("key") == key for e in _ai(doc).get("ai_hyperparameter", []))


def _spdx_creation(key: str) -> Callable[[Doc], bool]:
    return lambda doc: any(n.get("type") == "CreationInfo" and n.get(key) for n in _graph(doc))


def _spdx_signature(doc: Doc) -> bool:
    model = _ai(doc).get("spdxId")
    return any(
        n.get("type") == "Annotation"
        and n.get("subject") == model
        and "signature" in str(n.get("statement", "")).lower()
        and not str(n.get("statement", "")).startswith(COMPLETENESS_PREFIX)
        for n in _graph(doc)
    )


def _spdx_scan(doc: Doc) -> bool:
    return any(
        str(n.get("type", "")).startswith("security_") or "verdict" in str(n.get("statement", ""))
        for n in _graph(doc)
    )


#: The recommended fields, weighted 3 (identity and integrity), 2 (what the model is), 1.
FIELDS: tuple[Field, ...] = (
    Field("name", "model name", 3, lambda d: bool(_model(d).get("name")), lambda d: bool(_ai(d).get("name"))),
    Field(
        "version", "pinned model version (commit)", 3, lambda d: bool(_model(d).get("version")), _spdx_version
    ),
    Field(
        "purl",
        "package URL",
        2,
        lambda d: bool(_model(d).get("purl")),
        lambda d: bool(_ai(d).get("software_packageUrl")),
    ),
    Field("supplier", "supplier", 2, _cdx_supplier, _spdx_supplier),
    Field("license", "license", 3, lambda d: bool(_model(d).get("licenses")), _rel("hasDeclaredLicense")),
    Field("file-hashes", "SHA-256 of every top-level file", 3, _cdx_hashes, _spdx_hashes),
    Field("download-location", "download location", 2, _cdx_ext_ref("distribution"), _spdx_download),
    Field(
        "architecture",
        "model architecture",
        2,
        _card_param("modelArchitecture"),
        lambda d: bool(_ai(d).get("ai_typeOfModel")),
    ),
    # SPDX has one ``typeOfModel`` list for both architecture and family.
    Field(
        "family",
        "architecture family",
        1,
        _card_param("architectureFamily"),
        lambda d: bool(_ai(d).get("ai_typeOfModel")),
    ),
    Field("task", "task", 2, _card_param("task"), lambda d: bool(_ai(d).get("ai_domain"))),
    Field("datasets", "training datasets", 2, _card_param("datasets"), _rel("trainedOn")),
    Field("parameter-count", "parameter count", 1, _cdx_param_count, _spdx_hyper("parameter_count")),
    Field(
        "timestamp",
        "creation time",
        1,
        lambda d: bool(d.get("metadata", {}).get("timestamp")),
        _spdx_creation("created"),
    ),
    Field("tool", "generating tool", 1, _cdx_tool, _spdx_creation("createdUsing")),
    Field("signature", "signature reference", 2, _cdx_ext_ref("digital-signature"), _spdx_signature),
    Field("security-scan", "security scan result", 2, _cdx_scan, _spdx_scan),
)


def detect_format(doc: Doc) -> str:
    if doc.get("bomFormat") == "CycloneDX":
        return "cyclonedx"
    if "@graph" in doc and "spdx" in str(doc.get("@context", "")).lower():
        return "spdx"
    raise CompletenessError("not a CycloneDX JSON or SPDX 3 JSON-LD document")


def score_document(doc: Doc, fields: Iterable[Field] = FIELDS) -> Score:
    fmt = detect_format(doc)
    filled, missing, got, total = [], [], 0, 0
    for item in fields:
        check = item.cyclonedx if fmt == "cyclonedx" else item.spdx
        try:
            ok = check(doc)
        except (AttributeError, TypeError):
            ok = False  # a field of the wrong shape is not a filled field
        total += item.weight
        if ok:
            got += item.weight
            filled.append(item.id)
        else:
            missing.append(item.id)
    return Score(fmt, round(100 * got / total) if total else 0, tuple(filled), tuple(missing))


def score_text(text: str) -> Score:
    """Score a BOM given as text (``modelscan sbom --check FILE``)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompletenessError(
            f"not JSON ({exc.msg} at line {exc.lineno}); XML BOMs are not scored"
        ) from None
    if not isinstance(doc, dict):
        raise CompletenessError("a BOM is a JSON object")
    return score_document(doc)
