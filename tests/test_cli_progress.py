"""The progress bar lives on stderr and only on a terminal; the report on stdout stays clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX only")


def scan_with_terminal_stderr(target: Path, *extra: str) -> tuple[int, str, str]:
    """Run a scan whose stderr is a pseudo-terminal and whose stdout is a pipe."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scanner.cli", "scan", str(target), *extra],
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
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
        out, _ = proc.communicate(timeout=120)
    finally:
        os.close(master)
    return proc.returncode, out, b"".join(chunks).decode("utf-8", "replace")


def folder_of_files(tmp_path: Path, n: int = 30) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(n):
        (folder / f"notes{i:02d}.txt").write_text("plain text\n" * 1000)
    return folder


def test_progress_bar_is_drawn_on_a_terminal_stderr(tmp_path: Path) -> None:
    code, out, err = scan_with_terminal_stderr(folder_of_files(tmp_path))
    assert code == 0
    assert "scanning" in err and "/30 files" in err
    assert "\x1b[" not in out and out.rstrip().endswith("PASS  no findings at or above medium")


def test_no_progress_flag_draws_nothing(tmp_path: Path) -> None:
    code, _, err = scan_with_terminal_stderr(folder_of_files(tmp_path), "--no-progress")
    assert code == 0 and "scanning" not in err and "files" not in err
