"""Signing and verifying models in the OpenSSF Model Signing format (v1.0), offline by default."""

from signatures.errors import SignatureError
from signatures.verify import CertificateMethod, KeylessMethod, KeyMethod, verify_model

__all__ = ["CertificateMethod", "KeyMethod", "KeylessMethod", "SignatureError", "verify_model"]
