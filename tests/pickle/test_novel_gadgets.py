"""Gadgets on no public deny list we know of (picklescan, modelscan, fickling, modelaudit as of
the research notes). Each one really acts when unpickled (proved in a subprocess) and is caught
by the allowlist-first policy — at least an unknown-callable MEDIUM — without a rule naming it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.model import Severity
from tests.conftest import run_python
from tests.pickle.builders import (
    REDUCE,
    STACK_GLOBAL,
    STOP,
    TUPLE1,
    call_global,
    proto,
    scan_bytes,
    uni,
    victim_load,
    worst,
)


def _gzip_open(marker: Path) -> bytes:  # gzip.open(path, 'wb') creates/truncates any file
    return proto(2) + call_global("gzip", "open", uni(str(marker)), uni("wb")) + STOP


def _bz2_file(marker: Path) -> bytes:  # a class whose constructor writes a file
    return proto(2) + call_global("bz2", "BZ2File", uni(str(marker)), uni("w")) + STOP


def _wave_open(marker: Path) -> bytes:
    return proto(2) + call_global("wave", "open", uni(str(marker)), uni("wb")) + STOP


def _mailbox(marker: Path) -> bytes:  # mailbox.mbox(path) creates the file
    return proto(2) + call_global("mailbox", "mbox", uni(str(marker))) + STOP


def _posixpath_touch(marker: Path) -> bytes:
    # protocol-4 dotted name on an allowlisted class: PosixPath.touch(PosixPath(marker))
    return (
        proto(4)
        + uni("pathlib")
        + uni("PosixPath.touch")
        + STACK_GLOBAL
        + call_global("pathlib", "PosixPath", uni(str(marker)))
        + TUPLE1
        + REDUCE
        + STOP
    )


def _doctest_examples(marker: Path) -> bytes:  # runs the docstring's examples: code execution
    doc = f">>> __import__('os').system('touch {marker}')\n"
    return proto(2) + call_global("doctest", "run_docstring_examples", uni(doc), b"}") + STOP


GADGETS: dict[str, Callable[[Path], bytes]] = {
    "gzip.open": _gzip_open,
    "bz2.BZ2File": _bz2_file,
    "wave.open": _wave_open,
    "mailbox.mbox": _mailbox,
    "pathlib.PosixPath.touch": _posixpath_touch,
    "doctest.run_docstring_examples": _doctest_examples,
}


@pytest.mark.parametrize("name", sorted(GADGETS))
def test_unlisted_gadget_is_caught_by_the_allowlist(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "marker"
    data = GADGETS[name](marker)
    analysis = scan_bytes(data)
    flagged = [f for f in analysis.findings if f.callable == name]
    assert flagged, analysis.findings
    assert flagged[0].severity >= Severity.MEDIUM
    assert worst(analysis) is not None and worst(analysis) >= Severity.MEDIUM  # type: ignore[operator]
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    assert not marker.exists()
    result = run_python(victim_load(path))
    assert marker.exists(), f"{name} did not act: {result.stdout} {result.stderr}"
