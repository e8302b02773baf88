"""Abuse of the allowlist itself (found by an internal red team): allowed names used as a
springboard. Each fixture is proven live under the victim's loader in a subprocess, then scanned."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from scanner.api import scan as scan_target
from scanner.model import Severity
from tests.conftest import run_python


def _s(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _b(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def _stack_global(module: str, name: str) -> bytes:
    return _s(module) + _s(name) + b"\x93"


def _worst(path: Path) -> tuple[Severity | None, set[str]]:
    report = scan_target(str(path))
    worst = max((f.severity for f in report.findings), default=None)
    return worst, {f.rule_id for f in report.findings}


def _fires(pickle_path: Path, marker: Path) -> None:
    run_python(f"import pickle; pickle.load(open({str(pickle_path)!r}, 'rb'))")
    assert marker.exists(), "the fixture must really act under pickle.load"


def test_numpy_memmap_called_to_write_a_file_is_high(tmp_path: Path) -> None:
    # memmap(path, 'S<n>', 'w+', 0, (1,)) creates the file; SETITEMS writes attacker bytes into it.
    marker = tmp_path / "dropped.pth"
    payload = b"import os; os.system('true')\n"
    data = (
        b"\x80\x02cnumpy\nmemmap\n("
        + _s(str(marker))
        + _s(f"S{len(payload)}")
        + _s("w+")
        + b"K\x00K\x01\x85tR(K\x00"
        + _b(payload)
        + b"u0}"
        + _s("w")
        + b"K\x01s."
    )
    fixture = tmp_path / "memmap.pkl"
    fixture.write_bytes(data)
    worst, rules = _worst(fixture)
    assert not marker.exists()
    assert worst is not None and worst >= Severity.HIGH and "PICKLE-FILE-001" in rules
    _fires(fixture, marker)
    assert marker.read_bytes() == payload


def test_numpy_memmap_as_an_arrays_class_stays_clean(tmp_path: Path) -> None:
    mm = np.memmap(tmp_path / "mm.dat", dtype="float32", mode="w+", shape=(3,))
    fixture = tmp_path / "array.pkl"
    fixture.write_bytes(pickle.dumps(mm))
    assert b"memmap" in fixture.read_bytes()
    assert scan_target(str(fixture)).findings == ()


def test_dunder_walk_from_an_allowlisted_module_prefix_is_flagged(tmp_path: Path) -> None:
    # numpy.dtypes.* is allowed; numpy.dtypes + "__loader__.set_data" is a module's file writer.
    marker = tmp_path / "written.py"
    data = (
        b"\x80\x04"
        + _stack_global("numpy.dtypes", "__loader__.set_data")
        + b"("
        + _s(str(marker))
        + _b(b"x = 1\n")
        + b"tR0}"
        + _s("w")
        + b"K\x01s."
    )
    fixture = tmp_path / "loader.pkl"
    fixture.write_bytes(data)
    worst, _ = _worst(fixture)
    assert not marker.exists()
    assert worst is not None and worst >= Severity.HIGH
    _fires(fixture, marker)


def test_module_attribute_walk_from_an_allowed_prefix_reaches_the_deny_list(tmp_path: Path) -> None:
    # transformers.* classes are allowed in torch checkpoints; "torch.ctypes.CDLL" walks from
    # transformers.training_args through the torch module to ctypes.
    # (protocol 4: find_class follows dotted names; torch's unpickler does so at any protocol)
    data = (
        b"\x80\x04"
        + _stack_global("transformers.training_args", "torch.ctypes.CDLL")
        + _s("libc.so.6")
        + b"\x85R."
    )
    fixture = tmp_path / "cdll.pkl"
    fixture.write_bytes(data)
    worst, rules = _worst(fixture)
    assert worst == Severity.CRITICAL and "PICKLE-NATIVE-001" in rules
    proof = run_python(f"import pickle; print(type(pickle.load(open({str(fixture)!r}, 'rb'))).__name__)")
    assert proof.stdout.strip() == "CDLL", proof.stderr


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn.utils", "os.system"),
        ("sklearn.utils", "logging.FileHandler"),
        ("sklearn.base", "tarfile.TarFile"),
    ],
)
def test_prefix_allow_never_covers_a_walk_to_a_denied_name(tmp_path: Path, module: str, name: str) -> None:
    fixture = tmp_path / "walk.pkl"
    fixture.write_bytes(b"\x80\x04" + _stack_global(module, name) + _s("x") + b"\x85R.")
    worst, _ = _worst(fixture)
    assert worst is not None and worst >= Severity.HIGH


def test_private_sklearn_classes_and_cython_newobj_are_not_false_alarms(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    ensemble = pytest.importorskip("sklearn.ensemble")
    neighbors = pytest.importorskip("sklearn.neighbors")
    x = np.random.default_rng(0).random((40, 3))
    y = (x[:, 0] > 0.5).astype(int)
    for name, model in [
        ("hgb", ensemble.HistGradientBoostingClassifier(max_iter=3)),
        ("knn", neighbors.KNeighborsClassifier()),
        ("ball", neighbors.KNeighborsClassifier(algorithm="ball_tree")),
    ]:
        path = tmp_path / f"{name}.joblib"
        joblib.dump(model.fit(x, y), path)
        report = scan_target(str(path))
        assert [f for f in report.findings if f.severity >= Severity.MEDIUM] == [], name
