"""The admission service's HTTP API (Starlette). Every decision comes from the verdict cache or
from a scan that finished within the deadline; anything else is ``pending`` — denied."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from scanner import __version__
from scanner.policy import Policy
from scanner.serve.auth import TokenTable
from scanner.serve.hooks import huggingface_jobs, mlflow_sources, verify_huggingface, verify_mlflow
from scanner.serve.k8s import model_uris
from scanner.serve.metrics import Metrics
from scanner.serve.store import CachedVerdict, Store
from scanner.serve.uris import ArtifactRef, UriError, parse_artifact
from scanner.serve.worker import ScanFunction, ScanQueue

MAX_ARTIFACTS = 64


@dataclass(frozen=True)
class ServiceConfig:
    db_url: str
    tokens: TokenTable
    policy: Policy = field(default_factory=Policy.default)
    """The policy requests are judged by, unless the client's token names its own."""
    token_policies: Mapping[str, Policy] = field(default_factory=dict)
    """Policy file -> the policy, for tokens with ``policy=FILE`` (loaded and checked at start)."""
    rules_dirs: tuple[str, ...] = ()
    deadline: float = 2.0
    """Seconds within which every admission request is answered."""
    max_body: int = 1024 * 1024
    hf_webhook_secret: str = ""
    mlflow_webhook_secret: str = ""
    workers: int = 1
    trust_client_certs: bool = False
    """When the TLS layer already requires a client certificate (``--client-ca``), the
    Kubernetes AdmissionReview path is authenticated by it and needs no bearer token."""


@dataclass(frozen=True)
class Decision:
    ref: ArtifactRef
    decision: str
    """``allow | deny | pending``."""
    reasons: tuple[str, ...]
    verdict: CachedVerdict | None = None
    scan_id: str | None = None


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request], Awaitable[Response]]


