"""The model card (``README.md``) YAML front matter: license, base model, datasets, task.

Parsed with ``yaml.safe_load`` (no tags, no objects); only plain strings and lists of scalars
become facts for the AI-BOM.
"""

from __future__ import annotations

import yaml

from scanner.model import FactValue

CARD_FACTS = ("license", "base_model", "datasets", "pipeline_tag", "library_name", "language")


def card_facts(text: str) -> dict[str, FactValue]:
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    try:
        card = yaml.safe_load(text[3:end]) if end > 0 else None
    except yaml.YAMLError:
        return {}
    out: dict[str, FactValue] = {}
    if isinstance(card, dict):
        for key in CARD_FACTS:
            value = card.get(key)
            if isinstance(value, str):
                out[key] = value
            elif isinstance(value, list):
                items: list[FactValue] = [str(v) for v in value if isinstance(v, (str, int, float))]
                out[key] = items
    return out
