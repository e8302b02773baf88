"""A zip central-directory and local-header parser over ``blob.read_at``.

Only the bytes that describe the archive are read: the end record (a few hundred bytes from
the tail), the central directory, and each local header (30 bytes + name + extra), with
adjacent reads merged. Nothing here decides what is suspicious; ``zip.py`` compares what
this module reports the way PyTorch's miniz reader and Python's ``zipfile`` each see it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scanner.sources.interface import Blob

EOCD_SIG = b"PK\x05\x06"
EOCD64_SIG = b"PK\x06\x06"
LOCATOR_SIG = b"PK\x06\x07"
CENTRAL_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
_EOCD = struct.Struct("<4sHHHHLLH")  # 22 bytes
_EOCD64 = struct.Struct("<4sQHHLLQQQQ")  # 56 bytes
_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
_CENTRAL = struct.Struct("<4sHHHHHHLLLHHHHHLL")  # 46 bytes
_LOCAL = struct.Struct("<4sHHHHHLLLHH")  # 30 bytes
U32 = 0xFFFFFFFF
FIRST_TAIL = 1024
"""Tail bytes read first; an archive comment longer than this costs a second read."""
LOCAL_SLACK = 160
"""Extra bytes read past each local header's expected extra field: PyTorch pads the local
extra field (``FB`` + up to 63 bytes) so tensor data is 64-byte aligned; zip64 adds 20."""
MERGE_GAP = 4096
"""Local headers closer than this are read in one request."""


class ZipFormatError(Exception):
    """The archive's end record or central directory cannot be parsed."""


@dataclass(frozen=True)
class CentralEntry:
    index: int
    raw_name: bytes
    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    local_offset: int
    """Offset of the local header, already shifted by any archive prefix (as zipfile does)."""
    create_system: int
    external_attr: int
    extra_len: int


@dataclass(frozen=True)
class LocalHeader:
    offset: int
    signature_ok: bool
    flags: int = 0
    method: int = 0
    crc: int = 0
    compressed_size: int = 0
    size: int = 0
    raw_name: bytes = b""
    data_offset: int = 0


@dataclass(frozen=True)
class Directory:
    entries: tuple[CentralEntry, ...]
    cd_offset: int
    cd_size: int
    eocd_offset: int
    eocd_end: int
    """Offset just past the end record and its comment."""
    prefix: int
    """Bytes before the archive proper (what zipfile adds to every offset)."""
    declared_count: int
    zip64: bool
    truncated_entries: bool
    """The central directory ended before the declared entry count."""


def decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _zip64_values(extra: bytes, want: list[bool]) -> list[int | None]:
    """Values of the zip64 extra field (id 1), in order, for the fields flagged in ``want``."""
    i = 0
    while i + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4 : i + 4 + length]
        if tag == 1:
            out: list[int | None] = []
            j = 0
            for needed in want:
                if needed and j + 8 <= len(body):
                    out.append(struct.unpack_from("<Q", body, j)[0])
                    j += 8
                else:
                    out.append(None)
            return out
        i += 4 + length
    return [None] * len(want)


