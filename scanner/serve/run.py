"""Starting the admission service under uvicorn (what ``modelscan serve`` calls)."""

from __future__ import annotations

import os
import ssl

from scanner.policy import Policy, load_policy
from scanner.rules import load_rules
from scanner.serve.app import ServiceConfig, create_app, default_db_url
from scanner.serve.auth import load_tokens


def build_config(
    policy: Policy,
    rules_dirs: tuple[str, ...],
    db: str | None,
    token_file: str | None,
    deadline: float,
    workers: int,
    client_ca: str | None,
) -> ServiceConfig:
    """Configuration from options and the environment (tokens and webhook secrets); every
    per-token policy file is read and checked now (``PolicyError``), not at the first request."""
    tokens = load_tokens(os.environ.get("MODELSCAN_API_TOKENS"), token_file)
    rules = load_rules(rules_dirs)
    token_policies = {path: load_policy(path, rules) for path in sorted(tokens.policy_files)}
    return ServiceConfig(
        db_url=db or os.environ.get("MODELSCAN_DB") or default_db_url(),
        tokens=tokens,
        policy=policy,
        token_policies=token_policies,
        rules_dirs=rules_dirs,
        deadline=deadline,
        hf_webhook_secret=os.environ.get("MODELSCAN_HF_WEBHOOK_SECRET", ""),
        mlflow_webhook_secret=os.environ.get("MODELSCAN_MLFLOW_WEBHOOK_SECRET", ""),
        workers=workers,
        trust_client_certs=client_ca is not None,
    )


def serve(
    config: ServiceConfig,
    host: str,
    port: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    client_ca: str | None = None,
) -> None:
    import uvicorn

    extra: dict[str, object] = {}
    if tls_cert:
        extra.update(ssl_certfile=tls_cert, ssl_keyfile=tls_key)
        if client_ca:
            extra.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", **extra)  # type: ignore[arg-type]
