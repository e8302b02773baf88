"""The Sigstore trusted root we verify keyless signatures against: pinned, never the cache.

sigstore-python's ``offline=True`` trusts whatever sits in ``~/.cache/sigstore-python``,
a writable file nobody verified. We instead ship the public-good root (the bytes the
sigstore wheel embeds) as package data, let ``modelscan trust update`` replace it with a
TUF-verified refresh in our own data folder, and record the sha256 of the root used in
every result so a verdict can be reproduced.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sigstore.models import TrustedRoot

from signatures.errors import SignatureError

SHIPPED_ROOT = Path(__file__).with_name("production.trusted_root.json")
MAX_ROOT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TrustRoot:
    """A loaded trusted root and where it came from."""

    root: TrustedRoot
    path: Path
    digest: str
    """sha256 of the root file's bytes."""
    source: str
    """``explicit`` (--trust-root), ``updated`` (modelscan trust update) or ``shipped``."""


def updated_root_path() -> Path:
    """Where ``modelscan trust update`` keeps its TUF-verified copy."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "modelscan" / "trusted_root.json"


def load_trust_root(path: str | Path | None = None) -> TrustRoot:
    """The explicit root if given, else our updated copy if one exists, else the shipped one."""
    if path is not None:
        return _load(Path(path), "explicit")
    updated = updated_root_path()
    if updated.is_file():
        return _load(updated, "updated")
    return _load(SHIPPED_ROOT, "shipped")


def _load(path: Path, source: str) -> TrustRoot:
    try:
        if path.stat().st_size > MAX_ROOT_BYTES:
            raise SignatureError(f"trusted root {path} is larger than {MAX_ROOT_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot read trusted root {path}: {exc.strerror}") from None
    try:
        root = TrustedRoot.from_file(str(path))
    except Exception as exc:  # sigstore raises pydantic, JSON and its own errors here
        raise SignatureError(f"{path} is not a Sigstore trusted root: {exc}") from None
    return TrustRoot(root=root, path=path, digest=hashlib.sha256(raw).hexdigest(), source=source)


def update_trust_root(staging: bool = False) -> TrustRoot:
    """Fetch the current root through TUF (network) and pin it as our updated copy."""
    from sigstore.models import ClientTrustConfig

    try:
        config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        body = config.trusted_root._inner.to_json()
    except Exception as exc:  # TUFError, network errors: all mean "could not refresh"
        raise SignatureError(f"could not refresh the trusted root over TUF: {exc}") from None
    target = updated_root_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".trusted_root.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(body)
    os.replace(tmp, target)
    return _load(target, "updated")


def describe(trust: TrustRoot) -> list[str]:
    """Lines for ``modelscan trust show``: what the root trusts."""
    inner = trust.root._inner
    lines = [f"source: {trust.source} ({trust.path})", f"sha256: {trust.digest}"]
    lines += [f"rekor log: {t.base_url}" for t in inner.tlogs]
    lines += [f"fulcio CA: {c.uri}" for c in inner.certificate_authorities]
    lines += [f"CT log: {c.base_url}" for c in inner.ctlogs]
    lines += [f"timestamp authority: {t.uri}" for t in inner.timestamp_authorities]
    return lines
