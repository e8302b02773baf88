"""A Hugging Face Hub on 127.0.0.1 for tests: the endpoints the real ``huggingface_hub`` calls.

Serves generated repos through model info (with file metadata), revision resolution, tree
listing (paginated with ``Link``), and ``resolve`` with HEAD and Range support and the headers
the client checks (``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``, ``X-Linked-Size``,
``Content-Range``). LFS files are redirected to a "CDN" on another host name (``localhost``)
as the real hub does, so the client drops its Authorization header there.

File bytes may be synthesized: a ``Content`` is a list of byte strings and zero runs, so a
repo of gigabytes costs nothing on disk and a range is produced on the fly. Every byte the
server writes to a socket (headers included) is counted, and every request is logged.

Knobs for attacks and failures: ``tamper`` (serve other bytes of the same size under a file's
LFS digest), ``drop`` (close the connection halfway through a download, N times), gated
repos (401 ``GatedRepo`` unless the right token is sent), and ``on_info`` hooks (move a
branch right after the scanner resolved it), ``latency`` (every request waits, as over a network)
and ``multipart_ranges`` (off: a multi-range request gets the whole file, as from S3).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

Segment = bytes | int
"""Literal bytes, or a run of that many zero bytes."""

CHUNK = 1 << 20


class Content:
    """File bytes as segments (literal bytes and zero runs); digests are computed lazily."""

    def __init__(self, *segments: Segment, sha256: str | None = None) -> None:
        self.segments = tuple(s for s in segments if s)
        self.size = sum(s if isinstance(s, int) else len(s) for s in self.segments)
        self._sha256 = sha256

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` in pieces of at most 1 MiB."""
        end = self.size if end is None else min(end, self.size)
        pos = 0
        for seg in self.segments:
            n = seg if isinstance(seg, int) else len(seg)
            lo, hi = max(start, pos), min(end, pos + n)
            while lo < hi:
                take = min(CHUNK, hi - lo)
                yield bytes(take) if isinstance(seg, int) else seg[lo - pos : lo - pos + take]
                lo += take
            pos += n
            if pos >= end:
                return

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.chunks(start, end))

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            h = hashlib.sha256()
            for c in self.chunks():
                h.update(c)
            self._sha256 = h.hexdigest()
        return self._sha256

    @property
    def git_sha1(self) -> str:
        h = hashlib.sha1(b"blob %d\0" % self.size)
        for c in self.chunks():
            h.update(c)
        return h.hexdigest()


def as_content(value: Content | bytes) -> Content:
    return value if isinstance(value, Content) else Content(value)


@functools.lru_cache(maxsize=64)
def zero_crc32(n: int) -> int:
    crc, block = 0, bytes(CHUNK)
    while n > 0:
        take = min(n, CHUNK)
        crc = zlib.crc32(block[:take] if take < CHUNK else block, crc)
        n -= take
    return crc


def stored_zip(members: list[tuple[str, Segment]], sha256: str | None = None) -> Content:
    """A zip of stored members, data aligned to 64 bytes as ``torch.save`` does; a member given
    as an int is that many zeros (its CRC computed, never its bytes stored)."""
    out: list[Segment] = []
    central: list[bytes] = []
    pos = 0
    for name, data in members:
        raw = name.encode()
        size = data if isinstance(data, int) else len(data)
        crc = zero_crc32(size) if isinstance(data, int) else zlib.crc32(data)
        pad = (-(pos + 30 + len(raw) + 4)) % 64
        extra = b"FB" + pad.to_bytes(2, "little") + b"Z" * pad
        local = (
            b"PK\x03\x04"
            + (20).to_bytes(2, "little")
            + bytes(4)
            + bytes(4)
            + crc.to_bytes(4, "little")
            + size.to_bytes(4, "little") * 2
            + len(raw).to_bytes(2, "little")
            + len(extra).to_bytes(2, "little")
            + raw
            + extra
        )
        central.append(
            b"PK\x01\x02"
            + (20).to_bytes(2, "little") * 2
            + bytes(4)
            + bytes(4)
            + crc.to_bytes(4, "little")
            + size.to_bytes(4, "little") * 2
            + len(raw).to_bytes(2, "little")
            + bytes(2 + 2 + 2 + 2 + 4)
            + pos.to_bytes(4, "little")
            + raw
        )
        out += [local, data]
        pos += len(local) + size
    cd = b"".join(central)
    eocd = (
        b"PK\x05\x06"
        + bytes(4)
        + len(central).to_bytes(2, "little") * 2
        + len(cd).to_bytes(4, "little")
        + pos.to_bytes(4, "little")
        + bytes(2)
    )
    return Content(*out, cd + eocd, sha256=sha256)


