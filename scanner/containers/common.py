"""Helpers shared by the container openers: extension mismatches, member names, and
bounded decompression that never allocates more than the limits allow."""

from __future__ import annotations

import lzma
import weakref
import zlib
from collections.abc import Callable
from typing import Protocol, cast

from scanner.detect import extension_mismatch
from scanner.formats.interface import Context
from scanner.model import Artifact, Finding
from scanner.sources.interface import Blob, Node, ReadCounter

CHUNK = 256 * 1024
"""Compressed bytes read per step of a lazy member: bounds the memory of one step."""
STEP = 16 * 1024
"""Compressed bytes fed per step of an eager inflation: bz2 and lzma swallow their whole input,
so the inflation ratio (the bomb test) is only as precise as this step."""
BOMB_MIN_OUTPUT = 1024 * 1024
"""Below this many inflated bytes a high ratio is not a bomb (tiny members compress well)."""


def mismatch_findings(context: Context, node: Node, fmt: str) -> list[Finding]:
    """An ``ARCHIVE-EXT-001`` finding when a weights-like name lies about the format."""
    expected = extension_mismatch(node.artifact.path, fmt)
    if expected is None:
        return []
    return [
        context.finding(
            "ARCHIVE-EXT-001",
            node.artifact.path,
            f"The name says {expected} but the bytes are a {fmt} file; loaders that pick a "
            "reader by content will treat it as the latter.",
            evidence=f"sniffed: {fmt}",
        )
    ]


def child_node(
    parent: Node, member: str, blob: Blob, fmt_hint: str | None, parent_format: str, suffix: str = ""
) -> Node:
    """A member as a child node: path ``parent!member``, one level deeper."""
    art = parent.artifact
    child = Artifact(path=f"{art.path}!{member}{suffix}", size=blob.size, depth=art.depth + 1)
    return Node(artifact=child, blob=blob, loader_hint=fmt_hint, parent_format=parent_format)


def unsafe_name_reason(name: str) -> str | None:
    """Why an archive member name could escape the extraction folder, or None."""
    if "\x00" in name:
        return "contains a NUL byte"
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        return "is an absolute path"
    if len(norm) >= 2 and norm[1] == ":" and norm[0].isalpha():
        return "starts with a drive letter"
    if ".." in norm.split("/"):
        return "contains a '..' component"
    return None


# --- a per-scan inflation budget -------------------------------------------------------------
# Nested bombs (42.zip) stay small at every level and explode only in total, so one budget
# is shared by every container of one scan. The tree's ReadCounter identifies the scan.
_BUDGETS: weakref.WeakKeyDictionary[ReadCounter, list[int]] = weakref.WeakKeyDictionary()
_ORPHAN_KEY = ReadCounter()


def _budget(context: Context) -> list[int]:
    key = context.tree.counter if context.tree is not None else _ORPHAN_KEY
    budget = _BUDGETS.get(key)
    if budget is None:
        budget = [4 * context.limits.max_inflate]
        _BUDGETS[key] = budget
    return budget


def budget_left(context: Context) -> int:
    """Bytes this scan may still inflate across all containers."""
    return max(0, _budget(context)[0])


def spend_budget(context: Context, n: int) -> None:
    _budget(context)[0] -= n


# --- bounded decoders ------------------------------------------------------------------------
class StreamDecoder(Protocol):
    """What bz2, lzma and lz4 decompressor objects share."""

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


class Decoder:
    """One compressed stream behind one interface (zlib keeps its unconsumed input itself)."""

    def __init__(self, make: Callable[[], object]) -> None:
        self._d = make()
        # zlib hands back unconsumed input instead of buffering it like bz2/lzma do.
        self._zlib = hasattr(self._d, "unconsumed_tail")
        self._tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        d = self._d
        if self._zlib:
            z = cast("zlib._Decompress", d)
            out = z.decompress(self._tail + data, max_length)
            self._tail = z.unconsumed_tail
            return out
        return cast(StreamDecoder, d).decompress(data, max_length)

    @property
    def eof(self) -> bool:
        return bool(getattr(self._d, "eof", False))

    @property
    def needs_input(self) -> bool:
        if self._zlib:
            return not self._tail
        return bool(getattr(self._d, "needs_input", True))

    @property
    def unused_data(self) -> bytes:
        return bytes(getattr(self._d, "unused_data", b""))

    @property
    def pending_input(self) -> int:
        """Input bytes handed in but not yet consumed (known for zlib only)."""
        return len(self._tail)


