"""One test per pickle attack technique. Each builds its own fixture with a harmless payload
(it creates a marker file), proves in a subprocess that the victim's loader really runs it,
and checks the scan flags it at the right severity — without ever unpickling it here."""

from __future__ import annotations

import base64
import marshal
import pickle
import struct
from pathlib import Path

import pytest

from scanner.model import Severity
from tests.conftest import run_python
from tests.pickle.builders import (
    BUILD,
    EMPTY_DICT,
    MARK,
    MEMOIZE,
    NEWOBJ,
    OBJ,
    POP,
    REDUCE,
    STACK_GLOBAL,
    STOP,
    TUPLE,
    TUPLE1,
    TUPLE2,
    binbytes,
    binget,
    binput,
    call_global,
    ext2,
    finding_for,
    frame,
    glob,
    os_system,
    proto,
    rules_of,
    scan_bytes,
    string0,
    touch_command,
    uni,
    victim_load,
    worst,
)


def _write(tmp_path: Path, data: bytes, name: str = "model.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def prove_live(
    path: Path, marker: Path, how: str = "pickle.load(open(p, 'rb'))", imports: str = "import pickle"
) -> None:
    """The victim's loader, in a fresh interpreter, really runs the payload."""
    assert not marker.exists(), "the scan must never run the payload"
    result = run_python(victim_load(path, how, imports))
    assert marker.exists(), f"payload did not fire: {result.stdout} {result.stderr}"
    marker.unlink()


