"""The admission service, driven over HTTP on 127.0.0.1 like a platform would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from scanner import pipeline
from scanner.model import Report
from scanner.pipeline import ScanOptions
from scanner.policy import Policy, PolicyError
from scanner.serve.app import ServiceConfig
from scanner.serve.auth import load_tokens
from tests.serve.server import running_server

TOKEN = "test-token-admit-scan-read"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
SHA = "0123456789abcdef0123456789abcdef01234567"


class _Exploit:
    """Pickled as a call of os.system; never unpickled in this process."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def _config(tmp_path: Path, **kw: object) -> ServiceConfig:
    defaults: dict[str, object] = {
        "db_url": str(tmp_path / "serve.db"),
        "tokens": load_tokens(TOKEN, None),
        "deadline": 2.0,
        "hf_webhook_secret": "hf-secret",
        "mlflow_webhook_secret": "mlflow-secret",
        "max_body": 64 * 1024,
    }
    defaults.update(kw)
    return ServiceConfig(**defaults)  # type: ignore[arg-type]


def _benign(tmp_path: Path) -> Path:
    model = tmp_path / "benign"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')
    (model / "README.md").write_text("# benign\n")
    return model


def _malicious(tmp_path: Path) -> Path:
    model = tmp_path / "evil"
    model.mkdir()
    (model / "model.pkl").write_bytes(pickle.dumps(_Exploit(tmp_path / "pwned"), protocol=2))
    return model


class CountingScan:
    """The real engine, counted, optionally slowed down; hub targets map to local folders."""

    def __init__(self, delay: float = 0.0, mapping: dict[str, Path] | None = None) -> None:
        self.calls = 0
        self.delay = delay
        self.mapping = mapping or {}
        self._lock = threading.Lock()

    def __call__(self, target: str, options: ScanOptions) -> Report:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        local = self.mapping.get(target, target)
        return pipeline.scan(str(local), options)


def _admit(base: str, uri: str, headers: dict[str, str] = HEADERS) -> httpx.Response:
    return httpx.post(f"{base}/v1/admit", json={"artifacts": [{"uri": uri}]}, headers=headers, timeout=30)


def _eventually(check: Callable[[], bool], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_benign_model_is_admitted(tmp_path: Path) -> None:
    model = _benign(tmp_path)
    with running_server(_config(tmp_path)) as base:
        answer = _admit(base, f"file://{model}").json()
    assert answer["decision"] == "allow", answer
    assert answer["verdicts"][0]["findings"] == 0


def test_malicious_model_is_denied_with_the_file_named(tmp_path: Path) -> None:
    model = _malicious(tmp_path)
    with running_server(_config(tmp_path)) as base:
        answer = _admit(base, f"file://{model}").json()
        report = httpx.get(base + answer["verdicts"][0]["report_url"], headers=HEADERS).json()
    assert answer["decision"] == "deny"
    assert any("model.pkl" in reason for reason in answer["reasons"]), answer["reasons"]
    assert report["verdict"]["passed"] is False
    assert not (tmp_path / "pwned").exists()


def test_unknown_artifact_is_pending_then_decided(tmp_path: Path) -> None:
    model = _benign(tmp_path)
    slow = CountingScan(delay=1.5)
    with running_server(_config(tmp_path, deadline=0.3), slow) as base:
        first = _admit(base, f"file://{model}").json()
        assert first["decision"] == "pending"
        assert first["retry_after_s"] > 0
        _eventually(lambda: _admit(base, f"file://{model}").json()["decision"] == "allow")
    assert slow.calls == 1


def test_deadline_holds_while_a_slow_scan_runs(tmp_path: Path) -> None:
    model = _benign(tmp_path)
    with running_server(_config(tmp_path, deadline=0.5), CountingScan(delay=5)) as base:
        started = time.monotonic()
        answer = _admit(base, f"file://{model}").json()
        elapsed = time.monotonic() - started
    assert answer["decision"] == "pending"
    assert elapsed < 0.5 + 1.0, f"answered after {elapsed:.2f}s with a 0.5s deadline"


def test_concurrent_identical_requests_cause_one_scan(tmp_path: Path) -> None:
    model = _benign(tmp_path)
    counting = CountingScan(delay=0.5)
    with (
        running_server(_config(tmp_path, deadline=5.0), counting) as base,
        ThreadPoolExecutor(max_workers=12) as pool,
    ):
        answers = list(pool.map(lambda _: _admit(base, f"file://{model}").json(), range(12)))
    assert {a["decision"] for a in answers} == {"allow"}
    assert counting.calls == 1


def test_restart_keeps_verdicts(tmp_path: Path) -> None:
    model = _malicious(tmp_path)
    with running_server(_config(tmp_path)) as base:
        assert _admit(base, f"file://{model}").json()["decision"] == "deny"
    counting = CountingScan()
    with running_server(_config(tmp_path), counting) as base:
        assert _admit(base, f"file://{model}").json()["decision"] == "deny"
    assert counting.calls == 0


def test_missing_wrong_and_underscoped_tokens_are_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    digest = hashlib.sha256(b"reader-token").hexdigest()
    token_file.write_text(f"sha256:{digest} read\n")
    config = _config(tmp_path, tokens=load_tokens(None, str(token_file)))
    with running_server(config) as base:
        assert _admit(base, "file:///x", headers={}).status_code == 401
        assert _admit(base, "file:///x", headers={"Authorization": "Bearer nope"}).status_code == 401
        under = _admit(base, "file:///x", headers={"Authorization": "Bearer reader-token"})
        assert under.status_code == 403 and "admit" in under.json()["error"]


def test_malformed_json_oversized_body_and_bad_uris_are_clear_4xx(tmp_path: Path) -> None:
    with running_server(_config(tmp_path, max_body=1024)) as base:
        bad_json = httpx.post(f"{base}/v1/admit", content=b"{not json", headers=HEADERS)
        huge = httpx.post(f"{base}/v1/admit", content=b"x" * 4096, headers=HEADERS)
        no_artifacts = httpx.post(f"{base}/v1/admit", json={"artifacts": []}, headers=HEADERS)
        unpinned = _admit(base, "hf://acme/model@main")
        scheme = _admit(base, "ftp://example/model")
    assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]
    assert huge.status_code == 413
    assert no_artifacts.status_code == 400
    assert unpinned.status_code == 400 and "commit sha" in unpinned.json()["error"]
    assert scheme.status_code == 400 and "unsupported scheme" in scheme.json()["error"]


