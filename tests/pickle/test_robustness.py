"""The engine never executes what it scans, never crashes, and stays bounded in time and
memory whatever it is fed (random bytes, mutated pickles, a 10-million-opcode pickle)."""

from __future__ import annotations

import json
import pickle
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.api import scan
from scanner.formats.interface import Analysis
from scanner.model import Severity
from scanner.policy import Policy
from tests.conftest import run_python
from tests.pickle.builders import os_system, rules_of, scan_bytes, victim_load


def test_no_fixture_is_ever_unpickled_by_the_scan(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    model = tmp_path / "models" / "model.bin"
    model.parent.mkdir()
    model.write_bytes(os_system(marker))
    (tmp_path / "models" / "weights.pkl").write_bytes(pickle.dumps({"ok": 1}) + os_system(marker))
    report = scan(model.parent)
    assert not marker.exists(), "the scanner ran the payload"
    assert any(f.callable == "os.system" and f.severity == Severity.CRITICAL for f in report.findings)
    assert Policy.default().judge(report).passed is False
    run_python(victim_load(model))  # the same file in a victim's loader
    assert marker.exists(), "the fixture was live"


def _check(analysis: Analysis) -> None:
    assert isinstance(analysis, Analysis)
    for f in analysis.findings:
        assert f.rule_id.startswith(("PICKLE-", "SCAN-"))
        assert isinstance(f.severity, Severity)


@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(data: bytes) -> None:
    _check(scan_bytes(data))


_SEEDS = [pickle.dumps({"a": [1, 2.5, "x", b"y"], "b": (None, True)}, protocol=p) for p in range(6)] + [
    os_system(Path("/nonexistent/m"))
]


@settings(max_examples=400, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=6),
    st.integers(0, 4096),
)
def test_mutated_pickles_never_raise_and_never_pass_silently_when_broken(
    seed: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        if data:
            data[pos % len(data)] = value
    blob = bytes(data[: max(1, cut % (len(data) + 1))])
    analysis = scan_bytes(blob)
    _check(analysis)
    if not blob.endswith(b"."):
        # A stream that does not end at its STOP is never reported clean.
        assert analysis.findings, blob


def test_deep_mark_and_memo_bombs_are_bounded() -> None:
    data = b"\x80\x04" + b"(" * 200_000 + b"N" + b"\x94" * 100_000 + b"."
    analysis = scan_bytes(data)
    _check(analysis)


def test_opcode_budget_is_one_finding_not_a_storm() -> None:
    from scanner.formats.interface import Context, Limits
    from scanner.formats.pickle import ANALYZER
    from scanner.model import Artifact
    from scanner.rules import load_rules
    from scanner.sources.interface import BytesBlob, Node

    data = pickle.dumps(list(range(50_000)), protocol=2)
    context = Context(rules=load_rules(), limits=Limits(max_pickle_opcodes=1_000))
    analysis = ANALYZER.analyze(Node(Artifact("x", len(data)), BytesBlob(data)), context)
    assert rules_of(analysis) == {"PICKLE-LIMIT-001"} and len(analysis.findings) == 1


_BIG = textwrap.dedent("""
    import pickle, sys
    # ~10 million opcodes: 1M dict entries of memoized strings and small lists
    d = {f"key{i:07d}": [i, i * 2, "val", i % 7] for i in range(1_000_000)}
    with open(sys.argv[1], "wb") as f:
        pickle.dump(d, f, protocol=4)
""")

_MEASURE = textwrap.dedent("""
    import json, resource, sys, time
    from scanner.api import scan as scan_target
    t = time.perf_counter()
    report = scan_target(sys.argv[1])
    wall = time.perf_counter() - t
    facts = report.facts[next(iter(report.facts))]
    # Linux carries the parent's peak into ru_maxrss across fork+exec (a big pytest process
    # would be measured instead of the scan); VmHWM is this process's own peak.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    print(json.dumps({"wall": wall, "rss_mb": peak,
                      "opcodes": facts["pickle_opcodes"], "findings": len(report.findings)}))
""")


@pytest.mark.slow
def test_ten_million_opcode_pickle_scans_in_bounded_memory(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "big.pkl"
    subprocess.run([sys.executable, "-c", _BIG, str(path)], check=True, timeout=300)
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], check=True, timeout=300, capture_output=True, text=True
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print("10M-opcode pickle:", path.stat().st_size, "bytes", figures)
    assert figures["opcodes"] >= 10_000_000
    assert figures["findings"] == 0
    assert figures["rss_mb"] < 256
