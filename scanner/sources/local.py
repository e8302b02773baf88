"""Local files and folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scanner.model import Artifact
from scanner.sources.interface import Blob, Node, ReadCounter, Source, SourceError, Tree


class FileBlob(Blob):
    """A local file read with ``pread``: no shared file position, safe across threads."""

    def __init__(self, path: str, size: int, counter: ReadCounter) -> None:
        self._path = path
        self._size = size
        self._counter = counter
        self._fd: int | None = None

    @property
    def size(self) -> int:
        return self._size

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return self._fd

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        if offset >= self._size or length == 0:
            return b""
        length = min(length, self._size - offset)
        data = os.pread(self._descriptor(), length, offset)
        self._counter.add(len(data))
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


class LocalSource(Source):
    """A file or a folder on disk. Symlinks are never followed; they become findings."""

    def accepts(self, target: str) -> bool:
        return "://" not in target or target.startswith("file://")

    def resolve(self, target: str) -> Tree:
        raw = target[len("file://") :] if target.startswith("file://") else target
        root = Path(raw)
        try:
            st = root.lstat()
        except FileNotFoundError:
            raise SourceError(f"no such file or folder: {raw}") from None
        except OSError as exc:
            raise SourceError(f"cannot read {raw}: {exc.strerror}") from None
        counter = ReadCounter()
        if stat.S_ISREG(st.st_mode):
            node = _node(root, root.name, st.st_size, counter)
            return Tree(target, str(root), (node,), counter=counter, local_dir=str(root.parent))
        if stat.S_ISLNK(st.st_mode):
            root = root.resolve()
            return self.resolve(str(root))
        if not stat.S_ISDIR(st.st_mode):
            raise SourceError(f"not a regular file or folder: {raw}")
        nodes: list[Node] = []
        store = _hf_cache_repo(root)
        for rel, size, is_link in _walk(root):
            blob_file = _cache_blob(root / rel, store) if is_link and store is not None else None
            if blob_file is not None:
                # a Hugging Face cache snapshot: every file links to ../../blobs/<digest>, the
                # bytes a loader reads; scan them under the file's name
                nodes.append(_node(blob_file, rel, blob_file.stat().st_size, counter))
            elif is_link:
                nodes.append(Node(Artifact(path=rel, size=0, format="symlink"), _EMPTY))
            else:
                nodes.append(_node(os.path.join(raw, rel), rel, size, counter))
        return Tree(target, str(root), tuple(nodes), counter=counter, local_dir=str(root))


def _node(path: Path | str, rel: str, size: int, counter: ReadCounter) -> Node:
    return Node(Artifact(path=rel, size=size), FileBlob(str(path), size, counter))


def _hf_cache_repo(root: Path) -> Path | None:
    """``<cache>/models--org--name`` when ``root`` is one of its ``snapshots/<revision>`` folders."""
    resolved = root.resolve()
    parent = resolved.parent
    repo = parent.parent
    if (
        parent.name == "snapshots"
        and repo.name.startswith(("models--", "datasets--", "spaces--"))
        and (repo / "blobs").is_dir()
    ):
        return repo / "blobs"
    return None


def _cache_blob(link: Path, blobs: Path) -> Path | None:
    """The regular file in the cache's ``blobs/`` that ``link`` resolves to, or None when it
    points anywhere else (then it stays a symlink finding)."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if target.parent != blobs or not stat.S_ISREG(target.lstat().st_mode):
        return None
    return target


def _walk(root: Path) -> list[tuple[str, int, bool]]:
    """Every regular file and symlink below ``root``, sorted, without following links.

    ``.git`` folders are skipped: they are the repository's history, not what a loader reads.
    ``os.scandir`` gives each entry's type without a stat call (only sizes need one), and the
    relative names are built as strings: a folder of 1,000 small files resolves in a few
    milliseconds instead of ~90 with ``os.walk`` and pathlib.
    """
    out: list[tuple[str, int, bool]] = []
    pending = [(str(root), "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:  # as os.walk did: an unreadable folder lists nothing
            continue
        for entry in entries:
            rel = prefix + entry.name
            if entry.name == ".git" and entry.is_dir():
                continue
            if entry.is_symlink():
                out.append((rel, 0, True))
            elif entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, rel + "/"))
            elif entry.is_file(follow_symlinks=False):
                out.append((rel, entry.stat(follow_symlinks=False).st_size, False))
    out.sort()
    return out


class _EmptyBlob(Blob):
    @property
    def size(self) -> int:
        return 0

    def read_at(self, offset: int, length: int) -> bytes:
        return b""


_EMPTY = _EmptyBlob()
