"""Artifact URIs as platforms write them, turned into scan targets and cache keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class UriError(ValueError):
    """A URI the service cannot judge (unsupported scheme, unpinned revision, bad syntax)."""


_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ArtifactRef:
    """One artifact an admission request names."""

    uri: str
    target: str
    """What ``scanner.scan`` takes (``hf://org/name@sha``, a local path, ``s3://…``)."""
    identity: str
    """Immutable identity: ``hf:org/name@<sha>``, ``sha256:<hex>``, or ``file:<path>``."""
    pinned: bool
    """Whether ``identity`` names immutable content (a commit or a digest)."""


def parse_artifact(uri: str, digest: str | None = None) -> ArtifactRef:
    """Parse ``hf://org/m@sha``, KServe's ``hf://org/m:sha``, ``file:///path``, ``s3://…``."""
    if not isinstance(uri, str) or not uri or len(uri) > 2048:
        raise UriError("an artifact 'uri' must be a non-empty string of at most 2048 characters")
    digest_id = _digest_identity(digest) if digest else None
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "hf":
        return _parse_hf(uri, parts.netloc + parts.path, digest_id)
    if scheme == "file":
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise UriError(f"{uri}: file URIs must be absolute (file:///path)")
        return ArtifactRef(uri, path, digest_id or f"file:{path}", digest_id is not None)
    if scheme in ("s3", "gs", "https"):
        if digest_id is None:
            raise UriError(f"{uri}: give a 'digest' (sha256:…) so the verdict is bound to content")
        return ArtifactRef(uri, uri, digest_id, True)
    raise UriError(f"{uri}: unsupported scheme {scheme or '(none)'!r} (hf, file, s3, gs, https)")


def _parse_hf(uri: str, rest: str, digest_id: str | None) -> ArtifactRef:
    # KServe writes hf://org/model:<hash>; huggingface_hub writes hf://org/model@<rev>.
    rest = rest.strip("/")
    if rest.startswith("models/"):
        rest = rest[len("models/") :]
    repo, sep, revision = rest.partition("@")
    if not sep:
        repo, sep, revision = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if not _REPO.match(repo):
        raise UriError(f"{uri}: expected hf://org/name@<commit sha>")
    if not _SHA.match(revision):
        raise UriError(
            f"{uri}: pin the revision to a full 40-character commit sha; branches and tags can move "
            "after the scan"
        )
    return ArtifactRef(uri, f"hf://{repo}@{revision}", digest_id or f"hf:{repo}@{revision}", True)


def _digest_identity(digest: str) -> str:
    algo, _, value = digest.partition(":")
    if not value:
        algo, value = "sha256", algo
    if algo.lower() != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise UriError(f"digest {digest!r}: expected sha256:<64 hex digits>")
    return f"sha256:{value.lower()}"
