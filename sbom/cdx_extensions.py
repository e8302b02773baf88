"""CycloneDX parts that cyclonedx-python-lib 11.12 cannot model yet, spliced in after it serializes.

The library has no component ``modelCard``, no component ``data`` and no top-level
``annotations`` (CycloneDX/cyclonedx-python-lib#912, open PR #914). This module is the one
place that knows about them: a few frozen dataclasses for the subset we emit, and
``splice_json`` / ``splice_xml`` that insert them into the library's output at the positions
the 1.6/1.7 schemas require. Delete it once the library models these objects.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PerformanceMetric:
    type: str
    value: str
    slice: str | None = None


@dataclass(frozen=True)
class ModelCard:
    """``component.modelCard``: only what the scan actually learned; every field optional."""

    task: str | None = None
    architecture_family: str | None = None
    model_architecture: str | None = None
    dataset_refs: tuple[str, ...] = ()
    """bom-refs of ``data`` components the model was trained on."""
    performance_metrics: tuple[PerformanceMetric, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, value in (
            ("task", self.task),
            ("architectureFamily", self.architecture_family),
            ("modelArchitecture", self.model_architecture),
        ):
            if value:
                params[key] = value
        if self.dataset_refs:
            params["datasets"] = [{"ref": ref} for ref in self.dataset_refs]
        card: dict[str, Any] = {}
        if params:
            card["modelParameters"] = params
        if self.performance_metrics:
            card["quantitativeAnalysis"] = {
                "performanceMetrics": [_metric_json(m) for m in self.performance_metrics]
            }
        if self.properties:
            card["properties"] = [{"name": n, "value": v} for n, v in self.properties]
        return card

    def to_xml(self, ns: str) -> ET.Element:
        card = ET.Element(_q(ns, "modelCard"))
        if self.task or self.architecture_family or self.model_architecture or self.dataset_refs:
            params = ET.SubElement(card, _q(ns, "modelParameters"))
            for key, value in (
                ("task", self.task),
                ("architectureFamily", self.architecture_family),
                ("modelArchitecture", self.model_architecture),
            ):
                if value:
                    ET.SubElement(params, _q(ns, key)).text = value
            if self.dataset_refs:
                datasets = ET.SubElement(params, _q(ns, "datasets"))
                for ref in self.dataset_refs:
                    ET.SubElement(datasets, _q(ns, "ref")).text = ref
        if self.performance_metrics:
            analysis = ET.SubElement(card, _q(ns, "quantitativeAnalysis"))
            metrics = ET.SubElement(analysis, _q(ns, "performanceMetrics"))
            for metric in self.performance_metrics:
                element = ET.SubElement(metrics, _q(ns, "performanceMetric"))
                for key, value in _metric_json(metric).items():
                    ET.SubElement(element, _q(ns, key)).text = value
        if self.properties:
            props = ET.SubElement(card, _q(ns, "properties"))
            for name, value in self.properties:
                ET.SubElement(props, _q(ns, "property"), {"name": name}).text = value
        return card


@dataclass(frozen=True)
class ComponentData:
    """One ``component.data`` entry (for a ``data`` component: a declared dataset)."""

    name: str
    type: str = "dataset"
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"type": self.type, "name": self.name}
        if self.description:
            out["description"] = self.description
        return out

    def to_xml(self, ns: str) -> ET.Element:
        element = ET.Element(_q(ns, "data"))
        for key, value in self.to_json().items():
            ET.SubElement(element, _q(ns, key)).text = value
        return element


@dataclass(frozen=True)
class Annotation:
    """A top-level ``annotations[]`` entry written by modelscan about some bom-refs."""

    bom_ref: str
    subjects: tuple[str, ...]
    timestamp: str
    """ISO-8601 ``dateTime``; the schema requires one."""
    text: str
    tool_name: str = "modelscan"
    tool_version: str = ""

    def to_json(self) -> dict[str, Any]:
        # The annotator component deliberately has no bom-ref: the tool's bom-ref already
        # belongs to metadata.tools, and XML validation rejects a duplicate key.
        tool: dict[str, Any] = {"type": "application", "name": self.tool_name}
        if self.tool_version:
            tool["version"] = self.tool_version
        return {
            "bom-ref": self.bom_ref,
            "subjects": list(self.subjects),
            "annotator": {"component": tool},
            "timestamp": self.timestamp,
            "text": self.text,
        }

    def to_xml(self, ns: str) -> ET.Element:
        element = ET.Element(_q(ns, "annotation"), {"bom-ref": self.bom_ref})
        subjects = ET.SubElement(element, _q(ns, "subjects"))
        for ref in self.subjects:
            ET.SubElement(subjects, _q(ns, "subject"), {"ref": ref})
        annotator = ET.SubElement(element, _q(ns, "annotator"))
        tool = ET.SubElement(annotator, _q(ns, "component"), {"type": "application"})
        ET.SubElement(tool, _q(ns, "name")).text = self.tool_name
        if self.tool_version:
            ET.SubElement(tool, _q(ns, "version")).text = self.tool_version
        ET.SubElement(element, _q(ns, "timestamp")).text = self.timestamp
        ET.SubElement(element, _q(ns, "text")).text = self.text
        return element


@dataclass(frozen=True)
class Extensions:
    """Everything to splice: model cards and data per component bom-ref, and annotations."""

    model_cards: Mapping[str, ModelCard] = field(default_factory=dict)
    component_data: Mapping[str, tuple[ComponentData, ...]] = field(default_factory=dict)
    annotations: tuple[Annotation, ...] = ()


def splice_json(doc: dict[str, Any], ext: Extensions) -> dict[str, Any]:
    """Insert the extensions into the library's JSON document (modified in place, returned)."""
    for component in _walk_json_components(doc.get("components", [])):
        ref = str(component.get("bom-ref", ""))
        if ref in ext.model_cards:
            card = ext.model_cards[ref].to_json()
            if card:
                component["modelCard"] = card
        if ref in ext.component_data:
            component["data"] = [d.to_json() for d in ext.component_data[ref]]
    if ext.annotations:
        doc["annotations"] = [a.to_json() for a in ext.annotations]
    return doc