def create_app(config: ServiceConfig, scan_fn: ScanFunction | None = None) -> Starlette:
    store = Store(config.db_url)
    metrics = Metrics()
    queue = ScanQueue(store, config.policy, config.rules_dirs, config.workers, scan_fn, metrics)
    service = _Service(config, store, queue, metrics)
    routes = [
        Route("/healthz", service.healthz, methods=["GET"]),
        Route("/metrics", service.metrics_text, methods=["GET"]),
        Route("/v1/admit", service.guard(service.admit, "admit"), methods=["POST"]),
        Route(
            "/v1/admission-review",
            service.guard(service.admission_review, "admit", k8s=True),
            methods=["POST"],
        ),
        Route("/v1/scans", service.guard(service.create_scan, "scan"), methods=["POST"]),
        Route("/v1/scans/{scan_id}", service.guard(service.get_scan, "read"), methods=["GET"]),
        Route("/v1/scans/{scan_id}/report", service.guard(service.get_report, "read"), methods=["GET"]),
        Route("/v1/scans/{scan_id}/sbom", service.guard(service.get_sbom, "read"), methods=["GET"]),
        Route("/v1/verdicts/{digest:path}", service.guard(service.get_verdict, "read"), methods=["GET"]),
        Route("/v1/hooks/huggingface", service.wrap(service.hook_huggingface), methods=["POST"]),
        Route("/v1/hooks/mlflow", service.wrap(service.hook_mlflow), methods=["POST"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.recover()
        try:
            yield
        finally:
            queue.shutdown()
            store.close()

    return Starlette(routes=routes, lifespan=lifespan)


class _Service:
    def __init__(self, config: ServiceConfig, store: Store, queue: ScanQueue, metrics: Metrics) -> None:
        self.config = config
        self.store = store
        self.queue = queue
        self.metrics = metrics

    # -- plumbing -------------------------------------------------------------------------------
    def wrap(self, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except HttpError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)

        return run

    def guard(self, handler: Handler, scope: str, k8s: bool = False) -> Handler:
        """Bearer-token auth with a scope; no unauthenticated request reaches the cache."""

        async def run(request: Request) -> Response:
            request.state.policy = self.config.policy
            if not (k8s and self.config.trust_client_certs):
                token = self.config.tokens.lookup(request.headers.get("authorization"))
                if token is None:
                    return JSONResponse(
                        {"error": "missing or invalid bearer token"},
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                if scope not in token.scopes:
                    return JSONResponse({"error": f"this token lacks the {scope!r} scope"}, status_code=403)
                if token.policy is not None:
                    request.state.policy = self.config.token_policies[token.policy]
            return await self.wrap(handler)(request)

        return run

    async def body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.config.max_body):
            raise HttpError(413, f"request body over {self.config.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.config.max_body:
                raise HttpError(413, f"request body over {self.config.max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def json_body(self, request: Request) -> Any:
        raw = await self.body(request)
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"body is not valid JSON: {exc}") from None

    def recover(self) -> None:
        policies = [self.config.policy, *self.config.token_policies.values()]
        for record in self.store.unfinished():
            ref = ArtifactRef(record.target, record.target, record.identity, True)
            policy = next((p for p in policies if self.queue.key_for(ref, p) == record.key), None)
            if policy is None:
                self.store.set_scan(record.id, "error", error="superseded: rules or policy changed")
                continue
            self.queue.resubmit(record.id, record.key, ref, policy)

    # -- decisions ------------------------------------------------------------------------------
    async def decide(self, refs: Sequence[ArtifactRef], started: float, policy: Policy) -> list[Decision]:
        deadline = started + self.config.deadline - 0.05
        pending: dict[int, tuple[ArtifactRef, str, asyncio.Future[CachedVerdict]]] = {}
        decisions: dict[int, Decision] = {}
        for i, ref in enumerate(refs):
            cached = self.queue.cached(ref, policy)
            if cached is not None:
                decisions[i] = _from_verdict(ref, cached)
                continue
            job = self.queue.submit(ref, policy)
            pending[i] = (ref, job.scan_id, asyncio.wrap_future(job.future))
        if pending:
            remaining = max(0.0, deadline - time.monotonic())
            futures = [f for _, _, f in pending.values()]
            await asyncio.wait(futures, timeout=remaining)
        for i, (ref, scan_id, fut) in pending.items():
            if not fut.done():
                decisions[i] = Decision(ref, "pending", ("scan queued; retry later",), scan_id=scan_id)
            elif fut.exception() is not None:
                decisions[i] = Decision(
                    ref, "deny", (f"the scan failed: {fut.exception()}",), scan_id=scan_id
                )
            else:
                decisions[i] = _from_verdict(ref, fut.result())
        return [decisions[i] for i in range(len(refs))]

    def overall(self, decisions: Sequence[Decision], started: float) -> str:
        outcome = "allow"
        if any(d.decision == "deny" for d in decisions):
            outcome = "deny"
        elif any(d.decision == "pending" for d in decisions):
            outcome = "pending"
        self.metrics.decision(outcome, time.monotonic() - started)
        return outcome

    # -- endpoints ------------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "queue": self.queue.queue_depth()})

    async def metrics_text(self, request: Request) -> Response:
        text = self.metrics.render()  # scan-safe: our Prometheus counters
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def admit(self, request: Request) -> Response:
        started = time.monotonic()
        body = await self.json_body(request)
        refs = self.parse_artifacts(body)
        decisions = await self.decide(refs, started, request.state.policy)
        outcome = self.overall(decisions, started)
        return JSONResponse(
            {
                "decision": outcome,
                "reasons": [f"{d.ref.uri}: {r}" for d in decisions for r in d.reasons],
                "verdicts": [_decision_json(d) for d in decisions],
                **({"retry_after_s": 5} if outcome == "pending" else {}),
            }
        )

    def parse_artifacts(self, body: Any) -> list[ArtifactRef]:
        items = body.get("artifacts") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise HttpError(400, 'body must be {"artifacts": [{"uri": ..., "digest": ...}, ...]}')
        if len(items) > MAX_ARTIFACTS:
            raise HttpError(400, f"at most {MAX_ARTIFACTS} artifacts per request")
        refs = []
        for item in items:
            if not isinstance(item, dict):
                raise HttpError(400, "each artifact must be an object with a 'uri'")
            digest = item.get("digest")
            uri = item.get("uri")
            if not isinstance(uri, str):
                raise HttpError(400, "each artifact needs a 'uri' string")
            try:
                refs.append(parse_artifact(uri, digest if isinstance(digest, str) else None))
            except UriError as exc:
                raise HttpError(400, str(exc)) from None
        return refs

    async def admission_review(self, request: Request) -> Response:
        started = time.monotonic()
        review = await self.json_body(request)
        req = review.get("request") if isinstance(review, dict) else None
        if not isinstance(req, dict) or not isinstance(req.get("uid"), str):
            raise HttpError(400, "expected an admission.k8s.io/v1 AdmissionReview with request.uid")
        obj: dict[str, Any] = req["object"] if isinstance(req.get("object"), dict) else {}
        refs: list[tuple[str, ArtifactRef]] = []
        problems: list[str] = []
        for pointer, uri in model_uris(obj):
            try:
                refs.append((pointer, parse_artifact(uri)))
            except UriError as exc:
                problems.append(f"{pointer}: {exc}")
        decisions = await self.decide([r for _, r in refs], started, request.state.policy) if refs else []
        outcome = "deny" if problems else self.overall(decisions, started) if decisions else "allow"
        lines = problems + [
            f"{pointer}: {d.ref.uri} {d.decision}: {'; '.join(d.reasons) or 'passed modelscan policy'}"
            for (pointer, _), d in zip(refs, decisions, strict=True)
        ]
        allowed = outcome == "allow"
        response: dict[str, Any] = {"uid": req["uid"], "allowed": allowed}
        if not allowed:
            response["status"] = {
                "code": 403,
                "reason": "Forbidden",
                "message": ("modelscan: " + " | ".join(lines))[:4000],
            }
        else:
            response["auditAnnotations"] = {"modelscan-artifacts": str(len(refs))}
        return JSONResponse(
            {
                "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                "kind": "AdmissionReview",
                "response": response,
            }
        )

    async def create_scan(self, request: Request) -> Response:
        body = await self.json_body(request)
        refs = self.parse_artifacts(
            body if isinstance(body, dict) and "artifacts" in body else {"artifacts": [body]}
        )
        jobs = [self.queue.submit(ref, request.state.policy) for ref in refs]
        out = [
            {"id": j.scan_id, "uri": j.ref.uri, "status": "queued", "location": f"/v1/scans/{j.scan_id}"}
            for j in jobs
        ]
        return JSONResponse({"scans": out}, status_code=202, headers={"Location": out[0]["location"]})

    async def get_scan(self, request: Request) -> Response:
        record = self.store.scan(request.path_params["scan_id"])
        if record is None:
            raise HttpError(404, "no such scan")
        verdict = self.store.verdict(record.key) if record.status == "done" else None
        return JSONResponse(
            {
                "id": record.id,
                "target": record.target,
                "identity": record.identity,
                "status": record.status,
                "error": record.error,
                "created_at": record.created_at,
                "finished_at": record.finished_at,
                "decision": verdict.decision if verdict else None,
                "report": f"/v1/scans/{record.id}/report",
                "sbom": f"/v1/scans/{record.id}/sbom",
            }
        )

    async def get_report(self, request: Request) -> Response:
        return self.document(request.path_params["scan_id"], "report")

    async def get_sbom(self, request: Request) -> Response:
        return self.document(request.path_params["scan_id"], "sbom")

    def document(self, scan_id: str, column: str) -> Response:
        text = self.store.scan_document(scan_id, column)
        if text is None:
            raise HttpError(404, f"no {column} for this scan (unknown id, not finished, or not produced)")
        return Response(text, media_type="application/json")

    async def get_verdict(self, request: Request) -> Response:
        digest = request.path_params["digest"]
        verdict = self.store.verdict_by_digest(digest)
        if verdict is None:
            raise HttpError(404, f"no verdict for {digest}")
        return JSONResponse(
            {
                "identity": verdict.identity,
                "content_digest": verdict.content_digest,
                "decision": verdict.decision,
                "reasons": list(verdict.reasons),
                "worst": verdict.worst,
                "findings": verdict.findings,
                "scan_id": verdict.scan_id,
            }
        )

    async def hook_huggingface(self, request: Request) -> Response:
        if not verify_huggingface(self.config.hf_webhook_secret, request.headers):
            raise HttpError(401, "bad or missing X-Webhook-Secret")
        payload = await self.json_body(request)
        return self.enqueue_uris(huggingface_jobs(payload if isinstance(payload, dict) else {}))

    async def hook_mlflow(self, request: Request) -> Response:
        body = await self.body(request)
        if not verify_mlflow(self.config.mlflow_webhook_secret, request.headers, body):
            raise HttpError(401, "bad, stale or missing X-MLflow-Signature")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"body is not valid JSON: {exc}") from None
        return self.enqueue_uris(mlflow_sources(payload if isinstance(payload, dict) else {}))

    def enqueue_uris(self, uris: Sequence[str]) -> Response:
        queued, skipped = [], []
        for uri in uris:
            try:
                job = self.queue.submit(parse_artifact(uri))
                queued.append({"uri": uri, "scan": f"/v1/scans/{job.scan_id}"})
            except UriError as exc:
                skipped.append({"uri": uri, "reason": str(exc)})
        return JSONResponse({"queued": queued, "skipped": skipped}, status_code=202)


def _from_verdict(ref: ArtifactRef, v: CachedVerdict) -> Decision:
    return Decision(ref, v.decision, v.reasons, v, v.scan_id)


def _decision_json(d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uri": d.ref.uri,
        "identity": d.ref.identity,
        "decision": d.decision,
        "reasons": list(d.reasons),
    }
    if d.scan_id:
        out["report_url"] = f"/v1/scans/{d.scan_id}/report"
        out["sbom_url"] = f"/v1/scans/{d.scan_id}/sbom"
    if d.verdict is not None:
        out.update(
            findings=d.verdict.findings, max_severity=d.verdict.worst, content_digest=d.verdict.content_digest
        )
    return out


def default_db_url() -> str:
    return str(Path.home() / ".cache" / "modelscan" / "serve.db")
