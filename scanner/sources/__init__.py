"""Sources: turning a target into a ``Tree`` of lazily read artifacts.

New sources register here; ``resolve_target`` picks the first that accepts the target.
"""

from __future__ import annotations

import importlib

from scanner.sources.interface import Blob, BytesBlob, Node, Source, SourceError, Tree
from scanner.sources.local import LocalSource

_SOURCES: list[Source] = []


def register_source(source: Source) -> None:
    """Add a source; later registrations are tried first (more specific schemes)."""
    _SOURCES.insert(0, source)


def resolve_target(target: str) -> Tree:
    """Resolve ``target`` with the first source that accepts it."""
    for source in _SOURCES:
        if source.accepts(target):
            return source.resolve(target)
    raise SourceError(f"no source understands {target!r}")


register_source(LocalSource())


class _Deferred(Source):
    """A source whose module is imported only when a target with one of its schemes comes:
    a local scan never imports the HTTP and hub code (nor its thread pools and logging)."""

    def __init__(self, prefixes: tuple[str, ...], module: str, name: str) -> None:
        self.prefixes, self.module, self.name = prefixes, module, name

    def accepts(self, target: str) -> bool:
        return target.startswith(self.prefixes) and self._source().accepts(target)

    def resolve(self, target: str) -> Tree:
        return self._source().resolve(target)

    def _source(self) -> Source:
        source: Source = getattr(importlib.import_module(self.module), self.name)()
        return source


register_source(_Deferred(("https://", "http://"), "scanner.sources.https", "HttpsSource"))
register_source(_Deferred(("hf://",), "scanner.sources.hf", "HfSource"))

__all__ = [
    "Blob",
    "BytesBlob",
    "Node",
    "Source",
    "SourceError",
    "Tree",
    "register_source",
    "resolve_target",
]
