"""GGUF: a bounded parser of header, metadata and tensor infos; chat templates analyzed statically."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import scanner
from scanner.model import Report, Severity
from tests.formats.templates import LLAMA3

gguf = pytest.importorskip("gguf")


def _write(path: Path, template: str | None = LLAMA3, extra: bytes = b"") -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(8192)
    writer.add_name("tiny")
    writer.add_file_type(1)
    writer.add_token_list([b"<s>", b"</s>", b"hello"])
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("tok_embd.weight", np.zeros((4, 32), np.float16))
    writer.add_tensor("out.weight", np.zeros((32,), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if extra:
        with path.open("ab") as fh:
            fh.write(extra)
    return path


def _rules(report: Report) -> set[str]:
    return {f.rule_id for f in report.findings}


def test_valid_gguf_with_llama3_template_is_clean_with_facts(tmp_path: Path) -> None:
    report = scanner.scan(_write(tmp_path / "m.gguf"))
    assert report.findings == ()
    facts = report.facts["m.gguf"]
    assert facts["architecture"] == "llama" and facts["context_length"] == 8192
    assert facts["parameter_count"] == 4 * 32 + 32 and facts["tensor_count"] == 2
    assert facts["quantization"] == {"F16": 1, "F32": 1}
    assert isinstance(facts["chat_templates"], dict) and "tokenizer.chat_template" in facts["chat_templates"]


def test_malicious_chat_template_in_gguf_is_critical(tmp_path: Path) -> None:
    bad = "{{ cycler.__init__.__globals__.os.popen('true').read() }}"
    report = scanner.scan(_write(tmp_path / "m.gguf", template=bad))
    assert ("TEMPLATE-DUNDER-001", Severity.CRITICAL) in {(f.rule_id, f.severity) for f in report.findings}


def test_truncated_gguf_is_a_finding(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.gguf")
    data = path.read_bytes()
    path.write_bytes(data[:60])
    assert "GGUF-HEADER-001" in _rules(scanner.scan(path))


def test_huge_string_length_is_bounded(tmp_path: Path) -> None:
    # one key whose length claims 2**62 bytes: a finding, no allocation
    blob = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 62) + b"x" * 64
    (tmp_path / "m.gguf").write_bytes(blob)
    report = scanner.scan(tmp_path / "m.gguf")
    assert _rules(report) == {"GGUF-HEADER-001"}


def test_huge_tensor_count_is_bounded(tmp_path: Path) -> None:
    blob = b"GGUF" + struct.pack("<IQQ", 3, 1 << 60, 0) + b"\0" * 64
    (tmp_path / "m.gguf").write_bytes(blob)
    assert _rules(scanner.scan(tmp_path / "m.gguf")) == {"GGUF-HEADER-001"}


def test_duplicate_metadata_key(tmp_path: Path) -> None:
    def kv(key: bytes, value: int) -> bytes:
        return struct.pack("<Q", len(key)) + key + struct.pack("<I", 4) + struct.pack("<I", value)

    blob = (
        b"GGUF"
        + struct.pack("<IQQ", 3, 0, 2)
        + kv(b"llama.context_length", 1)
        + kv(b"llama.context_length", 2)
    )
    (tmp_path / "m.gguf").write_bytes(blob)
    assert "GGUF-HEADER-002" in _rules(scanner.scan(tmp_path / "m.gguf"))


def test_tensor_data_past_end_of_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.gguf")
    data = path.read_bytes()
    path.write_bytes(data[:-64])
    assert "GGUF-TENSOR-001" in _rules(scanner.scan(path))


def test_trailing_bytes_after_tensors(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.gguf", extra=b"\xcc" * 4096)
    assert "GGUF-TRAILING-001" in _rules(scanner.scan(path))


def test_unsupported_version_is_not_clean(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 99, 0, 0))
    assert _rules(scanner.scan(tmp_path / "m.gguf")) == {"GGUF-VERSION-001"}


def test_parsing_is_the_same_across_read_window_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner.formats import gguf as analyzer

    path = _write(tmp_path / "m.gguf")
    wide = scanner.scan(path)
    monkeypatch.setattr(analyzer._Cursor, "CHUNK", 7)  # every string and count straddles a window
    narrow = scanner.scan(path)
    assert narrow.findings == wide.findings == ()
    assert narrow.facts == wide.facts
