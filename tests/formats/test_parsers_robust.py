"""Fail closed on garbage: no parser of this issue raises, hangs or allocates on hostile bytes."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.formats.gguf import ANALYZER as GGUF
from scanner.formats.interface import Context, Limits
from scanner.formats.jinja import analyze_template
from scanner.formats.protobuf import ANALYZER as PROTOBUF
from scanner.formats.pysource import analyze_source
from scanner.formats.safetensors import ANALYZER as SAFETENSORS
from scanner.model import Artifact
from scanner.rules import load_rules
from scanner.sources.interface import BytesBlob, Node

CONTEXT = Context(rules=load_rules(), limits=Limits(max_header=1 << 20))


def _node(data: bytes, name: str) -> Node:
    return Node(Artifact(name, len(data)), BytesBlob(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_safetensors_garbage_after_valid_prefix(tail: bytes) -> None:
    data = struct.pack("<Q", len(tail)) + b"{" + tail
    analysis = SAFETENSORS.analyze(_node(data, "m.safetensors"), CONTEXT)
    assert analysis.findings  # a header that is not exactly right is never clean


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_gguf_garbage_never_raises(tail: bytes) -> None:
    GGUF.analyze(_node(b"GGUF\x03\x00\x00\x00" + tail, "m.gguf"), CONTEXT)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_protobuf_garbage_never_raises(tail: bytes) -> None:
    PROTOBUF.analyze(_node(b"\x08\x01\x12" + tail, "saved_model.pb"), CONTEXT)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_template_garbage_never_raises(source: str) -> None:
    analyze_template(source, "t", None, CONTEXT.rules)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_python_garbage_never_raises(source: str) -> None:
    analyze_source(source, "x.py", CONTEXT.rules)
