"""SARIF that GitHub code scanning accepts, checked against the 2.1.0 schema and GitHub's rules."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scanner.model import Severity
from scanner.policy import Policy, Suppression
from scanner.report.sarif import RENDERER
from tests.conftest import missing_shared
from tests.test_report_samples import EVIDENCE, clean_report, full_report, sample_report

LEVELS = {"none", "note", "warning", "error"}


def sarif(report: object = None, policy: Policy | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(RENDERER.render(report or sample_report(), policy or Policy()))  # type: ignore[arg-type]
    return doc


def github_problems(doc: dict[str, Any]) -> list[str]:
    """GitHub's required subset ("SARIF support for code scanning") plus our binary-file rule."""
    problems: list[str] = []
    if doc.get("version") != "2.1.0" or "$schema" not in doc:
        problems.append("version 2.1.0 and $schema are required")
    runs = doc.get("runs", [])
    if len(runs) != 1:
        problems.append(f"exactly one run expected, got {len(runs)}")
    for run in runs:
        rules = run["tool"]["driver"].get("rules", [])
        ids = [r.get("id") for r in rules]
        for rule in rules:
            if not rule.get("id") or not rule.get("shortDescription", {}).get("text"):
                problems.append(f"rule {rule.get('id')} needs id and shortDescription")
            if not rule.get("help", {}).get("text") or not rule.get("fullDescription", {}).get("text"):
                problems.append(f"rule {rule['id']} needs help.text and fullDescription")
            if len(rule.get("name", "")) > 255 or len(rule["shortDescription"]["text"]) > 1024:
                problems.append(f"rule {rule['id']} text too long")
            sev = rule.get("properties", {}).get("security-severity")
            if not isinstance(sev, str) or not re.fullmatch(r"\d+(\.\d+)?", sev) or not 0 < float(sev) <= 10:
                problems.append(f"rule {rule['id']} security-severity must be a numeric string, got {sev!r}")
            if len(rule.get("properties", {}).get("tags", [])) > 20:
                problems.append(f"rule {rule['id']} has more than 20 tags")
        for res in run.get("results", []):
            if res.get("ruleId") not in ids:
                problems.append(f"result ruleId {res.get('ruleId')} is not in rules")
            elif ids.index(res["ruleId"]) != res.get("ruleIndex"):
                problems.append(f"ruleIndex of {res['ruleId']} does not point at its rule")
            if res.get("level") not in LEVELS:
                problems.append(f"level {res.get('level')!r} is not valid")
            if not res.get("message", {}).get("text"):
                problems.append("result without message.text")
            if not res.get("partialFingerprints"):
                problems.append("result without partialFingerprints")
            locs = res.get("locations", [])
            if not 1 <= len(locs) <= 1000:
                problems.append("a result needs 1 to 1000 locations")
            for loc in locs:
                uri = loc["physicalLocation"]["artifactLocation"]["uri"]
                if uri.startswith("/") or re.match(r"^[a-z][a-z0-9+.-]*:", uri) or ".." in uri.split("/"):
                    problems.append(f"uri {uri!r} is not relative to the target")
                if "region" in loc["physicalLocation"] and "!" in res["properties"].get("artifact", ""):
                    problems.append(f"binary/member artifact {uri} must not have a region")
    return problems


