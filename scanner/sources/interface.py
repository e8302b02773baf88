"""How a target becomes a tree of artifacts whose bytes are read lazily.

A ``Blob`` is the one byte interface every analyzer sees, locally and remotely: positional
reads with ``read_at`` (so a safetensors header or a zip's central directory costs only the
bytes it needs) and a file-like view with ``open()`` for parsers that want one. Every blob
counts the bytes it reads into a shared ``ReadCounter``; the report states the total.
"""

from __future__ import annotations

import io
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scanner.model import Artifact


class SourceError(Exception):
    """A target could not be read: missing path, unreachable hub, refused access."""


class ReadCounter:
    """Thread-safe count of the bytes read from the source (not from memory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.total += n


class Blob(ABC):
    """Random-access, read-only bytes of one artifact."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Length in bytes."""

    @abstractmethod
    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset``; fewer only at the end of the blob."""

    def read_many(self, spans: Sequence[tuple[int, int]]) -> list[bytes]:
        """``read_at`` for each ``(offset, length)``; remote blobs override this to issue the
        reads concurrently (a zip's local headers are hundreds of small reads)."""
        return [self.read_at(offset, length) for offset, length in spans]

    def head(self, length: int) -> bytes:
        """The first ``length`` bytes (fewer if the blob is shorter)."""
        return self.read_at(0, min(length, self.size))

    def open(self) -> io.BufferedReader:
        """A seekable binary file object over this blob (buffered, 64 KiB)."""
        return io.BufferedReader(_BlobRawIO(self), buffer_size=64 * 1024)

    def window(self, offset: int, length: int) -> Blob:
        """A zero-copy view of ``length`` bytes from ``offset`` (e.g. a stored zip member)."""
        return SliceBlob(self, offset, length)


class BytesBlob(Blob):
    """Bytes already in memory (a decompressed member, a test fixture)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        return self._data[offset : offset + length]


class SliceBlob(Blob):
    """A window into another blob."""

    def __init__(self, parent: Blob, offset: int, length: int) -> None:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        self._parent = parent
        self._offset = offset
        self._length = max(0, min(length, parent.size - offset))

    @property
    def size(self) -> int:
        return self._length

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        if offset >= self._length:
            return b""
        length = min(length, self._length - offset)
        return self._parent.read_at(self._offset + offset, length)

    def read_many(self, spans: Sequence[tuple[int, int]]) -> list[bytes]:
        # The parent's batching (a remote blob's multi-range requests) serves a window too.
        clipped = [(o, max(0, min(n, self._length - o))) for o, n in spans]
        for o, n in spans:
            if o < 0 or n < 0:
                raise ValueError("negative offset or length")
        parts = self._parent.read_many([(self._offset + o, n) for o, n in clipped])
        return [b"" if n == 0 else part for (_, n), part in zip(clipped, parts, strict=True)]


class _BlobRawIO(io.RawIOBase):
    """Adapter: a ``Blob`` as a seekable raw stream."""

    def __init__(self, blob: Blob) -> None:
        self._blob = blob
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._blob.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise OSError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._blob.read_at(self._pos, len(view))
        n = len(data)
        view[:n] = data
        self._pos += n
        return n


@dataclass(frozen=True)
class Node:
    """An artifact together with the means to read it. Not part of the report."""

    artifact: Artifact
    blob: Blob
    loader_hint: str | None = None
    """Which loader will read this (``torch``, ``joblib``, ``numpy``, ``keras``): set by the
    container that holds it, from the container's structure (never from a file name)."""
    parent_format: str | None = None
    """Format of the enclosing container, if any."""


@dataclass(frozen=True)
class Tree:
    """What a source resolved a target to."""

    target: str
    root: str
    """Display root (a folder path, ``hf://org/name``)."""
    nodes: tuple[Node, ...]
    revision: str | None = None
    counter: ReadCounter = field(default_factory=ReadCounter, compare=False)
    local_dir: str | None = None
    """The folder on disk when the target is local (repo-level analyzers use it)."""
    content_key: str | None = None
    """The identity of immutable content, when the source can name one (a hub repo at a commit
    with the files listed): a scan result keyed by it may be reused (``scanner.cache``)."""
    prefetch: Callable[[], None] | None = field(default=None, compare=False)
    """Warms the blobs before the engine reads them (a remote source fetches every file's
    first bytes concurrently); not called when a cached result is used, so that reads nothing."""


class Source(ABC):
    """Turns one kind of target (a local path, ``hf://``, ``https://``) into a ``Tree``."""

    @abstractmethod
    def accepts(self, target: str) -> bool:
        """Whether this source understands ``target``."""

    @abstractmethod
    def resolve(self, target: str) -> Tree:
        """List the artifacts of ``target``; raise ``SourceError`` when it cannot."""
