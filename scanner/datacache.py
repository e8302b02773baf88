"""Parsed forms of our own data files, kept as JSON so a CLI start does not re-parse YAML.

Parsing the rule files and the built-in policy with PyYAML (and importing it) was a third of a
scan's whole wall time on a small file. The parsed result is stored under the cache folder
(``$MODELSCAN_CACHE_DIR``, default ``~/.cache/modelscan``) in ``data/<key>.json``, where the
key is a SHA-256 of everything the result depends on: the bytes of every input file and the
source of the code that parses them. A changed rule file or parser is a different key, so an
entry is never stale; a missing, unreadable or malformed entry is a miss (parse again), and a
cache folder that cannot be written costs only the speed. Only values that survive a JSON round
trip unchanged are stored (a YAML date or a non-string key is parsed every time instead).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT = b"modelscan-datacache-1"
"""Part of every key: bumped if the stored layout changes."""


def cache_dir() -> Path:
    """The cache folder: ``$MODELSCAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/modelscan``, else
    ``~/.cache/modelscan``."""
    env = os.environ.get("MODELSCAN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelscan"


def key_of(parts: Iterable[bytes]) -> str:
    """The key of a result computed from ``parts`` (file bytes, parser sources, names)."""
    digest = hashlib.sha256(FORMAT)
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def _entry(namespace: str, key: str) -> Path:
    return cache_dir() / "data" / f"{namespace}-{key}.json"


def load(namespace: str, key: str) -> Any | None:
    """The stored value for ``key``, or None (a miss) when there is none or it is unreadable."""
    try:
        with _entry(namespace, key).open("rb") as f:
            stored = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    return stored.get("value")


def store(namespace: str, key: str, value: Any) -> bool:
    """Store ``value`` for ``key`` when it survives a JSON round trip unchanged; True if stored.
    Written atomically (a concurrent reader sees the old entry or the new one, never half)."""
    try:
        text = json.dumps({"key": key, "value": value}, separators=(",", ":"))
    except (TypeError, ValueError):
        return False
    if json.loads(text)["value"] != value:
        return False
    import tempfile  # only when storing: it imports shutil, random and bz2

    path = _entry(namespace, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return False
    return True
