"""The JSON report is a contract: it validates against docs/report-schema.json, version and all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from scanner.policy import Policy
from scanner.report.json import RENDERER, SCHEMA_VERSION
from tests.test_report_samples import EVIDENCE, clean_report, full_report, sample_report

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "report-schema.json"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def as_json(report: object, policy: Policy | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(RENDERER.render(report, policy or Policy()))  # type: ignore[arg-type]
    return doc


def test_every_report_shape_validates_against_the_published_schema() -> None:
    v = validator()
    for report in (sample_report(), full_report(), clean_report()):
        v.validate(as_json(report))


def test_schema_rejects_a_report_that_breaks_the_contract() -> None:
    v = validator()
    doc = as_json(sample_report())
    doc["findings"][0]["severity"] = "severe"
    assert not v.is_valid(doc)
    doc = as_json(sample_report())
    del doc["verdict"]
    assert not v.is_valid(doc)


def test_schema_version_is_declared_and_matches_the_renderer() -> None:
    doc = as_json(sample_report())
    assert doc["schema_version"] == SCHEMA_VERSION
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert validator().is_valid(doc)
    assert schema["properties"]["schema_version"]["pattern"].startswith("^" + SCHEMA_VERSION.split(".")[0])


def test_findings_keep_evidence_location_and_the_verdict_its_reasons() -> None:
    doc = as_json(sample_report())
    first = doc["findings"][0]
    assert first["evidence"] == EVIDENCE
    assert first["location"] == {"offset": 57, "opcode_index": 12, "stream": 0, "member": "archive/data.pkl"}
    assert doc["verdict"]["passed"] is False and doc["verdict"]["fail_on"] == "medium"
    assert doc["verdict"]["counts"]["critical"] == 1
    assert as_json(sample_report(), Policy(fail_on=None))["verdict"]["passed"] is True


def test_policy_overrides_and_suppressions_are_visible_per_finding() -> None:
    from scanner.model import Severity
    from scanner.policy import Suppression

    policy = Policy(
        severity_overrides={"PICKLE-EXEC-001": Severity.HIGH},
        suppressions=(Suppression("SCAN-UNKNOWN-001", "vendor blob, reviewed", path="extra/*"),),
    )
    doc = as_json(sample_report(), policy)
    validator().validate(doc)
    by_rule = {f["rule_id"]: f for f in doc["findings"]}
    assert by_rule["PICKLE-EXEC-001"]["severity"] == "critical"
    assert by_rule["PICKLE-EXEC-001"]["policy_severity"] == "high"
    assert by_rule["SCAN-UNKNOWN-001"]["suppressed"] == {
        "rule": "SCAN-UNKNOWN-001",
        "path": "extra/*",
        "reason": "vendor blob, reviewed",
    }
    plain = by_rule["SCAN-ERROR-001"]
    assert "suppressed" not in plain and "policy_severity" not in plain
    assert doc["verdict"]["counts"] == {"info": 0, "low": 0, "medium": 1, "high": 1, "critical": 0}
