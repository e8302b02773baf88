"""Every finding the code can emit is a catalog rule, at a severity the catalog allows.

Threat model: a hand-typed severity that disagrees with the catalog makes `modelscan rules`,
SARIF's rule metadata and the policy's overrides lie about what a finding is; a rule id that
is not in the catalog has no name, help or stable meaning. One constructor
(``RuleSet.finding`` / ``Context.finding`` / ``scanner.rules.finding``) takes the severity from
the catalog and refuses any other; these tests prove the code and the rule data agree with it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.model import Severity
from scanner.rules import RulesError, load_rules
from tests.conftest import REPO

RULE_ID = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*-\d{3}$")
CODE = ("scanner", "signatures", "sbom")
CATALOG = load_rules().catalog


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for package in CODE:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _severities(node: ast.expr) -> set[str]:
    """Literal ``Severity.X`` values an argument can take (through ``a if c else b``)."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "Severity":
            found.add(sub.attr.lower())
    return found


def test_every_rule_id_literal_in_the_code_is_in_the_catalog() -> None:
    unknown = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.value}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RULE_ID.match(node.value)
        if node.value not in CATALOG
    ]
    assert unknown == []


def test_every_literal_severity_at_a_finding_call_is_allowed_by_its_rule() -> None:
    emitted: list[tuple[str, str, str]] = []
    for path, tree in _modules():
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            parts = [*call.args, *(k.value for k in call.keywords)]
            rules = [a.value for a in parts if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            rules = [r for r in rules if RULE_ID.match(r)]
            if len(rules) != 1:
                continue
            for arg in parts:
                for sev in _severities(arg):
                    emitted.append((f"{path.relative_to(REPO)}:{call.lineno}", rules[0], sev))
    assert emitted, "the walk found no severity at all: it no longer sees the call sites"
    wrong = [
        (where, rule, sev)
        for where, rule, sev in emitted
        if sev not in {s.label for s in CATALOG[rule].severities}
    ]
    assert wrong == []


def test_findings_are_made_only_by_the_constructor_and_the_deserializer() -> None:
    allowed = {REPO / "scanner" / "rules.py", REPO / "scanner" / "serialize.py"}
    direct = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path, tree in _modules()
        if path not in allowed
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Finding"
    ]
    assert direct == []


def test_pickle_deny_entries_carry_a_severity_their_rule_allows() -> None:
    from scanner.formats.pickle.recorder import _CATEGORY_RULE

    rules = load_rules()
    checked = 0
    for entry in rules.entries("pickle-callables"):
        if "deny" not in entry:
            continue
        rule = _CATEGORY_RULE.get(str(entry.get("category")), "PICKLE-GADGET-001")
        severity = Severity.parse(str(entry.get("severity", "medium")))
        assert severity in CATALOG[rule].severities, (entry.get("_file"), entry.get("category"), rule)
        checked += 1
    assert checked >= 10


def test_remote_code_patterns_carry_severities_their_rule_allows() -> None:
    checked = 0
    for entry in load_rules().entries("python-patterns"):
        if not entry.get("rule"):
            continue
        rule = CATALOG[str(entry["rule"])]
        for key in ("severity", "module_severity"):
            if key in entry:
                assert Severity.parse(str(entry[key])) in rule.severities, (rule.id, key, entry[key])
                checked += 1
    assert checked >= 10


def test_tensorflow_op_severities_are_allowed_by_tf_op_001() -> None:
    severities = {
        Severity.parse(str(e["severity"])) for e in load_rules().entries("tf-ops") if "severity" in e
    }
    assert severities and severities <= set(CATALOG["TF-OP-001"].severities)


def test_constructor_takes_the_catalog_severity_and_reference() -> None:
    made = load_rules().finding("SAFETENSORS-HEADER-001", "m.safetensors", "too long")
    assert made.severity == CATALOG["SAFETENSORS-HEADER-001"].severity == Severity.HIGH
    assert made.reference == "https://github.com/huggingface/safetensors#format"


def test_constructor_refuses_a_severity_the_catalog_does_not_declare() -> None:
    with pytest.raises(RulesError, match="PICKLE-EXEC-001 is never low"):
        load_rules().finding("PICKLE-EXEC-001", "a.pkl", "x", severity=Severity.LOW)
    assert (
        load_rules().finding("PICKLE-CLASS-001", "a.pkl", "x", severity=Severity.LOW).severity == Severity.LOW
    )


def test_constructor_refuses_an_unknown_rule_id() -> None:
    with pytest.raises(RulesError, match="not in the catalog"):
        load_rules().finding("PICKLE-EXEC-999", "a.pkl", "x")


def test_a_catalog_whose_severities_omit_the_default_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "kind: catalog\nentries:\n"
        "  - {id: X-TEST-001, name: t, severity: high, severities: [low], summary: s}\n"
    )
    with pytest.raises(RulesError, match="must include high"):
        load_rules([tmp_path])