def safetensors_file(
    tensors: Mapping[str, tuple[str, list[int]]], data_size: int | None = None, sha256: str | None = None
) -> Content:
    """A safetensors file with a real header and zero tensor data (``dtype``, ``shape`` per name)."""
    width = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = width[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return Content(
        len(text).to_bytes(8, "little"), text, data_size if data_size is not None else offset, sha256=sha256
    )


LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".onnx", ".pkl", ".zip")


@dataclass
class FakeRepo:
    repo_id: str
    commits: dict[str, dict[str, Content]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    gated: bool = False
    token: str | None = None
    """For gated repos: the token that has accepted the license."""
    on_info: list[Callable[[FakeRepo], None]] = field(default_factory=list)

    def commit(self, files: Mapping[str, Content | bytes], ref: str = "main") -> str:
        body = {p: as_content(c) for p, c in files.items()}
        seed = f"{self.repo_id}:{len(self.commits)}:{sorted((p, c.size) for p, c in body.items())}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        self.commits[sha] = body
        self.refs[ref] = sha
        return sha

    def resolve(self, rev: str) -> str | None:
        if rev in self.commits:
            return rev
        return self.refs.get(rev)

    @staticmethod
    def is_lfs(path: str, content: Content) -> bool:
        return path.endswith(LFS_SUFFIXES) or content.size > 1_000_000


class FakeHub:
    """The server. Use as a context manager; ``url`` is the ``HF_ENDPOINT`` to set."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.tamper: dict[str, Content] = {}
        """LFS sha256 (or git blob id of a small file) -> the bytes actually served for it."""
        self.drop: dict[str, int] = {}
        """LFS sha256 or file path -> how many more downloads to cut off halfway."""
        self.page_size = 1000
        """Tree listing entries per page (the hub's is 1000); further pages via ``Link: rel=next``."""
        self.refuse_head = False
        """Answer HEAD on blob URLs with 405, as signed object-store URLs often do."""
        self.stall_info = 0
        """How many more model-info requests to hold for ``stall_seconds`` before answering."""
        self.stall_seconds = 2.0
        self.latency = 0.0
        """Seconds every request waits before it is answered: a network's round trip (bench)."""
        self.multipart_ranges = True
        """Answer ``Range: bytes=a-b,c-d`` with ``206 multipart/byteranges`` (as nginx, Apache and
        most CDNs do); False: ignore such a header and send the whole file, as S3 does."""
        self.bytes_sent = 0
        self.requests: list[tuple[str, str, str | None]] = []
        self.authorized: list[tuple[str, bool]] = []
        """(path, whether an Authorization header came with it) per request."""
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_repo(self, repo_id: str, files: Mapping[str, Content | bytes], **kwargs: Any) -> FakeRepo:
        repo = FakeRepo(repo_id, **kwargs)
        repo.commit(files)
        self.repos[repo_id] = repo
        return repo

    def reset_counters(self) -> None:
        with self._lock:
            self.bytes_sent = 0
            self.requests.clear()
            self.authorized.clear()

    def count(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, dropped download) is part of the scenario, not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _CountingWriter:
    def __init__(self, raw: Any, hub: FakeHub) -> None:
        self._raw = raw
        self._hub = hub

    def write(self, data: bytes) -> int:
        n = self._raw.write(data)
        self._hub.count(len(data))
        return int(n) if n is not None else len(data)

    def flush(self) -> None:
        self._raw.flush()

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)

    def close(self) -> None:
        self._raw.close()


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_MULTI_RANGE = re.compile(r"bytes=\d+-\d+(?:,\s*\d+-\d+)+")
_REPO = r"([^/]+/[^/]+)"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as real servers: headers and body go out without a 40 ms stall

    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        self.wfile = _CountingWriter(self.wfile, self.server.hub)  # type: ignore[attr-defined,assignment]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    # -- routing ---------------------------------------------------------------------------
    def _route(self, head: bool) -> None:
        split = urlsplit(self.path)
        path, query = unquote(split.path), parse_qs(split.query)
        if self.hub.latency:
            time.sleep(self.hub.latency)
        with self.hub._lock:
            self.hub.requests.append(("HEAD" if head else "GET", self.path, self.headers.get("Range")))
            self.hub.authorized.append((path, "Authorization" in self.headers))
        if m := re.fullmatch(rf"/api/models/{_REPO}(?:/revision/(.+))?", path):
            with self.hub._lock:
                stall = self.hub.stall_info > 0
                self.hub.stall_info -= 1 if stall else 0
            if stall:
                time.sleep(self.hub.stall_seconds)
            return self._model_info(m[1], m[2] or "main")
        if m := re.fullmatch(rf"/api/models/{_REPO}/tree/([^/]+)(?:/(.*))?", path):
            cursor = int(query.get("cursor", ["0"])[0])
            return self._tree(m[1], m[2], m[3] or "", cursor)
        if m := re.fullmatch(rf"/{_REPO}/resolve/([^/]+)/(.+)", path):
            return self._resolve(m[1], m[2], m[3], head)
        if m := re.fullmatch(r"/cdn/([0-9a-f]{64})", path):
            return self._cdn(m[1], head)
        self._error(404, "EntryNotFound", f"no route for {path}")

    def _repo(self, repo_id: str, rev: str) -> tuple[FakeRepo, str] | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(401, "RepoNotFound", "Repository not found")
            return None
        commit = repo.resolve(rev)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return None
        return repo, commit

    def _model_info(self, repo_id: str, rev: str) -> None:
        found = self._repo(repo_id, rev)
        if found is None:
            return
        repo, commit = found
        siblings = []
        for path, c in sorted(repo.commits[commit].items()):
            entry: dict[str, Any] = {
                "rfilename": path,
                "size": c.size,
                "blobId": c.git_sha1 if not repo.is_lfs(path, c) else _lfs_pointer_oid(c),
            }
            if repo.is_lfs(path, c):
                entry["lfs"] = {"sha256": c.sha256, "size": c.size, "pointerSize": 134}
            siblings.append(entry)
        body = {
            "_id": repo_id,
            "id": repo_id,
            "modelId": repo_id,
            "sha": commit,
            "private": False,
            "gated": "auto" if repo.gated else False,
            "disabled": False,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "lastModified": "2026-01-01T00:00:00.000Z",
            "siblings": siblings,
        }
        self._json(body)
        for hook in list(repo.on_info):
            hook(repo)

    def _tree(self, repo_id: str, rev: str, prefix: str, cursor: int) -> None:
        found = self._repo(repo_id, rev)
        if found is None:
            return
        repo, commit = found
        entries: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for path, c in sorted(repo.commits[commit].items()):
            if prefix and not path.startswith(prefix.rstrip("/") + "/"):
                continue
            parts = path.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
            e: dict[str, Any] = {"type": "file", "path": path, "size": c.size}
            if repo.is_lfs(path, c):
                e["oid"] = _lfs_pointer_oid(c)
                e["lfs"] = {"oid": c.sha256, "size": c.size, "pointerSize": 134}
            else:
                e["oid"] = c.git_sha1
            entries.append(e)
        entries += [{"type": "directory", "path": d, "oid": "0" * 40, "size": 0} for d in sorted(dirs)]
        size = self.hub.page_size
        page = entries[cursor : cursor + size]
        headers = {}
        if cursor + size < len(entries):
            nxt = f"{self.hub.url}/api/models/{repo_id}/tree/{rev}?recursive=true&cursor={cursor + size}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        self._json(page, headers)

    def _resolve(self, repo_id: str, rev: str, path: str, head: bool) -> None:
        found = self._repo(repo_id, rev)
        if found is None:
            return
        repo, commit = found
        if repo.gated and self.headers.get("Authorization") != f"Bearer {repo.token}":
            return self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted.")
        content = repo.commits[commit].get(path)
        if content is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {commit}")
        common = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if repo.is_lfs(path, content):
            location = f"http://localhost:{self.hub.port}/cdn/{content.sha256}"
            headers = {
                **common,
                "Location": location,
                "ETag": f'"{_lfs_pointer_oid(content)}"',
                "X-Linked-Etag": f'"{content.sha256}"',
                "X-Linked-Size": str(content.size),
            }
            self._send(302, b"", headers, head)
            return
        served = self.hub.tamper.get(content.git_sha1, content)
        self._ranged(served, {**common, "ETag": f'"{content.git_sha1}"'}, head, drop_key=path)

    def _cdn(self, sha256: str, head: bool) -> None:
        if head and self.hub.refuse_head:
            return self._send(405, b"", {}, head=True)
        content = self.hub.tamper.get(sha256)
        if content is None:
            for repo in self.hub.repos.values():
                for files in repo.commits.values():
                    for c in files.values():
                        if c.sha256 == sha256:
                            content = c
        if content is None:
            return self._error(404, "EntryNotFound", "no such blob")
        self._ranged(content, {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"}, head, drop_key=sha256)

    # -- responses -------------------------------------------------------------------------
    def _ranged(self, content: Content, headers: dict[str, str], head: bool, drop_key: str) -> None:
        spec = self.headers.get("Range", "")
        if "," in spec and self.hub.multipart_ranges and _MULTI_RANGE.fullmatch(spec):
            return self._byteranges(content, headers, spec, head)
        start, end, status = 0, content.size, 200
        if (m := _RANGE.fullmatch(self.headers.get("Range", ""))) and content.size:
            if m[1]:
                start = int(m[1])
                end = min(int(m[2]) + 1, content.size) if m[2] else content.size
            else:
                start = max(0, content.size - int(m[2]))
            if start >= content.size:
                return self._send(416, b"", {"Content-Range": f"bytes */{content.size}"}, head)
            status = 206
            headers = {**headers, "Content-Range": f"bytes {start}-{end - 1}/{content.size}"}
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(end - start)}.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        cut = None
        with self.hub._lock:
            # Only downloads are cut off (no Range, or an open-ended resume), not a scan's reads.
            downloading = not self.headers.get("Range") or self.headers["Range"].endswith("-")
            if downloading and self.hub.drop.get(drop_key, 0) > 0:
                self.hub.drop[drop_key] -= 1
                # The first attempt gets half the body; a resumed one (start > 0) gets nothing,
                # so a drop that repeats exhausts the client's retries instead of creeping on.
                cut = start + (end - start) // 2 if start == 0 else start
        for chunk in content.chunks(start, end if cut is None else cut):
            self.wfile.write(chunk)
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    def _byteranges(self, content: Content, headers: dict[str, str], spec: str, head: bool) -> None:
        """RFC 9110 14.6: one part per range, each with its Content-Range."""
        boundary = "fakehub-" + hashlib.sha256(spec.encode()).hexdigest()[:16]
        parts: list[bytes] = []
        for item in spec[len("bytes=") :].split(","):
            first, _, last = item.strip().partition("-")
            start, end = int(first), min(int(last) + 1, content.size)
            if start >= end:
                continue
            head_part = (
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Range: bytes {start}-{end - 1}/{content.size}\r\n\r\n"
            )
            parts.append(head_part.encode() + content.read(start, end) + b"\r\n")
        if not parts:
            return self._send(416, b"", {"Content-Range": f"bytes */{content.size}"}, head)
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        self._send(206, body, {**headers, "Content-Type": f"multipart/byteranges; boundary={boundary}"}, head)

    def _json(self, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(
            200,
            json.dumps(body).encode(),
            {"Content-Type": "application/json", **(headers or {})},
            head=False,
        )

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(
            status,
            json.dumps({"error": message}).encode(),
            {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message},
            head=self.command == "HEAD",
        )

    def _send(self, status: int, body: bytes, headers: Mapping[str, str], head: bool) -> None:
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


def _lfs_pointer_oid(content: Content) -> str:
    """The git blob id of the LFS pointer file (what the hub returns as ``oid`` for LFS files)."""
    pointer = (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{content.sha256}\nsize {content.size}\n"
    )
    return hashlib.sha1(b"blob %d\0" % len(pointer) + pointer.encode()).hexdigest()


def quote_path(path: str) -> str:
    return quote(path, safe="/")
