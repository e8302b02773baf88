""".npy: headers are parsed as literals, object arrays become pickle children, data is never read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scanner.formats.numpy import parse_header
from tests.conftest import run_python
from tests.containers.helpers import MarkerPayload, analyze, child, rule_ids

np = pytest.importorskip("numpy")


def _npy(array: object) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def test_plain_array_is_clean_with_dtype_and_shape_facts() -> None:
    result = analyze(_npy(np.zeros((3, 4), dtype="<f4")), "a.npy")
    assert result.findings == () and result.children == ()
    assert result.facts["numpy.shape"] == [3, 4]
    assert result.facts["numpy.dtype"] == "'<f4'"


def test_structured_dtype_size_is_checked() -> None:
    arr = np.zeros(5, dtype=[("a", "<i4"), ("b", "<f8", (2,))])
    assert analyze(_npy(arr), "s.npy").findings == ()


def test_object_dtype_becomes_a_numpy_pickle_child(tmp_path: Path) -> None:
    marker = tmp_path / "npy-marker"
    path = tmp_path / "obj.npy"
    path.write_bytes(_npy(np.array([MarkerPayload(marker)], dtype=object)))
    result = analyze(path.read_bytes(), "obj.npy")
    assert "NUMPY-OBJECT-001" in rule_ids(result)
    node = child(result, "!pickle")
    assert node.loader_hint == "numpy" and node.blob.read_at(0, 1) == b"\x80"
    proc = run_python(f"import numpy; numpy.load({str(path)!r}, allow_pickle=True)")
    assert proc.returncode == 0 and marker.exists()


def test_header_with_code_is_rejected_not_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "eval-marker"
    text = f"{{'descr': __import__('os').system('touch {marker}'), 'fortran_order': False, 'shape': (1,)}}"
    header = text.encode().ljust(118) + b"\n"
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 8
    assert rule_ids(analyze(data, "evil.npy")) == {"NUMPY-MALFORMED-001"}
    assert not marker.exists()


def test_truncated_array_data_is_flagged() -> None:
    data = _npy(np.zeros(100, dtype="<f8"))
    assert "NUMPY-MALFORMED-001" in rule_ids(analyze(data[:-16], "t.npy"))


def test_trailing_bytes_after_array_are_flagged() -> None:
    data = _npy(np.zeros(4, dtype="<i2")) + b"\x80\x02hidden"
    assert "NUMPY-MALFORMED-001" in rule_ids(analyze(data, "t.npy"))


def test_version_2_header_parses() -> None:
    out = io.BytesIO()
    np.lib.format.write_array(out, np.zeros(3, dtype="<u2"), version=(2, 0))
    header = parse_header(out.getvalue()[:512])
    assert header.version == (2, 0) and header.shape == (3,)
