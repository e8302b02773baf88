"""SPDX 3.0.1 AI-BOM: valid against the 3.0.1 JSON schema, AI profile fields present, faithful."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from sbom import render_sbom
from sbom.spdx import AI_REQUIRED, ai_profile_gaps, license_expression
from tests.conftest import missing_shared
from tests.sbom.bomcheck import SPDX_SCHEMA, assert_valid_spdx, full_spdx_schema_errors, spdx_schema_errors
from tests.sbom.reports import REV, bare_local_report, failed_signature, hub_report, verified_signature

MAKERS = {
    "hub": hub_report,
    "bare-local": bare_local_report,
    "signed": lambda: hub_report(signature=verified_signature()),
    "bad-signature": lambda: hub_report(signature=failed_signature()),
}


@functools.cache
def _validated(name: str) -> str:
    # Schema validation of SPDX 3 is slow (seconds per document): each document once.
    text = render_sbom(MAKERS[name](), fmt="spdx")
    assert_valid_spdx(text)
    return text


def spdx_doc(name: str) -> dict[str, Any]:
    """A fresh, already schema-validated copy of the SPDX document of report ``name``."""
    doc: dict[str, Any] = json.loads(_validated(name))
    return doc


def nodes(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in doc["@graph"] if n.get("type") == kind]


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_every_spdx_document_validates_and_fills_the_ai_profile(name: str) -> None:
    doc = spdx_doc(name)
    (model,) = nodes(doc, "ai_AIPackage")
    assert ai_profile_gaps(doc) == []
    assert all(model.get(key) for key in AI_REQUIRED)
    assert model["software_primaryPurpose"] == "model"


def test_ai_profile_check_catches_a_missing_release_time() -> None:
    # Negative control: neither the JSON schema nor SHACL enforce these, so our check must.
    doc = spdx_doc("hub")
    (model,) = nodes(doc, "ai_AIPackage")
    del model["releaseTime"]
    assert_valid_spdx(json.dumps(doc))  # the 3.0.1 schema still accepts it ...
    assert ai_profile_gaps(doc) == [f"{model['spdxId']}: releaseTime"]  # ... our check does not


def test_every_reference_resolves_to_an_element() -> None:
    doc = spdx_doc("signed")
    ids = {n.get("spdxId") or n.get("@id") for n in doc["@graph"]}
    assert len(ids) == len(doc["@graph"]), "duplicate spdxIds"
    for node in doc["@graph"]:
        for key in ("from", "subject", "suppliedBy"):
            if key in node:
                assert node[key] in ids, (key, node[key])
        for key in ("to", "element", "rootElement"):
            for ref in node.get(key, []):
                assert ref in ids, (key, ref)


def test_hub_model_identity_and_facts() -> None:
    doc = spdx_doc("hub")
    (model,) = nodes(doc, "ai_AIPackage")
    assert model["software_packageVersion"] == REV
    assert model["software_packageUrl"] == f"pkg:huggingface/acme/tiny-bert@{REV}"
    assert model["software_downloadLocation"] == f"https://huggingface.co/acme/tiny-bert/tree/{REV}"
    assert model["ai_typeOfModel"] == ["BertForMaskedLM", "bert"]
    assert {"type": "DictionaryEntry", "key": "parameter_count", "value": "1234567"} in model[
        "ai_hyperparameter"
    ]
    (license_,) = nodes(doc, "simplelicensing_LicenseExpression")
    assert license_["simplelicensing_licenseExpression"] == "Apache-2.0"
    trained = [r for r in nodes(doc, "Relationship") if r["relationshipType"] == "trainedOn"]
    datasets = {n["spdxId"]: n for n in nodes(doc, "dataset_DatasetPackage")}
    assert set(trained[0]["to"]) == set(datasets)
    assert all(d["dataset_datasetType"] == ["noAssertion"] for d in datasets.values())


def test_file_hashes_equal_the_reports() -> None:
    report = hub_report()
    files = {n["name"]: n for n in nodes(spdx_doc("hub"), "software_File")}
    assert set(files) == {a.path for a in report.artifacts}
    for artifact in report.artifacts:
        hashes = files[artifact.path].get("verifiedUsing", [])
        expected = (
            [{"type": "Hash", "algorithm": "sha256", "hashValue": artifact.sha256}] if artifact.sha256 else []
        )
        assert hashes == expected


def test_findings_are_vulnerabilities_with_vex_on_the_file() -> None:
    report = hub_report()
    doc = spdx_doc("hub")
    vulns = {n["spdxId"]: n for n in nodes(doc, "security_Vulnerability")}
    assert sorted(v["name"] for v in vulns.values()) == sorted(f.rule_id for f in report.findings)
    files = {n["spdxId"]: n["name"] for n in nodes(doc, "software_File")}
    vex = nodes(doc, "security_VexAffectedVulnAssessmentRelationship")
    affected = {vulns[r["from"]]["name"]: files[r["to"][0]] for r in vex}
    assert affected == {f.rule_id: f.artifact for f in report.findings}


def test_signature_identity_is_an_annotation_and_a_failure_a_vulnerability() -> None:
    signed = spdx_doc("signed")
    assert any("release@acme.example" in a["statement"] for a in nodes(signed, "Annotation"))
    failed = spdx_doc("bad-signature")
    assert "SBOM-SIGNATURE-001" in [v["name"] for v in nodes(failed, "security_Vulnerability")]


def test_local_model_placeholders_are_declared_unfilled() -> None:
    doc = spdx_doc("bare-local")
    (model,) = nodes(doc, "ai_AIPackage")
    assert model["software_packageVersion"].startswith("sha256:")
    (note,) = [a for a in nodes(doc, "Annotation") if a["statement"].startswith("AI-BOM completeness")]
    for field in ("version", "supplier", "license", "download-location"):
        assert field in note["statement"]


def test_same_report_renders_byte_identical() -> None:
    first = render_sbom(hub_report(signature=verified_signature()), fmt="spdx")
    assert render_sbom(hub_report(signature=verified_signature()), fmt="spdx") == first


def test_node_by_node_validation_agrees_with_full_schema() -> None:
    doc = spdx_doc("bare-local")
    assert full_spdx_schema_errors(doc) == []
    # Negative control for both: a value outside an enumeration is rejected by each.
    (model,) = nodes(doc, "ai_AIPackage")
    model["ai_autonomyType"] = "sometimes"
    assert spdx_schema_errors(doc) and full_spdx_schema_errors(doc)


def shacl_conforms(doc: dict[str, Any]) -> tuple[bool, str]:
    """SHACL validation with the 3.0.1 model shapes, offline (the context is inlined)."""
    pyshacl = pytest.importorskip("pyshacl", reason="pip install pyshacl (dev extra) for SHACL checks")
    import rdflib

    folder = SPDX_SCHEMA.parent
    if not (folder / "spdx-model.ttl").is_file():
        missing_shared(f"SPDX 3.0.1 SHACL model not found in {folder}")
    shapes = rdflib.Graph().parse(folder / "spdx-model.ttl", format="turtle")
    inline = {**doc, "@context": json.loads((folder / "spdx-context.jsonld").read_text())["@context"]}
    data = rdflib.Graph().parse(data=json.dumps(inline), format="json-ld")
    conforms, _, text = pyshacl.validate(data, shacl_graph=shapes, ont_graph=shapes, inference="none")
    return bool(conforms), str(text)


def test_spdx_document_conforms_to_the_shacl_shapes() -> None:
    # SHACL checks what the JSON schema cannot: VEX needs an action statement and an Agent
    # supplier, a dataset at least one type, relationship ends of the right classes.
    doc = spdx_doc("bad-signature")
    conforms, text = shacl_conforms(doc)
    assert conforms, text[:2000]
    for node in nodes(doc, "dataset_DatasetPackage"):
        del node["dataset_datasetType"]
    assert not shacl_conforms(doc)[0]  # negative control


@pytest.mark.parametrize(
    ("card", "expression"),
    [
        ("apache-2.0", "Apache-2.0"),
        ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
        ("llama2", "LicenseRef-llama2"),
    ],
)
def test_card_licenses_become_valid_spdx_expressions(card: str, expression: str) -> None:
    assert license_expression(card) == expression
