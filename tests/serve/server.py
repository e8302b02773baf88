"""Running the real admission service (uvicorn) on 127.0.0.1 in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from scanner.serve.app import ServiceConfig, create_app
from scanner.serve.worker import ScanFunction


@contextmanager
def running_server(config: ServiceConfig, scan_fn: ScanFunction | None = None) -> Iterator[str]:
    """Yield the base URL of a live server; stop it on exit."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, scan_fn), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
