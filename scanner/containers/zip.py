"""Zip archives: PyTorch checkpoints, ``.npz``, ``.keras``, joblib-in-zip, plain zips.

Members are read the way ``torch.load`` reads them (PyTorch's miniz reader: by central-
directory name and sizes, ignoring CRCs and flag bits), and every place where Python's
``zipfile`` would see something else is a finding: picklescan was bypassed exactly there
(CVE-2025-1944 name mismatch, CVE-2025-1945 flag bits, CVE-2025-10156 bad CRC). Every
member is handled on its own, so one bad entry never hides the rest (modelscan #354).
"""

from __future__ import annotations

import bz2
import lzma
import stat
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from scanner.containers.common import (
    Decoder,
    InflatingBlob,
    child_node,
    inflate,
    mismatch_findings,
    unsafe_name_reason,
)
from scanner.containers.zipfmt import CentralEntry, LocalHeader, ZipFormatError, read_directory, read_locals
from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.model import FactValue, Finding, Location
from scanner.sources.interface import Blob, BytesBlob, Node

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
SMALL_MEMBER = 64 * 1024
"""Members up to this size are read together with their local header (one request)."""
EAGER_INFLATE = 32 * 1024 * 1024
"""Compressed members declared up to this size are inflated whole (CRC and size checked);
larger ones are inflated lazily, only as far as the analyzers read."""
PICKLE_READ_CAP = 256 * 1024 * 1024
"""Stored pickle members up to this size are read once, CRC-checked and handed on in memory."""
# Bits PyTorch and zipfile both accept without changing what is read: deflate options (1, 2),
# data descriptor (3), UTF-8 names (11). Anything else makes one reader refuse or differ.
BENIGN_FLAGS = 0x0002 | 0x0004 | 0x0008 | 0x0800


@dataclass(frozen=True)
class Layout:
    """What the member names say the archive is, and which loader reads which member."""

    format: str
    hint: str | None = None
    torch_prefix: str | None = None

    def is_storage(self, name: str) -> bool:
        # torch.load reads ``<prefix>/data/<key>`` as raw tensor bytes, never unpickles them.
        if self.torch_prefix is None:
            return False
        head = f"{self.torch_prefix}/data/"
        return name.startswith(head) and "/" not in name[len(head) :]

    def hint_for(self, name: str) -> str | None:
        if self.hint is not None:
            return self.hint
        return "numpy" if name.endswith(".npy") else None


def detect_layout(entries: tuple[CentralEntry, ...]) -> Layout:
    names = {e.name for e in entries}
    if entries and "/" in entries[0].name:
        # PyTorchStreamReader takes the archive folder from the first central entry's name.
        prefix = entries[0].name.split("/", 1)[0]
        if f"{prefix}/data.pkl" in names and ({f"{prefix}/version", f"{prefix}/.data/version"} & names):
            return Layout("pytorch-zip", "torch", prefix)
    if "config.json" in names and "model.weights.h5" in names:
        return Layout("keras", "keras")
    if names and all(n.endswith(".npy") for n in names):
        return Layout("npz", "numpy")
    return Layout("zip")


def decoder_factory(method: int) -> Callable[[], Decoder] | None:
    if method == DEFLATED:
        return lambda: Decoder(lambda: zlib.decompressobj(-15))
    if method == BZIP2:
        return lambda: Decoder(bz2.BZ2Decompressor)
    return None


