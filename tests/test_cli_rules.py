"""`modelscan rules`: every rule id a finding can carry, with its meaning, as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_rules_lists_the_catalog_as_text() -> None:
    proc = run_cli("rules")
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("SCAN-UNKNOWN-001"))
    assert line.split()[1] == "medium" and "not recognized" in line


def test_rules_json_has_every_catalog_field() -> None:
    proc = run_cli("rules", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    by_id = {r["id"]: r for r in doc["rules"]}
    assert set(by_id["SCAN-ERROR-001"]) == {
        "id",
        "name",
        "severity",
        "severities",
        "summary",
        "help",
        "cwe",
        "references",
    }
    assert by_id["SCAN-ERROR-001"]["cwe"] == [20]
    assert [r["id"] for r in doc["rules"]] == sorted(by_id)
    assert len(doc["rules_version"]) == 16


def test_rules_from_an_extra_directory_are_listed(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "kind: catalog\nentries:\n  - {id: ACME-GADGET-001, name: acme-gadget, severity: high,"
        " summary: Our in-house gadget.}\n"
    )
    proc = run_cli("rules", "--rules", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert any(x.startswith("ACME-GADGET-001") and "high" in x for x in proc.stdout.splitlines())


def test_duplicate_rule_id_in_extra_directory_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dup.yaml").write_text(
        "kind: catalog\nentries:\n  - {id: SCAN-ERROR-001, name: x, severity: low, summary: clash}\n"
    )
    proc = run_cli("rules", "--rules", str(tmp_path))
    assert proc.returncode == 2 and "defined twice" in proc.stderr and "Traceback" not in proc.stderr
