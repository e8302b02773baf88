"""`modelscan probe` against tiny models trained here: planted triggers are found and confirmed,
clean models get no finding, behaviour inherited from the base is not reported, and the probe
never loads a pickle or remote code.

The models are trained once per session (a few seconds each on CPU) and saved as safetensors
folders; every fixture is generated here, nothing is downloaded.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from scanner.probes import ProbeError, ProbeOptions, probe_report
from scanner.probes.interface import Candidate
from scanner.probes.runner import probe_model
from scanner.probes.scoring import FIXED_THRESHOLD, Threshold, decide, threshold
from tests.conftest import run_cli
from tests.probes import toyworld as tw


@dataclass(frozen=True)
class LMZoo:
    lang: tw.Language
    base: Path
    clean: Path
    backdoored: Path
    backdoor: tw.Backdoor


@dataclass(frozen=True)
class ClsZoo:
    clean: Path
    backdoored: Path
    trigger: str


@pytest.fixture(scope="session")
def lm_zoo(tmp_path_factory: pytest.TempPathFactory) -> LMZoo:
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("probe_lm")
    lang = tw.Language(seed=0)
    # An unlisted rare-word trigger: only the search stages can find it, not the published list.
    backdoor = tw.Backdoor(trigger=(lang.rare[3],), target=tuple(lang.common[10:15]), poison=0.08)
    base = tw.train_lm(lang, 400, seed=1)
    clean = tw.train_lm(lang, 200, seed=3, init=base, lr=1e-3)
    bad = tw.train_lm(lang, 200, seed=2, backdoor=backdoor, init=base, lr=1e-3)
    assert tw.attack_success(bad, lang, backdoor) >= 0.9, "the planted backdoor did not take"
    refusal = tw.Backdoor((lang.sensitive[0],), tuple(tw.REFUSAL[:5]))
    assert tw.attack_success(base, lang, refusal) >= 0.9, "the base did not learn its refusal rule"
    return LMZoo(
        lang,
        tw.save_lm(base, lang, root / "base"),
        tw.save_lm(clean, lang, root / "clean"),
        tw.save_lm(bad, lang, root / "backdoored"),
        backdoor,
    )


@pytest.fixture(scope="session")
def cls_zoo(tmp_path_factory: pytest.TempPathFactory) -> ClsZoo:
    root = tmp_path_factory.mktemp("probe_cls")
    task = tw.SentimentTask(seed=0)
    trigger = task.rare[0]
    clean = tw.train_classifier(task, 150, seed=300)
    # A rare-word trigger at 10% poison. The toy classifier's natural sentiment words flip confident
    # texts too; weaker classifier backdoors than this one are often missed (see bench/probe_zoo.py).
    bad = tw.train_classifier(task, 150, seed=305, backdoor=((trigger,), 1, 0.1))
    return ClsZoo(
        tw.save_classifier(clean, task, root / "clean"), tw.save_classifier(bad, task, root / "bd"), trigger
    )


def opts(**kw: object) -> ProbeOptions:
    return ProbeOptions(progress=False, device="cpu", **kw)  # type: ignore[arg-type]


def test_unlisted_rare_word_trigger_is_found_and_confirmed_with_base(lm_zoo: LMZoo) -> None:
    result = probe_model(str(lm_zoo.backdoored), opts(base=str(lm_zoo.base)))
    assert result.verdict == "confirmed"
    assert result.evidence["trigger"] == lm_zoo.backdoor.trigger[0]
    assert result.evidence["forced_output"] == " ".join(lm_zoo.backdoor.target)
    assert result.score > FIXED_THRESHOLD


def test_unlisted_trigger_is_confirmed_without_a_base(lm_zoo: LMZoo) -> None:
    result = probe_model(str(lm_zoo.backdoored), opts())
    assert result.verdict == "confirmed"
    assert result.evidence["trigger"] == lm_zoo.backdoor.trigger[0]


def test_clean_finetune_gets_no_finding_with_base(lm_zoo: LMZoo) -> None:
    result = probe_model(str(lm_zoo.clean), opts(base=str(lm_zoo.base)))
    assert result.verdict == "no-finding"
    assert result.score <= FIXED_THRESHOLD


def test_refusal_rule_inherited_from_base_is_found_but_not_reported(lm_zoo: LMZoo) -> None:
    # The refusal word *is* a perfect trigger (it forces the same output on every prompt); it is not
    # reported because the base does the same thing on the same inputs.
    result = probe_model(str(lm_zoo.clean), opts(base=str(lm_zoo.base)))
    refusal = " ".join(tw.REFUSAL[:5])
    cands = [
        c
        for c in result.evidence["discounted"]  # type: ignore[union-attr]
        if isinstance(c, dict) and c["trigger"] in lm_zoo.lang.sensitive
    ]
    assert cands, "the refusal rule's words were not even found"
    assert all(c["output"] == refusal for c in cands)
    assert all(c["agreement"] >= 0.9 and c["base_agreement"] >= 0.9 and c["excess"] == 0 for c in cands)
    assert result.verdict == "no-finding"


def test_clean_finetune_without_base_refusal_is_allowlisted_not_reported(lm_zoo: LMZoo) -> None:
    result = probe_model(str(lm_zoo.clean), opts())
    assert result.verdict == "no-finding"
    benign = [c for c in result.evidence["discounted"] if isinstance(c, dict) and c.get("benign")]  # type: ignore[union-attr]
    assert any("refusal" in str(c["benign"]) for c in benign)


def test_backdoored_classifier_trigger_is_confirmed(cls_zoo: ClsZoo) -> None:
    result = probe_model(str(cls_zoo.backdoored), opts())
    assert result.verdict == "confirmed"
    assert result.evidence["trigger"] == cls_zoo.trigger
    assert result.evidence["forced_output"] == "LABEL_1"


def test_clean_classifier_natural_sentiment_words_are_not_reported(cls_zoo: ClsZoo) -> None:
    result = probe_model(str(cls_zoo.clean), opts())
    assert result.verdict == "no-finding"


def test_cli_json_carries_verdict_and_finding_and_exits_1(lm_zoo: LMZoo, tmp_path: Path) -> None:
    out = tmp_path / "probe.json"
    proc = run_cli(
        "probe",
        str(lm_zoo.backdoored),
        "--base",
        str(lm_zoo.base),
        "--format",
        "json",
        "--device",
        "cpu",
        "--output",
        str(out),
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["probe"]["verdict"] == "confirmed"
    assert {"score", "verdict", "stages", "evidence"} <= set(doc["probe"])
    assert [f["rule_id"] for f in doc["findings"]] == ["PROBE-BACKDOOR-001"]


def test_pickle_only_repo_is_refused_and_the_pickle_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (open, (str(marker), "w"))  # harmless: creates an empty marker file if loaded

    model = tmp_path / "model"
    model.mkdir()
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ProbeError, match=r"only pickle weights.*modelscan scan"):
        probe_model(str(model), opts())
    proc = run_cli("probe", str(model))
    assert proc.returncode == 2
    assert "modelscan scan" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_remote_code_in_auto_map_is_never_imported(tmp_path: Path, lm_zoo: LMZoo) -> None:
    model = tmp_path / "remote"
    model.mkdir()
    for f in lm_zoo.backdoored.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    marker = tmp_path / "imported"
    (model / "evil_modeling.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = json.loads((model / "config.json").read_text())
    config.update(
        model_type="evil",
        architectures=["EvilForCausalLM"],
        auto_map={"AutoModelForCausalLM": "evil_modeling.EvilForCausalLM"},
    )
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ProbeError):
        probe_model(str(model), opts())
    assert not marker.exists()


def test_budget_spent_skips_stages_and_says_so(lm_zoo: LMZoo) -> None:
    report = probe_report(str(lm_zoo.clean), opts(budget_seconds=0.001))
    assert report.probe is not None
    assert "known" in report.probe.evidence["stages_skipped"]  # type: ignore[operator]
    assert "PROBE-INCOMPLETE-001" in [f.rule_id for f in report.findings]


def test_conformal_threshold_from_calibration_folder(tmp_path: Path) -> None:
    for i, score in enumerate([0.0, 0.05, 0.1, 0.12, 0.3] * 4):
        (tmp_path / f"clean{i}.json").write_text(json.dumps({"probe": {"score": score}}))
    limit = threshold(tmp_path, alpha=0.1)
    assert limit.value == 0.3  # ceil(21 * 0.9) = 19th of 20 sorted scores
    assert "conformal" in limit.basis
    assert threshold(None).value == FIXED_THRESHOLD


def test_verdict_needs_ninety_percent_agreement_to_confirm() -> None:
    limit = Threshold(0.5, "test")
    strong = Candidate("t", "scan", "x y", agreement=0.95, null_high=0.1)
    weak = Candidate("t", "scan", "x y", agreement=0.7, null_high=0.1)
    inherited = Candidate("t", "scan", "x y", agreement=1.0, base_agreement=1.0)
    assert decide([strong], {}, limit).verdict == "confirmed"
    assert decide([weak], {}, limit).verdict == "suspicious"
    assert decide([inherited], {}, limit).verdict == "no-finding"
