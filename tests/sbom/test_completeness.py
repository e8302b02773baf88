"""Completeness: the same field list scores our BOMs and anyone else's, and placeholders never count."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from sbom import render_sbom
from sbom.completeness import FIELDS, CompletenessError, score_document, score_text
from scanner.model import Artifact
from tests.sbom.reports import bare_local_report, hub_report, verified_signature


def test_a_fully_described_signed_hub_model_scores_full_marks() -> None:
    score = score_text(render_sbom(hub_report(signature=verified_signature())))
    assert score.missing == () and score.score == 100


def test_the_unfilled_list_written_into_a_bom_matches_its_score() -> None:
    doc: dict[str, Any] = json.loads(render_sbom(bare_local_report()))
    written = [
        p["value"] for p in doc["metadata"]["properties"] if p["name"] == "internal:modelscan:sbom:unfilled"
    ]
    assert sorted(written) == sorted(score_document(doc).missing)


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_placeholders_in_mandatory_slots_do_not_count_as_filled(fmt: str) -> None:
    score = score_text(render_sbom(bare_local_report(), fmt=fmt))
    for field in ("version", "supplier", "license", "download-location", "datasets"):
        assert field in score.missing, (fmt, field)
    assert "file-hashes" in score.filled


def test_both_formats_agree_on_a_hub_model() -> None:
    cdx = score_text(render_sbom(hub_report(signature=verified_signature())))
    spdx = score_text(render_sbom(hub_report(signature=verified_signature()), fmt="spdx"))
    assert cdx.missing == spdx.missing == ()


def test_a_foreign_minimal_bom_is_scored_not_rejected() -> None:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [{"type": "machine-learning-model", "name": "x", "licenses": "not-a-list"}],
    }
    score = score_document(doc)
    assert score.filled == ("name", "license") or "name" in score.filled
    assert "file-hashes" in score.missing and 0 < score.score < 50


def test_every_field_has_a_positive_weight_and_unique_id() -> None:
    assert len({f.id for f in FIELDS}) == len(FIELDS) and all(f.weight > 0 for f in FIELDS)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"bomFormat": "SPDX"}'])
def test_what_is_not_an_ai_bom_is_refused(text: str) -> None:
    with pytest.raises(CompletenessError):
        score_text(text)


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_an_unhashed_top_level_file_makes_hashes_incomplete(fmt: str) -> None:
    report = bare_local_report()
    unhashed = replace(report, artifacts=(*report.artifacts, Artifact("extra.bin", 3, "unknown")))
    assert "file-hashes" in score_text(render_sbom(unhashed, fmt=fmt)).missing
    assert "file-hashes" in score_text(render_sbom(report, fmt=fmt)).filled
