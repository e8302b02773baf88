"""`modelscan scan hf://…` and `https://…`: judging remote files with range reads only.

Threat model: a scanner that must download hundreds of GB before deciding is not used before a
deployment; one that reads through a 5 MiB read-ahead or follows a moving branch judges the wrong
bytes or too many. These tests count what the fake hub actually sends.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import pytest

from scanner.sources.https import BLOCK, RangeBlob
from scanner.sources.interface import ReadCounter, SourceError
from tests.hub.conftest import modelscan
from tests.hub.fakehub import Content, FakeHub, safetensors_file
from tests.hub.models import CONFIG, torch_zip_checkpoint

GIB = 1 << 30


def _fake_digest(label: str) -> str:
    # Synthesized gigabytes are never hashed: the remote scan does not read them, so a declared
    # digest stands in for the real one (pull, which does hash, is tested on small repos).
    return hashlib.sha256(label.encode()).hexdigest()


def _big_repo(hub: FakeHub) -> str:
    shard = {f"layers.{i}.weight": ("F32", [1_310_720]) for i in range(200)}  # 200 x 5 MiB
    shard2 = {f"layers.{200 + i}.weight": ("F32", [1_310_720]) for i in range(200)}
    index = {
        "metadata": {"total_size": 2 * 200 * 5 * 1024 * 1024},
        "weight_map": {
            **{k: "model-00001-of-00002.safetensors" for k in shard},
            **{k: "model-00002-of-00002.safetensors" for k in shard2},
        },
    }
    files: dict[str, Content | bytes] = {
        "config.json": CONFIG,
        "model.safetensors.index.json": json.dumps(index).encode(),
        "model-00001-of-00002.safetensors": safetensors_file(shard, sha256=_fake_digest("s1")),
        "model-00002-of-00002.safetensors": safetensors_file(shard2, sha256=_fake_digest("s2")),
        # A 1 GB PyTorch zip checkpoint of 400 tensors (2.5 MiB each).
        "pytorch_model.bin": torch_zip_checkpoint(
            {f"layers.{i}.weight": 655_360 for i in range(400)}, sha256=_fake_digest("pt")
        ),
    }
    return hub.add_repo("acme/big", files).refs["main"]


def test_remote_scan_of_3gb_repo_transfers_under_1mb(hub: FakeHub, hub_env: dict[str, str]) -> None:
    commit = _big_repo(hub)
    r = modelscan(hub_env, "scan", "hf://acme/big", "-f", "json")
    report = json.loads(r.stdout)
    assert report["summary"]["bytes_total"] > 3 * 10**9
    assert hub.bytes_sent < 1_000_000, f"{hub.bytes_sent} bytes sent for a remote scan"
    assert report["summary"]["bytes_read"] <= hub.bytes_sent
    assert report["revision"] == commit
    paths = {a["path"] for a in report["artifacts"]}
    # The zip's pickle was reached through range reads, not skipped.
    assert "pytorch_model.bin!archive/data.pkl" in paths
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_remote_read_names_the_commit_not_the_branch(hub: FakeHub, hub_env: dict[str, str]) -> None:
    repo = hub.add_repo(
        "acme/tiny", {"config.json": CONFIG, "model.safetensors": safetensors_file({"w": ("F32", [16, 16])})}
    )
    commit = repo.refs["main"]
    r = modelscan(hub_env, "scan", "hf://acme/tiny@main", "-f", "json")
    assert r.returncode == 0, r.stderr
    resolves = [p for _, p, _ in hub.requests if "/resolve/" in p]
    assert resolves and all(f"/resolve/{commit}/" in p for p in resolves)
    assert json.loads(r.stdout)["revision"] == commit


def test_unknown_repo_scan_exits_2_with_a_message(hub: FakeHub, hub_env: dict[str, str]) -> None:
    r = modelscan(hub_env, "scan", "hf://acme/missing")
    assert r.returncode == 2
    assert "acme/missing" in r.stderr and "Traceback" not in r.stderr


def test_https_single_file_is_scanned_with_range_reads(hub: FakeHub, hub_env: dict[str, str]) -> None:
    weights = safetensors_file({f"t{i}": ("F32", [262_144]) for i in range(64)}, sha256=_fake_digest("u"))
    hub.add_repo("acme/url", {"model.safetensors": weights})
    url = f"{hub.url}/cdn/{weights.sha256}"
    r = modelscan(hub_env, "scan", url, "-f", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["artifacts"][0]["format"] == "safetensors"
    assert report["summary"]["bytes_total"] == weights.size
    assert hub.bytes_sent < 64 * 1024


def test_small_neighbouring_reads_share_one_request(hub: FakeHub) -> None:
    data = bytes(range(256)) * 64
    content = Content(data)
    hub.add_repo("acme/blob", {"w.bin": content})
    counter = ReadCounter()
    blob = RangeBlob(f"{hub.url}/cdn/{content.sha256}", len(data), counter, {})
    hub.reset_counters()
    assert blob.read_at(0, 8) == data[:8]
    assert blob.read_at(8, 30) == data[8:38]  # same block: served from memory
    assert blob.read_at(len(data) - 10, 100) == data[-10:]  # clipped at the end
    assert blob.read_at(len(data), 5) == b""
    assert len(hub.requests) == 2
    assert counter.total == 2 * BLOCK


def test_a_read_spanning_blocks_is_one_request_and_exact(hub: FakeHub) -> None:
    data = hashlib.sha256(b"x").digest() * 1000
    content = Content(data)
    hub.add_repo("acme/blob", {"w.bin": content})
    blob = RangeBlob(f"{hub.url}/cdn/{content.sha256}", len(data), ReadCounter(), {})
    hub.reset_counters()
    assert blob.read_at(BLOCK - 3, 2 * BLOCK + 7) == data[BLOCK - 3 : 3 * BLOCK + 4]
    assert len(hub.requests) == 1


def test_a_file_shorter_than_listed_is_an_error_not_silence(hub: FakeHub) -> None:
    content = Content(b"a" * 100)
    hub.add_repo("acme/blob", {"w.bin": content})
    blob = RangeBlob(f"{hub.url}/cdn/{content.sha256}", 5000, ReadCounter(), {})
    with pytest.raises(SourceError):
        blob.read_at(4000, 10)


def test_second_scan_of_the_same_commit_reads_no_file_bytes(hub: FakeHub, hub_env: dict[str, str]) -> None:
    hub.add_repo(
        "acme/tiny", {"config.json": CONFIG, "model.safetensors": safetensors_file({"w": ("F32", [16, 16])})}
    )
    first = modelscan(hub_env, "scan", "hf://acme/tiny", "-f", "json")
    assert first.returncode == 0, first.stderr
    hub.reset_counters()
    second = modelscan(hub_env, "scan", "hf://acme/tiny", "-f", "json")
    assert second.returncode == 0, second.stderr
    assert not any(rng is not None for _, _, rng in hub.requests)  # only the revision lookup + access HEAD
    again = json.loads(second.stdout)
    assert again["findings"] == json.loads(first.stdout)["findings"]
    assert again["summary"]["bytes_read"] == 0 and "cache" in again["timings"]
    hub.reset_counters()
    third = modelscan(hub_env, "scan", "hf://acme/tiny", "--no-cache", "-f", "json")
    assert third.returncode == 0
    assert any(rng is not None for _, _, rng in hub.requests)


def test_a_rules_change_invalidates_the_cached_result(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    hub.add_repo("acme/tiny", {"config.json": CONFIG})
    assert modelscan(hub_env, "scan", "hf://acme/tiny").returncode == 0
    extra = tmp_path / "rules"
    extra.mkdir()
    (extra / "x.yaml").write_text(
        "kind: catalog\nentries:\n  - {id: X-LOCAL-001, name: x, severity: low, summary: local rule}\n"
    )
    hub.reset_counters()
    assert modelscan(hub_env, "scan", "hf://acme/tiny", "--rules", str(extra)).returncode == 0
    assert any(rng is not None for _, _, rng in hub.requests)


def test_a_hub_that_stalls_once_is_retried(hub: FakeHub, hub_env: dict[str, str]) -> None:
    hub.add_repo("acme/tiny", {"config.json": CONFIG})
    hub.stall_info = 1
    r = modelscan({**hub_env, "MODELSCAN_HUB_TIMEOUT": "0.5"}, "scan", "hf://acme/tiny")
    assert r.returncode == 0, r.stderr
    assert sum(1 for _, p, _ in hub.requests if p.startswith("/api/models/acme/tiny")) == 2


def test_a_hub_that_never_answers_exits_2_saying_it_timed_out(hub: FakeHub, hub_env: dict[str, str]) -> None:
    hub.add_repo("acme/tiny", {"config.json": CONFIG})
    hub.stall_info = 100
    r = modelscan({**hub_env, "MODELSCAN_HUB_TIMEOUT": "0.3"}, "scan", "hf://acme/tiny")
    assert r.returncode == 2
    assert "did not answer" in r.stderr and "MODELSCAN_HUB_TIMEOUT" in r.stderr
    assert "Traceback" not in r.stderr


def test_url_whose_server_refuses_head_is_sized_with_a_range_request(
    hub: FakeHub, hub_env: dict[str, str]
) -> None:
    weights = safetensors_file({"w": ("F32", [1024])})
    hub.add_repo("acme/url", {"model.safetensors": weights})
    hub.refuse_head = True
    r = modelscan(hub_env, "scan", f"{hub.url}/cdn/{weights.sha256}", "-f", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["bytes_total"] == weights.size
    assert ("GET", f"/cdn/{weights.sha256}", "bytes=0-0") in hub.requests


def test_missing_url_exits_2_saying_not_found(hub: FakeHub, hub_env: dict[str, str]) -> None:
    r = modelscan(hub_env, "scan", f"{hub.url}/cdn/{'0' * 64}")
    assert r.returncode == 2
    assert "not found (HTTP 404)" in r.stderr and "Traceback" not in r.stderr


def test_heads_are_prefetched_so_the_sequential_scan_waits_on_no_round_trip(hub: FakeHub) -> None:
    from scanner.model import Artifact
    from scanner.sources.hf import prefetch_heads
    from scanner.sources.interface import Node

    small, big = Content(b"s" * 5000), Content(b"b" * 100, 10_000_000)
    hub.add_repo("acme/blob", {"small.json": small, "big.bin": big})
    counter = ReadCounter()
    nodes = [
        Node(Artifact(name, c.size), RangeBlob(f"{hub.url}/cdn/{c.sha256}", c.size, counter, {}))
        for name, c in (("small.json", small), ("big.bin", big))
    ]
    prefetch_heads(nodes)
    hub.reset_counters()
    assert nodes[0].blob.read_at(0, 5000) == small.read()  # small file: prefetched whole
    assert nodes[1].blob.read_at(0, 4096) == big.read(0, 4096)  # big file: its sniffed head
    assert hub.requests == []
    assert nodes[1].blob.read_at(9_000_000, 10) == bytes(10)
    assert len(hub.requests) == 1
