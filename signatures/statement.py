"""The signed in-toto statement: OpenSSF model-signing v1.0, and the older Digests/v0.1 form.

Everything a signer wrote is untrusted until the signature over it verified, and even then a
signer may be careless: resource names are checked for path traversal, the root digest is
recomputed, and spec-divergent forms that model_signing <= 1.1.1 writes (a float
``shard_size``, ``sha256-sharded-N`` algorithms, ``"."`` for a single file) are accepted on
verify but never emitted.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from signatures.errors import StatementError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_V1 = "https://model_signing/signature/v1.0"
PREDICATE_V01 = "https://model_signing/Digests/v0.1"
HASH_TYPES = {"sha256": 64, "blake2b": 128, "blake3": 64}
MAX_RESOURCES = 1_000_000


@dataclass(frozen=True)
class Resource:
    """One signed file, or one byte range (shard) of a file."""

    name: str
    """The name as signed: ``path`` for files, ``path:start:end`` for shards."""
    path: str
    """POSIX path relative to the model folder (``.`` for a single-file model)."""
    digest: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class SignedManifest:
    """What the signer claims about the model."""

    predicate_type: str
    subject_name: str
    """Informational only: renaming the model folder does not invalidate a signature."""
    method: str
    """``files | shards``."""
    hash_type: str
    resources: tuple[Resource, ...]
    shard_size: int | None = None
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = ()
    root_digest: str | None = None


def root_digest(digests: Sequence[tuple[str, str]], presorted: bool = False) -> str:
    """SHA-256 over the resource digests in manifest order (spec v1.0 subject digest).

    The order is by name; model_signing sorts names as paths and shard offsets as numbers
    (``a/b`` before ``a.txt``, ``f:1000:2000`` before ``f:10000:...``), so a signer's list is
    used as given when ``presorted``.
    """
    h = hashlib.sha256()
    for _, digest in digests if presorted else sorted(digests, key=lambda d: resource_order(d[0])):
        h.update(bytes.fromhex(digest))
    return h.hexdigest()


def resource_order(name: str) -> tuple[tuple[str, ...], int, int]:
    """Sort key of a resource name: path components, then shard start and end as numbers."""
    path, start, end = name, 0, 0
    parts = name.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        path, start, end = parts[0], int(parts[1]), int(parts[2])
    return tuple(path.split("/")), start, end


def parse_statement(payload: bytes) -> SignedManifest:
    """Parse and validate a statement; raise ``StatementError`` saying what is wrong."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatementError(f"signed statement is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"signed payload is not an in-toto statement ({STATEMENT_TYPE})")
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or not subjects or not all(isinstance(s, dict) for s in subjects):
        raise StatementError("statement has no subject")
    ptype = doc.get("predicateType")
    if ptype == PREDICATE_V1:
        return _parse_v1(subjects, doc.get("predicate"))
    if ptype == PREDICATE_V01:
        return _parse_v01(subjects)
    raise StatementError(f"unknown predicate type {ptype!r}; expected {PREDICATE_V1}")


