"""Cached scan results for immutable content, so a second scan of the same commit is instant.

A result is keyed by everything that could change it: the content's identity as its source
names it (``Tree.content_key``: a hub repo, its commit sha and the files scanned — content is
immutable per commit), the tool version and the digest of the rule set. A new release or any
rule change misses the cache. Entries are the one report serialization
(``scanner.serialize``) written atomically under ``$MODELSCAN_CACHE_DIR`` (default
``~/.cache/modelscan``); an unreadable or malformed entry is a miss, never an error, and
never a verdict. What is cached is the engine's result only: hashes, signatures and probe
results are measured again by each run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from scanner.datacache import cache_dir
from scanner.model import Report
from scanner.serialize import report_from_dict, report_to_dict

FORMAT = 2
"""Bumped whenever the stored layout changes; older entries are then misses."""


def cache_key(content_key: str, tool_version: str, rules_digest: str) -> str:
    body = json.dumps([FORMAT, content_key, tool_version, rules_digest])
    return hashlib.sha256(body.encode()).hexdigest()


def load(key: str) -> Report | None:
    path = cache_dir() / "results" / f"{key}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT or doc.get("key") != key:
            return None
        return report_from_dict(doc["report"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(key: str, report: Report) -> None:
    """Write atomically; a cache that cannot be written is silently skipped (it is an optimization)."""
    folder = cache_dir() / "results"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"format": FORMAT, "key": key, "report": report_to_dict(report)}, out)
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        return
