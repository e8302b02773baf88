"""Sources: turning a target into a ``Tree`` of lazily read artifacts.

New sources register here; ``resolve_target`` picks the first that accepts the target.
"""

from __future__ import annotations

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


def _register_remote_sources() -> None:
    # huggingface_hub is imported lazily inside these modules: a local scan never pays for it.
    from scanner.sources.hf import HfSource
    from scanner.sources.https import HttpsSource

    register_source(HttpsSource())
    register_source(HfSource())


_register_remote_sources()

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