def test_kserve_admission_review_uses_the_colon_revision_form(tmp_path: Path) -> None:
    evil = _malicious(tmp_path)
    scan = CountingScan(mapping={f"hf://acme/tiny@{SHA}": evil})
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "object": {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "spec": {"predictor": {"model": {"storageUri": f"hf://acme/tiny:{SHA}"}}},
            },
        },
    }
    with running_server(_config(tmp_path), scan) as base:
        answer = httpx.post(f"{base}/v1/admission-review", json=review, headers=HEADERS, timeout=30).json()
    response = answer["response"]
    assert response["uid"] == review["request"]["uid"]  # type: ignore[index]
    assert response["allowed"] is False
    assert "/spec/predictor/model/storageUri" in response["status"]["message"]
    assert response["status"]["code"] == 403


def test_pod_without_models_is_allowed_and_unpinned_model_is_denied(tmp_path: Path) -> None:
    def review(env_value: str | None) -> dict[str, object]:
        env = [{"name": "HF_MODEL_ID", "value": env_value}] if env_value else []
        return {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u1",
                "object": {
                    "kind": "Pod",
                    "spec": {"containers": [{"name": "c", "image": "vllm", "env": env}]},
                },
            },
        }

    with running_server(_config(tmp_path)) as base:
        plain = httpx.post(f"{base}/v1/admission-review", json=review(None), headers=HEADERS).json()
        loose = httpx.post(f"{base}/v1/admission-review", json=review("acme/tiny"), headers=HEADERS).json()
    assert plain["response"]["allowed"] is True
    assert loose["response"]["allowed"] is False
    assert "commit sha" in loose["response"]["status"]["message"]


def test_huggingface_webhook_checks_the_secret_and_queues_new_shas(tmp_path: Path) -> None:
    payload = {
        "event": {"action": "update", "scope": "repo.content"},
        "repo": {"type": "model", "name": "acme/tiny", "headSha": SHA},
        "updatedRefs": [{"ref": "refs/heads/main", "oldSha": None, "newSha": SHA}],
    }
    benign = _benign(tmp_path)
    scan = CountingScan(mapping={f"hf://acme/tiny@{SHA}": benign})
    with running_server(_config(tmp_path), scan) as base:
        wrong = httpx.post(f"{base}/v1/hooks/huggingface", json=payload, headers={"X-Webhook-Secret": "no"})
        good = httpx.post(
            f"{base}/v1/hooks/huggingface", json=payload, headers={"X-Webhook-Secret": "hf-secret"}
        )
        _eventually(lambda: _admit(base, f"hf://acme/tiny@{SHA}").json()["decision"] == "allow")
    assert wrong.status_code == 401
    assert good.status_code == 202
    assert [q["uri"] for q in good.json()["queued"]] == [f"hf://acme/tiny@{SHA}"]
    assert scan.calls == 1


def _mlflow_headers(body: bytes, secret: str, stamp: int) -> dict[str, str]:
    mac = hmac.new(secret.encode(), f"d-1.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "X-MLflow-Delivery-Id": "d-1",
        "X-MLflow-Timestamp": str(stamp),
        "X-MLflow-Signature": "v1," + base64.b64encode(mac).decode(),
        "Content-Type": "application/json",
    }