class ZipAnalyzer(Analyzer):
    formats = ("zip",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        return _ZipScan(node, context).run()


class _ZipScan:
    def __init__(self, node: Node, context: Context) -> None:
        self.node = node
        self.blob = node.blob
        self.context = context
        self.path = node.artifact.path
        self.findings: list[Finding] = mismatch_findings(context, node, "zip")
        self.children: list[Node] = []

    def add(
        self,
        rule: str,
        message: str,
        member: str | None = None,
        offset: int | None = None,
        evidence: str | None = None,
    ) -> None:
        where = Location(offset=offset, member=member)
        self.findings.append(
            self.context.finding(rule, self.path, message, location=where, evidence=evidence)
        )

    def run(self) -> Analysis:
        limits = self.context.limits
        try:
            d = read_directory(self.blob, limits.max_header, limits.max_members)
        except ZipFormatError as exc:
            self.add("ZIP-MALFORMED-001", f"The zip archive cannot be parsed: {exc}.")
            return Analysis(findings=tuple(self.findings), format="zip")
        if d.declared_count > limits.max_members:
            self.add(
                "ARCHIVE-LIMIT-001",
                f"The archive declares {d.declared_count} members; only the first "
                f"{limits.max_members} were inspected.",
            )
        if d.truncated_entries:
            self.add(
                "ZIP-MALFORMED-001",
                f"The central directory holds {len(d.entries)} readable entries but "
                f"declares {d.declared_count}; the rest could not be inspected.",
                offset=d.cd_offset,
            )
        if d.prefix > 0:
            self.add(
                "ZIP-PREFIX-001",
                f"{d.prefix} bytes precede the archive; zipfile shifts every offset past "
                "them while other readers see a different file.",
                offset=0,
            )
        if d.eocd_end < self.blob.size:
            self.add(
                "ZIP-TRAILING-001",
                f"{self.blob.size - d.eocd_end} bytes follow the end of the archive.",
                offset=d.eocd_end,
            )
        elif d.eocd_end > self.blob.size:
            self.add(
                "ZIP-MALFORMED-001",
                "The archive comment runs past the end of the file.",
                offset=d.eocd_offset,
            )
        layout = detect_layout(d.entries)
        wanted = {
            e.index: e.compressed_size
            for e in d.entries
            if e.compressed_size <= SMALL_MEMBER and not layout.is_storage(e.name)
        }
        headers, data = read_locals(self.blob, d.entries, wanted)
        self._check_names(d.entries)
        self._check_extents(d.entries, headers, d.cd_offset)
        seen: Counter[bytes] = Counter()
        storages = 0
        for entry in d.entries:
            seen[entry.raw_name] += 1
            suffix = f"#{seen[entry.raw_name]}" if seen[entry.raw_name] > 1 else ""
            if layout.is_storage(entry.name):
                storages += 1
                self._check_local(entry, headers[entry.index])
                continue
            self._member(entry, headers[entry.index], data.get(entry.index), layout, suffix)
        facts: dict[str, FactValue] = {"zip.members": len(d.entries), "zip.zip64": d.zip64}
        if layout.torch_prefix is not None:
            facts["pytorch.archive_prefix"] = layout.torch_prefix
            facts["pytorch.storages"] = storages
        return Analysis(
            findings=tuple(self.findings), facts=facts, children=tuple(self.children), format=layout.format
        )

    # --- archive-wide checks ---------------------------------------------------------------
    def _check_names(self, entries: tuple[CentralEntry, ...]) -> None:
        counts = Counter(e.raw_name for e in entries)
        for raw, n in sorted(counts.items()):
            if n > 1:
                name = raw.decode("utf-8", "replace")
                self.add(
                    "ZIP-DUP-001",
                    f"{n} members are named {name!r}; zipfile reads the last one, other "
                    "readers may read another, so each copy is scanned.",
                    member=name,
                )
        for e in entries:
            why = unsafe_name_reason(e.name)
            if why is not None:
                self.add(
                    "ZIP-PATH-001",
                    f"Member name {e.name!r} {why}; extracting it writes outside the target folder.",
                    member=e.name,
                )
            if e.create_system == 3 and stat.S_ISLNK(e.external_attr >> 16):
                self.add(
                    "ZIP-SYMLINK-001",
                    f"Member {e.name!r} is a symbolic link; extracting tools create "
                    "it and later writes follow it.",
                    member=e.name,
                )

    def _check_extents(
        self, entries: tuple[CentralEntry, ...], headers: dict[int, LocalHeader], cd_offset: int
    ) -> None:
        spans = []
        for e in entries:
            h = headers[e.index]
            if not h.signature_ok:
                continue
            end = h.data_offset + e.compressed_size
            if end > cd_offset:
                where = "past the end of the file" if end > self.blob.size else "into the central directory"
                self.add(
                    "ZIP-BOUNDS-001",
                    f"Member {e.name!r} claims {e.compressed_size} bytes that run {where}.",
                    member=e.name,
                    offset=h.data_offset,
                )
            spans.append((e.local_offset, end, e.name))
        spans.sort()
        reach, reach_name = -1, ""
        for start, end, name in spans:
            if start < reach:
                self.add(
                    "ZIP-OVERLAP-001",
                    f"Members {reach_name!r} and {name!r} overlap; the same bytes are "
                    "read as two files (the overlapping-entries zip bomb, or a hidden member).",
                    member=name,
                    offset=start,
                )
            if end > reach:
                reach, reach_name = end, name

    def _check_local(self, e: CentralEntry, h: LocalHeader) -> bool:
        """Compare the local header with the central entry; False when there is no local header."""
        if not h.signature_ok:
            self.add(
                "ZIP-HEADER-001",
                f"Member {e.name!r} has no valid local header at offset {e.local_offset}; it cannot be read.",
                member=e.name,
                offset=e.local_offset,
            )
            return False
        if h.raw_name != e.raw_name:
            self.add(
                "ZIP-NAME-001",
                f"Member {e.name!r} is named {h.raw_name.decode('utf-8', 'replace')!r} "
                "in its local header: zipfile refuses it while PyTorch reads it by its central name "
                "(CVE-2025-1944).",
                member=e.name,
                offset=h.offset,
            )
        odd = (e.flags | h.flags) & ~BENIGN_FLAGS
        if odd:
            what = "marks it encrypted" if odd & 0x41 else f"sets unusual bits 0x{odd:04x}"
            self.add(
                "ZIP-FLAGS-001",
                f"The general-purpose flag of member {e.name!r} {what}: readers disagree on such "
                "members (PyTorch reads past local-header flags, zipfile refuses encrypted or patched "
                "members), a known scanner bypass (CVE-2025-1945).",
                member=e.name,
                offset=h.offset,
                evidence=f"central 0x{e.flags:04x}, local 0x{h.flags:04x}",
            )
        diffs = []
        if h.flags != e.flags:
            diffs.append(f"flags 0x{h.flags:04x} vs 0x{e.flags:04x}")
        if h.method != e.method:
            diffs.append(f"method {h.method} vs {e.method}")
        if not h.flags & 0x0008:
            for label, local, central in (
                ("crc", h.crc, e.crc),
                ("compressed size", h.compressed_size, e.compressed_size),
                ("size", h.size, e.size),
            ):
                if local != central:
                    diffs.append(f"{label} {local} vs {central}")
        if diffs:
            self.add(
                "ZIP-HEADER-002",
                f"The local header of member {e.name!r} disagrees with the central directory.",
                member=e.name,
                offset=h.offset,
                evidence="local vs central: " + ", ".join(diffs),
            )
        return True

    # --- members ----------------------------------------------------------------------------
    def _member(
        self,
        e: CentralEntry,
        h: LocalHeader,
        small: bytes | None,
        layout: Layout,
        suffix: str,
    ) -> None:
        if not self._check_local(e, h) or (e.name.endswith("/") and e.size == 0):
            return
        if h.data_offset + e.compressed_size > self.blob.size:
            return  # already a ZIP-BOUNDS-001 finding; no reader gets these bytes
        hint = layout.hint_for(e.name)
        if e.method == STORED:
            raw: bytes | None = small
            if raw is None and (
                e.name.endswith((".pkl", ".pickle")) and e.compressed_size <= PICKLE_READ_CAP
            ):
                raw = self.blob.read_at(h.data_offset, e.compressed_size)
            if raw is not None:
                self._check_crc(e, raw)
                blob: Blob = BytesBlob(raw)
            else:
                blob = self.blob.window(h.data_offset, e.compressed_size)
            self.children.append(child_node(self.node, e.name, blob, hint, "zip", suffix))
            return
        source = self.blob.window(h.data_offset, e.compressed_size)
        make = decoder_factory(e.method)
        if e.method == LZMA:
            framed = _zip_lzma(source)
            if framed is None:
                self.add(
                    "ARCHIVE-TRUNCATED-001", f"Member {e.name!r} has a corrupt LZMA header.", member=e.name
                )
                return
            source, make = framed
        if make is None:
            self.add(
                "ZIP-METHOD-001",
                f"Member {e.name!r} uses compression method {e.method}, which model "
                "loaders cannot read; it was not inspected.",
                member=e.name,
                offset=h.offset,
            )
            return
        self.children.append(
            child_node(self.node, e.name, self._inflate(e, source, make), hint, "zip", suffix)
        )

    def _inflate(self, e: CentralEntry, source: Blob, make: Callable[[], Decoder]) -> Blob:
        limits = self.context.limits
        ratio = e.size / max(e.compressed_size, 1)
        if e.size > limits.max_inflate or (e.size > 1024 * 1024 and ratio > limits.max_inflate_ratio):
            self.add(
                "ARCHIVE-BOMB-001",
                f"Member {e.name!r} declares {e.size} bytes from {e.compressed_size} "
                f"({ratio:.0f}:1); only the first {limits.max_inflate} bytes at most are inspected.",
                member=e.name,
            )
            return InflatingBlob(source, make, min(e.size, limits.max_inflate), self.context)
        if e.size > EAGER_INFLATE:
            return InflatingBlob(source, make, e.size, self.context)
        res = inflate(source, make, self.context, limit=e.size + 1)
        data = bytes(res.data[: e.size])
        if res.budget_exhausted:
            self.add(
                "ARCHIVE-LIMIT-001",
                f"Member {e.name!r} was not inflated: the scan's inflation budget is spent.",
                member=e.name,
            )
        elif res.bomb is not None and len(res.data) <= e.size:
            self.add("ARCHIVE-BOMB-001", f"Member {e.name!r} {res.bomb}.", member=e.name)
        elif res.error is not None:
            self.add(
                "ARCHIVE-TRUNCATED-001",
                f"Member {e.name!r}: {res.error}; the {len(data)} bytes before "
                "the break are still scanned (a loader acts on them).",
                member=e.name,
            )
        elif len(res.data) != e.size:
            self.add(
                "ARCHIVE-SIZE-001",
                f"Member {e.name!r} inflates to {len(res.data)}"
                f"{'+' if len(res.data) > e.size else ''} bytes but declares {e.size}.",
                member=e.name,
            )
        if res.complete or len(res.data) > e.size:
            self._check_crc(e, data)
        return BytesBlob(data)

    def _check_crc(self, e: CentralEntry, data: bytes) -> None:
        actual = zlib.crc32(data)
        if actual != e.crc:
            self.add(
                "ZIP-CRC-001",
                f"Member {e.name!r} fails its CRC check: Python's zipfile raises, PyTorch "
                "ignores it and loads the member (CVE-2025-10156).",
                member=e.name,
                evidence=f"declared 0x{e.crc:08x}, actual 0x{actual:08x}",
            )


def _zip_lzma(source: Blob) -> tuple[Blob, Callable[[], Decoder]] | None:
    """zipfile's LZMA framing: version (2 bytes), properties size (2), properties, raw LZMA1."""
    head = source.read_at(0, 4)
    if len(head) < 4:
        return None
    psize = int.from_bytes(head[2:4], "little")
    props = source.read_at(4, psize)
    decode = getattr(lzma, "_decode_filter_properties", None)
    if decode is None or len(props) != psize:
        return None
    try:
        filters = [decode(lzma.FILTER_LZMA1, props)]
    except (lzma.LZMAError, ValueError):
        return None
    body = source.window(4 + psize, source.size - 4 - psize)
    return body, lambda: Decoder(lambda: lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters))


ANALYZER = ZipAnalyzer()