def test_global_protocol0_os_system_is_critical_with_readable_evidence(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = os_system(marker)
    analysis = scan_bytes(data)
    f = finding_for(analysis, "os.system")
    assert f.severity == Severity.CRITICAL and f.rule_id == "PICKLE-EXEC-001"
    assert f.evidence == f"os.system('touch {marker}')"
    assert f.location.offset is not None and f.location.stream == 0
    prove_live(_write(tmp_path, data), marker)


def test_stack_global_built_from_memo_is_resolved(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    # names memoized with both BINPUT and MEMOIZE (the memo-confusion trick), fetched by BINGET
    data = (
        proto(4)
        + uni("os")
        + binput(0)
        + POP
        + uni("system")
        + MEMOIZE
        + POP
        + binget(0)
        + binget(1)
        + STACK_GLOBAL
        + uni(touch_command(marker))
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    assert finding_for(analysis, "os.system").severity == Severity.CRITICAL
    prove_live(_write(tmp_path, data), marker)


def test_stack_global_operands_as_protocol0_strings(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = (
        proto(4)
        + string0("os")
        + string0("system")
        + STACK_GLOBAL
        + string0(touch_command(marker))
        + TUPLE1
        + REDUCE
        + STOP
    )
    assert finding_for(scan_bytes(data), "os.system").severity == Severity.CRITICAL
    prove_live(_write(tmp_path, data), marker)


def test_inst_opcode_calls_its_class(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = MARK + string0(touch_command(marker)) + b"ios\nsystem\n" + STOP
    assert finding_for(scan_bytes(data), "os.system").severity == Severity.CRITICAL
    prove_live(_write(tmp_path, data), marker)


def test_obj_result_discarded_with_pop_is_still_a_call(tmp_path: Path) -> None:
    """GHSA-mxhj-88fx-4pcv: an OBJ call whose result is popped vanished from fickling's AST."""
    marker = tmp_path / "m"
    data = proto(2) + MARK + glob("os", "system") + uni(touch_command(marker)) + OBJ + POP + b"N" + STOP
    f = finding_for(scan_bytes(data), "os.system")
    assert f.severity == Severity.CRITICAL and f.evidence and "touch" in f.evidence
    prove_live(_write(tmp_path, data), marker)


def test_ext_code_registered_in_the_same_pickle_resolves(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = (
        proto(2)
        + call_global("copyreg", "add_extension", uni("os"), uni("system"), b"M\x92\x10")
        + POP
        + ext2(0x1092)
        + uni(touch_command(marker))
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    assert finding_for(analysis, "os.system").severity == Severity.CRITICAL
    assert finding_for(analysis, "copyreg.add_extension").severity >= Severity.HIGH
    prove_live(_write(tmp_path, data), marker)


def test_unregistered_ext_code_is_a_finding_and_stops_the_stream() -> None:
    data = proto(2) + b"\x82\x07" + EMPTY_DICT + REDUCE + STOP
    analysis = scan_bytes(data)
    assert {"PICKLE-EXT-001", "PICKLE-MALFORMED-001"} <= rules_of(analysis)
    assert worst(analysis) == Severity.MEDIUM


def test_numpy_builtins_dict_get_reaches_eval(tmp_path: Path) -> None:
    """modelscan #89: ``dict.get(numpy.__builtins__, 'eval')`` — no dangerous name in sight."""
    marker = tmp_path / "m"
    code = f"__import__('os').system('touch {marker}')"
    data = (
        proto(4)
        + glob("builtins", "dict.get")
        + glob("numpy", "__builtins__")
        + uni("eval")
        + TUPLE2
        + REDUCE
        + uni(code)
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    assert finding_for(analysis, "builtins.eval").severity == Severity.CRITICAL
    assert "PICKLE-INTROSPECT-001" in rules_of(analysis)
    prove_live(_write(tmp_path, data), marker)


def test_pkgutil_resolve_name_trampoline(tmp_path: Path) -> None:
    """GHSA-vvpj-8cmc-gx39: ``pkgutil.resolve_name('os:system')``."""
    marker = tmp_path / "m"
    data = (
        proto(2)
        + call_global("pkgutil", "resolve_name", uni("os:system"))
        + MARK
        + uni(touch_command(marker))
        + TUPLE
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    assert finding_for(analysis, "pkgutil.resolve_name").severity == Severity.CRITICAL
    f = [f for f in analysis.findings if f.callable == "os.system"]
    assert f and f[0].severity == Severity.CRITICAL and "touch" in (f[0].evidence or "")
    prove_live(_write(tmp_path, data), marker)


def test_dotted_name_under_harmless_module_reaches_os_system(tmp_path: Path) -> None:
    """fickling GHSA-5j3x: ``STACK_GLOBAL('pathlib', 'os.system')``."""
    marker = tmp_path / "m"
    data = (
        proto(4)
        + uni("pathlib")
        + uni("os.system")
        + STACK_GLOBAL
        + uni(touch_command(marker))
        + TUPLE1
        + REDUCE
        + STOP
    )
    assert finding_for(scan_bytes(data), "pathlib.os.system").severity == Severity.CRITICAL
    prove_live(_write(tmp_path, data), marker)


def test_function_type_from_marshal_code(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    code = marshal.dumps(compile(f"__import__('os').system('touch {marker}')", "<x>", "exec"))
    data = (
        proto(3)
        + glob("types", "FunctionType")
        + call_global("marshal", "loads", binbytes(code))
        + EMPTY_DICT
        + TUPLE2
        + REDUCE
        + b")"
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    assert finding_for(analysis, "marshal.loads").severity == Severity.CRITICAL
    assert finding_for(analysis, "types.FunctionType").severity == Severity.CRITICAL
    assert "PICKLE-DYNAMIC-001" in rules_of(analysis)
    prove_live(_write(tmp_path, data), marker)


def test_payload_then_garbage_keeps_the_payload(tmp_path: Path) -> None:
    """nullifAI style: the stream breaks after the call; the call already ran."""
    marker = tmp_path / "m"
    data = call_global("os", "system", string0(touch_command(marker))) + b"\xff\xfe\x00garbage"
    analysis = scan_bytes(data)
    assert finding_for(analysis, "os.system").severity == Severity.CRITICAL
    assert "PICKLE-MALFORMED-001" in rules_of(analysis)
    prove_live(_write(tmp_path, data), marker)


def test_trailing_garbage_after_stop_is_a_finding(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = os_system(marker) + b"\xff\xfeGARBAGE"
    analysis = scan_bytes(data)
    assert "PICKLE-TRAILING-001" in rules_of(analysis)
    assert finding_for(analysis, "os.system").severity == Severity.CRITICAL
    prove_live(_write(tmp_path, data), marker)


def test_frame_boundary_desync_hides_payload_from_contiguous_readers(tmp_path: Path) -> None:
    """cpython#154848: a SHORT_BINUNICODE string straddles the FRAME end. pickle.loads (and
    genops) read it contiguously and STOP; the C unpickler over io.BytesIO (torch.load's zip
    reader) drops the frame's rest, reads the string after it, and runs the payload."""
    import pickletools

    marker = tmp_path / "m"
    n = 8
    inside = b"\x8c" + bytes([n]) + b"A"  # the string starts inside the frame ...
    after = b"F" * (n - 1) + STOP  # ... contiguous readers stop here
    payload = POP + call_global("os", "system", string0(touch_command(marker))) + STOP
    data = proto(4) + frame(len(inside)) + inside + after + payload
    head = len(data) - len(payload)
    seen = [op.name for op, _arg, pos in pickletools.genops(data) if pos is not None and pos < head]
    assert "GLOBAL" not in seen  # what genops-based scanners see before the first STOP
    analysis = scan_bytes(data)
    assert "PICKLE-FRAME-001" in rules_of(analysis)
    f = finding_for(analysis, "os.system")
    assert f.severity == Severity.CRITICAL and f.message.startswith("The pickle calls")
    path = _write(tmp_path, data)
    run_python(victim_load(path, "pickle.loads(open(p, 'rb').read())"))
    assert not marker.exists(), "contiguous reading must not run it (that is the desync)"
    prove_live(path, marker, "pickle.load(io.BytesIO(open(p, 'rb').read()))", "import io, pickle")


def test_frame_desync_of_the_cpython_issue_reproducer(tmp_path: Path) -> None:
    """cpython#154848's own example: a BINBYTES length prefix straddles a 2-byte frame, after a
    128 KiB text line that aligns the file reader's prefetch. pickletools shows plain bytes;
    pickle.load over a file and over BytesIO both call builtins.print."""
    from pickle import BINBYTES, FRAME, GLOBAL, MARK, NONE, POP_MARK, PROTO, TUPLE1, UNICODE

    p2 = GLOBAL + b"builtins\nprint\n" + UNICODE + b"Hello, world!\n" + TUPLE1 + REDUCE
    data = (
        PROTO
        + b"\x05"
        + NONE
        + UNICODE
        + b"a" * (8192 * 16 - 17)
        + b"\n"
        + POP
        + MARK
        + FRAME
        + struct.pack("<Q", 2)
        + BINBYTES
        + b"\x07\x01\x00\x00"
        + b"\x00\x00"
        + (p2 + MARK).ljust(256 + 5, NONE)
        + POP_MARK
        + STOP
    )
    analysis = scan_bytes(data)
    assert "PICKLE-FRAME-001" in rules_of(analysis)
    assert finding_for(analysis, "builtins.print").severity >= Severity.MEDIUM
    path = _write(tmp_path, data)
    for how in ("pickle.load(open(p, 'rb'))", "pickle.load(io.BytesIO(open(p, 'rb').read()))"):
        out = run_python(victim_load(path, how, "import io, pickle"))
        assert "Hello, world!" in out.stdout, how


def test_ctypes_native_call(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    command = binbytes(touch_command(marker).encode())
    data = (
        proto(2)
        + call_global("operator", "methodcaller", uni("system"), command)
        + call_global("ctypes", "CDLL", b"N")
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    assert finding_for(analysis, "ctypes.CDLL").severity == Severity.CRITICAL
    assert finding_for(analysis, "operator.methodcaller").severity == Severity.CRITICAL
    prove_live(_write(tmp_path, data), marker)


def test_urllib_download(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    source = tmp_path / "remote.txt"
    source.write_text("payload")
    data = (
        proto(2) + call_global("urllib.request", "urlretrieve", uni(source.as_uri()), uni(str(marker))) + STOP
    )
    assert finding_for(scan_bytes(data), "urllib.request.urlretrieve").severity >= Severity.HIGH
    prove_live(_write(tmp_path, data), marker)


def test_importlib_import_module_then_getattr(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = (
        proto(2)
        + glob("builtins", "getattr")
        + call_global("importlib", "import_module", uni("os"))
        + uni("system")
        + TUPLE2
        + REDUCE
        + uni(touch_command(marker))
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    f = [f for f in analysis.findings if f.callable == "os.system"]
    assert f and f[0].severity == Severity.CRITICAL and f[0].evidence == f"os.system('touch {marker}')"
    assert finding_for(analysis, "importlib.import_module").severity == Severity.CRITICAL
    prove_live(_write(tmp_path, data), marker)


def test_reduce_then_build_is_still_flagged(tmp_path: Path) -> None:
    """fickling GHSA-mhc9: a BUILD after the REDUCE made every safety API say LIKELY_SAFE."""
    marker = tmp_path / "m"
    data = (
        proto(2)
        + glob("subprocess", "Popen")
        + MARK
        + MARK
        + uni("touch")
        + uni(str(marker))
        + b"l"
        + TUPLE
        + REDUCE
        + EMPTY_DICT
        + BUILD
        + STOP
    )
    analysis = scan_bytes(data)
    assert finding_for(analysis, "subprocess.Popen").severity == Severity.CRITICAL
    result = run_python(victim_load(_write(tmp_path, data)) + "import time; time.sleep(0.5)\n")
    assert marker.exists(), result.stderr


def test_nested_pickle_loads_of_bytes_is_scanned(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    inner = os_system(marker)
    data = proto(2) + call_global("pickle", "loads", binbytes(inner)) + STOP
    analysis = scan_bytes(data)
    assert finding_for(analysis, "pickle.loads").severity == Severity.CRITICAL
    assert "PICKLE-NESTED-001" in rules_of(analysis)
    nested = [f for f in analysis.findings if f.callable == "os.system"]
    assert nested and nested[0].severity == Severity.CRITICAL and "nested" in nested[0].message
    prove_live(_write(tmp_path, data), marker)


def test_nested_pickle_in_base64_literal_is_scanned(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    encoded = base64.b64encode(os_system(marker)).decode()
    data = (
        proto(2)
        + glob("pickle", "loads")
        + call_global("base64", "b64decode", uni(encoded))
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    assert "PICKLE-NESTED-001" in rules_of(analysis)
    assert any(f.callable == "os.system" and f.severity == Severity.CRITICAL for f in analysis.findings)
    prove_live(_write(tmp_path, data), marker)


def test_builtins_introspection_chain_subclasses(tmp_path: Path) -> None:
    """modelscan #338: ``builtins print.__class__.__base__.__subclasses__`` (protocol 4 dotted)."""
    data = proto(4) + glob("builtins", "print.__class__.__base__.__subclasses__") + b")" + REDUCE + STOP
    analysis = scan_bytes(data)
    assert finding_for(analysis, "builtins.print.__class__.__base__.__subclasses__").severity >= Severity.HIGH
    path = _write(tmp_path, data)
    out = run_python(
        f"import pickle\nx = pickle.load(open({str(path)!r}, 'rb'))\nprint(type(x).__name__, len(x) > 10)"
    )
    assert out.stdout.strip() == "list True"  # the chain really runs and hands out every class


def test_builtins_self_chain_reaches_exec(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = (
        proto(4)
        + glob("builtins", "print.__self__.exec")
        + uni(f"__import__('os').system('touch {marker}')")
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data)
    assert worst(analysis) is not None and worst(analysis) >= Severity.HIGH  # type: ignore[operator]
    prove_live(_write(tmp_path, data), marker)


def test_torch_collect_env_run_gadget(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = proto(2) + call_global("torch.utils.collect_env", "run", uni(touch_command(marker))) + STOP
    analysis = scan_bytes(data, hint="torch")
    assert finding_for(analysis, "torch.utils.collect_env.run").severity == Severity.CRITICAL
    prove_live(_write(tmp_path, data), marker)


def test_invalid_memo_key_after_payload_keeps_the_payload(tmp_path: Path) -> None:
    """Exception-oriented programming: BINGET of a key never stored makes the loader raise
    (and scanners crash, picklescan < 0.0.32) after the call already ran."""
    marker = tmp_path / "m"
    data = call_global("os", "system", string0(touch_command(marker))) + binget(99) + STOP
    analysis = scan_bytes(data)
    assert finding_for(analysis, "os.system").severity == Severity.CRITICAL
    malformed = [f for f in analysis.findings if f.rule_id == "PICKLE-MALFORMED-001"]
    assert malformed and "memo key 99" in malformed[0].message
    prove_live(_write(tmp_path, data), marker)


def test_second_stream_is_scanned(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    data = pickle.dumps({"weights": [1.0, 2.0]}, protocol=2) + os_system(marker)
    analysis = scan_bytes(data)
    assert "PICKLE-STREAM-001" in rules_of(analysis)
    f = finding_for(analysis, "os.system")
    assert f.severity == Severity.CRITICAL and f.location.stream == 1
    prove_live(_write(tmp_path, data), marker, "f = open(p, 'rb'); pickle.load(f); pickle.load(f)")


def _legacy_torch(model_pickle: bytes) -> bytes:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    version = pickle.dumps(1001, protocol=2)
    sys_info = pickle.dumps(
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}},
        protocol=2,
    )
    keys = pickle.dumps([], protocol=2)
    return magic + version + sys_info + model_pickle + keys


def test_legacy_torch_file_payload_in_model_pickle(tmp_path: Path) -> None:
    """modelscan scans only the magic-number pickle of a legacy file; the model pickle runs."""
    marker = tmp_path / "m"
    data = _legacy_torch(proto(2) + call_global("os", "system", uni(touch_command(marker))) + STOP)
    analysis = scan_bytes(data)
    f = finding_for(analysis, "os.system")
    assert f.severity == Severity.CRITICAL and f.location.stream == 3
    assert analysis.facts["pickle_profile"] == "torch" and analysis.facts["pickle_streams"] == 5
    assert "PICKLE-STREAM-001" not in rules_of(analysis)
    prove_live(_write(tmp_path, data), marker, "torch.load(p, weights_only=False)", "import torch")


def test_joblib_uncompressed_with_arrays_then_payload(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    path = tmp_path / "model.joblib"
    code = (
        f"import joblib, numpy as np, os\nclass E:\n    def __reduce__(self):\n"
        f"        return (os.system, ({touch_command(marker)!r},))\n"
        f"joblib.dump({{'w': np.arange(1000, dtype='float32'), 'b': np.ones((7, 3)), 'x': E()}}, "
        f"{str(path)!r}, compress=0)\n"
    )
    assert run_python(code).returncode == 0
    assert not marker.exists()
    analysis = scan_bytes(path.read_bytes())
    assert analysis.facts["pickle_profile"] == "joblib"
    f = finding_for(analysis, "posix.system")
    assert f.severity == Severity.CRITICAL
    assert rules_of(analysis) == {"PICKLE-EXEC-001"}  # the inline array bytes are not garbage
    prove_live(path, marker, "joblib.load(p)", "import joblib")


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_reduce_payload_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "m"
    path = tmp_path / "p.pkl"
    code = (
        f"import pickle, os\nclass E:\n    def __reduce__(self):\n"
        f"        return (os.system, ({touch_command(marker)!r},))\n"
        f"open({str(path)!r}, 'wb').write(pickle.dumps({{'a': [E()]}}, protocol={protocol}))\n"
    )
    assert run_python(code).returncode == 0
    analysis = scan_bytes(path.read_bytes())
    assert finding_for(analysis, "posix.system").severity == Severity.CRITICAL
    assert analysis.facts["pickle_protocol"] == (protocol if protocol >= 2 else 0)
    prove_live(path, marker)


def test_opcode_straddling_stream_end_is_truncation_not_silence() -> None:
    data = call_global("os", "system", string0("true"))[:-3]
    analysis = scan_bytes(data)
    assert "PICKLE-TRUNCATED-001" in rules_of(analysis) or "PICKLE-MALFORMED-001" in rules_of(analysis)
    assert finding_for(analysis, "os.system").severity == Severity.CRITICAL


def test_huge_length_prefix_is_truncation_without_allocating() -> None:
    data = proto(4) + b"\x8e" + struct.pack("<Q", 10 << 30) + b"x" * 16 + STOP
    analysis = scan_bytes(data)
    assert "PICKLE-TRUNCATED-001" in rules_of(analysis)


def test_newobj_of_unknown_class_is_flagged(tmp_path: Path) -> None:
    data = proto(2) + glob("evilpkg.hooks", "Loader") + b")" + NEWOBJ + STOP
    analysis = scan_bytes(data)
    f = finding_for(analysis, "evilpkg.hooks.Loader")
    assert f.severity == Severity.MEDIUM and f.rule_id == "PICKLE-CLASS-001"


def test_payload_inside_torch_load_from_bytes_is_found_even_for_torch(tmp_path: Path) -> None:
    """The allowlisted nested loader does not vouch for what it loads."""
    marker = tmp_path / "m"
    inner = (
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"protocol_version": 1001}, protocol=2)
        + proto(2)
        + call_global("os", "system", uni(touch_command(marker)))
        + STOP
        + pickle.dumps([], protocol=2)
    )
    data = (
        proto(2)
        + glob("torch._utils", "_rebuild_tensor_v2")
        + POP
        + glob("torch.storage", "_load_from_bytes")
        + binbytes(inner)
        + TUPLE1
        + REDUCE
        + STOP
    )
    analysis = scan_bytes(data, "torch")
    assert "PICKLE-NESTED-001" in rules_of(analysis)
    assert any(f.callable == "os.system" and f.severity == Severity.CRITICAL for f in analysis.findings)
    prove_live(_write(tmp_path, data), marker, "pickle.load(open(p, 'rb'))", "import pickle, torch")
