"""Colour on a terminal, none when NO_COLOR is set (https://no-color.org) or when piped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX only")


def scan_on_terminal(target: Path, **env: str) -> tuple[int, str]:
    """Run a scan whose stdout is a pseudo-terminal; return its exit code and what it printed."""
    inherited = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scanner.cli", "scan", str(target), "--no-progress"],
            stdout=slave,
            stderr=subprocess.DEVNULL,
            env={**inherited, "TERM": "xterm", **env},
        )
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=120)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def unknown_blob(tmp_path: Path) -> Path:
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    return tmp_path


def test_terminal_output_is_coloured(tmp_path: Path) -> None:
    code, out = scan_on_terminal(unknown_blob(tmp_path))
    assert code == 1 and "SCAN-UNKNOWN-001" in out
    assert "\x1b[" in out


def test_no_color_turns_colour_off_even_on_a_terminal(tmp_path: Path) -> None:
    code, out = scan_on_terminal(unknown_blob(tmp_path), NO_COLOR="1")
    assert code == 1 and "SCAN-UNKNOWN-001" in out
    assert "\x1b[" not in out
