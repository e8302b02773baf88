"""Identity policies compose like sigstore-python's and fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from sigstore.errors import VerificationError
from sigstore.models import Bundle

from signatures.errors import SignatureError
from signatures.policy import AllOf, AnyOf, GitHubRepository, Identity, IdentityRegex, UnsafeAnySigner

GH_ISSUER = "https://token.actions.githubusercontent.com"


def _ibm_cert(vectors: Path) -> x509.Certificate:
    return Bundle.from_json((vectors / "v1.1.0-sigstore/model.sig").read_bytes()).signing_certificate


def _gh_cert(sigdata: Path) -> x509.Certificate:
    raw = (sigdata / "sigstore-python/bundle_v3_github.whl.sigstore").read_bytes()
    return Bundle.from_json(raw).signing_certificate


def test_empty_all_of_accepts_no_one(vectors: Path) -> None:
    with pytest.raises(VerificationError, match="empty"):
        AllOf(()).verify(_ibm_cert(vectors))


def test_empty_any_of_accepts_no_one(vectors: Path) -> None:
    with pytest.raises(VerificationError, match="empty"):
        AnyOf(()).verify(_ibm_cert(vectors))


def test_any_of_accepts_one_matching_identity(vectors: Path) -> None:
    issuer = "https://sigstore.verify.ibm.com/oauth2"
    policy = AnyOf((Identity("other@ibm.com", issuer), Identity("stefanb@us.ibm.com", issuer)))
    policy.verify(_ibm_cert(vectors))


def test_all_of_needs_every_part(vectors: Path) -> None:
    issuer = "https://sigstore.verify.ibm.com/oauth2"
    with pytest.raises(VerificationError):
        AllOf((Identity("stefanb@us.ibm.com", issuer), Identity("other@ibm.com", issuer))).verify(
            _ibm_cert(vectors)
        )


def test_regex_is_anchored_at_both_ends(vectors: Path) -> None:
    issuer = "https://sigstore.verify.ibm.com/oauth2"
    IdentityRegex(r"[a-z]+@us\.ibm\.com", issuer).verify(_ibm_cert(vectors))
    for unanchored in (r"stefanb@us\.ibm", r"us\.ibm\.com", r"tefanb@us\.ibm\.com"):
        with pytest.raises(VerificationError, match="does not match"):
            IdentityRegex(unanchored, issuer).verify(_ibm_cert(vectors))


def test_regex_still_needs_the_exact_issuer(vectors: Path) -> None:
    with pytest.raises(VerificationError, match="issuer"):
        IdentityRegex(".*", "https://accounts.google.com").verify(_ibm_cert(vectors))


def test_invalid_regex_is_a_usage_error() -> None:
    with pytest.raises(SignatureError, match="not a valid regex"):
        IdentityRegex("(", "https://x")


def test_github_repository_policy_reads_fulcio_extensions(sigdata: Path) -> None:
    cert = _gh_cert(sigdata)
    GitHubRepository("trailofbits/rfc8785.py").verify(cert)
    GitHubRepository("trailofbits/rfc8785.py", ref="refs/tags/v0.1.*", workflow="release.yml").verify(cert)
    with pytest.raises(VerificationError, match="repository"):
        GitHubRepository("trailofbits/rfc8785").verify(cert)  # a prefix is not the repository


def test_github_policy_rejects_non_github_issuer(vectors: Path) -> None:
    with pytest.raises(VerificationError, match="issuer"):
        GitHubRepository("stefanb/model").verify(_ibm_cert(vectors))


def test_the_no_identity_policy_is_named_unsafe(vectors: Path) -> None:
    policy = UnsafeAnySigner()
    policy.verify(_ibm_cert(vectors))
    assert "UNSAFE" in policy.name