class InflateResult:
    """What a bounded inflation produced and why it stopped."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.consumed = 0
        self.complete = False
        """The stream ended properly (every stream, for concatenated formats)."""
        self.error: str | None = None
        self.bomb: str | None = None
        self.budget_exhausted = False


def inflate(
    source: Blob,
    make: Callable[[], Decoder],
    context: Context,
    *,
    limit: int,
    restart_magic: bytes | None = None,
) -> InflateResult:
    """Inflate ``source`` up to ``limit`` bytes, stopping at bombs, errors and the scan budget.

    ``restart_magic``: concatenated streams (gzip members, bz2/xz streams) continue while the
    unused input starts with it, as ``gzip.GzipFile`` / ``bz2`` / ``lzma`` readers do.
    """
    res = InflateResult()
    limits = context.limits
    decoder = make()
    pending = b""
    pos = 0
    while True:
        room = min(limit - len(res.data), budget_left(context))
        if room <= 0:
            if len(res.data) >= limit:
                res.bomb = f"inflates past the limit of {limit} bytes"
            else:
                res.budget_exhausted = True
            return res
        if decoder.needs_input and not pending:
            pending = source.read_at(pos, STEP)
            pos += len(pending)
            if not pending:
                res.error = "the compressed stream ends before its end marker (truncated)"
                return res
        try:
            out = decoder.decompress(pending, min(room, CHUNK * 4))
        except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
            res.error = f"the compressed stream is corrupt: {exc}"
            return res
        pending = b""
        res.data += out
        res.consumed = pos - decoder.pending_input
        spend_budget(context, len(out))
        ratio = len(res.data) / max(res.consumed, 1)
        if len(res.data) > BOMB_MIN_OUTPUT and ratio > limits.max_inflate_ratio:
            res.bomb = f"inflates more than {limits.max_inflate_ratio}:1 ({len(res.data)} bytes so far)"
            return res
        if decoder.eof:
            extra = source.read_at(pos, STEP) if restart_magic else b""
            pos += len(extra)
            rest = decoder.unused_data + extra
            if restart_magic and rest.startswith(restart_magic):
                decoder, pending = make(), rest
                continue
            res.complete = True
            # Bytes after the last stream stay out of ``consumed``: the caller reports them.
            res.consumed = pos - len(rest)
            return res


class InflatingBlob(Blob):
    """A compressed member inflated lazily, only as far as anyone reads (a sniff reads 4 KiB),
    within ``size`` and the scan's inflation budget; what cannot be inflated reads as absent."""

    def __init__(self, source: Blob, make: Callable[[], Decoder], size: int, context: Context) -> None:
        self._source = source
        self._make = make
        self._decoder = make()
        self._size = size
        self._context = context
        self._out = bytearray()
        self._pos = 0
        self._done = False

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        end = min(offset + length, self._size)
        self._fill(end)
        return bytes(self._out[offset:end])

    def _fill(self, end: int) -> None:
        while len(self._out) < end and not self._done:
            chunk = b""
            if self._decoder.needs_input:
                chunk = self._source.read_at(self._pos, CHUNK)
                self._pos += len(chunk)
                if not chunk:
                    self._done = True
                    break
            room = min(end - len(self._out), budget_left(self._context))
            if room <= 0:
                self._done = True
                break
            try:
                out = self._decoder.decompress(chunk, room)
            except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError):
                self._done = True
                break
            self._out += out
            spend_budget(self._context, len(out))
            if self._decoder.eof:
                self._done = True