def _parse_v1(subjects: list[dict[str, Any]], predicate: object) -> SignedManifest:
    if not isinstance(predicate, dict):
        raise StatementError("statement has no predicate")
    ser = predicate.get("serialization")
    if not isinstance(ser, dict):
        raise StatementError("predicate has no serialization block")
    method = ser.get("method")
    if method not in ("files", "shards"):
        raise StatementError(f"unknown serialization method {method!r}")
    hash_type = ser.get("hash_type")
    if hash_type not in HASH_TYPES:
        raise StatementError(f"unsupported hash type {hash_type!r} (allowed: {', '.join(HASH_TYPES)})")
    shard_size = _shard_size(ser.get("shard_size")) if method == "shards" else None
    ignore = ser.get("ignore_paths", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise StatementError("serialization.ignore_paths is not a list of paths")
    raw = predicate.get("resources")
    if not isinstance(raw, list):
        raise StatementError("predicate has no resources list")
    if len(raw) > MAX_RESOURCES:
        raise StatementError(f"{len(raw)} resources, over the limit of {MAX_RESOURCES}")
    allowed_algos = {hash_type} | ({f"{hash_type}-sharded-{shard_size}"} if shard_size else set())
    resources = []
    for item in raw:
        if not isinstance(item, dict):
            raise StatementError("a resource is not an object")
        name, algo, digest = item.get("name"), item.get("algorithm"), item.get("digest")
        if not isinstance(name, str) or not isinstance(digest, str):
            raise StatementError("a resource lacks a name or digest")
        if algo not in allowed_algos:
            raise StatementError(f"resource {name!r} uses algorithm {algo!r}, not the declared {hash_type}")
        resources.append(_resource(name, _hex(digest, hash_type, name), method == "shards"))
    _no_duplicates(resources)
    declared = _subject_sha256(subjects[0])
    pairs = [(r.name, r.digest) for r in resources]
    computed = root_digest(pairs, presorted=True)
    if declared != computed and declared == root_digest(sorted(pairs), presorted=True):
        computed = declared  # plain string order of names: also "sorted by name"
    if declared != computed:
        raise StatementError("statement subject digest does not match its resources (inconsistent manifest)")
    return SignedManifest(
        predicate_type=PREDICATE_V1,
        subject_name=str(subjects[0].get("name", "")),
        method=method,
        hash_type=hash_type,
        resources=tuple(resources),
        shard_size=shard_size,
        allow_symlinks=ser.get("allow_symlinks") is True,
        ignore_paths=tuple(ignore),
        root_digest=computed,
    )


def _parse_v01(subjects: list[dict[str, Any]]) -> SignedManifest:
    # model_signing 0.2: one subject per file, digests in the subject (legacy, verify only).
    resources = []
    for subject in subjects:
        name = subject.get("name")
        if not isinstance(name, str):
            raise StatementError("a subject has no name")
        annotations = subject.get("annotations") or {}
        algo = (
            annotations.get("actual_hash_algorithm", "file-sha256")
            if isinstance(annotations, Mapping)
            else "file-sha256"
        )
        if algo != "file-sha256":
            raise StatementError(f"legacy subject {name!r} uses unsupported algorithm {algo!r}")
        resources.append(_resource(name, _hex(_subject_sha256(subject), "sha256", name), shard=False))
    _no_duplicates(resources)
    return SignedManifest(
        predicate_type=PREDICATE_V01,
        subject_name="",
        method="files",
        hash_type="sha256",
        resources=tuple(sorted(resources, key=lambda r: r.name)),
    )


def _resource(name: str, digest: str, shard: bool) -> Resource:
    path, start, end = name, None, None
    if shard:
        parts = name.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise StatementError(f"shard resource {name!r} is not 'path:start:end'")
        path, start, end = parts[0], int(parts[1]), int(parts[2])
        if end < start:
            raise StatementError(f"shard resource {name!r} ends before it starts")
    return Resource(name=name, path=safe_relative_path(path), digest=digest, start=start, end=end)


def safe_relative_path(path: str) -> str:
    """Return ``path`` if it names something inside the model folder; raise otherwise.

    A signer-controlled name like ``../../etc/passwd`` must never make the verifier read
    outside the folder (model-transparency#647).
    """
    if path == ".":
        return path
    if not path or "\x00" in path or "\\" in path or path.startswith("/"):
        raise StatementError(f"resource name {path!r} is not a relative POSIX path")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or posixpath.normpath(path) != path:
        raise StatementError(f"resource name {path!r} escapes or is not normalized (path traversal)")
    return path


def _shard_size(value: object) -> int:
    # model_signing writes it through a protobuf Struct, hence a float such as 1000000000.0.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value <= 0:
        raise StatementError(f"serialization.shard_size {value!r} is not a positive integer")
    return int(value)


def _subject_sha256(subject: Mapping[str, Any]) -> str:
    digest = subject.get("digest")
    value = digest.get("sha256") if isinstance(digest, Mapping) else None
    if not isinstance(value, str):
        raise StatementError("statement subject has no sha256 digest")
    return _hex(value, "sha256", str(subject.get("name")))


def _hex(value: str, hash_type: str, name: str) -> str:
    low = value.lower()
    if len(low) != HASH_TYPES[hash_type] or any(c not in "0123456789abcdef" for c in low):
        raise StatementError(f"digest of {name!r} is not a {hash_type} hex digest")
    return low


def _no_duplicates(resources: Sequence[Resource]) -> None:
    seen: set[str] = set()
    for r in resources:
        if r.name in seen:
            raise StatementError(f"resource {r.name!r} is listed twice")
        seen.add(r.name)
