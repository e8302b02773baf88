"""The JSON data cache of parsed rule files and policies: never stale, never trusted blindly."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from scanner import datacache
from scanner.policy_yaml import read_policy_document
from scanner.rules import RulesError, load_rules


@pytest.fixture(autouse=True)
def cache_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MODELSCAN_CACHE_DIR", str(folder))
    return folder


def _rules_dir(tmp_path: Path, summary: str) -> Path:
    folder = tmp_path / "extra"
    folder.mkdir(exist_ok=True)
    (folder / "mine.yaml").write_text(
        f"kind: catalog\nentries:\n  - {{id: MINE-001, name: mine, severity: low, summary: '{summary}'}}\n"
    )
    return folder


def test_a_changed_rule_file_is_parsed_again_not_served_from_the_cache(
    tmp_path: Path, cache_in: Path
) -> None:
    folder = _rules_dir(tmp_path, "first")
    assert load_rules([folder]).info("MINE-001").summary == "first"
    assert any(cache_in.glob("data/rules-*.json"))
    _rules_dir(tmp_path, "second")
    from scanner import rules as rules_module

    rules_module._load.cache_clear()  # a new process: the in-memory cache is gone
    assert load_rules([folder]).info("MINE-001").summary == "second"


def test_a_corrupt_cache_entry_is_a_miss(tmp_path: Path, cache_in: Path) -> None:
    from scanner import rules as rules_module

    folder = _rules_dir(tmp_path, "kept")
    load_rules([folder])
    for entry in cache_in.glob("data/rules-*.json"):
        entry.write_text('{"key": "')  # truncated
    rules_module._load.cache_clear()
    assert load_rules([folder]).info("MINE-001").summary == "kept"


def test_an_entry_under_another_key_is_not_served(tmp_path: Path, cache_in: Path) -> None:
    """A file renamed onto another key's name is refused: the entry names its own key."""
    assert datacache.store("rules", "a" * 64, {"x": 1})
    (cache_in / "data" / ("rules-" + "a" * 64 + ".json")).rename(
        cache_in / "data" / ("rules-" + "b" * 64 + ".json")
    )
    assert datacache.load("rules", "b" * 64) is None
    assert datacache.load("rules", "a" * 64) is None


def test_values_json_would_change_are_not_stored() -> None:
    assert not datacache.store("t", "k1", {"when": datetime.date(2026, 1, 1)})
    assert not datacache.store("t", "k2", {1: "int key"})
    assert datacache.load("t", "k2") is None
    assert datacache.store("t", "k3", {"ok": [1, 2.5, "x", None, True]})
    assert datacache.load("t", "k3") == {"ok": [1, 2.5, "x", None, True]}


def test_an_unwritable_cache_folder_costs_only_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MODELSCAN_CACHE_DIR", str(blocker))
    from scanner import rules as rules_module

    rules_module._load.cache_clear()
    assert load_rules([_rules_dir(tmp_path, "works")]).info("MINE-001").summary == "works"


def test_a_bad_rule_file_is_an_error_every_time(tmp_path: Path) -> None:
    from scanner import rules as rules_module

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "bad.yaml").write_text("kind: catalog\nentries: [\n")
    for _ in range(2):  # a failure is never cached as a success
        rules_module._load.cache_clear()
        with pytest.raises(RulesError, match="not valid YAML"):
            load_rules([folder])


def test_a_cached_policy_keeps_its_lines_for_errors(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("fail_on: high\nsuppressions:\n  - rule: PICKLE-EXEC-001\n    reason: test\n")
    first = read_policy_document(policy)
    second = read_policy_document(policy)  # from the cache
    assert second.data == first.data
    assert second.marks == first.marks
    assert (
        second.error(("suppressions", 0, "rule"), "x").args
        == first.error(("suppressions", 0, "rule"), "x").args
    )
    assert str(second.error(("fail_on",), "bad")) == f"{policy}:1: bad"


def test_a_policy_edited_after_caching_is_read_again(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("fail_on: high\n")
    assert read_policy_document(policy).data["fail_on"] == "high"
    policy.write_text("fail_on: low\n")
    os.utime(policy, (0, 0))  # the same mtime would not fool a content key either
    assert read_policy_document(policy).data["fail_on"] == "low"
