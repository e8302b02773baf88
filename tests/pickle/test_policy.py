"""The callable policy: profiles, argument shapes, user rules, mutation of imported objects."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.detect import looks_like_pickle, sniff_bytes
from scanner.formats.interface import Context
from scanner.formats.pickle import ANALYZER
from scanner.model import Artifact, Severity
from scanner.rules import load_rules
from scanner.sources.interface import BytesBlob, Node
from tests.conftest import run_python
from tests.pickle.builders import (
    BUILD,
    EMPTY_DICT,
    NEWOBJ,
    REDUCE,
    STOP,
    TUPLE1,
    TUPLE2,
    call_global,
    glob,
    proto,
    rules_of,
    scan_bytes,
    uni,
)


def test_build_on_an_imported_class_is_monkey_patching(tmp_path: Path) -> None:
    """Sleepy-Pickle style: BUILD with slot state ``setattr``s on the class itself."""
    slot_state = b"N" + EMPTY_DICT + uni("delimiter") + uni("%") + b"s" + TUPLE2
    data = proto(2) + glob("string", "Template") + slot_state + BUILD + STOP
    analysis = scan_bytes(data)
    mutate = [f for f in analysis.findings if f.rule_id == "PICKLE-MUTATE-001"]
    assert mutate and mutate[0].severity == Severity.HIGH and "string.Template" in (mutate[0].evidence or "")
    path = tmp_path / "p.pkl"
    path.write_bytes(data)
    out = run_python(
        f"import pickle, string\npickle.load(open({str(path)!r}, 'rb'))\nprint(string.Template.delimiter)"
    )
    assert out.stdout.strip() == "%"  # the loader really patched the stdlib class


def test_getattr_on_a_module_result_resolves_the_target() -> None:
    module = call_global("importlib", "import_module", uni("builtins"))
    data = (
        proto(2)
        + glob("builtins", "getattr")
        + module
        + uni("eval")
        + TUPLE2
        + REDUCE
        + uni("1+1")
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    evals = [f for f in analysis.findings if f.callable == "builtins.eval"]
    assert evals and evals[0].severity == Severity.CRITICAL and evals[0].evidence == "builtins.eval('1+1')"


def test_getattr_allowed_only_with_its_shape_in_joblib() -> None:
    ok = (
        proto(2)
        + glob("builtins", "getattr")
        + glob("sklearn.tree._tree", "Tree")
        + uni("__new__")
        + TUPLE2
        + REDUCE
        + STOP
    )
    assert scan_bytes(ok, "joblib").findings == ()
    bad = (
        proto(2)
        + glob("builtins", "getattr")
        + glob("sklearn.tree._tree", "Tree")
        + uni("fit_transform")
        + TUPLE2
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(bad, "joblib")
    assert any(
        f.callable == "builtins.getattr" and f.severity == Severity.CRITICAL for f in analysis.findings
    )
    # the same shape under a loader that has no reason for it (np.load of an object array)
    assert any(f.callable == "builtins.getattr" for f in scan_bytes(ok, "numpy").findings)


def test_rebuild_from_type_v2_needs_an_allowlisted_callable() -> None:
    good = (
        proto(2)
        + glob("torch._utils", "_rebuild_from_type_v2")
        + b"("
        + glob("torch._utils", "_rebuild_tensor_v2")
        + glob("torch.nn.parameter", "Parameter")
        + b")"
        + EMPTY_DICT
        + b"t"
        + REDUCE
        + STOP
    )
    assert scan_bytes(good, "torch").findings == ()
    evil = good.replace(b"ctorch._utils\n_rebuild_tensor_v2\n", b"cevil.hooks\nrun\n")
    analysis = scan_bytes(evil, "torch")
    assert any(
        f.callable == "torch._utils._rebuild_from_type_v2" and f.severity >= Severity.MEDIUM
        for f in analysis.findings
    )
    assert any(f.callable == "evil.hooks.run" for f in analysis.findings)


def test_torch_rebuilds_are_not_allowed_in_a_joblib_profile() -> None:
    data = proto(2) + glob("torch._utils", "_rebuild_parameter") + b"(NN" + EMPTY_DICT + b"t" + REDUCE + STOP
    assert scan_bytes(data, "torch").findings == ()
    assert "PICKLE-UNKNOWN-001" in rules_of(scan_bytes(data, "joblib"))


def test_user_rules_dir_extends_the_allowlist(tmp_path: Path) -> None:
    data = proto(2) + glob("mycompany.models", "Scorer") + b")" + NEWOBJ + STOP
    assert "PICKLE-CLASS-001" in rules_of(scan_bytes(data))
    (tmp_path / "ours.yaml").write_text(
        "kind: pickle-callables\nentries:\n  - allow: [mycompany.models.*]\n    classes_only: true\n"
    )
    context = Context(rules=load_rules([tmp_path]))
    analysis = ANALYZER.analyze(Node(Artifact("x", len(data)), BytesBlob(data)), context)
    assert analysis.findings == ()


def test_user_allow_rule_cannot_hide_a_more_specific_deny(tmp_path: Path) -> None:
    (tmp_path / "broad.yaml").write_text("kind: pickle-callables\nentries:\n  - allow: [os.*]\n")
    data = proto(2) + call_global("os", "system", uni("true")) + STOP
    context = Context(rules=load_rules([tmp_path]))
    analysis = ANALYZER.analyze(Node(Artifact("x", len(data)), BytesBlob(data)), context)
    assert any(f.callable == "os.system" and f.severity == Severity.CRITICAL for f in analysis.findings)


@settings(max_examples=300, deadline=1000)
@given(st.binary(max_size=300), st.booleans())
def test_pickle_sniffer_never_raises(head: bytes, need_global: bool) -> None:
    assert looks_like_pickle(head, need_global) in (True, False)
    assert isinstance(sniff_bytes(head, "model.bin"), str)


def test_sniffer_does_not_call_a_pickle_text_because_of_a_long_first_line(tmp_path: Path) -> None:
    """A 5 KB protocol-0 string in front of the payload used to make the sniff say "text"."""
    marker = tmp_path / "m"
    data = b"V" + b"a" * 5000 + b"\n0" + call_global("os", "system", uni(f"touch {marker}")) + STOP
    assert sniff_bytes(data[:4096], "model.bin") == "pickle"
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    run_python(f"import pickle\npickle.load(open({str(path)!r}, 'rb'))")
    assert marker.exists()


def test_sniffer_does_not_call_a_pickle_text_because_of_mark_padding() -> None:
    data = b"(" * 5000 + glob("os", "system") + b"(S'true'\ntR."
    assert sniff_bytes(data[:4096], "weights") == "pickle"
    assert sniff_bytes(b"This is a README about the model.\n" * 200, "notes") == "text"
