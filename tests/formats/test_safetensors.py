"""safetensors header attacks: every lie a header tells a loader is a finding; no tensor data is read."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

import scanner
from scanner.formats.interface import Limits
from scanner.model import Report, Severity


def _raw(header: dict[str, object] | bytes, data: bytes = b"") -> bytes:
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + data


def _scan(
    tmp_path: Path, blob: bytes, name: str = "model.safetensors", limits: Limits | None = None
) -> Report:
    (tmp_path / name).write_bytes(blob)
    return scanner.scan(tmp_path / name, limits=limits)


def _rules(report: Report) -> set[str]:
    return {f.rule_id for f in report.findings}


def test_valid_file_is_clean_and_facts_are_exact(tmp_path: Path) -> None:
    save_file(
        {"w": np.zeros((3, 4), np.float32), "b": np.zeros(4, np.float16)},
        str(tmp_path / "m.safetensors"),
        metadata={"format": "pt"},
    )
    report = scanner.scan(tmp_path / "m.safetensors")
    assert report.findings == ()
    facts = report.facts["m.safetensors"]
    assert facts["parameter_count"] == 16 and facts["tensor_count"] == 2
    assert facts["dtypes"] == {"F16": 4, "F32": 12}


def test_scan_reads_header_not_tensor_data(tmp_path: Path) -> None:
    save_file({"big": np.zeros((1024, 1024), np.float32)}, str(tmp_path / "m.safetensors"))
    report = scanner.scan(tmp_path / "m.safetensors")
    assert report.findings == ()
    assert report.bytes_read < 16 * 1024 < report.bytes_total


def test_huge_length_prefix_is_a_finding_not_an_allocation(tmp_path: Path) -> None:
    blob = struct.pack("<Q", 100 * 1024**3) + b'{"a": 1}'
    report = _scan(tmp_path, blob, limits=Limits(max_header=1024 * 1024))
    assert _rules(report) == {"SAFETENSORS-HEADER-001"}
    assert report.bytes_read < 8192


def test_length_prefix_past_end_of_file_is_truncation(tmp_path: Path) -> None:
    blob = struct.pack("<Q", 5000) + b'{"a": {}}'
    assert _rules(_scan(tmp_path, blob)) == {"SAFETENSORS-TRUNC-001"}


def test_duplicate_tensor_key_is_a_parser_differential(tmp_path: Path) -> None:
    body = (
        b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},'
        b' "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'
    )
    assert _rules(_scan(tmp_path, _raw(body, b"\0" * 8))) == {"SAFETENSORS-HEADER-003"}


def test_invalid_utf8_header_is_high(tmp_path: Path) -> None:
    report = _scan(tmp_path, _raw(b'{"\xff": 1}'))
    assert [(f.rule_id, f.severity) for f in report.findings] == [("SAFETENSORS-HEADER-002", Severity.HIGH)]


def test_unknown_dtype_is_flagged(tmp_path: Path) -> None:
    header = {"w": {"dtype": "PYOBJ", "shape": [1], "data_offsets": [0, 8]}}
    assert "SAFETENSORS-TENSOR-001" in _rules(_scan(tmp_path, _raw(header, b"\0" * 8)))


def test_extra_entry_keys_are_flagged(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "loader": "pickle"}}
    assert "SAFETENSORS-TENSOR-001" in _rules(_scan(tmp_path, _raw(header, b"\0" * 4)))


def test_size_not_matching_dtype_times_shape(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}}
    assert "SAFETENSORS-TENSOR-002" in _rules(_scan(tmp_path, _raw(header, b"\0" * 8)))


def test_offsets_out_of_bounds(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    assert "SAFETENSORS-TENSOR-002" in _rules(_scan(tmp_path, _raw(header, b"\0" * 8)))


def test_overlapping_tensors_alias_bytes(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    assert "SAFETENSORS-TENSOR-003" in _rules(_scan(tmp_path, _raw(header, b"\0" * 12)))


def test_gap_between_tensors_hides_bytes(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [100, 104]},
    }
    assert "SAFETENSORS-TENSOR-003" in _rules(_scan(tmp_path, _raw(header, b"\0" * 104)))


def test_trailing_payload_after_last_tensor(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    payload = b"\x80\x04\x95" + b"cposix\nsystem\n(S'true'\ntR."
    report = _scan(tmp_path, _raw(header, b"\0" * 4 + payload))
    assert [(f.rule_id, f.severity) for f in report.findings] == [("SAFETENSORS-TRAILING-001", Severity.HIGH)]


def test_metadata_must_be_string_to_string(tmp_path: Path) -> None:
    header = {
        "__metadata__": {"format": {"nested": True}},
        "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
    }
    assert _rules(_scan(tmp_path, _raw(header, b"\0"))) == {"SAFETENSORS-META-001"}


def test_tensor_entry_that_is_a_list_is_rejected(tmp_path: Path) -> None:
    assert _rules(_scan(tmp_path, _raw(b'{"a": [1, 2]}'))) == {"SAFETENSORS-TENSOR-001"}


def test_negative_and_boolean_shapes_are_rejected(tmp_path: Path) -> None:
    header = {"a": {"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}}
    assert "SAFETENSORS-TENSOR-001" in _rules(_scan(tmp_path, _raw(header, b"\0")))


def test_sub_byte_dtype_sizes_are_exact(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]}}
    assert _scan(tmp_path, _raw(header, b"\0\0")).findings == ()
