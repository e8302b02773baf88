"""What the AI-BOM says about the model, read defensively from ``Report.facts``.

Facts are produced by the format analyzers (per artifact path; ``"."`` for repo-level facts
from the tree analyzer). The BOM consumes these keys, wherever they appear:

* ``architecture`` (str, e.g. ``BertModel``; a list takes its first item), ``architectures``
  (list, the config's), ``model_type`` (str, the family, e.g. ``bert``)
* ``pipeline_tag`` (str, the task)
* ``parameter_count`` (int; per weight file, summed over shards of one format when no
  repo-level total exists)
* ``dtypes`` / ``weight_dtypes`` (list of str, or dtype -> count), ``quantization`` (str),
  ``context_length`` (int)
* ``chat_template_sha256`` (str), or GGUF ``chat_templates`` (key -> {sha256} or text)
* GGUF: ``quantization`` as type -> tensor count, ``base_model.0.name``, ``name``, ``license``
* ``license`` (str or list of SPDX ids / names), ``license_name`` (for ``other``)
* ``base_model`` (str or list), ``datasets`` (str or list)
* ``model_name`` / ``name`` (a local folder's name), ``author`` (supplier of a local model)

Values of an unexpected type are ignored, never guessed at. Nothing here reads a file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from scanner.model import FactValue, Report

#: Formats whose parameter counts describe the model's weights, most authoritative first: when
#: a repo ships the same weights twice (safetensors and a pickle), only one format is counted.
_WEIGHT_FORMATS = ("safetensors", "gguf", "onnx", "hdf5", "zip", "pickle", "numpy", "protobuf")

_HUB_TARGET = re.compile(
    r"^(?:hf://|https://huggingface\.co/)?(?P<org>[A-Za-z0-9][\w.\-]*)/(?P<name>[\w.\-]+)(?:@(?P<rev>[\w.\-/]+))?/?$"
)


@dataclass(frozen=True)
class ModelFacts:
    """The model-level description the BOM writers need."""

    name: str
    group: str | None
    """The hub organisation (also the supplier), for hub targets."""
    hub_id: str | None
    """``org/name`` when the target is a Hugging Face repo pinned to ``revision``."""
    revision: str | None
    architecture: str | None
    family: str | None
    task: str | None
    parameter_count: int | None
    dtypes: tuple[str, ...]
    quantization: str | None
    context_length: int | None
    chat_template_sha256: str | None
    licenses: tuple[str, ...]
    base_models: tuple[str, ...]
    datasets: tuple[str, ...]
    author: str | None


def model_facts(report: Report) -> ModelFacts:
    """Merge repo-level facts (``"."``) with per-file facts; repo-level ones win."""
    merged = _merged_scalars(report.facts)
    hub = _hub_identity(report)
    if hub is not None:
        group, name = hub
        hub_id: str | None = f"{group}/{name}"
    else:
        group, hub_id = None, None
        name = _text(merged.get("model_name")) or _text(merged.get("name")) or _folder_name(report.target)
    architecture = _text(merged.get("architecture")) or _first_text(merged.get("architectures"))
    return ModelFacts(
        name=name,
        group=group,
        hub_id=hub_id,
        revision=report.revision.lower() if report.revision else None,
        architecture=architecture,
        family=_text(merged.get("model_type")),
        task=_text(merged.get("pipeline_tag")),
        parameter_count=_parameter_count(report),
        dtypes=tuple(
            sorted(set(_all_texts(report.facts, "dtypes")) | set(_all_texts(report.facts, "weight_dtypes")))
        ),
        quantization=_text(merged.get("quantization")) or _quantization_types(merged.get("quantization")),
        context_length=_int(merged.get("context_length")),
        chat_template_sha256=_text(merged.get("chat_template_sha256")) or _gguf_template_sha256(merged),
        licenses=_licenses(merged),
        base_models=_texts(merged.get("base_model")) or _texts(merged.get("base_model.0.name")),
        datasets=_texts(merged.get("datasets")),
        author=_text(merged.get("author")) or group,
    )


def _hub_identity(report: Report) -> tuple[str, str] | None:
    """``(org, name)`` for a hub target resolved to a commit; local paths never match."""
    if not report.revision:
        return None
    target = report.target
    if not (target.startswith(("hf://", "https://huggingface.co/")) or _looks_like_repo_id(target)):
        return None
    match = _HUB_TARGET.match(target)
    if match is None:
        return None
    return match["org"], match["name"]


def _looks_like_repo_id(target: str) -> bool:
    return not target.startswith(("/", ".", "~")) and target.count("/") == 1 and "\\" not in target


def _folder_name(target: str) -> str:
    name = PurePosixPath(target.rstrip("/").replace("\\", "/")).name
    return name or "model"


def _merged_scalars(facts: Mapping[str, Mapping[str, FactValue]]) -> dict[str, FactValue]:
    merged: dict[str, FactValue] = {}
    order = sorted(facts, key=lambda path: (path != ".", path.count("!"), path))
    for path in order:
        for key, value in facts[path].items():
            if key not in merged and value is not None:
                merged[key] = value
    return merged


def _parameter_count(report: Report) -> int | None:
    repo_level = _int(report.facts.get(".", {}).get("parameter_count"))
    if repo_level is not None:
        return repo_level
    formats = {a.path: a.format for a in report.artifacts}
    per_format: dict[str, int] = {}
    for path, facts in report.facts.items():
        count = _int(facts.get("parameter_count"))
        if count is not None and path != ".":
            fmt = formats.get(path, "unknown")
            per_format[fmt] = per_format.get(fmt, 0) + count
    for fmt in _WEIGHT_FORMATS:
        if fmt in per_format:
            return per_format[fmt]
    return max(per_format.values(), default=None)


def _quantization_types(value: FactValue) -> str | None:
    """GGUF gives tensor counts per quantization type: name the types (``Q4_K,Q6_K``)."""
    if isinstance(value, dict) and value:
        return ",".join(sorted(k for k in value if k.strip()))
    return None


def _gguf_template_sha256(merged: Mapping[str, FactValue]) -> str | None:
    """Digest of a GGUF's default chat template: the analyzer's own ``sha256`` of it, or the
    digest of its text (as ``scanner.formats.jinja.template_sha256`` computes it)."""
    templates = merged.get("chat_templates")
    entry = templates.get("tokenizer.chat_template") if isinstance(templates, dict) else None
    if isinstance(entry, dict):  # the analyzer's summary of the template: {"sha256": ..., ...}
        return _text(entry.get("sha256"))
    if isinstance(entry, str):
        return hashlib.sha256(entry.encode("utf-8", "surrogatepass")).hexdigest()
    return None


def _licenses(merged: Mapping[str, FactValue]) -> tuple[str, ...]:
    out = []
    name = _text(merged.get("license_name"))
    for value in _texts(merged.get("license")):
        # Hugging Face cards say ``license: other`` and name the real licence separately.
        out.append(name if value.lower() == "other" and name else value)
    return tuple(out)


def _text(value: FactValue) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first_text(value: FactValue) -> str | None:
    texts = _texts(value)
    return texts[0] if texts else None


def _texts(value: FactValue) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, list):
        return tuple(dict.fromkeys(v.strip() for v in value if isinstance(v, str) and v.strip()))
    return ()


def _all_texts(facts: Mapping[str, Mapping[str, FactValue]], key: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for path in sorted(facts):
        value = facts[path].get(key)
        # Analyzers may give dtypes as a list or as a mapping of dtype -> tensor count.
        names = tuple(k for k in value if k.strip()) if isinstance(value, dict) else _texts(value)
        for text in names:
            seen.setdefault(text, None)
    return tuple(sorted(seen))


def _int(value: FactValue) -> int | None:
    # bool is an int subclass: ``True`` is not a parameter count.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
