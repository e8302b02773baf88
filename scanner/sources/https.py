"""Range reads over HTTP for remote blobs (Hugging Face ``resolve`` URLs, plain ``https://``).

Analyzers issue many small positional reads (an 8-byte safetensors length, a zip's end record,
each local header of a PyTorch checkpoint). Each becomes at most one ranged GET, rounded to a
small block so neighbouring reads (a local header, then its name) share one request; a small
LRU keeps recent blocks. There is deliberately no megabyte read-ahead: the cost of a remote
scan must follow the metadata, not the weights.

All requests go through ``huggingface_hub``'s shared HTTP session and its retry-with-backoff
helper, so proxies, timeouts, ``HF_TOKEN`` headers and redirects behave as in the client itself.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from scanner.model import Artifact
from scanner.sources.interface import Blob, Node, ReadCounter, Source, SourceError, Tree

T = TypeVar("T")

BLOCK = 1024
"""Granularity of cached reads: a zip local header with its name and extra field fits in one
block, and a checkpoint of 400 tensors costs 400 such reads, so blocks stay small."""
CACHE_BLOCKS = 1024
"""Blocks kept per blob (1 MiB): enough for a central directory read in pieces."""
DIRECT_READ = 256 * 1024
"""Reads at least this large bypass the block cache (a pickle member, hashing)."""
DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a server before the request is retried (with backoff) and then fails;
``MODELSCAN_HUB_TIMEOUT`` overrides it (slow mirrors, tests)."""
RETRIES = 3
#: concurrent range requests for a batch of small reads (read_many)
PARALLEL_READS = 16
MULTI_RANGES = 100
"""Ranges per multi-range request (``Range: bytes=a-b,c-d,...``): servers cap the request
header (8 KiB is common; 100 ranges of a multi-GB file take ~2.5 KiB) and the number of
ranges (Apache's MaxRanges is 200)."""
PART_OVERHEAD = 256
"""Bytes allowed per part of a ``multipart/byteranges`` answer for its boundary and headers."""

#: origin -> whether its server answers a multi-range request with the ranges asked for
#: (learned from the first such request; None until then)
_MULTIRANGE: dict[tuple[str, str, int | None], bool] = {}


