"""Keras: `.keras` zips and legacy HDF5 models; Lambda bytecode and out-of-Keras modules (never loaded)."""

from __future__ import annotations

import base64
import json
import marshal
import zipfile
from pathlib import Path

import pytest

import scanner
from scanner.model import Report, Severity

h5py = pytest.importorskip("h5py")


def _dense(name: str = "dense") -> dict[str, object]:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": None,
        "config": {
            "name": name,
            "units": 2,
            "activation": "relu",
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None},
                "registered_name": None,
            },
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": "float32"},
                "registered_name": None,
            },
        },
    }


def _sequential(*layers: dict[str, object]) -> dict[str, object]:
    inp = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "registered_name": None,
        "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "input_layer"},
    }
    return {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {"name": "sequential", "layers": [inp, *layers]},
        "compile_config": {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": "Adam",
                "config": {"learning_rate": 0.001},
                "registered_name": None,
            },
            "loss": "mean_squared_error",
        },
    }


def _lambda_code() -> str:
    # what Keras stores for `Lambda(lambda x: __import__("os").system("true"))`; never run here
    code = compile('lambda x: __import__("os").system("true")', "<lambda>", "eval").co_consts[0]
    return base64.b64encode(marshal.dumps(code)).decode()


def _keras_zip(tmp_path: Path, config: dict[str, object]) -> Path:
    weights = tmp_path / "w.h5"
    with h5py.File(weights, "w") as h5:
        h5.create_group("layers")
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        zf.writestr("config.json", json.dumps(config))
        zf.write(weights, "model.weights.h5")
    weights.unlink()
    return path


def _legacy_h5(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["keras_version"] = "2.12.0"
        h5.attrs["backend"] = "tensorflow"
        h5.create_group("model_weights").create_dataset("kernel", data=[[0.0] * 4] * 4)
    return path


def _legacy(*layers: dict[str, object]) -> dict[str, object]:
    return {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4]}},
                {
                    "class_name": "Dense",
                    "config": {
                        "units": 2,
                        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                    },
                },
                *layers,
            ],
        },
    }


def _pairs(report: Report) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in report.findings}


def test_keras_zip_without_lambda_is_clean(tmp_path: Path) -> None:
    report = scanner.scan(_keras_zip(tmp_path, _sequential(_dense())))
    assert [f for f in report.findings if f.severity >= Severity.MEDIUM] == []
    assert report.facts["model.keras!config.json"]["architecture"] == "Sequential"


def test_keras_zip_lambda_is_critical_with_bytecode_names(tmp_path: Path) -> None:
    layer = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "registered_name": None,
        "config": {
            "name": "l",
            "function": {"class_name": "__lambda__", "config": {"code": _lambda_code(), "defaults": None}},
        },
    }
    report = scanner.scan(_keras_zip(tmp_path, _sequential(layer)))
    lam = [f for f in report.findings if f.rule_id == "KERAS-LAMBDA-001"]
    assert lam and lam[0].severity == Severity.CRITICAL and "system" in (lam[0].evidence or "")


def test_module_outside_keras_cve_2025_1550(tmp_path: Path) -> None:
    layer = {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    report = scanner.scan(_keras_zip(tmp_path, _sequential(_dense(), layer)))
    assert ("KERAS-MODULE-001", Severity.CRITICAL) in _pairs(report)


def test_third_party_module_is_high(tmp_path: Path) -> None:
    layer = {"module": "evil_pkg.layers", "class_name": "Boom", "config": {}, "registered_name": "evil>Boom"}
    pairs = _pairs(scanner.scan(_keras_zip(tmp_path, _sequential(layer))))
    assert ("KERAS-MODULE-001", Severity.HIGH) in pairs and ("KERAS-CUSTOM-001", Severity.MEDIUM) in pairs


def test_tfsm_layer_gadget(tmp_path: Path) -> None:
    layer = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": {"filepath": "/tmp/x"},
        "registered_name": None,
    }
    assert ("KERAS-GADGET-001", Severity.HIGH) in _pairs(
        scanner.scan(_keras_zip(tmp_path, _sequential(layer)))
    )


def test_get_file_gadget_in_strings(tmp_path: Path) -> None:
    layer = {
        "module": "keras.utils",
        "class_name": "function",
        "config": "get_file",
        "registered_name": "function",
    }
    assert ("KERAS-GADGET-001", Severity.HIGH) in _pairs(
        scanner.scan(_keras_zip(tmp_path, _sequential(layer)))
    )


def test_legacy_h5_without_lambda_is_clean_with_facts(tmp_path: Path) -> None:
    report = scanner.scan(_legacy_h5(tmp_path, _legacy()))
    assert report.findings == ()
    assert report.facts["model.h5"]["keras_version"] == "2.12.0"


def test_legacy_h5_lambda_cve_2024_3660(tmp_path: Path) -> None:
    layer = {
        "class_name": "Lambda",
        "config": {"function": [_lambda_code(), None, None], "function_type": "lambda", "module": "__main__"},
    }
    report = scanner.scan(_legacy_h5(tmp_path, _legacy(layer)))
    assert ("KERAS-LAMBDA-001", Severity.CRITICAL) in _pairs(report)


def test_legacy_lambda_importing_named_function(tmp_path: Path) -> None:
    layer = {
        "class_name": "Lambda",
        "config": {"function": "system", "function_type": "function", "module": "os"},
    }
    assert ("KERAS-MODULE-001", Severity.CRITICAL) in _pairs(
        scanner.scan(_legacy_h5(tmp_path, _legacy(layer)))
    )


def test_legacy_custom_layer_is_medium(tmp_path: Path) -> None:
    layer = {"class_name": "MyAttention", "config": {}}
    assert ("KERAS-CUSTOM-001", Severity.MEDIUM) in _pairs(scanner.scan(_legacy_h5(tmp_path, _legacy(layer))))


def test_hdf5_external_link(tmp_path: Path) -> None:
    path = _legacy_h5(tmp_path, _legacy())
    with h5py.File(path, "a") as h5:
        h5["model_weights/extra"] = h5py.ExternalLink("/etc/hostname", "/x")
    assert ("KERAS-H5LINK-001", Severity.HIGH) in _pairs(scanner.scan(path))


def test_damaged_hdf5_fails_closed(tmp_path: Path) -> None:
    path = _legacy_h5(tmp_path, _legacy())
    path.write_bytes(path.read_bytes()[:600])
    report = scanner.scan(path)
    assert report.findings and all(f.severity >= Severity.MEDIUM for f in report.findings)


def test_unzipped_keras_hub_preset_config_is_analyzed(tmp_path: Path) -> None:
    config = _sequential(
        {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    )
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert ("KERAS-MODULE-001", Severity.CRITICAL) in _pairs(scanner.scan(tmp_path))


def test_keras_zip_without_weights_is_still_analyzed(tmp_path: Path) -> None:
    # Keras deserializes config.json before it looks for weights: a zip without them still runs code
    path = tmp_path / "model.keras"
    layer = {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(_sequential(layer)))
    assert ("KERAS-MODULE-001", Severity.CRITICAL) in _pairs(scanner.scan(path))


def test_transformers_config_json_is_not_mistaken_for_keras(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    assert scanner.scan(tmp_path).findings == ()