def _walk_json_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for component in components:
        out.append(component)
        out.extend(_walk_json_components(component.get("components", [])))
    return out


#: Children of ``<component>`` that the schema puts after ``modelCard`` / ``data``, in order.
_AFTER_MODEL_CARD = ("data", "cryptoProperties", "tags", "signature")
_AFTER_DATA = ("cryptoProperties", "tags", "signature")
#: Children of ``<bom>`` after ``annotations`` (1.6; 1.7 adds ``citations``).
_AFTER_ANNOTATIONS = ("formulation", "declarations", "definitions", "citations", "signature")


def splice_xml(root: ET.Element, ext: Extensions) -> ET.Element:
    """Insert the extensions into the library's XML tree, respecting the schema's sequence."""
    ns = _namespace(root)
    for component in root.iter(_q(ns, "component")):
        ref = component.get("bom-ref")
        if ref is None:
            continue
        if ref in ext.model_cards and ext.model_cards[ref].to_json():
            _insert_before(component, ext.model_cards[ref].to_xml(ns), ns, _AFTER_MODEL_CARD)
        for data in ext.component_data.get(ref, ()):
            _insert_before(component, data.to_xml(ns), ns, _AFTER_DATA)
    if ext.annotations:
        annotations = ET.Element(_q(ns, "annotations"))
        for annotation in ext.annotations:
            annotations.append(annotation.to_xml(ns))
        _insert_before(root, annotations, ns, _AFTER_ANNOTATIONS)
    return root


def _insert_before(parent: ET.Element, child: ET.Element, ns: str, successors: tuple[str, ...]) -> None:
    names = {_q(ns, s) for s in successors}
    for index, existing in enumerate(list(parent)):
        if existing.tag in names:
            parent.insert(index, child)
            return
    parent.append(child)


def _metric_json(metric: PerformanceMetric) -> dict[str, str]:
    out = {"type": metric.type, "value": metric.value}
    if metric.slice:
        out["slice"] = metric.slice
    return out


def _namespace(root: ET.Element) -> str:
    return root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name
