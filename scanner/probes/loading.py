"""Loading a model for probing: safetensors weights only, never a pickle, never remote code.

The probe is the one place that loads weights (see the developer guide); it does so through
``transformers``' Auto classes with ``use_safetensors=True`` and ``trust_remote_code=False`` after
checking the folder itself, so that a repo carrying only ``pytorch_model.bin`` is refused with a
message pointing at the static scan instead of silently falling back to ``torch.load``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from scanner.probes.interface import ProbeError

PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
#: What is fetched for an ``hf://`` target: configuration, tokenizer and safetensors, nothing else.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "README.md"]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to probe."""

    path: Path
    kind: str
    """``lm`` (causal LM) or ``classifier`` (sequence classification head)."""
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    dtype: torch.dtype
    architecture: str
    declared_base: str | None
    """``base_model`` from the model card's front matter, when present."""

    @property
    def vocab_size(self) -> int:
        emb = self.model.get_input_embeddings()  # type: ignore[operator]
        return int(emb.weight.shape[0])


def resolve_device(requested: str) -> tuple[torch.device, torch.dtype]:
    """``auto`` picks CUDA in bf16 when present, else CPU in fp32."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ProbeError(f"unknown device {requested!r} (expected auto, cpu or cuda)")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ProbeError("--device cuda was asked for but no CUDA device is available")
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu"), torch.float32
    return torch.device("cuda"), torch.bfloat16


def local_folder(target: str) -> Path:
    """A local folder for ``target``; ``hf://org/name[@rev]`` is fetched (safetensors and config only)."""
    if target.startswith("hf://"):
        repo, _, revision = target[len("hf://") :].partition("@")
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(repo, revision=revision or None, allow_patterns=HUB_PATTERNS))
        except Exception as exc:  # the hub's errors are many; each one means "cannot probe"
            raise ProbeError(f"cannot fetch {target}: {type(exc).__name__}: {exc}") from None
    path = Path(target)
    if not path.exists():
        raise ProbeError(f"model not found: {target}")
    if not path.is_dir():
        raise ProbeError(
            f"{target} is a file; the probe needs a model folder (config, tokenizer, safetensors)"
        )
    return path


def _read_config(path: Path) -> dict[str, object]:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProbeError(f"{path} has no config.json; the probe needs a transformers model folder") from None
    except (OSError, ValueError) as exc:
        raise ProbeError(f"{path}/config.json cannot be read: {exc}") from None
    if not isinstance(config, dict):
        raise ProbeError(f"{path}/config.json is not a JSON object")
    return config


def model_kind(config: dict[str, object]) -> tuple[str, str]:
    """(kind, architecture) from the config's declared architectures."""
    archs = config.get("architectures")
    names = [a for a in archs if isinstance(a, str)] if isinstance(archs, list) else []
    for name in names:
        if name.endswith(("ForCausalLM", "LMHeadModel")):
            return "lm", name
        if name.endswith("ForSequenceClassification"):
            return "classifier", name
    raise ProbeError(
        f"unsupported architecture {names or 'undeclared'}: the probe handles causal LMs "
        "and sequence classifiers"
    )


def refuse_pickles(path: Path) -> None:
    if any(path.glob("*.safetensors")):
        return
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in path.glob(pattern))
    if pickles:
        raise ProbeError(
            f"{path} has only pickle weights ({', '.join(pickles)}); the probe never loads a "
            f"pickle. Run `modelscan scan {path}` for the static check, or convert the "
            "weights to safetensors in a sandbox"
        )
    raise ProbeError(f"{path} has no *.safetensors weights to probe")


def declared_base(path: Path) -> str | None:
    try:
        card = (path / "README.md").read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return None
    front = re.match(r"---\s*\n(.*?)\n---", card, re.S)
    if not front:
        return None
    found = re.search(r"^base_model:\s*(?:\n\s*-\s*)?['\"]?([^\s'\"]+)", front.group(1), re.M)
    return found.group(1) if found else None


def load_model(target: str, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    """Load ``target`` for probing, or raise ``ProbeError`` saying why not."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # our own progress goes to stderr only on a terminal

    path = local_folder(target)
    refuse_pickles(path)
    kind, arch = model_kind(_read_config(path))
    auto = AutoModelForCausalLM if kind == "lm" else AutoModelForSequenceClassification
    try:
        # trust_remote_code=False: an auto_map in the config must never import the repo's code.
        model = auto.from_pretrained(
            str(path), trust_remote_code=False, use_safetensors=True, dtype=dtype, local_files_only=True
        )
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ProbeError(f"cannot load {target} from safetensors: {type(exc).__name__}: {exc}") from None
    model.to(device)  # type: ignore[arg-type]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return LoadedModel(path, kind, model, tokenizer, device, dtype, arch, declared_base(path))
