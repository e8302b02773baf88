"""Ordinary checkpoints raise nothing at medium or above: false alarms are what make users
turn a scanner off. Fixtures are made with the real libraries (torch.save, joblib.dump)."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import decimal
import fractions
import io
import pathlib
import pickle
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scanner.model import Severity
from tests.conftest import run_python
from tests.pickle.builders import rules_of, scan_bytes, worst

torch = pytest.importorskip("torch")


def _data_pkl(obj: object) -> bytes:
    """The ``archive/data.pkl`` member torch.save writes (scanned directly: the zip container
    analyzer is another module)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        return z.read(name)


def _assert_clean(data: bytes, hint: str | None) -> None:
    analysis = scan_bytes(data, hint)
    assert worst(analysis) is None or worst(analysis) < Severity.MEDIUM, analysis.findings  # type: ignore[operator]


DTYPES = [
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
    "complex64",
    "complex128",
    "float8_e4m3fn",
    "float8_e5m2",
]


def test_state_dict_in_every_dtype_is_clean() -> None:
    sd = collections.OrderedDict((f"w_{d}", torch.ones(2, 3).to(getattr(torch, d))) for d in DTYPES)
    data = _data_pkl(sd)
    analysis = scan_bytes(data, "torch")
    assert analysis.findings == ()
    assert analysis.facts["tensor_count"] == len(DTYPES)
    assert "bfloat16" in analysis.facts["tensor_dtypes"]  # type: ignore[operator]


def test_quantized_state_dict_is_clean() -> None:
    q = torch.quantize_per_tensor(torch.rand(4), 0.1, 10, torch.quint8)
    qc = torch.quantize_per_channel(
        torch.rand(2, 3), torch.tensor([0.1, 0.2]), torch.tensor([1, 2]), 0, torch.qint8
    )
    model = torch.ao.nn.quantized.Linear(3, 2)
    _assert_clean(_data_pkl({"q": q, "qc": qc, "linear": model.state_dict()}), "torch")


def test_optimizer_state_is_clean() -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, 2)
    _assert_clean(
        _data_pkl(
            {
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": 3,
                "rng": torch.get_rng_state(),
            }
        ),
        "torch",
    )


def test_parameters_and_sizes_are_clean() -> None:
    _assert_clean(
        _data_pkl(
            {
                "p": torch.nn.Parameter(torch.ones(2)),
                "size": torch.Size([2, 3]),
                "dtype": torch.float16,
                "device": torch.device("cpu"),
            }
        ),
        "torch",
    )


def test_legacy_non_zip_torch_file_is_clean() -> None:
    buf = io.BytesIO()
    torch.save(
        {"a": torch.ones(5), "b": torch.zeros(3, dtype=torch.int64)},
        buf,
        _use_new_zipfile_serialization=False,
    )
    analysis = scan_bytes(buf.getvalue())
    assert analysis.findings == ()
    assert analysis.facts["pickle_streams"] == 5 and analysis.facts["pickle_profile"] == "torch"


def test_legacy_torch_storage_tail_mismatch_is_reported() -> None:
    buf = io.BytesIO()
    torch.save({"a": torch.ones(5)}, buf, _use_new_zipfile_serialization=False)
    analysis = scan_bytes(buf.getvalue()[:-4])
    assert "PICKLE-TORCH-001" in rules_of(analysis)