def test_mlflow_webhook_checks_hmac_and_clock_skew(tmp_path: Path) -> None:
    benign = _benign(tmp_path)
    body = json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": 1,
            "data": {"name": "m", "version": "1", "source": f"file://{benign}"},
        }
    ).encode()
    now = int(time.time())
    with running_server(_config(tmp_path)) as base:
        good = httpx.post(
            f"{base}/v1/hooks/mlflow", content=body, headers=_mlflow_headers(body, "mlflow-secret", now)
        )
        forged = httpx.post(
            f"{base}/v1/hooks/mlflow", content=body, headers=_mlflow_headers(body, "guess", now)
        )
        stale = httpx.post(
            f"{base}/v1/hooks/mlflow",
            content=body,
            headers=_mlflow_headers(body, "mlflow-secret", now - 3600),
        )
        tampered = httpx.post(
            f"{base}/v1/hooks/mlflow",
            content=body.replace(b'"1"', b'"2"'),
            headers=_mlflow_headers(body, "mlflow-secret", now),
        )
    assert good.status_code == 202 and good.json()["queued"][0]["uri"] == f"file://{benign}"
    assert forged.status_code == stale.status_code == tampered.status_code == 401


def test_scans_api_verdict_lookup_and_metrics(tmp_path: Path) -> None:
    model = _benign(tmp_path)
    with running_server(_config(tmp_path)) as base:
        created = httpx.post(f"{base}/v1/scans", json={"uri": f"file://{model}"}, headers=HEADERS)
        assert created.status_code == 202
        location = created.json()["scans"][0]["location"]
        _eventually(lambda: httpx.get(base + location, headers=HEADERS).json()["status"] == "done")
        record = httpx.get(base + location, headers=HEADERS).json()
        report = httpx.get(base + record["report"], headers=HEADERS).json()
        digest = None
        for artifact in report["artifacts"]:
            assert artifact.get("sha256"), artifact
        answer = _admit(base, f"file://{model}").json()
        digest = answer["verdicts"][0]["content_digest"]
        by_digest = httpx.get(f"{base}/v1/verdicts/{digest}", headers=HEADERS)
        missing = httpx.get(f"{base}/v1/verdicts/sha256:{'0' * 64}", headers=HEADERS)
        metrics = httpx.get(f"{base}/metrics").text
        health = httpx.get(f"{base}/healthz").json()
    assert record["decision"] == "allow"
    assert digest and digest.startswith("sha256:")
    assert by_digest.status_code == 200 and by_digest.json()["decision"] == "allow"
    assert missing.status_code == 404
    assert 'modelscan_scans_total{result="allow"} 1' in metrics
    assert 'modelscan_admission_decisions_total{decision="allow"} 1' in metrics
    assert health["status"] == "ok"


@pytest.mark.parametrize(
    ("uri", "identity"),
    [
        (f"hf://acme/tiny@{SHA}", f"hf:acme/tiny@{SHA}"),
        (f"hf://acme/tiny:{SHA}", f"hf:acme/tiny@{SHA}"),
        ("file:///models/m", "file:/models/m"),
    ],
)
def test_uri_forms_map_to_one_identity(uri: str, identity: str) -> None:
    from scanner.serve.uris import parse_artifact

    assert parse_artifact(uri).identity == identity


def test_per_token_policy_naming_a_signer_denies_an_unsigned_model(tmp_path: Path) -> None:
    from scanner.serve.run import build_config
    from tests.signatures.pki import make_pki

    pki = make_pki(tmp_path / "pki")
    (tmp_path / "strict.yaml").write_text(f"signatures:\n  key: {pki.public_key}\n")
    tokens = tmp_path / "tokens"
    tokens.write_text("strict-token admit,read policy=strict.yaml\nplain-token admit,read\n")
    model = _benign(tmp_path)
    config = build_config(Policy.default(), (), str(tmp_path / "db.sqlite"), str(tokens), 5.0, 1, None)
    with running_server(config) as base:
        strict = _admit(base, f"file://{model}", headers={"Authorization": "Bearer strict-token"}).json()
        plain = _admit(base, f"file://{model}", headers={"Authorization": "Bearer plain-token"}).json()
    assert strict["decision"] == "deny", strict
    assert any("a verified signature is required" in r for r in strict["reasons"]), strict["reasons"]
    assert plain["decision"] == "allow", plain
    (tmp_path / "strict.yaml").write_text("signatures:\n  keyy: x\n")
    with pytest.raises(PolicyError, match=r"strict\.yaml:2: unknown key 'keyy'"):
        build_config(Policy.default(), (), str(tmp_path / "db2.sqlite"), str(tokens), 5.0, 1, None)
