"""Signing and verifying models in the OpenSSF Model Signing format (v1.0), offline by default.

    from signatures import KeylessMethod, verify_model
    from signatures.policy import Identity
    result = verify_model("path/to/model", KeylessMethod(Identity("me@example.org", "https://accounts.google.com")))
    result.status, result.reason, result.files

``signatures.sign.sign_model`` writes ``model.sig``; ``signatures.scan_step`` is the step of
``scan``; ``signatures.trust`` holds the pinned Sigstore trusted root.
"""

from signatures.errors import SignatureError
from signatures.verify import CertificateMethod, KeylessMethod, KeyMethod, verify_model, verify_with_digests

__all__ = ["CertificateMethod", "KeyMethod", "KeylessMethod", "SignatureError", "verify_model",
           "verify_with_digests"]
