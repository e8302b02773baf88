"""Running the stages cheapest first, within a time budget, and turning them into a result.

LMs: static → known → scan → bait → gradient (escalation) → verdict.
Classifiers: static → known → hotflip → scan (small vocabularies) → verdict.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TypeVar

import torch

from scanner.model import FactValue, ProbeResult
from scanner.probes import cls_stages, lm_stages
from scanner.probes.interface import Candidate, ProbeError, ProbeOptions
from scanner.probes.loading import LoadedModel, load_model, local_folder, resolve_device
from scanner.probes.prompts import build_prompts, ordinary_ids
from scanner.probes.scoring import Decision, decide, threshold
from scanner.probes.static import static_stage
from scanner.rules import load_rules

T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    """How much work each stage does: full on a GPU, reduced (and said so) on a CPU."""

    verify_prompts: int
    controls: int
    scan_limit: int
    bait_limit: int
    bait_prompts: int
    bait_steps: int

    @classmethod
    def for_device(cls, device: torch.device) -> Sizes:
        if device.type == "cuda":
            return cls(32, 24, 50_000, 160_000, 5, 8)
        return cls(16, 10, 4_096, 1_024, 4, 5)


@dataclass
class StageLog:
    """Stage records (name, seconds, status, facts) and the budget they share."""

    budget: float
    progress: bool
    started: float = field(default_factory=time.perf_counter)
    records: list[dict[str, FactValue]] = field(default_factory=list)

    @property
    def skipped(self) -> list[str]:
        return [str(r["name"]) for r in self.records if r["status"] != "ok"]

    def run(self, name: str, fn: Callable[[dict[str, FactValue]], T], default: T, always: bool = False) -> T:
        facts: dict[str, FactValue] = {}
        record: dict[str, FactValue] = {"name": name}
        if not always and time.perf_counter() - self.started > self.budget:
            record.update(status="skipped", reason="time budget spent", seconds=0.0)
            self.records.append(record)
            return default
        t0 = time.perf_counter()
        with self._bar(name):
            result = fn(facts)
        record.update(status="ok", seconds=round(time.perf_counter() - t0, 3), **facts)
        self.records.append(record)
        return result

    @contextmanager
    def _bar(self, name: str) -> Iterator[None]:
        import sys

        if not self.progress or not sys.stderr.isatty():
            yield
            return
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]probe[/] {task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            bar.add_task(name, total=None)
            yield


def benign_patterns() -> list[tuple[str, re.Pattern[str]]]:
    return [
        (str(e["id"]), re.compile(str(e["pattern"]), re.I))
        for e in load_rules().entries("probe-benign-outputs")
    ]


def known_triggers() -> list[tuple[str, str]]:
    return [(str(e["trigger"]), str(e.get("source", ""))) for e in load_rules().entries("probe-triggers")]


def _encode_trigger(lm: LoadedModel, text: str) -> tuple[int, ...] | None:
    ids = tuple(lm.tokenizer.encode(" " + text, add_special_tokens=False))
    unk = lm.tokenizer.unk_token_id
    if not ids or (unk is not None and unk in ids):
        return None  # the tokenizer cannot represent it: nobody can trigger it through this tokenizer
    return ids


def _resolve_base(lm: LoadedModel, options: ProbeOptions, notes: list[str]) -> str | None:
    if options.base:
        return options.base
    if lm.declared_base:
        try:
            local_folder(lm.declared_base)
            notes.append(f"base model {lm.declared_base!r} declared in the model card was used")
            return lm.declared_base
        except ProbeError:
            notes.append(
                f"declared base model {lm.declared_base!r} is not available locally; pass --base "
                "to discount inherited behaviour"
            )
    return None


def probe_model(target: str, options: ProbeOptions) -> ProbeResult:
    """Probe ``target`` for planted trigger→output behaviour (raises ``ProbeError``)."""
    torch.manual_seed(options.seed)
    device, dtype = resolve_device(options.device)
    log = StageLog(options.budget_seconds, options.progress)
    lm = log.run("load", lambda f: load_model(target, device, dtype), None, always=True)
    assert lm is not None
    notes: list[str] = []
    base_target = _resolve_base(lm, options, notes)
    base = None
    if base_target:
        base = log.run("load-base", lambda f: load_model(base_target, device, dtype), None, always=True)
    if base is not None and base.kind != lm.kind:
        raise ProbeError(f"the base model is a {base.kind}, the probed model a {lm.kind}")
    sizes = Sizes.for_device(device)
    ordinary = ordinary_ids(lm.tokenizer, lm.vocab_size)
    if not ordinary:
        raise ProbeError("the tokenizer has no ordinary tokens to probe with")

    def static(f: dict[str, FactValue]) -> list[int]:
        facts, cands = static_stage(lm, base, ordinary)
        f.update(facts)
        return cands

    no_tokens: list[int] = []
    static_cands = log.run("static", static, no_tokens)
    if lm.kind == "lm":
        candidates, extra = _probe_lm(lm, base, options, sizes, ordinary, static_cands, log, notes)
    else:
        candidates, extra = _probe_classifier(lm, base, options, sizes, ordinary, static_cands, log, notes)
    limit = threshold(options.calibration)
    decision = decide(candidates, extra, limit)
    return ProbeResult(
        verdict=decision.verdict,
        score=decision.score,
        device=f"{device.type} ({str(dtype).removeprefix('torch.')})",
        stages=tuple(log.records),
        evidence=_evidence(
            lm, base_target, decision, candidates, extra, limit.basis, limit.value, notes, log
        ),
    )


def _evidence(
    lm: LoadedModel,
    base: str | None,
    decision: Decision,
    candidates: list[Candidate],
    extra: dict[str, float],
    basis: str,
    value: float,
    notes: list[str],
    log: StageLog,
) -> dict[str, FactValue]:
    ranked = sorted(candidates, key=lambda c: (c.excess, c.agreement), reverse=True)
    discounted: list[FactValue] = [c.as_fact() for c in candidates if c.agreement >= 0.9 and c.excess == 0]
    return {
        "why": decision.why,
        "kind": lm.kind,
        "architecture": lm.architecture,
        "base": base,
        "trigger": decision.best.trigger if decision.best and decision.best.excess > value else None,
        "forced_output": decision.best.output if decision.best and decision.best.excess > value else None,
        "agreement": round(decision.best.agreement, 4) if decision.best else None,
        "threshold": value,
        "threshold_basis": basis,
        "other_scores": {k: round(v, 4) for k, v in extra.items()},
        "candidates": [c.as_fact() for c in ranked[:10]],
        # Strong behaviour that was seen and deliberately not counted (benign or inherited), and why.
        "discounted": list(discounted[:10]),
        "candidates_verified": len(candidates),
        "stages_skipped": list(log.skipped),
        "notes": list(notes),
    }


class _Verified:
    """Candidates verified so far, each trigger once."""

    def __init__(self, verify: Callable[[tuple[int, ...], str, str | None], Candidate]) -> None:
        self.verify = verify
        self.by_ids: dict[tuple[int, ...], Candidate] = {}

    def add(self, ids: tuple[int, ...], source: str, entry: str | None = None) -> None:
        if ids not in self.by_ids:
            self.by_ids[ids] = self.verify(ids, source, entry)

    @property
    def all(self) -> list[Candidate]:
        return list(self.by_ids.values())


def _subsample(
    pool: list[int], limit: int, keep: list[int], seed: int, notes: list[str], what: str
) -> list[int]:
    if len(pool) <= limit:
        return pool
    notes.append(f"{what}: vocabulary subsampled to {limit} of {len(pool)} tokens on this device")
    chosen = random.Random(seed).sample(pool, limit)
    return list(dict.fromkeys([*keep, *chosen]))


def _known(lm: LoadedModel, verified: _Verified, f: dict[str, FactValue]) -> None:
    tried, unrepresentable = 0, 0
    for text, source in known_triggers():
        ids = _encode_trigger(lm, text)
        if ids is None:
            unrepresentable += 1
            continue
        tried += 1
        verified.add(ids, "known", source)
    f.update(tried=tried, not_representable=unrepresentable)


def _probe_lm(
    lm: LoadedModel,
    base: LoadedModel | None,
    options: ProbeOptions,
    sizes: Sizes,
    ordinary: list[int],
    static_cands: list[int],
    log: StageLog,
    notes: list[str],
) -> tuple[list[Candidate], dict[str, float]]:
    prompts = build_prompts(lm.tokenizer, lm.vocab_size, sizes.verify_prompts, options.seed)
    if prompts.synthetic:
        prompts = lm_stages.sampled_prompts(lm, prompts, 8, options.seed)
    notes.append(
        "prompts: "
        + (
            "sampled from the model, one random word each (the tokenizer does not know English)"
            if prompts.synthetic
            else "generic English prompts"
        )
        + (", framed by the chat template" if prompts.framing.templated else "")
    )
    probe = lm_stages.LMProbe(lm, base, prompts, ordinary, benign_patterns(), options.seed, sizes.controls)
    verified = _Verified(probe.verify)
    log.run("known", lambda f: _known(lm, verified, f), None)
    for tok in static_cands:
        verified.add((tok,), "static")
    pool = _subsample(ordinary, sizes.scan_limit, static_cands, options.seed, notes, "scan")
    scan_subsampled = len(pool) < len(ordinary)

    scan_top: list[int] = []

    def scan(f: dict[str, FactValue]) -> None:
        top, clean_f = lm_stages.scan_tokens(probe, pool, 4, 8)
        scan_top.extend(top)
        f.update(
            tokens_scanned=len(pool), clean_forcing=round(clean_f, 4), top=[probe.text((t,)) for t in top]
        )
        for tok in top:
            verified.add((tok,), "scan")

    log.run("scan", scan, None)
    extra: dict[str, float] = {}

    def bait(f: dict[str, FactValue]) -> list[lm_stages.Target]:
        bait_pool = _subsample(ordinary, sizes.bait_limit, [], options.seed + 1, notes, "bait")
        targets = lm_stages.invert_targets(probe, bait_pool, sizes.bait_prompts, sizes.bait_steps, 3)
        f.update(tokens_forced=len(bait_pool), targets=lm_stages.bait_facts(targets, probe))
        if targets and base is not None:
            extra["bait_q_rel"] = max(0.0, targets[0].q_rel)
        return targets

    no_targets: list[lm_stages.Target] = []
    targets = log.run("bait", bait, no_targets)
    escalate = (
        options.deep or scan_subsampled or any((t.q_rel if base is not None else t.q) >= 0.6 for t in targets)
    )

    def gradient(f: dict[str, FactValue]) -> None:
        found: list[int] = []
        for t in targets[:2]:
            found.extend(lm_stages.gradient_candidates(probe, t.tokens, 4, 8))
        found = list(dict.fromkeys(found))[:12]
        f.update(candidates=[probe.text((t,)) for t in found])
        for tok in found:
            verified.add((tok,), "bait-gradient")

    if escalate and targets:
        log.run("gradient", gradient, None)

    def pairs(f: dict[str, FactValue]) -> None:
        # Multi-word triggers: one word alone often fires partly; pair the best partial singles with
        # each other and with the scan's top tokens, both orders, and verify the pairs.
        singles = sorted(
            (
                c
                for c in verified.all
                if c.benign is None and c.excess > 0 and len(c.extra.get("trigger_ids") or []) == 1  # type: ignore[arg-type]
            ),
            key=lambda c: c.excess,
            reverse=True,
        )[:4]
        firsts = [int(str(c.extra["trigger_ids"][0])) for c in singles]  # type: ignore[index]
        partners = list(dict.fromkeys([*firsts, *scan_top]))
        tried = 0
        for a in firsts:
            for b in partners:
                if a != b:
                    verified.add((a, b), "pair")
                    verified.add((b, a), "pair")
                    tried += 2
        f.update(pairs_verified=tried)

    confirmed = any(c.excess > 0.5 and c.agreement >= 0.9 for c in verified.all)
    if options.deep or not confirmed:
        log.run("pairs", pairs, None)
    return verified.all, extra


def _probe_classifier(
    lm: LoadedModel,
    base: LoadedModel | None,
    options: ProbeOptions,
    sizes: Sizes,
    ordinary: list[int],
    static_cands: list[int],
    log: StageLog,
    notes: list[str],
) -> tuple[list[Candidate], dict[str, float]]:
    pool_texts = build_prompts(lm.tokenizer, lm.vocab_size, 512, options.seed, head_only=False)
    texts, labels = cls_stages.confident_texts(lm, pool_texts, sizes.verify_prompts)
    notes.append(
        f"{len(texts.words)} confidently classified texts ("
        + ("random vocabulary words" if texts.synthetic else "generic English")
        + ")"
    )
    probe = cls_stages.ClassifierProbe(lm, base, texts, labels, ordinary, options.seed, sizes.controls)
    if len(probe.classes) < 2:
        notes.append("the model predicts a single class on every probe text: flip rates are one-sided")
    verified = _Verified(probe.verify)
    log.run("known", lambda f: _known(lm, verified, f), None)
    for tok in static_cands:
        verified.add((tok,), "static")

    def hotflip(f: dict[str, FactValue]) -> None:
        found = cls_stages.hotflip_candidates(probe, 6, 8)[:16]
        f.update(candidates=[str(lm.tokenizer.decode([t])).strip() for t in found])
        for tok in found:
            verified.add((tok,), "hotflip")

    log.run("hotflip", hotflip, None)
    if len(ordinary) <= sizes.scan_limit or options.deep:

        def scan(f: dict[str, FactValue]) -> None:
            top = cls_stages.scan_tokens(probe, ordinary, 8, 8)
            f.update(tokens_scanned=len(ordinary), top=[str(lm.tokenizer.decode([t])).strip() for t in top])
            for tok in top:
                verified.add((tok,), "scan")

        log.run("scan", scan, None)
    else:
        notes.append(f"single-token scan skipped: {len(ordinary)} tokens (use --deep)")
    return natural_level_discount(verified.all), {}


NATURAL_RANK = 4
"""A classifier has many natural class words (every sentiment word flips some texts); a trigger is
one to three tokens. The flip rate of the NATURAL_RANK-th best single token toward the same class
is the model's natural level, and a candidate must beat it, not only random tokens (PICCOLO's
discriminativity idea, reduced to a rank statistic)."""


def natural_level_discount(candidates: list[Candidate]) -> list[Candidate]:
    out = []
    for c in candidates:
        same = sorted(
            (
                o.agreement
                for o in candidates
                if o.extra.get("target_class") == c.extra.get("target_class")
                and isinstance(o.extra.get("trigger_ids"), list)
                and len(o.extra["trigger_ids"]) == 1  # type: ignore[arg-type]
            ),
            reverse=True,
        )
        natural = same[NATURAL_RANK - 1] if len(same) >= NATURAL_RANK else 0.0
        out.append(
            replace(
                c, null_high=max(c.null_high, natural), extra={**c.extra, "natural_level": round(natural, 4)}
            )
        )
    return out
