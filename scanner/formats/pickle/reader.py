"""Reading a pickle stream's bytes the way CPython's C unpickler reads them.

Two read models matter, because the same bytes decode differently under them:

* ``contiguous``: ``pickle.loads`` over bytes and unpicklers over a peeking file see the bytes in
  order; a FRAME only announces a length.
* ``c-file``: the C unpickler over a file object without ``peek`` (``io.BytesIO``: what
  ``torch.load`` hands it for zip members) reads a FRAME's bytes into its buffer and, when an
  opcode, a fixed-size argument, a length prefix or a *string* needs more bytes than the frame
  has left, *discards the rest of the frame* and reads from the file after it
  (``_Unpickler_ReadImpl``; cpython#154848, fixed only in 3.13.15/3.14.7). Byte-string data goes
  through ``_Unpickler_ReadInto``, which uses the frame's rest first: it stays contiguous. (Over
  a peeking file the same discard happens when the frame was fetched with ``read``.) An opcode
  straddling a frame end never comes from a real pickler: it is how a payload hides from
  ``genops``-based tools.

The reader keeps a window of the blob (never the whole file) and counts such straddles so the
analyzer can scan the stream under both models.
"""

from __future__ import annotations

from scanner.sources.interface import Blob

WINDOW = 1 << 20
"""Bytes read from the blob at a time."""


MAX_LINE = 64 << 20
"""Longest text operand (GLOBAL names, protocol-0 strings) the scan holds in memory."""


class LineTooLong(Exception):
    """A text operand longer than the scan will hold (a budget, not a property of the file)."""


class Truncated(Exception):
    """The stream ended (or a length prefix points past its end) in the middle of an opcode."""


class StreamReader:
    """Positional reads over a blob with the C unpickler's FRAME semantics."""

    __slots__ = ("_base", "_buf", "blob", "discard", "frame_end", "pos", "size", "straddles")

    def __init__(self, blob: Blob, start: int = 0, discard_frame_rest: bool = False) -> None:
        self.blob = blob
        self.size = blob.size
        self.pos = start
        self.frame_end: int | None = None
        self.discard = discard_frame_rest
        self.straddles = 0
        self._buf = b""
        self._base = 0

    def _start(self, n: int, into: bool = False) -> int:
        """Where a read of ``n`` bytes starts, applying the frame rules (``into``: the
        ``_Unpickler_ReadInto`` path of byte-string data, which never discards)."""
        p = self.pos
        fe = self.frame_end
        if fe is not None:
            if p >= fe:
                self.frame_end = None
            elif p + n > fe:
                self.straddles += 1
                self.frame_end = None
                if self.discard and not into:
                    p = fe
        return p

    def read(self, n: int, into: bool = False) -> bytes:
        """Exactly ``n`` bytes (raises ``Truncated``)."""
        p = self._start(n, into)
        if p + n > self.size:
            self.pos = self.size
            raise Truncated(f"needs {n} bytes at offset {p}, the data ends at {self.size}")
        i = p - self._base
        if i < 0 or i + n > len(self._buf):
            self._buf = self.blob.read_at(p, max(n, WINDOW))
            self._base = p
            i = 0
        self.pos = p + n
        return self._buf[i : i + n]

    def byte(self) -> int:
        """One byte (the opcode fast path)."""
        p = self.pos
        fe = self.frame_end
        if fe is not None and p >= fe:
            self.frame_end = None
        i = p - self._base
        if 0 <= i < len(self._buf):
            self.pos = p + 1
            return self._buf[i]
        return self.read(1)[0]

    def skip(self, n: int, into: bool = False) -> int:
        """Pass over ``n`` bytes without reading them; the offset where they start."""
        p = self._start(n, into)
        if p + n > self.size:
            self.pos = self.size
            raise Truncated(f"a length of {n} bytes at offset {p} runs past the end ({self.size})")
        self.pos = p + n
        return p

    def readline(self, limit: int = MAX_LINE) -> bytes:
        """A line including its ``\\n`` (raises ``Truncated`` when there is none, and
        ``LineTooLong`` past ``limit``: the C loader has no limit, the scan's memory does)."""
        p = self.pos
        fe = self.frame_end
        if fe is not None and p >= fe:
            self.frame_end = fe = None
        parts: list[bytes] = []
        at = p
        found = -1
        i = p - self._base
        if not 0 <= i < len(self._buf) and p < self.size:
            self._buf = self.blob.read_at(p, WINDOW)
            self._base = p
            i = 0
        nl = self._buf.find(b"\n", i)
        if nl >= 0:
            # the common case: the line is inside the window
            found = nl
            parts.append(self._buf[i : nl + 1])
        else:
            parts.append(self._buf[i:])
            at = self._base + len(self._buf)
        while found < 0 and at < self.size:
            chunk = self.blob.read_at(at, min(WINDOW, self.size - at))
            if not chunk:
                break
            found = chunk.find(b"\n")
            if found >= 0:
                parts.append(chunk[: found + 1])
                break
            parts.append(chunk)
            at += len(chunk)
            if at - p > limit:
                raise LineTooLong(f"a text operand longer than {limit} bytes at offset {p}")
        data = b"".join(parts)
        if fe is not None and (found < 0 or p + len(data) > fe):
            # The line runs past the frame: the C unpickler drops the frame's rest and reads a
            # fresh line from the file after it.
            self.straddles += 1
            self.frame_end = None
            if self.discard:
                self.pos = fe
                return self.readline(limit)
        if found < 0:
            self.pos = self.size
            raise Truncated(f"no end of line after offset {p}")
        self.pos = p + len(data)
        return data

    def frame(self, length: int) -> None:
        """A FRAME opcode: the next ``length`` bytes must exist; they form the frame."""
        p = self.skip(length)
        self.pos = p
        self.frame_end = p + length
