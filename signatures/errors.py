"""One exception per layer of signature handling, so callers can tell input errors apart."""

from __future__ import annotations


class SignatureError(Exception):
    """Signature handling could not be done (bad arguments, unreadable key or trust root)."""


class BundleError(SignatureError):
    """The signature file is not a well-formed model-signing bundle."""


class StatementError(SignatureError):
    """The signed statement is not a valid model-signing statement."""


class CryptoError(SignatureError):
    """The cryptographic check failed; the message says which one and why."""
