"""Where a model's signature lives (kept apart from ``verify`` so finding it imports nothing heavy)."""

from __future__ import annotations

from pathlib import Path

SIGNATURE_NAME = "model.sig"


def default_signature_path(model: Path) -> Path:
    """``MODEL_DIR/model.sig``, or ``model.file.sig`` beside a single-file model."""
    return model / SIGNATURE_NAME if model.is_dir() else model.with_name(model.name + ".sig")
