"""Remote latency: a zip's local headers in as few round trips as the server allows (16.4).

Threat model for speed: a checkpoint of hundreds of tensors made a remote scan issue one request
per member (532 for a 7-file repo); on a real network that is seconds of round trips. Counted
here, never timed: multi-range requests where the server answers them, a fallback that stays
exact where it does not, and every local header still read and checked.
"""

from __future__ import annotations

import hashlib
import json

from scanner.sources.https import MULTI_RANGES, RangeBlob
from scanner.sources.interface import ReadCounter
from tests.hub.conftest import modelscan
from tests.hub.fakehub import Content, FakeHub
from tests.hub.models import CONFIG, torch_zip_checkpoint


def _blob(hub: FakeHub, data: bytes) -> tuple[RangeBlob, ReadCounter]:
    content = Content(data)
    hub.add_repo("acme/blob", {"w.bin": content})
    counter = ReadCounter()
    return RangeBlob(f"{hub.url}/cdn/{content.sha256}", len(data), counter, {}), counter


def _data(n: int) -> bytes:
    return b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(n // 32))


def _spans(size: int, count: int, length: int = 60) -> list[tuple[int, int]]:
    step = size // count
    return [(i * step + (i % 7), length) for i in range(count)]


def test_512_scattered_reads_are_a_handful_of_multi_range_requests(hub: FakeHub) -> None:
    data = _data(4 * 1024 * 1024)
    blob, counter = _blob(hub, data)
    spans = _spans(len(data), 512)
    hub.reset_counters()
    got = blob.read_many(spans)
    assert got == [data[o : o + n] for o, n in spans]
    ranged = [r for _, _, r in hub.requests if r]
    assert len(hub.requests) == -(-512 // MULTI_RANGES)
    assert all("," in r for r in ranged)
    assert counter.total < 512 * 60 + 512 * 256 + 8192  # the ranges and their part headers only


def test_a_server_without_multi_range_support_costs_one_probe_then_single_ranges(hub: FakeHub) -> None:
    hub.multipart_ranges = False  # a multi-range header gets the whole file, as from S3
    data = _data(2 * 1024 * 1024)
    blob, counter = _blob(hub, data)
    spans = _spans(len(data), 64)
    hub.reset_counters()
    assert blob.read_many(spans) == [data[o : o + n] for o, n in spans]
    multi = [r for _, _, r in hub.requests if r and "," in r]
    assert len(multi) == 1  # the probe
    assert len(hub.requests) == 1 + 64
    # the whole-file answer to the probe was cut off, not downloaded
    assert counter.total < len(data) // 4
    hub.reset_counters()
    again = RangeBlob(blob._url, len(data), ReadCounter(), {})
    assert again.read_many(spans[:10]) == [data[o : o + n] for o, n in spans[:10]]
    assert not any(r and "," in r for _, _, r in hub.requests)  # learned once per server


def test_overlapping_and_out_of_range_reads_stay_exact(hub: FakeHub) -> None:
    data = _data(256 * 1024)
    blob, _ = _blob(hub, data)
    spans = [(100, 50), (120, 10), (len(data) - 5, 100), (len(data) + 10, 4), (5000, 0), (90_000, 3000)]
    assert blob.read_many(spans) == [data[o : o + n] for o, n in spans]


def _checkpoint_repo(hub: FakeHub, members: int) -> str:
    label = hashlib.sha256(f"pt{members}".encode()).hexdigest()
    files: dict[str, Content | bytes] = {
        "config.json": CONFIG,
        # a 4 MiB tensor per member: local headers 4 MiB apart, so no two share a plain range
        "pytorch_model.bin": torch_zip_checkpoint(
            {f"layers.{i}.weight": 1 << 20 for i in range(members)}, sha256=label
        ),
    }
    return hub.add_repo("acme/many", files).refs["main"]


def test_remote_scan_of_a_512_member_checkpoint_is_a_few_dozen_requests(
    hub: FakeHub, hub_env: dict[str, str]
) -> None:
    _checkpoint_repo(hub, 512)
    r = modelscan(hub_env, "scan", "hf://acme/many", "-f", "json", "--no-cache")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert "pytorch_model.bin!archive/data.pkl" in {a["path"] for a in report["artifacts"]}
    checkpoint = [
        rng for _, path, rng in hub.requests if rng and ("/cdn/" in path or "pytorch_model" in path)
    ]
    multi = [rng for rng in checkpoint if "," in rng]
    assert sum(rng.count(",") + 1 for rng in multi) >= 512  # every local header was asked for
    assert len(checkpoint) <= 12, checkpoint
    assert len(hub.requests) <= 30, len(hub.requests)
    assert hub.bytes_sent < 1 << 20


def test_remote_scan_without_multi_range_support_still_checks_every_header(
    hub: FakeHub, hub_env: dict[str, str]
) -> None:
    hub.multipart_ranges = False
    _checkpoint_repo(hub, 64)
    r = modelscan(hub_env, "scan", "hf://acme/many", "-f", "json", "--no-cache")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pytorch_model.bin!archive/data.pkl" in {a["path"] for a in json.loads(r.stdout)["artifacts"]}
    single = [rng for _, _, rng in hub.requests if rng and "," not in rng]
    assert len(single) >= 64