def the_run(doc: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = doc["runs"][0]
    return run


def result_for(doc: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in the_run(doc)["results"] if r["ruleId"] == rule_id)


def test_sarif_validates_against_the_2_1_0_schema(shared_dir: Path) -> None:
    schema_file = shared_dir / "testdata" / "schemas" / "sarif-schema-2.1.0.json"
    if not schema_file.is_file():
        missing_shared(f"SARIF schema not found at {schema_file}")
    validator = jsonschema.Draft4Validator(json.loads(schema_file.read_text(encoding="utf-8")))
    for report in (sample_report(), full_report(), clean_report()):
        validator.validate(sarif(report))
    broken = sarif()
    the_run(broken)["results"][0]["level"] = "critical"  # negative control: the schema does bite
    assert not validator.is_valid(broken)


def test_sarif_meets_githubs_required_subset() -> None:
    for report in (sample_report(), full_report(), clean_report()):
        assert github_problems(sarif(report)) == []


def test_github_checker_catches_each_violation() -> None:
    doc = sarif()
    run = the_run(doc)
    run["results"][0]["level"] = "critical"
    run["results"][1]["ruleId"] = "NOPE-001"
    del run["results"][2]["partialFingerprints"]
    run["tool"]["driver"]["rules"][0]["properties"]["security-severity"] = 9.8
    doc["runs"].append(run)
    problems = " | ".join(github_problems(doc))
    for expected in (
        "one run",
        "level 'critical'",
        "NOPE-001 is not in rules",
        "partialFingerprints",
        "numeric string",
    ):
        assert expected in problems


def test_binary_model_file_has_no_region_so_github_does_not_stream_it() -> None:
    res = result_for(sarif(), "PICKLE-EXEC-001")
    physical = res["locations"][0]["physicalLocation"]
    assert "region" not in physical
    assert physical["artifactLocation"]["uri"] == "pytorch_model.bin"


def test_text_artifact_with_a_line_keeps_region_start_line() -> None:
    res = result_for(sarif(), "SCAN-ERROR-001")
    assert res["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}


def test_member_and_opcode_go_into_logical_locations_and_properties() -> None:
    res = result_for(sarif(), "PICKLE-EXEC-001")
    logical = res["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
    assert logical == "pytorch_model.bin!archive/data.pkl@opcode:12"
    assert res["properties"]["byteOffset"] == 57 and res["properties"]["evidence"] == EVIDENCE
    assert EVIDENCE in res["message"]["text"]


def test_levels_and_security_severity_follow_our_severity() -> None:
    doc = sarif()
    assert result_for(doc, "PICKLE-EXEC-001")["level"] == "error"
    assert result_for(doc, "SCAN-UNKNOWN-001")["level"] == "warning"
    rules = {r["id"]: r for r in the_run(doc)["tool"]["driver"]["rules"]}
    assert float(rules["SCAN-UNKNOWN-001"]["properties"]["security-severity"]) == pytest.approx(5.5)
    assert "security" in rules["SCAN-UNKNOWN-001"]["properties"]["tags"]


def test_policy_override_changes_the_result_level() -> None:
    doc = sarif(policy=Policy(severity_overrides={"PICKLE-EXEC-001": Severity.LOW}))
    assert result_for(doc, "PICKLE-EXEC-001")["level"] == "note"


def test_rule_outside_the_catalog_still_gets_a_rule_entry() -> None:
    rules = {r["id"]: r for r in the_run(sarif())["tool"]["driver"]["rules"]}
    assert "PICKLE-EXEC-001" in rules  # emitted by a finding, whether or not the catalog has it yet
    assert rules["SCAN-ERROR-001"]["name"] == "AnalysisFailed"
    assert rules["SCAN-ERROR-001"]["help"]["markdown"].startswith("**")


def test_fingerprints_are_stable_and_distinguish_evidence() -> None:
    one, two = sarif(), sarif()
    fp = [r["partialFingerprints"]["modelscan/v1"] for r in the_run(one)["results"]]
    assert fp == [r["partialFingerprints"]["modelscan/v1"] for r in the_run(two)["results"]]
    assert len(set(fp)) == len(fp)
    report = sample_report()
    changed = replace(report, findings=(replace(report.findings[0], evidence="posix.system('id')"),))
    other = the_run(sarif(changed))["results"][0]["partialFingerprints"]["modelscan/v1"]
    assert other != fp[0]


def test_suppressed_finding_carries_the_justification() -> None:
    doc = sarif(policy=Policy(suppressions=(Suppression("SCAN-UNKNOWN-001", "vendor blob, reviewed"),)))
    res = result_for(doc, "SCAN-UNKNOWN-001")
    assert res["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "vendor blob, reviewed"}
    ]
    assert "suppressions" not in result_for(doc, "PICKLE-EXEC-001")


def test_invocation_exit_code_matches_the_verdict() -> None:
    assert the_run(sarif())["invocations"][0]["exitCode"] == 1
    assert the_run(sarif(clean_report()))["invocations"][0]["exitCode"] == 0
    assert the_run(sarif(policy=Policy(fail_on=None)))["invocations"][0]["exitCode"] == 0


def test_one_run_with_automation_details_and_relative_base() -> None:
    doc = sarif()
    assert len(doc["runs"]) == 1
    run = the_run(doc)
    assert run["automationDetails"]["id"] == "modelscan/models-tiny/"
    assert run["originalUriBaseIds"]["TARGET"] == {"uri": "models/tiny/", "uriBaseId": "%SRCROOT%"}
    assert [a["location"]["uri"] for a in run["artifacts"]] == [
        "pytorch_model.bin",
        "extra/blob.dat",
        "tokenizer_config.json",
    ]
    assert run["artifacts"][0]["hashes"] == {"sha-256": "ab" * 32}


def test_operational_errors_become_tool_notifications() -> None:
    notes = the_run(sarif(full_report()))["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"] == "read timed out"


def test_single_file_target_uses_its_folder_as_base(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"x")
    run = the_run(sarif(sample_report(target=str(model))))
    assert run["originalUriBaseIds"]["TARGET"] == {"uri": tmp_path.resolve().as_uri() + "/"}


def test_hub_target_base_is_the_hub_uri() -> None:
    run = the_run(sarif(sample_report(target="hf://org/model")))
    assert run["originalUriBaseIds"]["TARGET"] == {"uri": "hf://org/model/"}
    assert run["automationDetails"]["id"] == "modelscan/hf-org-model/"


def test_file_names_are_percent_encoded_as_uri_references() -> None:
    report = sample_report()
    odd = replace(report.findings[0], artifact="dir with space/model#1%.bin!archive/data.pkl")
    run = the_run(sarif(replace(report, findings=(odd,))))
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "dir%20with%20space/model%231%25.bin"
    assert run["results"][0]["properties"]["artifact"] == "dir with space/model#1%.bin!archive/data.pkl"
