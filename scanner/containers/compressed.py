"""Compressed streams: gzip, bzip2, xz, raw LZMA ("alone"), zlib, zstd, lz4.

These are joblib's compressors (``joblib.dump(..., compress=...)``): a loader inflates and
unpickles as it goes, so a truncated or corrupt stream still runs the pickle prefix it held
(picklescan passed compressed joblib files silently). The stream is inflated with hard size,
ratio and per-scan budget limits into one child; a pickle payload gets ``loader_hint="joblib"``.
"""

from __future__ import annotations

import bz2
import importlib
import lzma
import zlib
from collections.abc import Callable

from scanner.containers.common import Decoder, child_node, inflate, mismatch_findings
from scanner.detect import PICKLE, sniff_bytes
from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.model import FactValue, Finding, Location
from scanner.sources.interface import BytesBlob, Node

#: format -> (decoder factory, magic that starts a concatenated next stream, file suffix)
_STREAMS: dict[str, tuple[Callable[[], object], bytes | None, tuple[str, ...]]] = {
    "gzip": (lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), b"\x1f\x8b", (".gz", ".gzip")),
    "bzip2": (bz2.BZ2Decompressor, b"BZh", (".bz2",)),
    "xz": (lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), b"\xfd7zXZ\x00", (".xz",)),
    "lzma": (lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), None, (".lzma",)),
    "zlib": (lambda: zlib.decompressobj(zlib.MAX_WBITS), None, (".z", ".zlib")),
}
_OPTIONAL = {"lz4": ("lz4.frame", "lz4"), "zstd": ("zstandard", "zstandard")}


def _member_name(node: Node, suffixes: tuple[str, ...]) -> str:
    base = node.artifact.path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    for suffix in suffixes:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return "decompressed"


def _optional_factory(fmt: str) -> Callable[[], object] | str:
    """A decoder for lz4/zstd when the optional package is there; else why not."""
    module, package = _OPTIONAL[fmt]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return f"the optional package {package!r} is not installed"
    if fmt == "lz4":
        cls = getattr(mod, "LZ4FrameDecompressor", None)
        if cls is not None:
            return lambda: cls()
    return f"{package} offers no bounded streaming decoder here"


class CompressedAnalyzer(Analyzer):
    formats = ("gzip", "bzip2", "xz", "lzma", "zlib", "zstd", "lz4")

    def analyze(self, node: Node, context: Context) -> Analysis:
        fmt = _sniffed(node)
        path = node.artifact.path
        findings: list[Finding] = mismatch_findings(context, node, fmt)
        if fmt in _STREAMS:
            raw_make, restart, suffixes = _STREAMS[fmt]
        else:
            got = _optional_factory(fmt)
            if isinstance(got, str):
                findings.append(
                    context.finding(
                        "SCAN-UNSUPPORTED-001", path, f"This {fmt} stream was not inspected: {got}."
                    )
                )
                return Analysis(findings=tuple(findings))
            raw_make, restart, suffixes = got, None, (f".{fmt}",)
        limits = context.limits
        res = inflate(
            node.blob, lambda: Decoder(raw_make), context, limit=limits.max_inflate, restart_magic=restart
        )
        size = len(res.data)
        if res.budget_exhausted:
            findings.append(
                context.finding(
                    "ARCHIVE-LIMIT-001",
                    path,
                    "The stream was inflated only in part: "
                    f"the scan's inflation budget is spent ({size} bytes inflated).",
                )
            )
        elif res.bomb is not None:
            findings.append(
                context.finding(
                    "ARCHIVE-BOMB-001", path, f"The {fmt} stream {res.bomb}; the inflated prefix is scanned."
                )
            )
        elif res.error is not None:
            findings.append(
                context.finding(
                    "ARCHIVE-TRUNCATED-001",
                    path,
                    f"{res.error[0].upper()}{res.error[1:]}; "
                    f"the {size} bytes inflated before the break are scanned (a loader acts "
                    "on them).",
                    location=Location(offset=res.consumed),
                )
            )
        elif res.complete and res.consumed < node.blob.size:
            trailing = node.blob.read_at(res.consumed, min(node.blob.size - res.consumed, 4096))
            if trailing.strip(b"\x00"):
                findings.append(
                    context.finding(
                        "ARCHIVE-TRAILING-001",
                        path,
                        f"{node.blob.size - res.consumed} bytes follow the end of the {fmt} stream.",
                        location=Location(offset=res.consumed),
                    )
                )
        data = bytes(res.data)
        hint = "joblib" if sniff_bytes(data[:4096]) == PICKLE else None
        child = child_node(node, _member_name(node, suffixes), BytesBlob(data), hint, fmt)
        facts: dict[str, FactValue] = {"compressed.format": fmt, "compressed.inflated_size": size}
        return Analysis(findings=tuple(findings), facts=facts, children=(child,) if size else ())


def _sniffed(node: Node) -> str:
    return sniff_bytes(node.blob.head(4096), node.artifact.path)


ANALYZER = CompressedAnalyzer()
