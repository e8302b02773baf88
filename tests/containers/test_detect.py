"""Sniffing by magic bytes: faithful on real formats, never raising or slow on arbitrary bytes."""

from __future__ import annotations

import contextlib
import gzip
import io
import zipfile

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner import detect
from scanner.containers.zipfmt import ZipFormatError, read_directory
from scanner.sources.interface import BytesBlob


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=6000))
def test_sniff_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    assert detect.sniff(BytesBlob(data), "x.bin") in {
        v for k, v in vars(detect).items() if k.isupper() and isinstance(v, str) and k != "SNIFF_BYTES"
    }


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=64), st.sampled_from([b"PK\x03\x04", b"\x1f\x8b", b"\x93NUMPY", b"7z\xbc\xaf\x27\x1c"])
)
def test_sniff_never_raises_on_truncated_magic(tail: bytes, magic: bytes) -> None:
    detect.sniff_bytes(magic + tail)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=300))
def test_zip_directory_parser_only_raises_its_own_error(noise: bytes, cut: int) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a", noise)
    data = bytearray(out.getvalue())
    for i, b in enumerate(noise[:32]):
        data[(cut + i * 7) % len(data)] ^= b
    with contextlib.suppress(ZipFormatError):
        read_directory(BytesBlob(bytes(data)), 1 << 20, 1000)


def test_magic_table_recognizes_each_container() -> None:
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("a", b"x")
    assert detect.sniff_bytes(zbuf.getvalue()) == detect.ZIP
    assert detect.sniff_bytes(gzip.compress(b"x")) == detect.GZIP
    assert detect.sniff_bytes(b"\x93NUMPY\x01\x00") == detect.NUMPY


def test_extension_mismatch_only_for_names_that_promise_a_format() -> None:
    assert detect.extension_mismatch("model.safetensors", detect.ZIP) == "safetensors"
    assert detect.extension_mismatch("repo/x.npy", detect.PICKLE) == "npy"
    assert detect.extension_mismatch("pytorch_model.bin", detect.ZIP) is None
    assert detect.extension_mismatch("model.pt", detect.PICKLE) is None
    assert detect.extension_mismatch("a.npz", detect.ZIP) is None
