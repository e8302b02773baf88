"""Which files a pull takes, and the result cache: pure functions, no server.

Threat model: a selection rule that drops a file silently would let it skip the scan; a cache
that returns a result for the wrong commit, tool or rules, or trusts a corrupted entry, would
hand out a verdict nobody computed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner import cache
from scanner.model import Artifact, Finding, Location, Report, Severity
from scanner.pull import select_files
from scanner.sources.hf import HubFile, hub_content_key, parse_hub_target
from scanner.sources.interface import SourceError


def _f(path: str) -> HubFile:
    return HubFile(path, 10, None, "0" * 40)


def test_pickle_weights_duplicated_by_safetensors_are_skipped_and_named() -> None:
    files = [
        _f("config.json"),
        _f("model.safetensors"),
        _f("pytorch_model.bin"),
        _f("pytorch_model.bin.index.json"),
        _f("training_args.bin"),
    ]
    sel = select_files(files, (), (), take_all=False)
    assert sel.skipped == ("pytorch_model.bin", "pytorch_model.bin.index.json")
    # Other pickles are not "redundant weights": they are taken, hence scanned.
    assert [f.path for f in sel.files] == ["config.json", "model.safetensors", "training_args.bin"]


def test_pickle_weights_in_a_folder_without_safetensors_are_kept() -> None:
    files = [_f("model.safetensors"), _f("text_encoder/pytorch_model.bin")]
    sel = select_files(files, (), (), take_all=False)
    assert sel.skipped == ()
    assert [f.path for f in sel.files] == ["model.safetensors", "text_encoder/pytorch_model.bin"]


def test_all_takes_every_file() -> None:
    files = [_f("model.safetensors"), _f("pytorch_model.bin")]
    assert [f.path for f in select_files(files, (), (), take_all=True).files] == [
        "model.safetensors",
        "pytorch_model.bin",
    ]


def test_exclude_wins_over_include() -> None:
    files = [_f("a.json"), _f("b/c.json")]
    sel = select_files(files, ("*.json",), ("b/*",), take_all=False)
    assert [f.path for f in sel.files] == ["a.json"]


@pytest.mark.parametrize("target", ["hf://../etc", "hf://a/b/c", "hf://onlyname", "hf://a/..", "org/name"])
def test_malformed_hub_targets_are_refused(target: str) -> None:
    with pytest.raises(SourceError):
        parse_hub_target(target)


def test_hub_target_with_revision_is_parsed() -> None:
    ref = parse_hub_target("hf://acme/m@refs/pr/3")
    assert (ref.repo_id, ref.revision) == ("acme/m", "refs/pr/3")
    assert parse_hub_target("acme/m", bare=True).revision is None


def _report() -> Report:
    finding = Finding(
        "PICKLE-EXEC-001",
        Severity.CRITICAL,
        "a.bin!archive/data.pkl",
        "runs a command",
        location=Location(offset=49, opcode_index=5, stream=0),
        evidence="posix.system('true')",
        callable="posix.system",
    )
    return Report(
        target="hf://acme/m",
        tool_version="0.1.0",
        artifacts=(Artifact("a.bin", 412, "zip", expected_sha256="ab" * 32),),
        findings=(finding,),
        facts={"a.bin": {"tensors": 3, "dtypes": ["F32"]}},
        revision="c" * 40,
        timings={"scan": 0.5},
        bytes_read=400,
        bytes_total=412,
        rules_version="r1",
        started_at="2026-01-01T00:00:00Z",
    )


def test_cached_report_round_trips_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCAN_CACHE_DIR", str(tmp_path))
    key = cache.cache_key(hub_content_key("acme/m", "c" * 40, ["a.bin"]), "0.1.0", "r1")
    cache.store(key, _report())
    assert cache.load(key) == _report()


def test_cache_key_changes_with_commit_tool_rules_and_files() -> None:
    base = cache.cache_key(hub_content_key("acme/m", "c" * 40, ["a.bin"]), "0.1.0", "r1")
    assert (
        len(
            {
                base,
                cache.cache_key(hub_content_key("acme/m", "d" * 40, ["a.bin"]), "0.1.0", "r1"),
                cache.cache_key(hub_content_key("acme/m", "c" * 40, ["a.bin"]), "0.1.1", "r1"),
                cache.cache_key(hub_content_key("acme/m", "c" * 40, ["a.bin"]), "0.1.0", "r2"),
                cache.cache_key(hub_content_key("acme/m", "c" * 40, ["a.bin", "b.bin"]), "0.1.0", "r1"),
                cache.cache_key(hub_content_key("acme/n", "c" * 40, ["a.bin"]), "0.1.0", "r1"),
            }
        )
        == 6
    )


def test_corrupted_or_foreign_cache_entry_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCAN_CACHE_DIR", str(tmp_path))
    key = cache.cache_key(hub_content_key("acme/m", "c" * 40, ["a.bin"]), "0.1.0", "r1")
    other = cache.cache_key(hub_content_key("acme/m", "d" * 40, ["a.bin"]), "0.1.0", "r1")
    cache.store(other, _report())
    entry = tmp_path / "results" / f"{key}.json"
    entry.write_bytes((tmp_path / "results" / f"{other}.json").read_bytes())  # copied under another key
    assert cache.load(key) is None
    entry.write_text("{not json")
    assert cache.load(key) is None
