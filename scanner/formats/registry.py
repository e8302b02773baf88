"""Which analyzer handles which format: the one place that dispatches on format names.

Each entry of ``ANALYZER_MODULES`` names a module that defines ``ANALYZER`` (an ``Analyzer``);
``RECOGNIZER_MODULES`` names modules whose ``RECOGNIZER`` may refine a sniffed format from the
file's structure or context (``refine``); ``TREE_ANALYZER_MODULES`` name modules with a
``TREE_ANALYZER``. Modules are imported lazily so an optional dependency of one format never
breaks the others; a module that fails to import turns into a "format support not installed"
finding for its formats.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache, lru_cache

from scanner.formats.interface import Analyzer, Context, Recognizer, TreeAnalyzer
from scanner.sources.interface import Node

#: module path -> the formats it handles
ANALYZER_MODULES: dict[str, tuple[str, ...]] = {
    "scanner.formats.pickle": ("pickle",),
    "scanner.containers.zip": ("zip",),
    "scanner.containers.tar": ("tar",),
    "scanner.containers.compressed": ("gzip", "bzip2", "xz", "lzma", "zlib", "zstd", "lz4"),
    "scanner.containers.sevenz": ("7z",),
    "scanner.formats.numpy": ("numpy",),
    "scanner.formats.plain": ("text", "json", "image", "empty"),
    "scanner.formats.keras": ("keras-config",),
    "scanner.formats.tfcheckpoint": ("tf-bundle-index", "tf-bundle-data", "tf-fingerprint"),
    "scanner.formats.safetensors": ("safetensors",),
    "scanner.formats.gguf": ("gguf",),
    "scanner.formats.hdf5": ("hdf5",),
    "scanner.formats.protobuf": ("protobuf",),
}

#: sniffed format -> modules whose RECOGNIZER may refine it, asked in order
RECOGNIZER_MODULES: dict[str, tuple[str, ...]] = {
    "unknown": ("scanner.formats.tfcheckpoint",),
    "json": ("scanner.formats.keras",),
}

#: modules that analyze a whole tree (repo layout, remote code)
TREE_ANALYZER_MODULES: tuple[str, ...] = ("scanner.formats.hfrepo",)


@dataclass(frozen=True)
class Unavailable:
    """A format whose analyzer could not be loaded, and why."""

    module: str
    reason: str


def refine(node: Node, fmt: str, context: Context) -> str:
    """The format ``node`` is analyzed as: the first recognizer of its sniffed format that
    knows it decides; otherwise the sniffed format stands."""
    for recognizer in _recognizers(fmt):
        refined = recognizer.recognize(node, context)
        if refined is not None:
            return refined
    return fmt


@cache
def _recognizers(fmt: str) -> tuple[Recognizer, ...]:
    out: list[Recognizer] = []
    for module in RECOGNIZER_MODULES.get(fmt, ()):
        recognizer = getattr(importlib.import_module(module), "RECOGNIZER", None)
        if isinstance(recognizer, Recognizer):
            out.append(recognizer)
    return tuple(out)


@cache
def analyzer_for(fmt: str) -> Analyzer | Unavailable | None:
    """The analyzer of ``fmt``; ``Unavailable`` if its module cannot load; None if none exists."""
    for module, formats in ANALYZER_MODULES.items():
        if fmt in formats:
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.split(".")[0] in ("scanner", "signatures", "sbom"):
                    return Unavailable(module, f"this version has no analyzer for {fmt} files")
                return Unavailable(module, f"the optional package {exc.name!r} is not installed")
            analyzer = getattr(mod, "ANALYZER", None)
            if not isinstance(analyzer, Analyzer):
                return Unavailable(module, "no analyzer is defined yet")
            return analyzer
    return None


@lru_cache(maxsize=1)
def tree_analyzers() -> tuple[TreeAnalyzer, ...]:
    out: list[TreeAnalyzer] = []
    for module in TREE_ANALYZER_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        analyzer = getattr(mod, "TREE_ANALYZER", None)
        if isinstance(analyzer, TreeAnalyzer):
            out.append(analyzer)
    return tuple(out)
