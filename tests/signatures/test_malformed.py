"""Fail closed: any mutation of a signature file gives a failed result, never a crash or a pass."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from signatures.policy import Identity
from signatures.verify import KeylessMethod, KeyMethod, verify_model

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.just(""),
    st.just("AAAA"),
    st.just([]),
    st.just({}),
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutated(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def _check_mutations(folder: Path, method: object, tmp: Path, data: st.DataObject) -> None:
    original = json.loads((folder / "model.sig").read_bytes())
    doc = json.loads(json.dumps(original))
    # Expose the statement as JSON so that mutations reach its fields too.
    doc["dsseEnvelope"]["payload"] = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    path = data.draw(st.sampled_from(_paths(doc)))
    mutated = _mutated(doc, path, data.draw(JSON_LEAVES))
    envelope = mutated.get("dsseEnvelope") if isinstance(mutated, dict) else None
    if isinstance(envelope, dict) and path[:2] != ("dsseEnvelope", "payload"):
        envelope["payload"] = original["dsseEnvelope"]["payload"]  # byte-exact, as signed
    elif isinstance(envelope, dict) and not isinstance(envelope.get("payload"), str | type(None)):
        envelope["payload"] = base64.b64encode(json.dumps(envelope["payload"]).encode()).decode()
    model = tmp / "m"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(folder, model)
    (model / "model.sig").chmod(0o644)
    (model / "model.sig").write_text(json.dumps(mutated))
    result = verify_model(model, method)  # type: ignore[arg-type]
    assert result.status in ("verified", "failed", "error")
    event(result.status)
    if result.status == "verified":
        # Only edits outside what was signed may pass (the unsigned keyid, the key hint, ...):
        # the statement and the signature bytes must be exactly the originals.
        assert mutated["dsseEnvelope"]["payload"] == original["dsseEnvelope"]["payload"]
        signatures = mutated["dsseEnvelope"]["signatures"]
        assert signatures[0]["sig"] == original["dsseEnvelope"]["signatures"][0]["sig"]
        assert path[:2] != ("verificationMaterial", "certificate")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_key_bundle_never_crashes_or_passes(
    vectors: Path, tmp_path: Path, data: st.DataObject
) -> None:
    _check_mutations(
        vectors / "v1.1.0-elliptic-key", KeyMethod(vectors / "keys/signing-key-pub.pem"), tmp_path, data
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_keyless_bundle_never_crashes_or_passes(
    vectors: Path, tmp_path: Path, data: st.DataObject
) -> None:
    method = KeylessMethod(Identity("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2"))
    _check_mutations(vectors / "v1.1.0-sigstore", method, tmp_path, data)
