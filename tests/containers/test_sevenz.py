"""7z: members are scanned; a broken stream (nullifAI) is a finding, never a silent pass."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.containers.helpers import analyze, child, payload_pickle, rule_ids

py7zr = pytest.importorskip("py7zr")


def _sevenz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(data, name)
    return out.getvalue()


def test_pickle_inside_7z_is_a_child(tmp_path: Path) -> None:
    pkl = payload_pickle(tmp_path / "m")
    result = analyze(_sevenz({"archive/data.pkl": pkl}), "model.pt")
    assert child(result, "archive/data.pkl").blob.read_at(0, len(pkl)) == pkl


def test_nullifai_style_broken_7z_stream_is_a_finding(tmp_path: Path) -> None:
    pkl = payload_pickle(tmp_path / "m") + bytes(range(256)) * 200
    data = bytearray(_sevenz({"archive/data.pkl": pkl}))
    for i in range(40, 200):  # corrupt the packed stream, leave the headers intact
        data[i] ^= 0x5A
    result = analyze(bytes(data), "broken.pt")
    assert rule_ids(result) & {"ARCHIVE-MALFORMED-001", "ARCHIVE-TRUNCATED-001"}


def test_truncated_7z_is_a_finding() -> None:
    data = _sevenz({"a.bin": b"x" * 5000})
    assert "ARCHIVE-MALFORMED-001" in rule_ids(analyze(data[:60], "t.7z"))
