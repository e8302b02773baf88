"""Sniffing a format from the first bytes — never from the file name.

The name is consulted in exactly one direction: a file whose bytes could be a protocol-0
pickle *and* whose name says it is text that no model loader unpickles (``README.md``) is
treated as text. A ``.bin`` holding text still goes to the pickle analyzer.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from scanner.sources.interface import Blob

SNIFF_BYTES = 4096
"""Bytes read to decide a format."""

PICKLE = "pickle"
ZIP = "zip"
TAR = "tar"
GZIP = "gzip"
BZIP2 = "bzip2"
XZ = "xz"
LZMA = "lzma"
ZLIB = "zlib"
ZSTD = "zstd"
LZ4 = "lz4"
SEVENZ = "7z"
RAR = "rar"
SAFETENSORS = "safetensors"
GGUF = "gguf"
HDF5 = "hdf5"
NUMPY = "numpy"
PROTOBUF = "protobuf"
JSON = "json"
TEXT = "text"
IMAGE = "image"
EMPTY = "empty"
SYMLINK = "symlink"
UNKNOWN = "unknown"
TF_BUNDLE_INDEX = "tf-bundle-index"
TF_BUNDLE_DATA = "tf-bundle-data"
TF_FINGERPRINT = "tf-fingerprint"

#: LevelDB/TensorFlow table footer magic (tensorflow/core/lib/io/format.h, kTableMagicNumber)
_TABLE_MAGIC = struct.pack("<Q", 0xDB4775248B80FB57)
_BUNDLE_DATA = re.compile(r"^(?P<prefix>(?:.*/)?[^/]+)\.data-\d{5}-of-\d{5}$")

_TEXT_NAMES = (
    ".md",
    ".txt",
    ".json",
    ".jsonl",
    ".py",
    ".jinja",
    ".j2",
    ".yaml",
    ".yml",
    ".toml",
    ".cfg",
    ".ini",
    ".csv",
    ".tsv",
    ".model.vocab",
    ".gitattributes",
    ".gitignore",
    ".html",
    ".rst",
    "license",
    "notice",
    "readme",
    ".spm.vocab",
    "merges.txt",
    "vocab.txt",
)


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack_from("<Q", head)
    return n > 0 and head[8:9] == b"{"


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def _is_v7_tar(head: bytes) -> bool:
    """A pre-POSIX tar header has no magic; its checksum field is what identifies it."""
    if len(head) < 512 or head[0] in (0, 0x80) or head[99] != 0:
        return False
    field = head[148:156].replace(b"\x00", b" ").strip()
    if not field or any(c not in b"01234567" for c in field):
        return False
    total = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return int(field, 8) == total and head[156:157] in (b"\x00", b"0", b"1", b"2", b"5")


def _is_lzma_alone(head: bytes) -> bool:
    # .lzma "alone" header: properties byte (lc/lp/pb, <225), 4-byte dict size, 8-byte size.
    # joblib's 'lzma' compressor writes exactly this; 0x5d is the default properties byte.
    if len(head) < 13 or head[0] >= 225:
        return False
    (dict_size,) = struct.unpack_from("<I", head, 1)
    return head[0] == 0x5D and dict_size in {1 << k for k in range(12, 31)}


def _is_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


def _is_protobuf(head: bytes) -> bool:
    # ONNX ModelProto and TF SavedModel both open with field 1 as a varint (tag 0x08) and a
    # small value (ir_version / schema version); the format analyzer decides which it is.
    return len(head) >= 3 and head[0] == 0x08 and head[1] < 0x40 and head[2] in (0x12, 0x1A, 0x22, 0x3A)


_MAGIC: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    (ZIP, lambda h: h[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")),
    (GGUF, lambda h: h[:4] == b"GGUF"),
    (NUMPY, lambda h: h[:6] == b"\x93NUMPY"),
    (HDF5, lambda h: h[:8] == b"\x89HDF\r\n\x1a\n"),
    (SEVENZ, lambda h: h[:6] == b"7z\xbc\xaf\x27\x1c"),
    (RAR, lambda h: h[:6] == b"Rar!\x1a\x07"),
    (GZIP, lambda h: h[:2] == b"\x1f\x8b"),
    (BZIP2, lambda h: h[:3] == b"BZh" and h[3:4].isdigit()),
    (XZ, lambda h: h[:6] == b"\xfd7zXZ\x00"),
    (ZSTD, lambda h: h[:4] == b"\x28\xb5\x2f\xfd"),
    (LZ4, lambda h: h[:4] == b"\x04\x22\x4d\x18"),
    (TAR, _is_tar),
    (SAFETENSORS, _is_safetensors),
    (IMAGE, lambda h: h[:8] == b"\x89PNG\r\n\x1a\n" or h[:3] == b"\xff\xd8\xff" or h[:4] == b"GIF8"),
    (PICKLE, lambda h: h[:1] == b"\x80" and 2 <= (h[1:2] or b"\0")[0] <= 5),
    (LZMA, _is_lzma_alone),
    (ZLIB, _is_zlib),
    (PROTOBUF, _is_protobuf),
    (TAR, _is_v7_tar),
)

#: weights-like name suffixes and the format their name promises
_PROMISED: tuple[tuple[str, tuple[str, ...]], ...] = (
    (".safetensors", (SAFETENSORS,)),
    (".gguf", (GGUF,)),
    (".npy", (NUMPY,)),
    (".npz", (ZIP,)),
    (".h5", (HDF5,)),
    (".hdf5", (HDF5,)),
    (".keras", (ZIP,)),
    (".onnx", (PROTOBUF,)),
    (".tar", (TAR,)),
    (".zip", (ZIP,)),
    (".gz", (GZIP,)),
    (".bz2", (BZIP2,)),
    (".xz", (XZ,)),
    (".7z", (SEVENZ,)),
)


def extension_mismatch(name: str, fmt: str) -> str | None:
    """What a weights-like file name promises when the sniffed ``fmt`` is something else.

    Only names that promise a specific format count: a ``.bin``/``.pt`` may hold a zip, a
    tar or a pickle legitimately. Returns the promised format, or None when they agree.
    """
    base = name.rsplit("!", 1)[-1].rsplit("/", 1)[-1].lower()
    for suffix, formats in _PROMISED:
        if base.endswith(suffix):
            return None if fmt in formats else suffix.lstrip(".")
    return None


def sniff(blob: Blob, name: str = "") -> str:
    """The format of ``blob`` from its first bytes (``name`` only downgrades pickle-ish text)."""
    if blob.size == 0:
        return EMPTY
    head = blob.head(SNIFF_BYTES)
    fmt = sniff_bytes(head, name)
    if fmt == UNKNOWN and blob.size >= 22 and blob.read_at(blob.size - 22, 4) == b"PK\x05\x06":
        # A zip behind a prefix (a self-extractor stub, a polyglot): zipfile opens it from the
        # end record, so it is opened here too, and the zip analyzer reports the prefix.
        return ZIP
    return fmt


def sniff_bytes(head: bytes, name: str = "") -> str:
    for fmt, test in _MAGIC:
        if test(head):
            return fmt
    text = _decode_text(head)
    if text is not None:
        stripped = text.lstrip("\ufeff \t\r\n")
        if _looks_like_pickle_text(head) and not _is_text_name(name):
            return PICKLE
        if stripped[:1] in ("{", "["):
            return JSON
        return TEXT
    if looks_like_pickle(head):
        return PICKLE
    return UNKNOWN


def _is_text_name(name: str) -> bool:
    lower = name.rsplit("!", 1)[-1].lower()
    base = lower.rsplit("/", 1)[-1]
    return any(base.endswith(suffix) or base == suffix for suffix in _TEXT_NAMES)


def _decode_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniff window may cut a multi-byte character in two.
        if exc.start >= len(head) - 3:
            return head[: exc.start].decode("utf-8")
        return None


def _looks_like_pickle_text(head: bytes) -> bool:
    """A protocol 0/1 pickle is ASCII; it must parse and reach an import or a STOP."""
    return looks_like_pickle(head, need_global=True)


def looks_like_pickle(head: bytes, need_global: bool = False) -> bool:
    """Whether ``head`` parses as a pickle opcode stream up to a STOP or the end of the window.

    With ``need_global`` the stream must also import something (GLOBAL/INST/STACK_GLOBAL), be
    a complete small pickle, or fill the whole window with opcodes — prose rarely parses that
    far. Our own opcode walker is used, not ``genops``: its error messages are not a contract,
    and a 4 KiB text operand or a run of MARKs in front of the payload must not turn a pickle
    into "text" (CVE-2025-10155 class: a pickle the scanner skips still loads).
    """
    ops, saw_global, end = _walk_opcodes(head)
    if end == "invalid":
        # pickle.load executes every opcode before a bad one, so a stream that imports
        # something and then breaks (payload-then-garbage, nullifAI) is still a pickle.
        return saw_global and ops >= 2
    if end == "stop":
        return ops >= 2 and (saw_global or not need_global)
    # Ran off the sniff window (or the file) mid-stream.
    if saw_global:
        return ops >= 2
    if len(head) < SNIFF_BYTES:
        return False
    if not need_global:
        return ops >= 2
    return ops >= 64 or end == "line"


_FIXED_ARG = {
    **dict.fromkeys(b"Khq\x80\x82", 1),
    **dict.fromkeys(b"M\x83", 2),
    **dict.fromkeys(b"Jjr\x84", 4),
    **dict.fromkeys(b"G\x95", 8),
}
_COUNTED_ARG = {
    **dict.fromkeys(b"UC\x8c\x8a", (1, "<B")),
    **dict.fromkeys(b"TXB\x8b", (4, "<i")),
    **dict.fromkeys(b"\x8d\x8e\x96", (8, "<q")),
}
_LINE_ARGS = {**dict.fromkeys(b"IFLSVPgp", 1), **dict.fromkeys(b"ci", 2)}
_NO_ARG = frozenset(b"(.012NQRabdelostu})]\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98")


def _walk_opcodes(head: bytes) -> tuple[int, bool, str]:
    """(opcodes decoded, whether one imports, how it ended: stop | window | line | invalid).

    ``line`` means a text operand ran past the window (a long protocol-0 string)."""
    i, ops, saw_global, n = 0, 0, False, len(head)
    while i < n:
        code = head[i]
        i += 1
        if code in _NO_ARG:
            pass
        elif code in _FIXED_ARG:
            i += _FIXED_ARG[code]
        elif code in _COUNTED_ARG:
            width, fmt = _COUNTED_ARG[code]
            if i + width > n:
                return ops + 1, saw_global, "window"
            (length,) = struct.unpack_from(fmt, head, i)
            if length < 0:
                return ops, saw_global, "invalid"
            i += width + length
        elif code in _LINE_ARGS:
            for _ in range(_LINE_ARGS[code]):
                nl = head.find(b"\n", i)
                if nl < 0:
                    return ops + 1, saw_global, "line"
                i = nl + 1
        else:
            return ops, saw_global, "invalid"
        ops += 1
        if code in (0x63, 0x69, 0x93):  # GLOBAL, INST, STACK_GLOBAL
            saw_global = True
        if code == 0x2E:  # STOP
            return ops, saw_global, "stop"
    return ops, saw_global, "window"


def is_tf_bundle_index(blob: Blob) -> bool:
    """A TensorFlow checkpoint index (``variables.index``): an SSTable ending in the table magic."""
    return blob.size >= 48 and blob.read_at(blob.size - 8, 8) == _TABLE_MAGIC


def bundle_index_for(path: str) -> str | None:
    """``variables/variables.index`` for ``variables/variables.data-00000-of-00001``."""
    m = _BUNDLE_DATA.match(path)
    return f"{m.group('prefix')}.index" if m else None


def is_tf_fingerprint(head: bytes) -> bool:
    """A SavedModel ``fingerprint.pb``: a few varint fields (checksums and a version), nothing else."""
    if not 2 <= len(head) <= 128:
        return False
    pos = 0
    while pos < len(head):
        tag = head[pos]
        if tag & 0x07 != 0 or not 1 <= tag >> 3 <= 6:
            return False
        pos += 1
        for _ in range(10):
            if pos >= len(head):
                return False
            more = head[pos] & 0x80
            pos += 1
            if not more:
                break
        else:
            return False
    return True
