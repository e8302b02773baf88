"""Zip as the threat model sees it: every way PyTorch's reader and Python's zipfile can be made
to disagree is a finding, and the member torch would load is still scanned."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from scanner.containers.zip import detect_layout
from scanner.containers.zipfmt import read_directory
from scanner.formats.interface import Limits
from scanner.sources.interface import BytesBlob
from tests.conftest import run_python
from tests.containers.helpers import (
    TORCH_LOAD,
    analyze,
    central_offset,
    child,
    local_offset,
    payload_pickle,
    rule_ids,
    torch_zip,
)

pytest.importorskip("torch")


def _victim_torch_load_runs(path: Path, marker: Path) -> bool:
    proc = run_python(TORCH_LOAD.format(path=str(path)))
    return proc.returncode == 0 and marker.exists()


def _zipfile_refuses(path: Path, member: str) -> bool:
    proc = run_python(f"import zipfile; zipfile.ZipFile({str(path)!r}).read({member!r})")
    return proc.returncode != 0


def test_benign_torch_checkpoint_has_no_container_findings_and_storages_are_not_children(
    tmp_path: Path,
) -> None:
    data = torch_zip(tmp_path).read_bytes()
    result = analyze(data, "model.pt")
    assert result.findings == ()
    assert result.format == "pytorch-zip"
    assert result.facts["pytorch.storages"] == 2
    paths = {c.artifact.path for c in result.children}
    assert "model.pt!model/data.pkl" in paths
    assert not any("/data/" in p for p in paths)  # tensor bytes are never read
    assert child(result, "model/data.pkl").loader_hint == "torch"


def test_any_archive_prefix_is_recognized_as_torch(tmp_path: Path) -> None:
    src = zipfile.ZipFile(torch_zip(tmp_path))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename.replace("model/", "weird-prefix_x/", 1), src.read(info))
    result = analyze(out.getvalue(), "pytorch_model.bin")
    assert result.format == "pytorch-zip"
    assert child(result, "weird-prefix_x/data.pkl").loader_hint == "torch"


def test_crc_mismatch_is_flagged_while_torch_loads_it(tmp_path: Path) -> None:
    marker = tmp_path / "crc-marker"
    data = bytearray(torch_zip(tmp_path, marker).read_bytes())
    pos = central_offset(bytes(data), b"model/data.pkl")
    struct.pack_into("<L", data, pos + 16, (struct.unpack_from("<L", data, pos + 16)[0] ^ 0xDEADBEEF))
    path = tmp_path / "crc.pt"
    path.write_bytes(data)
    result = analyze(bytes(data), "crc.pt")
    assert "ZIP-CRC-001" in rule_ids(result)
    assert child(result, "model/data.pkl").loader_hint == "torch"
    assert _zipfile_refuses(path, "model/data.pkl")
    assert _victim_torch_load_runs(path, marker)


def test_local_and_central_name_mismatch_is_flagged_while_torch_loads_it(tmp_path: Path) -> None:
    marker = tmp_path / "name-marker"
    data = bytearray(torch_zip(tmp_path, marker).read_bytes())
    lho = local_offset(bytes(data), b"model/data.pkl")
    assert data[lho + 30 : lho + 44] == b"model/data.pkl"
    data[lho + 30 : lho + 44] = b"model/evil.txt"
    path = tmp_path / "name.pt"
    path.write_bytes(data)
    result = analyze(bytes(data), "name.pt")
    assert "ZIP-NAME-001" in rule_ids(result)
    assert child(result, "model/data.pkl").blob.size > 0  # scanned under its central name, as torch reads it
    assert _zipfile_refuses(path, "model/data.pkl")
    assert _victim_torch_load_runs(path, marker)


def test_encrypted_flag_bit_in_local_header_is_flagged_while_torch_loads_it(tmp_path: Path) -> None:
    # A scanner that trusts the local header sees an encrypted (unreadable) member and skips
    # it; PyTorch's reader ignores local flag bits and runs the pickle.
    marker = tmp_path / "flag-marker"
    data = bytearray(torch_zip(tmp_path, marker).read_bytes())
    lho = local_offset(bytes(data), b"model/data.pkl")
    struct.pack_into("<H", data, lho + 6, struct.unpack_from("<H", data, lho + 6)[0] | 0x1)
    path = tmp_path / "flag.pt"
    path.write_bytes(data)
    result = analyze(bytes(data), "flag.pt")
    assert {"ZIP-FLAGS-001", "ZIP-HEADER-002"} <= rule_ids(result)
    assert child(result, "model/data.pkl").loader_hint == "torch"
    assert _victim_torch_load_runs(path, marker)


def test_strong_encryption_flag_in_central_directory_is_flagged(tmp_path: Path) -> None:
    data = bytearray(torch_zip(tmp_path).read_bytes())
    pos = central_offset(bytes(data), b"model/data.pkl")
    struct.pack_into("<H", data, pos + 8, struct.unpack_from("<H", data, pos + 8)[0] | 0x40)
    path = tmp_path / "strong.pt"
    path.write_bytes(data)
    assert "ZIP-FLAGS-001" in rule_ids(analyze(bytes(data), "strong.pt"))
    assert _zipfile_refuses(path, "model/data.pkl")


def test_duplicate_member_names_are_flagged_and_every_copy_scanned(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z, pytest.warns(UserWarning):
        z.writestr("payload.pkl", b"benign")
        z.writestr("payload.pkl", payload_pickle(tmp_path / "m"))
    result = analyze(out.getvalue(), "dup.zip")
    assert "ZIP-DUP-001" in rule_ids(result)
    assert sorted(c.artifact.path for c in result.children) == [
        "dup.zip!payload.pkl",
        "dup.zip!payload.pkl#2",
    ]
    proc = run_python(
        f"import zipfile; print(zipfile.ZipFile({str(tmp_path)!r} + '/d.zip').read('payload.pkl'))"
        if (tmp_path / "d.zip").write_bytes(out.getvalue())
        else ""
    )
    assert "benign" not in proc.stdout  # zipfile reads the last copy: the one a first-copy scanner skips


def test_prefixed_data_is_flagged_and_members_still_found(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.pkl", payload_pickle(tmp_path / "m"))
    data = b"#!/bin/sh\necho stub\n" + out.getvalue()
    blob = BytesBlob(data)
    directory = read_directory(blob, 1 << 20, 100)
    assert directory.prefix == 20
    from scanner.containers.zip import ANALYZER
    from scanner.formats.interface import Context
    from scanner.model import Artifact
    from scanner.rules import load_rules
    from scanner.sources.interface import Node

    result = ANALYZER.analyze(Node(Artifact("stub.zip", len(data)), blob), Context(rules=load_rules()))
    assert "ZIP-PREFIX-001" in rule_ids(result)
    assert child(result, "a.pkl").blob.read_at(0, 2) == b"\x80\x02"


def test_trailing_data_after_end_record_is_flagged(tmp_path: Path) -> None:
    data = torch_zip(tmp_path).read_bytes() + b"\x80\x02hidden second payload"
    assert "ZIP-TRAILING-001" in rule_ids(analyze(data, "t.pt"))


def test_overlapping_members_are_flagged() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.bin", b"A" * 100)
        z.writestr("b.bin", b"B" * 100)
    data = bytearray(out.getvalue())
    first = local_offset(bytes(data), b"a.bin")
    struct.pack_into("<L", data, central_offset(bytes(data), b"b.bin") + 42, first)  # b -> a's header
    result = analyze(bytes(data), "overlap.zip")
    assert "ZIP-OVERLAP-001" in rule_ids(result)


def test_member_running_past_the_file_is_flagged() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.bin", b"A" * 100)
    data = bytearray(out.getvalue())
    struct.pack_into("<L", data, central_offset(bytes(data), b"a.bin") + 20, 10_000_000)
    assert "ZIP-BOUNDS-001" in rule_ids(analyze(bytes(data), "oob.zip"))


def test_zip64_archive_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 64)  # the writer, not the scanner: forces zip64 records
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", allowZip64=True) as z:
        z.writestr("a.pkl", payload_pickle(tmp_path / "m"))
        z.writestr("b.txt", b"x" * 200)
    assert b"PK\x06\x06" in out.getvalue()
    result = analyze(out.getvalue(), "z64.zip")
    assert result.facts["zip.zip64"] is True
    assert {c.artifact.path for c in result.children} == {"z64.zip!a.pkl", "z64.zip!b.txt"}
    assert not {"ZIP-MALFORMED-001", "ZIP-HEADER-002", "ZIP-BOUNDS-001"} & rule_ids(result)


def test_deflate_bomb_member_is_a_finding_not_an_allocation() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (64 * 1024 * 1024))
    result = analyze(out.getvalue(), "bomb.zip", Limits(max_inflate=8 * 1024 * 1024))
    assert "ARCHIVE-BOMB-001" in rule_ids(result)
    assert child(result, "zeros.bin").blob.size <= 8 * 1024 * 1024


def test_path_traversal_and_absolute_member_names_are_flagged() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("../../etc/cron.d/x", b"x")
        z.writestr("/abs/path", b"x")
    result = analyze(out.getvalue(), "slip.zip")
    assert sum(f.rule_id == "ZIP-PATH-001" for f in result.findings) == 2


def test_symlink_member_is_flagged() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        info = zipfile.ZipInfo("link")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    assert "ZIP-SYMLINK-001" in rule_ids(analyze(out.getvalue(), "link.zip"))


def test_truncated_zip_is_a_finding(tmp_path: Path) -> None:
    data = torch_zip(tmp_path).read_bytes()
    assert "ZIP-MALFORMED-001" in rule_ids(analyze(data[: len(data) // 2], "trunc.pt"))


def test_missing_local_header_is_flagged(tmp_path: Path) -> None:
    data = bytearray(torch_zip(tmp_path).read_bytes())
    lho = local_offset(bytes(data), b"model/byteorder")
    data[lho : lho + 4] = b"XXXX"
    assert "ZIP-HEADER-001" in rule_ids(analyze(bytes(data), "nolocal.pt"))


def test_truncated_deflate_member_still_scans_the_prefix(tmp_path: Path) -> None:
    payload = payload_pickle(tmp_path / "m") + b"\x00" * 5000
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("p.pkl", payload)
    data = bytearray(out.getvalue())
    pos = central_offset(bytes(data), b"p.pkl")
    csize = struct.unpack_from("<L", data, pos + 20)[0]
    lho = local_offset(bytes(data), b"p.pkl")
    start = lho + 30 + len(b"p.pkl")
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = (comp.compress(payload) + comp.flush())[: csize // 2]  # cut the deflate stream in half
    data[start : start + csize] = raw + b"\xff" * (csize - len(raw))
    result = analyze(bytes(data), "cut.zip")
    assert "ARCHIVE-TRUNCATED-001" in rule_ids(result) or "ZIP-CRC-001" in rule_ids(result)
    assert child(result, "p.pkl").blob.read_at(0, 2) == b"\x80\x02"


def test_unsupported_compression_method_is_a_finding() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.bin", b"hello")
    data = bytearray(out.getvalue())
    struct.pack_into("<H", data, central_offset(bytes(data), b"a.bin") + 10, 99)
    assert "ZIP-METHOD-001" in rule_ids(analyze(bytes(data), "m.zip"))


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_bzip2_and_lzma_members_are_inflated(tmp_path: Path, method: int) -> None:
    out = io.BytesIO()
    pkl = payload_pickle(tmp_path / "m")
    with zipfile.ZipFile(out, "w", method) as z:
        z.writestr("p.pkl", pkl)
    result = analyze(out.getvalue(), "c.zip")
    assert rule_ids(result) == set()
    assert child(result, "p.pkl").blob.read_at(0, len(pkl)) == pkl


def test_npz_members_get_the_numpy_hint(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "arrays.npz"
    np.savez_compressed(path, a=np.arange(10), b=np.array([{"x": 1}], dtype=object))
    result = analyze(path.read_bytes(), "arrays.npz")
    assert result.format == "npz"
    assert {c.loader_hint for c in result.children} == {"numpy"}
    assert child(result, "b.npy").blob.read_at(0, 6) == b"\x93NUMPY"


def test_keras_archive_members_get_the_keras_hint() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("metadata.json", b"{}")
        z.writestr("config.json", b'{"class_name": "Sequential"}')
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    result = analyze(out.getvalue(), "m.keras")
    assert result.format == "keras"
    assert {c.loader_hint for c in result.children} == {"keras"}


def test_layout_uses_the_first_entry_for_the_torch_prefix() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("decoy/readme", b"x")
        z.writestr("arch/data.pkl", b"\x80\x02N.")
        z.writestr("arch/version", b"3")
    directory = read_directory(BytesBlob(out.getvalue()), 1 << 20, 100)
    assert detect_layout(directory.entries).torch_prefix is None  # torch would look under decoy/


def test_safetensors_name_on_a_zip_is_an_extension_mismatch(tmp_path: Path) -> None:
    data = torch_zip(tmp_path).read_bytes()
    assert "ARCHIVE-EXT-001" in rule_ids(analyze(data, "model.safetensors"))


def test_zip_behind_a_binary_prefix_is_still_opened_by_the_engine(tmp_path: Path) -> None:
    from scanner.api import scan as scan_target

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.pkl", payload_pickle(tmp_path / "m"))
    path = tmp_path / "polyglot.bin"
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(200) + out.getvalue())
    report = scan_target(str(path))
    assert report.artifacts[0].format == "zip"
    assert "ZIP-PREFIX-001" in {f.rule_id for f in report.findings}
    assert any(f.artifact == "polyglot.bin!a.pkl" and f.callable == "builtins.exec" for f in report.findings)
