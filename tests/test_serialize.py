"""One Report serializer for the JSON report, the hub result cache and the service's records.

Threat model: three hand-written serializers drift apart, so a cached or stored report reads
back as something other than what was scanned (a finding's location or a signature dropped).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from scanner import cache
from scanner.model import FileCheck, Report
from scanner.policy import Policy, Suppression
from scanner.report.json import RENDERER
from scanner.serialize import report_from_dict, report_to_dict
from tests.test_report_samples import clean_report, full_report, sample_report


def _rich() -> Report:
    report = full_report()
    signature = replace(
        report.signature,  # type: ignore[arg-type]
        files=(FileCheck("model.safetensors", "ok"), FileCheck("extra.py", "ignored-by-signer", "by signer")),
        ignore_paths=("extra.py",),
    )
    return replace(report, signature=signature, facts={".": {"architecture": "Bert", "dims": [1, 2]}})


@pytest.mark.parametrize("report", [clean_report(), sample_report(), full_report(), _rich()])
def test_report_round_trips_exactly_through_json(report: Report) -> None:
    assert report_from_dict(json.loads(json.dumps(report_to_dict(report)))) == report


def test_the_json_report_reads_back_as_the_report_it_was_rendered_from() -> None:
    policy = Policy(suppressions=(Suppression("SCAN-UNKNOWN-001", "reviewed"),))
    doc = json.loads(RENDERER.render(_rich(), policy))
    suppressed = [f["rule_id"] for f in doc["findings"] if "suppressed" in f]
    assert suppressed == ["SCAN-UNKNOWN-001"]  # the policy's view is in the document ...
    assert report_from_dict(doc) == _rich()  # ... and never read back as part of the report


def test_cache_stores_the_same_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCAN_CACHE_DIR", str(tmp_path))
    cache.store("k", _rich())
    stored = json.loads((tmp_path / "results" / "k.json").read_text())["report"]
    assert stored == json.loads(json.dumps(report_to_dict(_rich())))
    assert cache.load("k") == _rich()
