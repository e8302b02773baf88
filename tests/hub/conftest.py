"""Fixtures for hub tests: a fake hub on 127.0.0.1 and the CLI run against it in a subprocess.

The real ``huggingface_hub`` client is pointed at the fake server with ``HF_ENDPOINT`` in the
subprocess environment (the library reads it at import). ``HF_HOME`` and the result cache live
in the test's temp dir; the agent-harness registry the client fetches once a day is pre-seeded
so no request leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.fakehub import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture
def hub_env(hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "hf-home"
    home.mkdir()
    (home / ".agent_harnesses.json").write_text(json.dumps({"standardEnvVars": [], "harnesses": {}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        {
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_XET": "1",
            "NO_PROXY": "*",
            "MODELSCAN_CACHE_DIR": str(tmp_path / "ms-cache"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def modelscan(
    env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``modelscan ARGS`` as a user runs it, against the fake hub."""
    return subprocess.run(
        [sys.executable, "-m", "scanner.cli", *args],
        cwd=cwd or REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
