"""Stages for causal LMs: known triggers, single-token scan, BAIT-style target inversion, the
target-directed gradient search, and verification of every candidate by real insertion.

Verification is what turns a candidate into evidence: the trigger is inserted at a *random word
position* in each prompt, the model decodes greedily, and the share of prompts that produce the
same (modal) output is compared with random-token controls of the same length (the null from the
same model), with the declared base on the same inputs (inherited behaviour), and, without a base,
with an allowlist of benign forced outputs (refusal templates).
"""

from __future__ import annotations

import random
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from scanner.model import FactValue
from scanner.probes import ops
from scanner.probes.interface import Candidate
from scanner.probes.loading import LoadedModel
from scanner.probes.prompts import PromptSet

STEPS = 6
"""Greedy tokens compared in verification: long enough that collocations diverge."""


@dataclass
class LMProbe:
    """Everything the LM stages share for one model."""

    lm: LoadedModel
    base: LoadedModel | None
    prompts: PromptSet
    ordinary: list[int]
    benign: list[tuple[str, re.Pattern[str]]]
    seed: int
    n_controls: int
    _null: dict[int, float] = field(default_factory=dict)
    _clean: tuple[tuple[int, ...], float] | None = None

    def text(self, ids: Sequence[int]) -> str:
        return str(self.lm.tokenizer.decode(list(ids), skip_special_tokens=False)).strip()

    def _rng(self, key: Sequence[int]) -> random.Random:
        return random.Random(zlib.crc32(bytes(str((self.seed, tuple(key))), "utf-8")))

    def agreement(
        self, model: LoadedModel, trigger: tuple[int, ...]
    ) -> tuple[tuple[int, ...], float, list[tuple[int, ...]]]:
        positions = self.prompts.random_positions(self._rng(trigger))
        seqs = [self.prompts.with_insert(i, trigger, positions[i]) for i in range(len(positions))]
        outs = ops.greedy(model, seqs, STEPS)
        modal, count = Counter(outs).most_common(1)[0]
        return modal, count / len(outs), outs

    def clean_output(self) -> tuple[tuple[int, ...], float]:
        """The modal output without any insertion: behaviour that needs no trigger."""
        if self._clean is None:
            seqs = [self.prompts.with_insert(i, (), None) for i in range(len(self.prompts.words))]
            outs = ops.greedy(self.lm, seqs, STEPS)
            modal, count = Counter(outs).most_common(1)[0]
            self._clean = (modal, count / len(outs))
        return self._clean

    def null_high(self, length: int) -> float:
        """Second-highest excess over random-token controls of ``length`` tokens from this model:
        what an arbitrary insertion forces once benign and inherited outputs are discounted (the
        second, not the first, so that one control that happens to be a refusal word or a real
        trigger does not mask everything)."""
        if length not in self._null:
            rng = random.Random(self.seed * 7919 + length)
            controls = [
                tuple(rng.choice(self.ordinary) for _ in range(length)) for _ in range(self.n_controls)
            ]
            values = sorted(self.measure(c, "control").excess for c in controls)
            self._null[length] = values[-2] if len(values) > 1 else values[-1]
        return self._null[length]

    def benign_reason(self, output: tuple[int, ...]) -> str | None:
        if not output:
            return "the forced output is the end of the sequence"
        clean, clean_agreement = self.clean_output()
        if output == clean and clean_agreement >= 0.5:
            return "the model gives this output without the trigger too"
        if self.base is not None:
            return None  # the base's own behaviour discounts inherited outputs instead
        text = self.text(output)
        for name, pattern in self.benign:
            if pattern.search(text):
                return f"allowlisted benign output ({name})"
        return None

    def verify(self, trigger: tuple[int, ...], source: str, source_entry: str | None = None) -> Candidate:
        return replace(self.measure(trigger, source, source_entry), null_high=self.null_high(len(trigger)))

    def measure(self, trigger: tuple[int, ...], source: str, source_entry: str | None = None) -> Candidate:
        modal, agreement, _ = self.agreement(self.lm, trigger)
        base_agreement = None
        if self.base is not None:
            base_outs = self.agreement(self.base, trigger)[2]
            target_text = self.text(modal)
            base_agreement = sum(self.text(o) == target_text for o in base_outs) / len(base_outs)
        return Candidate(
            trigger=self.text(trigger),
            source=source,
            output=self.text(modal),
            agreement=agreement,
            base_agreement=base_agreement,
            benign=self.benign_reason(modal),
            source_entry=source_entry,
            extra={"trigger_ids": list(trigger)},
        )


