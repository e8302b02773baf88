"""Signing and verifying models in the OpenSSF Model Signing format (v1.0), offline by default.

    from signatures import KeylessMethod, verify_model
    from signatures.policy import Identity
    result = verify_model("path/to/model", KeylessMethod(Identity("me@example.org", "https://accounts.google.com")))
    result.status, result.reason, result.files

``signatures.sign.sign_model`` writes ``model.sig``; ``signatures.scan_step`` is the step of
``scan``; ``signatures.trust`` holds the pinned Sigstore trusted root.
"""

from __future__ import annotations

import importlib
from typing import Any

from signatures.errors import SignatureError

# sigstore, pydantic and cryptography take a second or more to import: load them only when
# a signature is actually verified or made, not on every CLI start.
_LAZY = {"CertificateMethod", "KeyMethod", "KeylessMethod", "verify_model", "verify_with_digests"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("signatures.verify"), name)
    raise AttributeError(f"module 'signatures' has no attribute {name!r}")


__all__ = [
    "CertificateMethod",
    "KeyMethod",
    "KeylessMethod",
    "SignatureError",
    "verify_model",
    "verify_with_digests",
]