def read_directory(blob: Blob, max_cd: int, max_entries: int) -> Directory:
    size = blob.size
    if size < _EOCD.size:
        raise ZipFormatError("the file is too short to hold a zip end record")
    tail_start = max(0, size - FIRST_TAIL)
    tail = blob.read_at(tail_start, size - tail_start)
    at = tail.rfind(EOCD_SIG, 0, len(tail) - _EOCD.size + 4)
    if at < 0 and tail_start > 0:
        tail_start = max(0, size - (65535 + _EOCD.size + _LOCATOR.size))
        tail = blob.read_at(tail_start, size - tail_start)
        at = tail.rfind(EOCD_SIG, 0, len(tail) - _EOCD.size + 4)
    if at < 0:
        raise ZipFormatError("no end-of-central-directory record")
    (_, disk, cd_disk, _n_disk, count, cd_size, cd_offset, comment_len) = _EOCD.unpack_from(tail, at)
    eocd_offset = tail_start + at
    if disk != 0 or cd_disk != 0:
        raise ZipFormatError("multi-disk (spanned) archives are not supported by any model loader")
    zip64 = False
    loc_at = at - _LOCATOR.size
    if loc_at >= 0 and tail[loc_at : loc_at + 4] == LOCATOR_SIG:
        _, _, eocd64_offset, _ = _LOCATOR.unpack_from(tail, loc_at)
        rec = blob.read_at(eocd64_offset, _EOCD64.size) if eocd64_offset < size else b""
        if len(rec) == _EOCD64.size and rec[:4] == EOCD64_SIG:
            (_, _, _, _, _, _, _, count, cd_size, cd_offset) = _EOCD64.unpack(rec)
            zip64 = True
            eocd_offset_for_prefix = eocd64_offset
        else:
            raise ZipFormatError("the zip64 end record is missing or corrupt")
    else:
        eocd_offset_for_prefix = eocd_offset
    # zipfile: the archive may be preceded by other bytes (a self-extractor stub); offsets
    # are then shifted by the difference between where the directory is and where it says.
    prefix = eocd_offset_for_prefix - cd_size - cd_offset
    if prefix < 0:
        raise ZipFormatError("the central directory lies past the end record")
    if cd_size > max_cd:
        raise ZipFormatError(f"the central directory ({cd_size} bytes) exceeds the limit of {max_cd}")
    start = cd_offset + prefix
    raw = blob.read_at(start, cd_size)
    entries: list[CentralEntry] = []
    i = 0
    truncated = False
    while len(entries) < min(count, max_entries):
        if i + _CENTRAL.size > len(raw) or raw[i : i + 4] != CENTRAL_SIG:
            truncated = True
            break
        f = _CENTRAL.unpack_from(raw, i)
        (_, made_by, _, flags, method, _, _, crc, csize, usize, nlen, elen, clen, _, _, eattr, lho) = f
        name_raw = raw[i + 46 : i + 46 + nlen]
        extra = raw[i + 46 + nlen : i + 46 + nlen + elen]
        if len(name_raw) < nlen:
            truncated = True
            break
        if U32 in (usize, csize, lho):
            z = _zip64_values(extra, [usize == U32, csize == U32, lho == U32])
            usize = z[0] if z[0] is not None else usize
            csize = z[1] if z[1] is not None else csize
            lho = z[2] if z[2] is not None else lho
        entries.append(
            CentralEntry(
                index=len(entries),
                raw_name=name_raw,
                name=decode_name(name_raw, flags),
                flags=flags,
                method=method,
                crc=crc,
                compressed_size=csize,
                size=usize,
                local_offset=lho + prefix,
                create_system=made_by >> 8,
                external_attr=eattr,
                extra_len=elen,
            )
        )
        i += 46 + nlen + elen + clen
    return Directory(
        entries=tuple(entries),
        cd_offset=start,
        cd_size=cd_size,
        eocd_offset=eocd_offset,
        eocd_end=eocd_offset + _EOCD.size + comment_len,
        prefix=prefix,
        declared_count=count,
        zip64=zip64,
        truncated_entries=truncated,
    )


def parse_local(buf: bytes, offset: int) -> tuple[LocalHeader, int]:
    """The local header at the start of ``buf``; also returns how many bytes it needs in all."""
    if len(buf) < _LOCAL.size or buf[:4] != LOCAL_SIG:
        return LocalHeader(offset=offset, signature_ok=False), _LOCAL.size
    (_, _, flags, method, _, _, crc, csize, usize, nlen, elen) = _LOCAL.unpack_from(buf)
    need = _LOCAL.size + nlen + elen
    name = buf[_LOCAL.size : _LOCAL.size + nlen]
    if U32 in (usize, csize):
        extra = buf[_LOCAL.size + nlen : need]
        z = _zip64_values(extra, [usize == U32, csize == U32])
        usize = z[0] if z[0] is not None else usize
        csize = z[1] if z[1] is not None else csize
    header = LocalHeader(
        offset=offset,
        signature_ok=True,
        flags=flags,
        method=method,
        crc=crc,
        compressed_size=csize,
        size=usize,
        raw_name=name,
        data_offset=offset + need,
    )
    return header, need


def read_locals(
    blob: Blob, entries: tuple[CentralEntry, ...], data_wanted: dict[int, int]
) -> tuple[dict[int, LocalHeader], dict[int, bytes]]:
    """Every entry's local header (by entry index), and the data of entries in ``data_wanted``
    (index -> bytes wanted), read in merged requests sorted by offset."""
    order = sorted((e for e in entries if 0 <= e.local_offset < blob.size), key=lambda e: e.local_offset)
    spans: list[tuple[int, int, list[CentralEntry]]] = []
    for e in order:
        want = _LOCAL.size + len(e.raw_name) + e.extra_len + LOCAL_SLACK + data_wanted.get(e.index, 0)
        start, end = e.local_offset, e.local_offset + want
        if spans and start - spans[-1][1] <= MERGE_GAP:
            s0, e0, members = spans[-1]
            spans[-1] = (s0, max(e0, end), [*members, e])
        else:
            spans.append((start, end, [e]))
    headers: dict[int, LocalHeader] = {}
    data: dict[int, bytes] = {}
    buffers = blob.read_many([(s0, e0 - s0) for s0, e0, _ in spans])
    for (s0, _e0, members), buf in zip(spans, buffers, strict=True):
        for e in members:
            rel = e.local_offset - s0
            header, need = parse_local(buf[rel:], e.local_offset)
            wanted = data_wanted.get(e.index, 0)
            if header.signature_ok and rel + need + wanted > len(buf) and need <= 0x20000 + _LOCAL.size:
                more = blob.read_at(e.local_offset, need + wanted)
                header, need = parse_local(more, e.local_offset)
                if wanted:
                    data[e.index] = more[need : need + wanted]
            elif header.signature_ok and wanted:
                data[e.index] = buf[rel + need : rel + need + wanted]
            headers[e.index] = header
    for e in entries:
        headers.setdefault(e.index, LocalHeader(offset=e.local_offset, signature_ok=False))
    return headers, data
