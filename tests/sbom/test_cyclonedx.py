"""CycloneDX ML-BOM: valid for 1.6 and 1.7 (JSON and XML), sound references, faithful content."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any

import pytest

from sbom import SbomError, render_sbom
from sbom.cdx_extensions import ModelCard, splice_json
from scanner.model import Artifact, ProbeResult
from scanner.policy import Policy
from scanner.rules import load_rules
from tests.sbom.bomcheck import (
    assert_refs_sound,
    assert_valid_cyclonedx,
    assert_xml_refs_sound,
    walk,
)
from tests.sbom.reports import (
    REV,
    bare_local_report,
    failed_signature,
    hub_report,
    verified_signature,
)

NS = "internal:modelscan"
PROBE = ProbeResult(
    verdict="suspicious", score=0.73, device="cpu", stages=({"name": "trigger-sweep", "score": 0.73},)
)
REPORTS = {
    "hub-signed-probed": lambda: hub_report(signature=verified_signature(), probe=PROBE),
    "hub-failed-signature": lambda: hub_report(signature=failed_signature()),
    "bare-local": bare_local_report,
}


def cdx(report: Any, version: str = "1.6", policy: Policy | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render_sbom(report, policy, "cyclonedx", version))
    return doc


def components(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in walk(doc.get("components", [])) if "type" in c and "bom-ref" in c}


def props(obj: dict[str, Any], name: str) -> list[str]:
    return [p["value"] for p in obj.get("properties", []) if p["name"] == f"{NS}:{name}"]


@pytest.mark.parametrize("xml", [False, True], ids=["json", "xml"])
@pytest.mark.parametrize("version", ["1.6", "1.7"])
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_bom_validates_against_the_cyclonedx_schema(name: str, version: str, xml: bool) -> None:
    text = render_sbom(REPORTS[name](), None, "cyclonedx", version, xml=xml)
    assert_valid_cyclonedx(text, version, xml)
    if xml:
        assert_xml_refs_sound(text)
    else:
        assert json.loads(text)["specVersion"] == version
        assert_refs_sound(json.loads(text))


def test_spliced_model_card_is_really_validated() -> None:
    # Negative control: the splice is inside what the validator sees, so a bad value fails.
    doc = cdx(hub_report())
    model = next(c for c in doc["components"] if c["type"] == "machine-learning-model")
    model["modelCard"]["modelParameters"]["approach"] = {"type": "magic"}
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc)) is not None


def test_model_card_carries_the_facts() -> None:
    doc = cdx(hub_report())
    model = components(doc)[f"model:acme/tiny-bert@{REV}"]
    params = model["modelCard"]["modelParameters"]
    assert params["modelArchitecture"] == "BertForMaskedLM"
    assert params["architectureFamily"] == "bert"
    assert params["task"] == "fill-mask"
    assert params["datasets"] == [{"ref": "data:wikipedia"}, {"ref": "data:bookcorpus"}]
    card_props = {p["name"]: p["value"] for p in model["modelCard"]["properties"]}
    assert card_props[f"{NS}:parameter-count"] == "1234567"
    assert card_props[f"{NS}:context-length"] == "512"
    assert card_props[f"{NS}:chat-template-sha256"] == "f" * 64


def test_hub_model_is_pinned_by_purl_to_the_commit() -> None:
    model = components(cdx(hub_report()))[f"model:acme/tiny-bert@{REV}"]
    assert model["type"] == "machine-learning-model"
    assert model["purl"] == f"pkg:huggingface/acme/tiny-bert@{REV}"
    assert model["version"] == REV
    assert model["supplier"]["name"] == "acme"
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    urls = {r["type"]: r["url"] for r in model["externalReferences"]}
    assert urls["distribution"] == f"https://huggingface.co/acme/tiny-bert/tree/{REV}"


def test_base_model_is_a_pedigree_ancestor() -> None:
    model = components(cdx(hub_report()))[f"model:acme/tiny-bert@{REV}"]
    (ancestor,) = model["pedigree"]["ancestors"]
    assert ancestor["purl"] == "pkg:huggingface/google/bert-base-uncased"


def test_declared_datasets_are_data_components_the_model_depends_on() -> None:
    doc = cdx(hub_report())
    data = components(doc)["data:wikipedia"]
    assert data["type"] == "data"
    assert data["data"] == [{"type": "dataset", "name": "wikipedia"}]
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert set(deps[f"model:acme/tiny-bert@{REV}"]) == {"data:wikipedia", "data:bookcorpus"}


def test_every_file_and_member_is_a_file_component_with_the_reports_hash() -> None:
    report = hub_report()
    comps = components(cdx(report))
    for artifact in report.artifacts:
        comp = comps[f"file:{artifact.path}"]
        assert comp["type"] == "file"
        assert props(comp, "format") == [artifact.format]
        assert props(comp, "size") == [str(artifact.size)]
        if artifact.sha256:
            assert comp["hashes"] == [{"alg": "SHA-256", "content": artifact.sha256}]
        else:
            assert "hashes" not in comp and props(comp, "sha256") == ["not computed"]
    container = comps["file:pytorch_model.bin"]
    assert [c["bom-ref"] for c in container["components"]] == ["file:pytorch_model.bin!archive/data.pkl"]


def test_every_finding_is_a_vulnerability_affecting_its_file() -> None:
    report = hub_report()
    catalog = load_rules().catalog
    vulns = cdx(report)["vulnerabilities"]
    assert [v["id"] for v in vulns] == [f.rule_id for f in report.findings]
    for vuln, finding in zip(vulns, report.findings, strict=True):
        assert vuln["ratings"] == [{"method": "other", "severity": finding.severity.label}]
        assert vuln["affects"] == [{"ref": f"file:{finding.artifact}"}]
        assert vuln["description"] == finding.message
        assert vuln["source"]["name"] == "modelscan"
        info = catalog.get(finding.rule_id)
        assert vuln.get("cwes", []) == sorted(info.cwe if info else ())
    pickle = vulns[0]
    assert "posix.system('true')" in pickle["detail"] and "opcode 7" in pickle["detail"]
    assert pickle["analysis"]["state"] == "exploitable"
    assert pickle["references"][0]["id"] == "CVE-2025-32434"
    unknown = vulns[1]
    assert unknown["cwes"] == [434]  # from the engine's rule catalog
    assert unknown["recommendation"] and unknown["analysis"]["state"] == "in_triage"


def test_verified_signature_round_trips_with_identity() -> None:
    doc = cdx(hub_report(signature=verified_signature()))
    model = components(doc)[f"model:acme/tiny-bert@{REV}"]
    assert props(model, "signature:status") == ["verified"]
    assert props(model, "signature:identity") == ["release@acme.example"]
    assert props(model, "signature:rekor-log-index") == ["123456"]
    assert any(r["type"] == "digital-signature" for r in model["externalReferences"])
    (annotation,) = doc["annotations"]
    assert annotation["subjects"] == [model["bom-ref"]]
    assert "release@acme.example" in annotation["text"] and "verified" in annotation["text"]
    assert props(components(doc)["file:model.safetensors"], "signature:file-status") == ["ok"]
    assert not [v for v in doc["vulnerabilities"] if v["id"].startswith("SBOM-SIGNATURE")]


def test_failed_signature_is_also_a_vulnerability() -> None:
    doc = cdx(hub_report(signature=failed_signature()))
    (vuln,) = [v for v in doc["vulnerabilities"] if v["id"] == "SBOM-SIGNATURE-001"]
    assert vuln["ratings"][0]["severity"] == "high"
    assert vuln["affects"] == [{"ref": f"model:acme/tiny-bert@{REV}"}]
    assert "model.safetensors: mismatch" in vuln["detail"]
    assert vuln["cwes"] == [347]


def test_missing_signature_required_by_policy_is_a_vulnerability() -> None:
    strict = replace(Policy.default(), require_signature=True)
    ids = [v["id"] for v in cdx(hub_report(), policy=strict)["vulnerabilities"]]
    assert "SBOM-SIGNATURE-002" in ids
    assert "SBOM-SIGNATURE-002" not in [v["id"] for v in cdx(hub_report())["vulnerabilities"]]


def test_probe_results_are_in_quantitative_analysis() -> None:
    model = components(cdx(hub_report(probe=PROBE)))[f"model:acme/tiny-bert@{REV}"]
    metrics = model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
    assert {"type": "backdoor-probe-score", "value": "0.73", "slice": "verdict=suspicious"} in metrics
    assert any(m["type"] == "backdoor-probe:trigger-sweep" for m in metrics)


def test_verdict_policy_digest_and_tool_are_in_metadata() -> None:
    policy = Policy.default()
    doc = cdx(hub_report(), policy=policy)
    meta = doc["metadata"]
    assert props(meta, "verdict") == ["fail"]  # a critical finding fails the default policy
    assert props(meta, "policy-sha256") == [policy.digest]
    assert meta["tools"]["components"] == [
        {"bom-ref": "tool:modelscan", "name": "modelscan", "type": "application", "version": "0.1.0"}
    ]
    assert meta["timestamp"].startswith("2026-01-02T03:04:05")


def test_unfilled_fields_are_named_not_invented() -> None:
    doc = cdx(bare_local_report())
    model = next(c for c in doc["components"] if c["type"] == "machine-learning-model")
    assert "licenses" not in model and "purl" not in model and "version" not in model
    assert model["name"] == "anon"
    unfilled = set(props(doc["metadata"], "sbom:unfilled"))
    assert {"license", "datasets", "version", "supplier", "architecture"} <= unfilled
    assert "file-hashes" not in unfilled


def test_same_report_renders_byte_identical() -> None:
    for xml in (False, True):
        first = render_sbom(hub_report(signature=verified_signature()), xml=xml)
        second = render_sbom(hub_report(signature=verified_signature()), xml=xml)
        assert first == second


def test_source_date_epoch_overrides_the_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    doc = cdx(hub_report())
    assert doc["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")


def test_serial_number_follows_the_content() -> None:
    base = cdx(hub_report())["serialNumber"]
    assert base.startswith("urn:uuid:")
    assert cdx(hub_report())["serialNumber"] == base
    changed = replace(hub_report(), findings=())
    assert cdx(changed)["serialNumber"] != base


def test_model_card_and_annotation_are_present_in_xml() -> None:
    text = render_sbom(hub_report(signature=verified_signature()), None, "cyclonedx", "1.7", xml=True)
    root = ET.fromstring(text)
    ns = {"b": "http://cyclonedx.org/schema/bom/1.7"}
    assert (
        root.find(".//b:component/b:modelCard/b:modelParameters/b:modelArchitecture", ns).text
        == "BertForMaskedLM"
    )
    assert (
        root.find("b:annotations/b:annotation/b:subjects/b:subject", ns).get("ref")
        == f"model:acme/tiny-bert@{REV}"
    )
    assert root.find(".//b:component/b:data/b:name", ns).text in ("wikipedia", "bookcorpus")


def test_empty_model_card_is_not_spliced() -> None:
    doc = {"components": [{"bom-ref": "m", "type": "machine-learning-model", "name": "m"}]}
    from sbom.cdx_extensions import Extensions

    assert "modelCard" not in splice_json(doc, Extensions(model_cards={"m": ModelCard()}))["components"][0]


def test_bad_spec_version_and_format_are_refused() -> None:
    with pytest.raises(SbomError):
        render_sbom(hub_report(), fmt="cyclonedx", spec_version="1.5")
    with pytest.raises(SbomError):
        render_sbom(hub_report(), fmt="spdx", xml=True)


def test_signature_bundle_among_the_files_is_referenced_with_its_hash() -> None:
    report = hub_report(signature=replace(verified_signature(), manifest_digest="9" * 64, hash_type="sha256"))
    bundle = Artifact("model.sig", 900, "json", sha256="8" * 64)
    doc = cdx(replace(report, artifacts=(*report.artifacts, bundle)))
    model = components(doc)[f"model:acme/tiny-bert@{REV}"]
    (ref,) = [r for r in model["externalReferences"] if r["type"] == "digital-signature"]
    assert ref["url"] == "model.sig" and ref["hashes"] == [{"alg": "SHA-256", "content": "8" * 64}]
    assert props(model, "signature:manifest-sha256") == ["9" * 64]
    assert props(model, "signature:hash-type") == ["sha256"]
    assert_valid_cyclonedx(json.dumps(doc), "1.6", xml=False)
