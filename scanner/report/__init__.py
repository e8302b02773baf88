"""Report renderers, selected by ``--format``: one module per format, one registry."""

from __future__ import annotations

import importlib

from scanner.report.interface import Renderer

#: --format value -> module defining RENDERER
RENDERER_MODULES: dict[str, str] = {
    "text": "scanner.report.text",
    "json": "scanner.report.json",
    "sarif": "scanner.report.sarif",
    "markdown": "scanner.report.markdown",
}


def renderer_for(name: str) -> Renderer:
    """The renderer for ``--format name``; ``KeyError`` for an unknown name."""
    module = importlib.import_module(RENDERER_MODULES[name])
    renderer = module.RENDERER
    assert isinstance(renderer, Renderer)
    return renderer


__all__ = ["RENDERER_MODULES", "Renderer", "renderer_for"]
