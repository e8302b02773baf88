"""Fixtures for signature tests: no network, the shared vectors, self-made keys and PKI."""

from __future__ import annotations

import json
import shutil
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import missing_shared
from tests.signatures.pki import Pki, make_pki


class NetworkUsed(AssertionError):
    """A test tried to reach the network: verification must work offline."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every signature test runs with sockets blocked, so "offline" is proven, not assumed."""

    def refuse(self: socket.socket, address: object) -> None:
        raise NetworkUsed(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    # Our updated-root location must not leak in from the developer's home.
    monkeypatch.setenv("XDG_DATA_HOME", "/nonexistent-modelscan-test-data")
    yield


@pytest.fixture
def sigdata(shared_dir: Path) -> Path:
    path = shared_dir / "testdata" / "sigstore"
    if not path.is_dir():
        missing_shared(f"signature vectors not found at {path}")
    return path


@pytest.fixture
def vectors(sigdata: Path) -> Path:
    return sigdata / "model-transparency"


@pytest.fixture
def copy_vector(vectors: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A writable copy of one vector folder (the shared data is read-only and stays untouched)."""

    def _copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(vectors / name, dest)
        for p in dest.iterdir():
            p.chmod(0o644)
        dest.chmod(0o755)
        return dest

    return _copy


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A small model folder with nested files and git metadata the signature must ignore."""
    root = tmp_path / "model"
    (root / "tokenizer").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "config.json").write_text('{"model_type": "bert"}')
    weights = bytes(range(256)) * 40
    header = json.dumps({"w": {"dtype": "U8", "shape": [len(weights)], "data_offsets": [0, len(weights)]}})
    header += " " * (-len(header) % 8)
    (root / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header.encode() + weights)
    (root / "tokenizer" / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root