def test_training_args_bin_is_clean() -> None:
    transformers = pytest.importorskip("transformers")
    from transformers.trainer_utils import IntervalStrategy, SchedulerType

    cls = transformers.TrainingArguments
    # __post_init__ needs `accelerate` to pick a device; the pickled state is the same without it.
    args = cls.__new__(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            setattr(args, f.name, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            setattr(args, f.name, f.default_factory())
    args.output_dir = "/tmp/out"
    args.eval_strategy = IntervalStrategy("steps")
    args.lr_scheduler_type = SchedulerType("linear")
    _assert_clean(_data_pkl(args), "torch")


def test_numpy_arrays_pickled_are_clean() -> None:
    values = {
        "a": np.arange(5),
        "f": np.float32(3),
        "s": np.array(["x"]),
        "rec": np.zeros(2, dtype=[("x", "i4")]),
        "obj": np.array([1, "two", None], dtype=object),
        "m": np.ma.masked_array([1, 2], mask=[False, True]),
    }
    for protocol in range(2, 6):
        _assert_clean(pickle.dumps(values, protocol=protocol), None)


def test_protocol2_bytes_via_codecs_encode_are_clean() -> None:
    data = pickle.dumps({"blob": b"\x00\xffbinary", "ba": bytearray(b"x")}, protocol=2)
    assert b"_codecs" in data
    assert scan_bytes(data).findings == ()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_plain_python_values_are_clean(protocol: int) -> None:
    values = {
        "ns": argparse.Namespace(lr=0.1),
        "path": pathlib.Path("/tmp/x"),
        "pure": pathlib.PurePosixPath("a"),
        "d": datetime.date(2024, 1, 2),
        "dt": datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
        "td": datetime.timedelta(3),
        "dec": decimal.Decimal("1.5"),
        "frac": fractions.Fraction(1, 3),
        "uuid": uuid.UUID(int=7),
        "od": collections.OrderedDict(a=1),
        "dd": collections.defaultdict(list),
        "counter": collections.Counter("ab"),
        "deque": collections.deque([1]),
        "set": {1, 2},
        "fs": frozenset([1]),
        "c": 1j,
        "range": range(3),
        "slice": slice(1, 2),
    }
    assert scan_bytes(pickle.dumps(values, protocol=protocol)).findings == ()


@pytest.mark.parametrize("name", ["pipeline", "forest", "tfidf", "gboost"])
def test_sklearn_joblib_models_are_clean(tmp_path: Path, name: str) -> None:
    pytest.importorskip("sklearn")
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x, y = rng.random((40, 3)), np.arange(40) % 2
    models = {
        "pipeline": lambda: Pipeline([("s", StandardScaler()), ("lr", LogisticRegression())]).fit(x, y),
        "forest": lambda: RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "tfidf": lambda: TfidfVectorizer().fit(["alpha beta gamma", "beta delta"]),
        "gboost": lambda: GradientBoostingClassifier(n_estimators=3).fit(x, y),
    }
    for protocol in (2, 5):
        path = tmp_path / f"{name}-{protocol}.joblib"
        joblib.dump(models[name](), path, compress=0, protocol=protocol)
        analysis = scan_bytes(path.read_bytes())
        assert analysis.facts["pickle_profile"] == "joblib"
        assert analysis.findings == (), analysis.findings


def test_full_model_pickle_is_a_class_import_not_critical(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    code = (
        "import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = torch.nn.Linear(3, 2)\n        self.act = torch.nn.ReLU()\n"
        f"torch.save(Net(), {str(path)!r})\n"
    )
    assert run_python(code).returncode == 0
    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    analysis = scan_bytes(data, "torch")
    by_class = {f.callable: f for f in analysis.findings if f.rule_id == "PICKLE-CLASS-001"}
    assert by_class["__main__.Net"].severity == Severity.MEDIUM
    assert by_class["torch.nn.modules.linear.Linear"].severity == Severity.LOW
    assert "torch.nn.modules.activation.ReLU" in by_class
    assert worst(analysis) == Severity.MEDIUM
    assert rules_of(analysis) == {"PICKLE-CLASS-001"}


def test_tensor_pickled_with_plain_pickle_is_clean() -> None:
    """pickle.dump of a tensor nests a legacy torch.save payload in _load_from_bytes(b'...')."""
    data = pickle.dumps({"t": torch.ones(2), "h": torch.zeros(3, dtype=torch.float16)}, protocol=2)
    assert b"_load_from_bytes" in data
    assert scan_bytes(data).findings == ()
