"""ONNX and TensorFlow SavedModel: the protobuf formats, read without running a graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import scanner
from scanner.model import Report, Severity

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(
    initializers: list[object] | None = None,
    nodes: list[object] | None = None,
    opsets: list[object] | None = None,
    functions: list[object] | None = None,
) -> object:
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "W")
    graph = helper.make_graph(
        nodes or [helper.make_node("MatMul", ["X", "W"], ["Y"])], "g", [x], [y], [w, *(initializers or [])]
    )
    kwargs: dict[str, object] = {"producer_name": "test"}
    if opsets:
        kwargs["opset_imports"] = opsets
    if functions:
        kwargs["functions"] = functions
    return helper.make_model(graph, **kwargs)


def _scan(tmp_path: Path, model: object) -> Report:
    onnx.save(model, str(tmp_path / "model.onnx"))
    return scanner.scan(tmp_path)


def _pairs(report: Report) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in report.findings}


def _external(location: str) -> object:
    t = TensorProto(name="E", data_type=TensorProto.FLOAT, dims=[4])
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value=location)
    return t


def test_valid_onnx_is_clean_with_facts(tmp_path: Path) -> None:
    report = _scan(tmp_path, _model())
    assert report.findings == ()
    facts = report.facts["model.onnx"]
    assert facts["op_types"] == ["MatMul"] and facts["parameter_count"] == 16
    assert facts["inputs"] == [{"name": "X", "elem_type": 1, "shape": [1, 4]}]


def test_external_data_path_traversal(tmp_path: Path) -> None:
    assert ("ONNX-EXTDATA-001", Severity.HIGH) in _pairs(
        _scan(tmp_path, _model([_external("../../etc/passwd")]))
    )


def test_external_data_absolute_path(tmp_path: Path) -> None:
    assert ("ONNX-EXTDATA-001", Severity.HIGH) in _pairs(_scan(tmp_path, _model([_external("/etc/passwd")])))


def test_external_data_windows_drive_path(tmp_path: Path) -> None:
    assert ("ONNX-EXTDATA-001", Severity.HIGH) in _pairs(
        _scan(tmp_path, _model([_external("C:\\secrets.bin")]))
    )


def test_external_data_through_symlink(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").symlink_to("/etc/hostname")
    assert ("ONNX-EXTDATA-001", Severity.HIGH) in _pairs(_scan(tmp_path, _model([_external("weights.bin")])))


def test_external_data_inside_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    report = _scan(tmp_path, _model([_external("weights.bin")]))
    assert not any(f.rule_id == "ONNX-EXTDATA-001" for f in report.findings)


def test_custom_operator_domain(tmp_path: Path) -> None:
    node = helper.make_node("Evil", ["X", "W"], ["Y"], domain="com.attacker")
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.attacker", 1)]
    assert ("ONNX-DOMAIN-001", Severity.MEDIUM) in _pairs(
        _scan(tmp_path, _model(nodes=[node], opsets=opsets))
    )


def test_custom_domain_hidden_in_subgraph(tmp_path: Path) -> None:
    inner_out = helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, 4])
    inner = helper.make_graph(
        [helper.make_node("Evil", ["X"], ["Z"], domain="com.attacker")], "then", [], [inner_out]
    )
    cond = numpy_helper.from_array(np.array(True), "C")
    node = helper.make_node("If", ["C"], ["Y"], then_branch=inner, else_branch=inner)
    assert ("ONNX-DOMAIN-001", Severity.MEDIUM) in _pairs(_scan(tmp_path, _model([cond], nodes=[node])))


def test_initializer_bytes_disagree_with_dims(tmp_path: Path) -> None:
    bad = TensorProto(name="B", data_type=TensorProto.FLOAT, dims=[1000], raw_data=b"\0" * 8)
    assert ("ONNX-INIT-001", Severity.MEDIUM) in _pairs(_scan(tmp_path, _model([bad])))


def test_local_functions_are_reported(tmp_path: Path) -> None:
    fn = helper.make_function(
        "local", "F", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])], [helper.make_opsetid("", 17)]
    )
    node = helper.make_node("F", ["X"], ["Y"], domain="local")
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    pairs = _pairs(_scan(tmp_path, _model(nodes=[node], opsets=opsets, functions=[fn])))
    assert ("ONNX-FUNC-001", Severity.INFO) in pairs and not any(r == "ONNX-DOMAIN-001" for r, _ in pairs)


def test_truncated_onnx_fails_closed(tmp_path: Path) -> None:
    onnx.save(_model(), str(tmp_path / "model.onnx"))
    data = (tmp_path / "model.onnx").read_bytes()
    (tmp_path / "model.onnx").write_bytes(data[: len(data) - 10])
    report = scanner.scan(tmp_path)
    assert report.findings and all(f.severity >= Severity.MEDIUM for f in report.findings)


# -- TensorFlow SavedModel, encoded by hand from saved_model.proto field numbers -----------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _saved_model(graph_ops: list[str], function_ops: list[str] = ()) -> bytes:  # type: ignore[assignment]
    nodes = b"".join(_ld(1, _ld(1, f"n{i}".encode()) + _ld(2, op.encode())) for i, op in enumerate(graph_ops))
    fn = _ld(1, _ld(1, b"__inference_f")) + b"".join(
        _ld(3, _ld(1, b"m") + _ld(2, op.encode())) for op in function_ops
    )
    graph = nodes + _ld(2, _ld(1, fn))
    info = _ld(4, b"serve") + _ld(5, b"2.15.0")
    return _varint(1 << 3 | 0) + _varint(1) + _ld(2, _ld(1, info) + _ld(2, graph))


def _scan_sm(tmp_path: Path, data: bytes) -> Report:
    (tmp_path / "saved_model.pb").write_bytes(data)
    return scanner.scan(tmp_path)


def test_benign_saved_model_is_clean_with_facts(tmp_path: Path) -> None:
    ops = ["Placeholder", "MatMul", "StatefulPartitionedCall"]
    report = _scan_sm(tmp_path, _saved_model(ops, ["SaveV2", "RestoreV2", "MergeV2Checkpoints"]))
    assert report.findings == ()
    facts = report.facts["saved_model.pb"]
    assert facts["tags"] == ["serve"] and facts["tensorflow_version"] == "2.15.0"
    assert "MatMul" in facts["op_types"] and "RestoreV2" in facts["op_types"]


def test_read_file_op_in_graph(tmp_path: Path) -> None:
    report = _scan_sm(tmp_path, _saved_model(["Placeholder", "ReadFile"]))
    assert [(f.rule_id, f.severity, f.evidence) for f in report.findings] == [
        ("TF-OP-001", Severity.HIGH, "ReadFile")
    ]


def test_write_file_op_hidden_in_function_library(tmp_path: Path) -> None:
    report = _scan_sm(tmp_path, _saved_model(["Placeholder"], ["WriteFile"]))
    assert ("TF-OP-001", Severity.HIGH) in _pairs(report)


def test_py_func_is_critical(tmp_path: Path) -> None:
    assert ("TF-OP-001", Severity.CRITICAL) in _pairs(_scan_sm(tmp_path, _saved_model(["EagerPyFunc"])))


def test_network_op_is_high(tmp_path: Path) -> None:
    assert ("TF-OP-001", Severity.HIGH) in _pairs(_scan_sm(tmp_path, _saved_model(["Rpc"])))


def test_truncated_saved_model_reports_a_tf_parse_error(tmp_path: Path) -> None:
    report = _scan_sm(tmp_path, _saved_model(["Placeholder", "MatMul"])[:-7])
    assert ("TF-PARSE-001", Severity.HIGH) in _pairs(report)
