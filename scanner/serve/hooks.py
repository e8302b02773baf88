"""Inbound registry webhooks: Hugging Face (shared secret) and MLflow (HMAC, bounded skew)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any


def verify_huggingface(secret: str, headers: Mapping[str, str]) -> bool:
    """HF sends the secret verbatim in ``X-Webhook-Secret``; compare in constant time."""
    return bool(secret) and hmac.compare_digest(headers.get("x-webhook-secret", "").encode(), secret.encode())


def huggingface_jobs(payload: Mapping[str, Any]) -> list[str]:
    """``hf://repo@sha`` for each updated ref of a model repo's content update."""
    repo = payload.get("repo")
    event = payload.get("event")
    if not isinstance(repo, dict) or not isinstance(event, dict):
        return []
    if repo.get("type") != "model" or event.get("scope") != "repo.content":
        return []
    name = repo.get("name")
    if not isinstance(name, str):
        return []
    shas = [r.get("newSha") for r in payload.get("updatedRefs") or [] if isinstance(r, dict)]
    head = repo.get("headSha") or repo.get("head_sha")
    picked = [s for s in shas if isinstance(s, str)] or ([head] if isinstance(head, str) else [])
    return [f"hf://{name}@{sha}" for sha in dict.fromkeys(picked)]


def verify_mlflow(
    secret: str, headers: Mapping[str, str], body: bytes, max_skew: int = 300, now: float | None = None
) -> bool:
    """``X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``."""
    signature = headers.get("x-mlflow-signature", "")
    delivery = headers.get("x-mlflow-delivery-id", "")
    stamp = headers.get("x-mlflow-timestamp", "")
    if not (secret and signature.startswith("v1,") and delivery and stamp.isdigit()):
        return False
    if abs((now if now is not None else time.time()) - int(stamp)) > max_skew:
        return False
    mac = hmac.new(secret.encode(), f"{delivery}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return hmac.compare_digest(signature[3:].encode(), base64.b64encode(mac))


def mlflow_sources(payload: Mapping[str, Any]) -> list[str]:
    """Artifact URIs of a new model version (or alias) event."""
    if payload.get("entity") not in ("model_version", "model_version_alias"):
        return []
    data = payload.get("data")
    if not isinstance(data, dict):
        return []
    source = data.get("source") or data.get("storage_location")
    return [source] if isinstance(source, str) and source else []