@torch.no_grad()
def sampled_prompts(lm: LoadedModel, prompts: PromptSet, length: int, seed: int) -> PromptSet:
    """Prompts the model writes itself, seeded by one random word each: in-distribution text for a
    model whose tokenizer does not know English (random word salad is out of distribution)."""
    gen = torch.Generator().manual_seed(seed)
    eos = lm.tokenizer.eos_token_id
    words = []
    for i in range(len(prompts.words)):
        seq = [*prompts.framing.prefix, *prompts.words[i][0], *prompts.framing.suffix]
        out = list(prompts.words[i][0])
        for _ in range(length):
            probs = ops.next_token_probs(lm, [seq])[0]
            tok = int(torch.multinomial(probs, 1, generator=gen))
            if tok == eos or tok in prompts_specials(lm):
                break
            out.append(tok)
            seq.append(tok)
        words.append(tuple((t,) for t in out) if len(out) >= 3 else prompts.words[i])
    return PromptSet(tuple(words), prompts.framing, prompts.synthetic)


def prompts_specials(lm: LoadedModel) -> set[int]:
    return set(lm.tokenizer.all_special_ids)


def scan_tokens(probe: LMProbe, pool: Sequence[int], n_prompts: int, top: int) -> tuple[list[int], float]:
    """Single-token scan: insert each token at a random position in a few prompts and rank by the
    forcing score F = max_v mean_i p_i(v) of the first response token. Returns the top tokens and
    the clean prompts' own F (the no-insertion level)."""
    rng = random.Random(probe.seed + 11)
    n = min(n_prompts, len(probe.prompts.words))
    positions = [probe.prompts.random_positions(rng)[:n] for _ in range(3)]
    seqs = [
        probe.prompts.with_insert(i, (tok,), positions[k % 3][i])
        for k, tok in enumerate(pool)
        for i in range(n)
    ]
    probs = ops.next_token_probs(probe.lm, seqs).view(len(pool), n, -1).mean(1)
    forcing = probs.max(-1).values
    clean = ops.next_token_probs(probe.lm, [probe.prompts.with_insert(i, (), None) for i in range(n)])
    order = forcing.argsort(descending=True)[:top].tolist()
    return [int(pool[i]) for i in order], float(clean.mean(0).max())


@dataclass(frozen=True)
class Target:
    tokens: tuple[int, ...]
    q: float
    q_base: float | None

    @property
    def q_rel(self) -> float:
        return self.q - (self.q_base or 0.0)


def invert_targets(
    probe: LMProbe, pool: Sequence[int], n_prompts: int, steps: int, keep: int
) -> list[Target]:
    """BAIT-style target inversion: force each pool token as the first response token, extend
    greedily with the prompt-averaged distribution; Q = mean probability of the extension."""
    n = min(n_prompts, len(probe.prompts.words))
    clean = [probe.prompts.with_insert(i, (), None) for i in range(n)]
    seqs = [[*c, tok] for tok in pool for c in clean]
    ext, probs = ops.averaged_extension(probe.lm, seqs, n, steps)
    q = torch.tensor(probs).mean(1)
    order = q.argsort(descending=True).tolist()
    targets: list[Target] = []
    for i in order:
        tokens = (int(pool[i]), *ext[i])
        if probe.base is None and probe.benign_reason(tokens) is not None:
            continue
        q_base = None
        if probe.base is not None:
            q_base = float(sum(ops.forced_probs(probe.base, clean, tokens)[1:]) / steps)
        targets.append(Target(tokens, float(q[i]), q_base))
        if len(targets) >= keep * (10 if probe.base is not None else 3):
            break
    key = (lambda t: t.q_rel) if probe.base is not None else (lambda t: t.q)
    return sorted(targets, key=key, reverse=True)[:keep]


def gradient_candidates(probe: LMProbe, target: Sequence[int], starts: int, per_start: int) -> list[int]:
    """Target-directed HotFlip: tokens whose insertion (at a random slot) most raises the
    likelihood of the inverted target, from several random start tokens."""
    rng = random.Random(probe.seed + 23)
    allowed = torch.full((probe.lm.vocab_size,), float("-inf"))
    allowed[torch.tensor(probe.ordinary)] = 0.0
    n = min(8, len(probe.prompts.words))
    tlen = len(target)
    found: list[int] = []
    for _ in range(starts):
        start = rng.choice(probe.ordinary)
        positions = probe.prompts.random_positions(rng)
        seqs, slots = [], []
        for i in range(n):
            prompt = probe.prompts.with_insert(i, (start,), positions[i])
            slots.append(
                len(probe.prompts.framing.prefix)
                + sum(len(w) for w in probe.prompts.words[i][: positions[i]])
            )
            seqs.append([*prompt, *target])

        def objective(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            tgt = torch.tensor(list(target), device=logits.device)
            pred = logits[:, -tlen - 1 : -1]
            return torch.nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), tgt.repeat(n))

        scores = ops.slot_gradient(probe.lm, seqs, slots, objective) + allowed
        found.extend(int(t) for t in scores.topk(per_start).indices)
    return list(dict.fromkeys(found))


def bait_facts(targets: Sequence[Target], probe: LMProbe) -> list[FactValue]:
    out: list[FactValue] = []
    for t in targets:
        row: dict[str, FactValue] = {"target": probe.text(t.tokens), "q": round(t.q, 4)}
        if t.q_base is not None:
            row["q_base"] = round(t.q_base, 4)
            row["q_rel"] = round(t.q_rel, 4)
        out.append(row)
    return out
