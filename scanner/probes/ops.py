"""Batched forward passes: next-token distributions, greedy decoding with a KV cache, class
probabilities, and the gradient of an objective with respect to one inserted token (HotFlip)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from scanner.probes.loading import LoadedModel


def batch_size(lm: LoadedModel, seq_len: int) -> int:
    """Rows per forward pass: from free GPU memory on CUDA, a fixed modest number on CPU."""
    if lm.device.type != "cuda":
        return 64
    free, _ = torch.cuda.mem_get_info(lm.device)
    cfg = lm.model.config
    hidden = int(getattr(cfg, "hidden_size", 0) or getattr(cfg, "n_embd", 1024))
    layers = int(getattr(cfg, "num_hidden_layers", 0) or getattr(cfg, "n_layer", 24))
    # bf16 activations + KV cache per row, with a generous factor for logits and workspace.
    per_row = seq_len * (hidden * layers * 4 * 2 + lm.vocab_size * 4) * 2
    return int(max(1, min(512, (free * 0.5) // max(1, per_row))))


def pad_left(
    seqs: Sequence[Sequence[int]], pad: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
            mask[i, width - len(s) :] = 1
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


def _pad_id(lm: LoadedModel) -> int:
    pad = lm.tokenizer.pad_token_id
    return int(pad) if pad is not None else 0


@torch.no_grad()
def next_token_probs(lm: LoadedModel, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
    """[n, vocab] float32 probabilities of the token after each sequence."""
    out = []
    step = batch_size(lm, max(len(s) for s in seqs))
    for i in range(0, len(seqs), step):
        ids, mask, pos = pad_left(seqs[i : i + step], _pad_id(lm), lm.device)
        logits = lm.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1]
        out.append(torch.softmax(logits.float(), dim=-1).cpu())
    return torch.cat(out)


@torch.no_grad()
def greedy(lm: LoadedModel, seqs: Sequence[Sequence[int]], steps: int) -> list[tuple[int, ...]]:
    """Greedy continuations (KV-cached), cut at the end-of-sequence token."""
    eos = lm.tokenizer.eos_token_id
    results: list[tuple[int, ...]] = []
    step = batch_size(lm, max(len(s) for s in seqs) + steps)
    for i in range(0, len(seqs), step):
        ids, mask, pos = pad_left(seqs[i : i + step], _pad_id(lm), lm.device)
        out = lm.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        tokens = []
        for _ in range(steps):
            nxt = out.logits[:, -1].argmax(-1)
            tokens.append(nxt.cpu())
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos[:, -1:] + 1
            out = lm.model(
                input_ids=nxt[:, None],
                attention_mask=mask,
                position_ids=pos,
                past_key_values=out.past_key_values,
                use_cache=True,
            )
        block = torch.stack(tokens, dim=1).tolist()
        for row in block:
            cut = row.index(eos) if eos is not None and eos in row else len(row)
            results.append(tuple(row[:cut]))
    return results


def class_probs(lm: LoadedModel, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
    """[n, classes] float32 probabilities of a sequence classifier."""
    return torch.softmax(class_logits(lm, seqs), dim=-1)


@torch.no_grad()
def class_logits(lm: LoadedModel, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
    """[n, classes] float32 logits of a sequence classifier."""
    out = []
    step = batch_size(lm, max(len(s) for s in seqs))
    for i in range(0, len(seqs), step):
        chunk = seqs[i : i + step]
        width = max(len(s) for s in chunk)
        ids = torch.full((len(chunk), width), _pad_id(lm), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, s in enumerate(chunk):
            ids[j, : len(s)] = torch.tensor(list(s))
            mask[j, : len(s)] = 1
        logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).logits
        out.append(logits.float().cpu())
    return torch.cat(out)


def slot_gradient(
    lm: LoadedModel,
    seqs: Sequence[Sequence[int]],
    slots: Sequence[int],
    objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """HotFlip's first-order score of every vocabulary token for the token at ``slots[i]``.

    ``objective(logits, mask)`` returns the loss to minimise; the result is ``-E @ grad`` averaged
    over the sequences: a higher value means swapping that token in lowers the loss more."""
    emb_layer = lm.model.get_input_embeddings()  # type: ignore[operator]
    weight = emb_layer.weight
    right = lm.kind == "classifier"
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), _pad_id(lm), dtype=torch.long)
    mask = torch.zeros_like(ids)
    slot_idx = []
    for i, s in enumerate(seqs):
        off = 0 if right else width - len(s)
        ids[i, off : off + len(s)] = torch.tensor(list(s))
        mask[i, off : off + len(s)] = 1
        slot_idx.append(off + slots[i])
    ids, mask = ids.to(lm.device), mask.to(lm.device)
    embeds = emb_layer(ids).detach().clone().requires_grad_(True)
    kwargs: dict[str, torch.Tensor] = {"inputs_embeds": embeds, "attention_mask": mask}
    if not right:
        kwargs["position_ids"] = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.enable_grad():
        logits = lm.model(**kwargs).logits
        loss = objective(logits.float(), mask)
        (grad,) = torch.autograd.grad(loss, embeds)
    rows = torch.stack([grad[i, slot_idx[i]] for i in range(len(seqs))]).float()
    scores: torch.Tensor = -(weight.float() @ rows.mean(0)).cpu()
    return scores


@torch.no_grad()
def averaged_extension(
    lm: LoadedModel, seqs: Sequence[Sequence[int]], group: int, steps: int
) -> tuple[list[list[int]], list[list[float]]]:
    """BAIT's extension: rows come in consecutive groups of ``group`` prompts sharing one forced
    first token; each step appends, to every row of a group, the argmax of the group's
    prompt-averaged next-token distribution (KV-cached). Returns tokens and their averaged probs."""
    tokens: list[list[int]] = []
    probs: list[list[float]] = []
    rows_per = max(group, (batch_size(lm, max(len(s) for s in seqs) + steps) // group) * group)
    for i in range(0, len(seqs), rows_per):
        ids, mask, pos = pad_left(seqs[i : i + rows_per], _pad_id(lm), lm.device)
        out = lm.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        n_groups = ids.shape[0] // group
        chunk_tokens: list[torch.Tensor] = []
        chunk_probs: list[torch.Tensor] = []
        for _ in range(steps):
            p = torch.softmax(out.logits[:, -1].float(), dim=-1).view(n_groups, group, -1).mean(1)
            best_p, best = p.max(-1)
            chunk_tokens.append(best.cpu())
            chunk_probs.append(best_p.cpu())
            nxt = best.repeat_interleave(group)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos[:, -1:] + 1
            out = lm.model(
                input_ids=nxt[:, None],
                attention_mask=mask,
                position_ids=pos,
                past_key_values=out.past_key_values,
                use_cache=True,
            )
        tokens.extend(torch.stack(chunk_tokens, 1).tolist())
        probs.extend(torch.stack(chunk_probs, 1).tolist())
    return tokens, probs


@torch.no_grad()
def forced_probs(lm: LoadedModel, prompts: Sequence[Sequence[int]], target: Sequence[int]) -> list[float]:
    """Prompt-averaged probability of each target token given the prompt and the target so far."""
    seqs = [[*p, *target] for p in prompts]
    ids, mask, pos = pad_left(seqs, _pad_id(lm), lm.device)
    logits = lm.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.float()
    probs = torch.softmax(logits[:, -len(target) - 1 : -1], dim=-1).mean(0).cpu()
    return [float(probs[j, t]) for j, t in enumerate(target)]