class RangeBlob(Blob):
    """A remote file of known size, read with HTTP ``Range`` requests."""

    def __init__(self, url: str, size: int, counter: ReadCounter, headers: Mapping[str, str]) -> None:
        self._url = url
        self._direct: str | None = None
        """Where ``url`` redirected last time (the hub's CDN): later reads go there directly,
        saving a round trip and a redirect response per read."""
        self._size = size
        self._counter = counter
        self._headers = dict(headers)
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        if offset >= self._size or length == 0:
            return b""
        end = min(offset + length, self._size)
        if end - offset >= DIRECT_READ:
            return self._fetch(offset, end)
        first, last = offset // BLOCK, (end - 1) // BLOCK
        self._fill(first, last)
        with self._lock:
            parts = []
            for b in range(first, last + 1):
                block = self._blocks.get(b)
                if block is None:  # evicted by a concurrent reader: fetch directly
                    return self._fetch(offset, end)
                self._blocks.move_to_end(b)
                parts.append(block)
            while len(self._blocks) > CACHE_BLOCKS:
                self._blocks.popitem(last=False)
        joined = b"".join(parts)
        start = offset - first * BLOCK
        return joined[start : start + (end - offset)]

    def read_many(self, spans: Sequence[tuple[int, int]]) -> list[bytes]:
        """Many small reads (a zip's local headers) in as few round trips as the server allows:
        multi-range requests (``multipart/byteranges``, up to ``MULTI_RANGES`` ranges each,
        sent concurrently) where the server supports them, learned once per origin; otherwise
        single-range requests issued concurrently. Either way hundreds of local headers cost
        a few round-trip times, never hundreds, and no byte outside the asked ranges beyond
        what a server that coalesces ranges adds."""
        if len(spans) < 2:
            return [self.read_at(o, n) for o, n in spans]
        if _MULTIRANGE.get(_origin(self._url)) is not False:
            found = self._read_multi(spans)
            if found is not None:
                return found
        with ThreadPoolExecutor(max_workers=min(PARALLEL_READS, len(spans))) as pool:
            return list(pool.map(lambda span: self.read_at(*span), spans))

    def _read_multi(self, spans: Sequence[tuple[int, int]]) -> list[bytes] | None:
        ranges = _merged([(o, min(o + n, self._size)) for o, n in spans if n > 0 and 0 <= o < self._size])
        if len(ranges) < 2:
            return None
        batches = [ranges[i : i + MULTI_RANGES] for i in range(0, len(ranges), MULTI_RANGES)]
        origin = _origin(self._url)
        got: list[list[tuple[int, bytes]] | None] = []
        if origin not in _MULTIRANGE:
            # The first request alone: a server that ignores multi-range requests answers with
            # the whole file, which is cut off after its headers, once per origin.
            first = self._fetch_ranges(batches[0])
            if first is _UNSUPPORTED:
                _MULTIRANGE[origin] = False
                return None
            if first is not None:
                _MULTIRANGE[origin] = True
            got.append(first if isinstance(first, list) else None)
            batches = batches[1:]
        if batches:
            with ThreadPoolExecutor(max_workers=min(PARALLEL_READS, len(batches))) as pool:
                for parts in pool.map(self._fetch_ranges, batches):
                    got.append(parts if isinstance(parts, list) else None)
        pieces = sorted((start, data) for parts in got if parts is not None for start, data in parts)
        starts = [start for start, _ in pieces]
        out: list[bytes] = []
        for o, n in spans:
            end = min(o + n, self._size)
            if n <= 0 or o >= self._size:
                out.append(b"")
                continue
            piece = _covering(starts, pieces, o, end)
            # a range the server left out (or a batch that failed) is read on its own
            out.append(piece if piece is not None else self.read_at(o, n))
        return out

    def _fetch_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, bytes]] | object | None:
        """``ranges`` in one multi-range GET: (start, bytes) per part the server sent;
        ``_UNSUPPORTED`` when the server answered without ranges (the caller falls back to one
        range per request); None when the request failed (those reads are retried singly)."""
        asked = sum(end - start for start, end in ranges)
        cap = asked + PART_OVERHEAD * len(ranges) + 4096
        spec = ",".join(f"{start}-{end - 1}" for start, end in ranges)
        try:
            status, content_type, content_range, body = self._get(spec, cap)
        except (SourceError, _Retryable):
            return None
        self._counter.add(len(body))
        if status != 206:
            return _UNSUPPORTED
        if content_type.lower().startswith("multipart/byteranges"):
            parts = _byteranges(body, content_type)
            return parts if parts is not None else _UNSUPPORTED
        m = _CONTENT_RANGE.fullmatch(content_range.strip())
        if m is None or len(body) != int(m[2]) - int(m[1]) + 1:
            return _UNSUPPORTED  # e.g. a coalesced span larger than the cap, cut off
        return [(int(m[1]), body)]  # the server coalesced the ranges into one span

    def prefetch(self, offset: int, length: int) -> None:
        """Load ``[offset, offset+length)`` into the block cache now (from another thread), so
        the analyzer's read later costs no round trip. Failures are left to that read."""
        end = min(offset + length, self._size)
        if offset < 0 or end <= offset or end - offset > CACHE_BLOCKS * BLOCK // 2:
            return
        with contextlib.suppress(SourceError):
            self._fill(offset // BLOCK, (end - 1) // BLOCK)

    def _fill(self, first: int, last: int) -> None:
        with self._lock:
            missing = [b for b in range(first, last + 1) if b not in self._blocks]
        if not missing:
            return
        # One request for the whole missing span, even if a cached block sits in between:
        # a second round trip costs more than a few KiB.
        lo = missing[0] * BLOCK
        hi = min((missing[-1] + 1) * BLOCK, self._size)
        data = self._fetch(lo, hi)
        with self._lock:
            for i, b in enumerate(range(missing[0], missing[-1] + 1)):
                self._blocks[b] = data[i * BLOCK : (i + 1) * BLOCK]
                self._blocks.move_to_end(b)

    def _fetch(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` in one ranged GET, retried with backoff on network errors."""
        delay = 0.5
        for attempt in range(RETRIES + 1):
            try:
                data = self._fetch_once(start, end)
            except _Retryable as exc:
                if attempt == RETRIES:
                    raise SourceError(
                        f"reading {_short(self._url)} failed after {RETRIES + 1} attempts: {exc}"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
                continue
            self._counter.add(len(data))
            if len(data) != end - start:
                raise SourceError(
                    f"{_short(self._url)}: expected {end - start} bytes at offset {start}, "
                    f"got {len(data)} (the file is shorter than its listed size)"
                )
            return data
        raise AssertionError("unreachable")

    def _fetch_once(self, start: int, end: int) -> bytes:
        status, _, _, body = self._get(f"{start}-{end - 1}", end - start)
        if status != 206 and not (start == 0 and end == self._size):
            # A server that ignores Range sends the whole file: refuse rather than silently
            # download gigabytes (``_get`` stopped reading after the first chunk past the ask).
            raise SourceError(
                f"{_short(self._url)}: the server ignored the Range request "
                f"(HTTP {status}); a remote scan needs range reads"
            )
        return body[: end - start]

    def _get(self, ranges: str, cap: int) -> tuple[int, str, str, bytes]:
        """One GET with ``Range: bytes=<ranges>``: (status, Content-Type, Content-Range, body).
        The body is read up to just past ``cap`` bytes and then cut off (the connection is
        dropped), so a server that ignores the ranges costs one chunk, not the file; a 200
        answer is not read at all unless it is the whole, small, file that was asked for."""
        import httpx2
        from huggingface_hub import get_session
        from huggingface_hub.errors import HfHubHTTPError
        from huggingface_hub.utils._http import hf_raise_for_status

        url = self._direct or self._url
        headers = {**self._headers, "Range": f"bytes={ranges}"}
        if url != self._url and _origin(url) != _origin(self._url):
            # Credentials never leave the hub's origin (as the client does on redirects).
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        chunks: list[bytes] = []
        got = 0
        try:
            with get_session().stream(
                "GET", url, headers=headers, timeout=request_timeout(), follow_redirects=True
            ) as response:
                if response.status_code in (408, 429, 500, 502, 503, 504):
                    raise _Retryable(f"HTTP {response.status_code}")
                if url != self._url and response.status_code in (400, 401, 403, 404, 410):
                    self._direct = None  # a signed CDN URL expired: go back through the hub
                    raise _Retryable(f"HTTP {response.status_code} from the redirect target")
                hf_raise_for_status(response)
                if response.history:
                    self._direct = str(response.url)
                status = response.status_code
                if status == 206 or cap >= self._size:
                    for chunk in response.iter_bytes():
                        chunks.append(chunk)
                        got += len(chunk)
                        if got > cap:
                            # More than asked for: stop reading (this drops the connection). An
                            # exact answer is read to its end so the connection goes back to the pool.
                            break
                content_type = response.headers.get("Content-Type", "")
                content_range = response.headers.get("Content-Range", "")
        except (httpx2.TransportError, ConnectionError) as exc:
            raise _Retryable(describe_http_error(exc)) from None
        except HfHubHTTPError as exc:
            raise SourceError(f"reading {_short(self._url)} failed: {describe_http_error(exc)}") from None
        return status, content_type, content_range, b"".join(chunks)


_UNSUPPORTED = object()
"""``_fetch_ranges``' answer when the server does not serve multi-range requests."""
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(?:\d+|\*)", re.IGNORECASE)


def _merged(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``[start, end)`` ranges sorted, with overlapping and touching ones merged."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _covering(
    starts: Sequence[int], pieces: Sequence[tuple[int, bytes]], start: int, end: int
) -> bytes | None:
    """Bytes ``[start, end)`` from the piece (sorted by start) that begins last at or before
    ``start``, when it holds all of them; None otherwise."""
    i = bisect.bisect_right(starts, start) - 1
    if i < 0:
        return None
    first, data = pieces[i]
    if end <= first + len(data):
        return data[start - first : end - first]
    return None


def _byteranges(body: bytes, content_type: str) -> list[tuple[int, bytes]] | None:
    """The parts of a ``multipart/byteranges`` body as (start, bytes); None if it is malformed.
    Each part's length comes from its Content-Range, so a boundary string inside the data is
    never mistaken for the end of a part."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if m is None:
        return None
    delimiter = b"--" + m[1].encode("latin-1")
    parts: list[tuple[int, bytes]] = []
    pos = body.find(delimiter)
    while pos >= 0:
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            break
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0:
            return None
        head = body[pos:head_end].decode("latin-1")
        r = re.search(r"(?im)^content-range:\s*bytes\s+(\d+)-(\d+)/", head)
        if r is None:
            return None
        start, last = int(r[1]), int(r[2])
        data = body[head_end + 4 : head_end + 4 + last - start + 1]
        if len(data) != last - start + 1:
            return None
        parts.append((start, data))
        pos = body.find(delimiter, head_end + 4 + len(data))
    return parts


class _Retryable(Exception):
    """A transient failure (network error, 5xx, 429): worth another attempt after a pause."""


def request_timeout() -> float:
    try:
        return max(0.1, float(os.environ.get("MODELSCAN_HUB_TIMEOUT", DEFAULT_TIMEOUT)))
    except ValueError:
        return DEFAULT_TIMEOUT


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: a network error, a timeout, a 408/429/5xx answer."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, (httpx2.TransportError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return exc.response.status_code in (408, 429, 500, 502, 503, 504)
    return False


def with_retries(call: Callable[[], T], retries: int = 3, first_delay: float = 0.5) -> T:
    """``call()``, retried with exponential backoff while it fails transiently."""
    delay = first_delay
    for attempt in range(retries + 1):
        try:
            return call()
        except Exception as exc:
            if attempt == retries or not is_transient(exc):
                raise
        time.sleep(delay)
        delay = min(delay * 2, 8.0)
    raise AssertionError("unreachable")


def describe_http_error(exc: BaseException) -> str:
    """One readable line for a network or HTTP failure."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _short(url: str) -> str:
    return url if len(url) < 120 else url[:117] + "..."


class HttpsSource(Source):
    """A single file behind an ``https://`` (or ``http://``) URL, read with range requests.

    Plain URLs carry no trustworthy digest: the report states the size and bytes read, and a
    pinned download needs a digest from elsewhere (the hub source provides one).
    """

    def accepts(self, target: str) -> bool:
        return target.startswith(("https://", "http://"))

    def resolve(self, target: str) -> Tree:
        size, final_url = _probe_size(target)
        name = urlsplit(final_url).path.rsplit("/", 1)[-1] or "download"
        counter = ReadCounter()
        blob = RangeBlob(target, size, counter, {})
        node = Node(Artifact(path=unquote(name), size=size), blob)
        return Tree(target, target, (node,), counter=counter)


def _probe_size(url: str) -> tuple[int, str]:
    """The file's size and final URL: from HEAD, or from a one-byte ranged GET for servers
    (signed object-store URLs) that refuse HEAD."""
    from huggingface_hub import get_session

    session = get_session()
    try:
        response = with_retries(lambda: session.head(url, timeout=request_timeout(), follow_redirects=True))
        length = response.headers.get("Content-Length")
        if response.status_code < 400 and length is not None and length.isdigit():
            return int(length), str(response.url)
        if response.status_code in (401, 404, 410):
            raise SourceError(_refused(url, response.status_code))
        with session.stream(
            "GET", url, headers={"Range": "bytes=0-0"}, timeout=request_timeout(), follow_redirects=True
        ) as ranged:
            total = ranged.headers.get("Content-Range", "").rpartition("/")[2]
            if ranged.status_code == 206 and total.isdigit():
                return int(total), str(ranged.url)
            if ranged.status_code >= 400:
                raise SourceError(_refused(url, ranged.status_code))
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"cannot reach {_short(url)}: {describe_http_error(exc)}") from None
    raise SourceError(
        f"{_short(url)}: the server states no size and does not answer range requests, "
        "so the file cannot be read in place"
    )


def _refused(url: str, status: int) -> str:
    if status in (401, 403):
        return f"{_short(url)}: access refused (HTTP {status})"
    if status in (404, 410):
        return f"{_short(url)}: not found (HTTP {status})"
    return f"{_short(url)}: HTTP {status}"
