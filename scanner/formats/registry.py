"""Which analyzer handles which sniffed format.

Each entry names a module that defines ``ANALYZER`` (an ``Analyzer``) and, optionally,
``TREE_ANALYZER`` (a ``TreeAnalyzer``). Modules are imported lazily so an optional dependency
of one format never breaks the others; a module that fails to import turns into a
"format support not installed" finding for its formats.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache, lru_cache

from scanner.formats.interface import Analyzer, TreeAnalyzer

#: module path -> the sniffed formats it handles
ANALYZER_MODULES: dict[str, tuple[str, ...]] = {
    "scanner.formats.pickle": ("pickle",),
    "scanner.containers.zip": ("zip",),
    "scanner.containers.tar": ("tar",),
    "scanner.containers.compressed": ("gzip", "bzip2", "xz", "lzma", "zlib", "zstd", "lz4"),
    "scanner.containers.sevenz": ("7z",),
    "scanner.formats.numpy": ("numpy",),
    "scanner.formats.plain": (
        "text",
        "json",
        "image",
        "empty",
        "tf-bundle-index",
        "tf-bundle-data",
        "tf-fingerprint",
    ),
    "scanner.formats.safetensors": ("safetensors",),
    "scanner.formats.gguf": ("gguf",),
    "scanner.formats.hdf5": ("hdf5",),
    "scanner.formats.protobuf": ("protobuf",),
}

#: modules that analyze a whole tree (repo layout, remote code)
TREE_ANALYZER_MODULES: tuple[str, ...] = ("scanner.formats.hfrepo",)


@dataclass(frozen=True)
class Unavailable:
    """A format whose analyzer could not be loaded, and why."""

    module: str
    reason: str


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
