"""Persistence for the admission service: verdict cache and scan records in SQLite (WAL).

The database survives restarts: verdicts already known are served at once after a restart,
and scans that were queued or running are queued again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class StoreError(Exception):
    """The database URL is unsupported or the database cannot be opened."""


@dataclass(frozen=True)
class CachedVerdict:
    """A finished judgement of one artifact identity under one rules+policy digest."""

    key: str
    identity: str
    decision: str
    """``allow`` or ``deny``."""
    reasons: tuple[str, ...]
    worst: str | None
    findings: int
    scan_id: str
    content_digest: str | None
    created_at: float


@dataclass(frozen=True)
class ScanRecord:
    id: str
    key: str
    identity: str
    target: str
    status: str
    """``queued | running | done | error``."""
    error: str | None
    created_at: float
    finished_at: float | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
  key TEXT PRIMARY KEY, identity TEXT NOT NULL, decision TEXT NOT NULL, reasons TEXT NOT NULL,
  worst TEXT, findings INTEGER NOT NULL, scan_id TEXT NOT NULL, content_digest TEXT,
  created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS verdicts_digest ON verdicts(content_digest);
CREATE INDEX IF NOT EXISTS verdicts_identity ON verdicts(identity);
CREATE TABLE IF NOT EXISTS scans (
  id TEXT PRIMARY KEY, key TEXT NOT NULL, identity TEXT NOT NULL, target TEXT NOT NULL,
  status TEXT NOT NULL, error TEXT, report TEXT, sbom TEXT, created_at REAL NOT NULL,
  finished_at REAL);
CREATE INDEX IF NOT EXISTS scans_key ON scans(key);
"""


def sqlite_path(url: str) -> str:
    """``sqlite:///abs/path``, ``sqlite:///:memory:`` or a plain file path."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :] or ":memory:"
    if "://" in url:
        raise StoreError(f"unsupported database URL {url!r}: only sqlite:///PATH is supported")
    return url


class Store:
    """Thread-safe access to the service database (one connection, serialized)."""

    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def verdict(self, key: str) -> CachedVerdict | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM verdicts WHERE key = ?", (key,)).fetchone()
        return _verdict(row) if row else None

    def verdict_by_digest(self, digest: str) -> CachedVerdict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM verdicts WHERE content_digest = ? OR identity = ? "
                "ORDER BY created_at DESC LIMIT 1",
                (digest, digest),
            ).fetchone()
        return _verdict(row) if row else None

    def put_verdict(self, v: CachedVerdict) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    v.key,
                    v.identity,
                    v.decision,
                    json.dumps(list(v.reasons)),
                    v.worst,
                    v.findings,
                    v.scan_id,
                    v.content_digest,
                    v.created_at,
                ),
            )

    def add_scan(self, scan_id: str, key: str, identity: str, target: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO scans (id, key, identity, target, status, created_at) VALUES (?,?,?,?,?,?)",
                (scan_id, key, identity, target, "queued", time.time()),
            )

    def set_scan(
        self,
        scan_id: str,
        status: str,
        error: str | None = None,
        report: Mapping[str, Any] | None = None,
        sbom: str | None = None,
    ) -> None:
        finished = time.time() if status in ("done", "error") else None
        with self._tx() as db:
            db.execute(
                "UPDATE scans SET status = ?, error = ?, report = COALESCE(?, report), "
                "sbom = COALESCE(?, sbom), finished_at = ? WHERE id = ?",
                (status, error, json.dumps(report) if report is not None else None, sbom, finished, scan_id),
            )

    def scan(self, scan_id: str) -> ScanRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, key, identity, target, status, error, created_at, finished_at FROM scans "
                "WHERE id = ?",
                (scan_id,),
            ).fetchone()
        return ScanRecord(*row) if row else None

    def scan_document(self, scan_id: str, column: str) -> str | None:
        if column not in ("report", "sbom"):
            raise ValueError(column)
        with self._lock:
            row = self._db.execute(f"SELECT {column} FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return row[0] if row else None

    def unfinished(self) -> list[ScanRecord]:
        """Scans a previous process left queued or running: they are queued again."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, key, identity, target, status, error, created_at, finished_at FROM scans "
                "WHERE status IN ('queued', 'running') ORDER BY created_at"
            ).fetchall()
        return [ScanRecord(*r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _verdict(row: tuple[Any, ...]) -> CachedVerdict:
    key, identity, decision, reasons, worst, findings, scan_id, digest, created = row
    return CachedVerdict(
        key, identity, decision, tuple(json.loads(reasons)), worst, findings, scan_id, digest, created
    )
