"""Fixture builders for the container tests: harmless payloads, zip surgery, direct analysis."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

from scanner.detect import sniff_bytes
from scanner.formats.interface import Analysis, Analyzer, Context, Limits
from scanner.formats.registry import analyzer_for
from scanner.model import Artifact
from scanner.rules import load_rules
from scanner.sources.interface import BytesBlob, Node, Tree


class MarkerPayload:
    """Pickles to ``exec`` of a line that writes ``marker``: live only under a real loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def payload_pickle(marker: Path, protocol: int = 2) -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0], "hook": MarkerPayload(marker)}, protocol=protocol)


def analyze(data: bytes, name: str = "model.bin", limits: Limits | None = None) -> Analysis:
    """Run the analyzer of the sniffed format on ``data`` (no engine, no recursion)."""
    fmt = sniff_bytes(data[:4096], name)
    analyzer = analyzer_for(fmt)
    assert isinstance(analyzer, Analyzer), f"no analyzer for {fmt}"
    node = Node(Artifact(path=name, size=len(data)), BytesBlob(data))
    tree = Tree(target=name, root=name, nodes=(node,))
    return analyzer.analyze(node, Context(rules=load_rules(), limits=limits or Limits(), tree=tree))


def rule_ids(analysis: Analysis) -> set[str]:
    return {f.rule_id for f in analysis.findings}


def child(analysis: Analysis, suffix: str) -> Node:
    matches = [c for c in analysis.children if c.artifact.path.endswith(suffix)]
    assert matches, f"no child ending in {suffix}: {[c.artifact.path for c in analysis.children]}"
    return matches[0]


def central_entries(data: bytes) -> list[tuple[int, bytes]]:
    """(offset of the central header, name) for each entry, parsed independently of the scanner."""
    eocd = data.rfind(b"PK\x05\x06")
    count, _size, cd_offset = struct.unpack_from("<HLL", data, eocd + 10)
    if cd_offset == 0xFFFFFFFF:
        loc = data.rfind(b"PK\x06\x07")
        (eocd64,) = struct.unpack_from("<Q", data, loc + 8)
        count, _size, cd_offset = struct.unpack_from("<QQQ", data, eocd64 + 32)
    out = []
    pos = cd_offset
    for _ in range(count):
        assert data[pos : pos + 4] == b"PK\x01\x02"
        nlen, elen, clen = struct.unpack_from("<HHH", data, pos + 28)
        out.append((pos, data[pos + 46 : pos + 46 + nlen]))
        pos += 46 + nlen + elen + clen
    return out


def local_offset(data: bytes, name: bytes) -> int:
    for pos, n in central_entries(data):
        if n == name:
            value: int = struct.unpack_from("<L", data, pos + 42)[0]
            return value
    raise KeyError(name)


def central_offset(data: bytes, name: bytes) -> int:
    for pos, n in central_entries(data):
        if n == name:
            return pos
    raise KeyError(name)


def torch_zip(tmp: Path, marker: Path | None = None, name: str = "model.pt") -> Path:
    """A real ``torch.save`` checkpoint; with ``marker``, it also carries the payload."""
    import torch

    obj: dict[str, object] = {"w": torch.arange(16, dtype=torch.float32), "b": torch.zeros(4)}
    if marker is not None:
        obj["hook"] = MarkerPayload(marker)
    path = tmp / name
    torch.save(obj, path)
    return path


TORCH_LOAD = (
    "import sys, torch; torch.load(sys.argv[1] if len(sys.argv) > 1 else {path!r}, weights_only=False)"
)
