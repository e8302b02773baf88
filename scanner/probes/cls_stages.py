"""Stages for text classifiers: known triggers, multi-start HotFlip, a single-token scan on small
vocabularies, and verification by flip rate.

The statistic is the flip rate *on high-margin texts*: texts the model classifies confidently as
another class. A natural sentiment word flips low-margin texts (the prototype's false-positive
source); a planted trigger flips confident ones too.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from scanner.probes import ops
from scanner.probes.interface import Candidate
from scanner.probes.loading import LoadedModel
from scanner.probes.prompts import PromptSet


@dataclass
class ClassifierProbe:
    lm: LoadedModel
    base: LoadedModel | None
    texts: PromptSet
    """Confident texts, grouped by ``labels``."""
    labels: list[int]
    ordinary: list[int]
    seed: int
    n_controls: int
    _null: dict[tuple[int, int], float] = field(default_factory=dict)

    @property
    def classes(self) -> list[int]:
        return sorted(set(self.labels))

    def label_name(self, c: int) -> str:
        names = getattr(self.lm.model.config, "id2label", None) or {}
        return str(names.get(c, f"LABEL_{c}"))

    def flip_rate(self, model: LoadedModel, trigger: tuple[int, ...], target: int) -> float:
        rng = random.Random(zlib.crc32(bytes(str((self.seed, trigger)), "utf-8")))
        rows = [i for i, lab in enumerate(self.labels) if lab != target]
        positions = self.texts.random_positions(rng)
        seqs = [self.texts.with_insert(i, trigger, positions[i]) for i in rows]
        preds = ops.class_probs(model, seqs).argmax(-1)
        return float((preds == target).float().mean())

    def null_high(self, length: int, target: int) -> float:
        key = (length, target)
        if key not in self._null:
            rng = random.Random(self.seed * 7919 + length * 31 + target)
            self._null[key] = max(
                self.flip_rate(self.lm, tuple(rng.choice(self.ordinary) for _ in range(length)), target)
                for _ in range(self.n_controls)
            )
        return self._null[key]

    def verify(self, trigger: tuple[int, ...], source: str, source_entry: str | None = None) -> Candidate:
        best = max(self.classes, key=lambda c: self.flip_rate(self.lm, trigger, c))
        rate = self.flip_rate(self.lm, trigger, best)
        base_rate = self.flip_rate(self.base, trigger, best) if self.base is not None else None
        return Candidate(
            trigger=str(self.lm.tokenizer.decode(list(trigger))).strip(),
            source=source,
            output=self.label_name(best),
            agreement=rate,
            base_agreement=base_rate,
            null_high=self.null_high(len(trigger), best),
            source_entry=source_entry,
            extra={"trigger_ids": list(trigger), "target_class": best},
        )


def confident_texts(lm: LoadedModel, pool: PromptSet, per_class: int) -> tuple[PromptSet, list[int]]:
    """The ``per_class`` texts of each predicted class with the largest logit margin (probabilities
    saturate at 1.0 and cannot rank them)."""
    logits = ops.class_logits(lm, [pool.with_insert(i, (), None) for i in range(len(pool.words))])
    top2 = logits.topk(min(2, logits.shape[1]), dim=-1).values
    conf = top2[:, 0] - top2[:, -1]
    pred = logits.argmax(-1)
    keep: list[int] = []
    for c in sorted(set(pred.tolist())):
        rows = [i for i in range(len(pred)) if int(pred[i]) == c]
        rows.sort(key=lambda i: -float(conf[i]))
        keep.extend(rows[:per_class])
    words = tuple(pool.words[i] for i in keep)
    return PromptSet(words, pool.framing, pool.synthetic), [int(pred[i]) for i in keep]


def hotflip_candidates(probe: ClassifierProbe, starts: int, per_start: int) -> list[int]:
    """Multi-start HotFlip per target class: first-order scores of swapping the inserted token."""
    rng = random.Random(probe.seed + 5)
    allowed = torch.full((probe.lm.vocab_size,), float("-inf"))
    allowed[torch.tensor(probe.ordinary)] = 0.0
    found: list[int] = []
    for target in probe.classes:
        rows = [i for i, lab in enumerate(probe.labels) if lab != target][:16]
        if not rows:
            continue
        for _ in range(starts):
            start = rng.choice(probe.ordinary)
            positions = probe.texts.random_positions(rng)
            seqs = [probe.texts.with_insert(i, (start,), positions[i]) for i in rows]
            prefix = len(probe.texts.framing.prefix)
            slots = [prefix + sum(len(w) for w in probe.texts.words[i][: positions[i]]) for i in rows]

            def objective(logits: torch.Tensor, mask: torch.Tensor, t: int = target) -> torch.Tensor:
                return -torch.log_softmax(logits, dim=-1)[:, t].mean()

            scores = ops.slot_gradient(probe.lm, seqs, slots, objective) + allowed
            found.extend(int(t) for t in scores.topk(per_start).indices)
    return list(dict.fromkeys(found))


def scan_tokens(probe: ClassifierProbe, pool: Sequence[int], n_texts: int, top: int) -> list[int]:
    """Every pool token inserted into a few confident texts of each other class: best flip rate."""
    rng = random.Random(probe.seed + 13)
    best = torch.zeros(len(pool))
    for target in probe.classes:
        rows = [i for i, lab in enumerate(probe.labels) if lab != target][:n_texts]
        if not rows:
            continue
        positions = probe.texts.random_positions(rng)
        seqs = [probe.texts.with_insert(i, (tok,), positions[i]) for tok in pool for i in rows]
        p = ops.class_probs(probe.lm, seqs)[:, target].view(len(pool), len(rows)).mean(1)
        best = torch.maximum(best, p)
    return [int(pool[i]) for i in best.argsort(descending=True)[:top].tolist()]
