"""Stage "static": weight statistics, no forward pass.

Input-embedding row norms as a residual against the token's id neighbourhood (BPE ids are roughly
frequency-ordered, so neighbours are tokens of similar training frequency); with a base model, the
per-row change ‖E_ft − E_base‖ as the same residual, and per-tensor relative change. These are
cheap evidence and a source of trigger *candidates* (the top rows are verified later); they never
make a verdict on their own, because in the prototype clean fine-tunes produced outliers as large.
"""

from __future__ import annotations

import torch

from scanner.model import FactValue
from scanner.probes.loading import LoadedModel

WINDOW = 32


def robust_residual_z(values: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    """(value − median of id neighbours) / (1.4826 · MAD of the residuals)."""
    n = values.shape[0]
    padded = torch.nn.functional.pad(values[None, None], (window, window), mode="replicate")[0, 0]
    neigh = padded.unfold(0, 2 * window + 1, 1)[:n]
    resid = values - neigh.median(dim=1).values
    mad = (resid - resid.median()).abs().median() * 1.4826
    return resid / max(float(mad), 1e-8)


def _top(z: torch.Tensor, allowed: list[int], lm: LoadedModel, k: int) -> list[dict[str, FactValue]]:
    idx = torch.tensor(allowed, dtype=torch.long)
    order = z[idx].argsort(descending=True)[:k]
    return [
        {"token": str(lm.tokenizer.decode([int(idx[i])])), "id": int(idx[i]), "z": round(float(z[idx[i]]), 2)}
        for i in order
    ]


def _embedding(lm: LoadedModel) -> torch.Tensor:
    weight: torch.Tensor = lm.model.get_input_embeddings().weight  # type: ignore[operator]
    return weight.detach().float().cpu()


def static_stage(
    lm: LoadedModel, base: LoadedModel | None, ordinary: list[int]
) -> tuple[dict[str, FactValue], list[int]]:
    """Facts for the report, and token ids worth verifying as triggers."""
    emb = _embedding(lm)
    z_norm = robust_residual_z(emb.norm(dim=1))
    top_norm = _top(z_norm, ordinary, lm, 5)
    facts: dict[str, FactValue] = {
        "embedding_norm_outliers": list(top_norm),
        "max_norm_z": top_norm[0]["z"] if top_norm else 0.0,
    }
    candidates = [int(str(t["id"])) for t in top_norm[:3]]
    if base is not None:
        base_emb = _embedding(base)
        if base_emb.shape == emb.shape:
            z_delta = robust_residual_z((emb - base_emb).norm(dim=1))
            top_delta = _top(z_delta, ordinary, lm, 8)
            facts["embedding_delta_outliers"] = list(top_delta)
            facts["max_delta_z"] = top_delta[0]["z"] if top_delta else 0.0
            candidates = [int(str(t["id"])) for t in top_delta] + candidates
        else:
            facts["embedding_delta"] = f"shapes differ: {tuple(emb.shape)} vs base {tuple(base_emb.shape)}"
        facts["layer_delta"] = _layer_deltas(lm, base)
        facts["tokenizer_diff"] = _tokenizer_diff(lm, base)
    return facts, list(dict.fromkeys(candidates))


def _layer_deltas(lm: LoadedModel, base: LoadedModel) -> list[FactValue]:
    theirs = dict(base.model.named_parameters())
    rows: list[tuple[float, str]] = []
    for name, p in lm.model.named_parameters():
        q = theirs.get(name)
        if q is None or q.shape != p.shape:
            continue
        rel = float((p.float() - q.float()).norm() / (q.float().norm() + 1e-12))
        rows.append((rel, name))
    rows.sort(reverse=True)
    return [{"tensor": n, "relative_change": round(r, 4)} for r, n in rows[:5]]


def _tokenizer_diff(lm: LoadedModel, base: LoadedModel) -> dict[str, FactValue]:
    mine, theirs = lm.tokenizer.get_vocab(), base.tokenizer.get_vocab()
    added = sorted(set(mine) - set(theirs))
    return {
        "added_tokens": list(added[:20]),
        "added_count": len(added),
        "removed_count": len(set(theirs) - set(mine)),
        "chat_template_changed": getattr(lm.tokenizer, "chat_template", None)
        != getattr(base.tokenizer, "chat_template", None),
    }
