"""Bearer tokens for API clients, held only as SHA-256 hashes, each with scopes.

Sources: ``MODELSCAN_API_TOKENS`` (comma-separated tokens, every scope) and ``--token-file``
(one per line: ``sha256:<hex of the token> scope1,scope2`` or ``<token> scope1,scope2``,
optionally followed by ``policy=FILE``: that client's requests are judged by that policy
instead of the service's ``--policy``; ``#`` comments). Plain tokens are hashed on load and
never kept.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

SCOPES = ("admit", "scan", "read")


class TokenFileError(Exception):
    """A token file line is malformed."""


@dataclass(frozen=True)
class Token:
    """What one API token may do."""

    digest: str
    """SHA-256 hex of the token (the token itself is never kept)."""
    scopes: frozenset[str]
    policy: str | None = None
    """The policy file this client's requests are judged by; None: the service's policy."""


@dataclass(frozen=True)
class TokenTable:
    entries: tuple[Token, ...]

    def lookup(self, authorization: str | None) -> Token | None:
        """The token of the bearer token in an ``Authorization`` header; None if it is not valid."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        presented = _digest(authorization[len("Bearer ") :].strip())
        found: Token | None = None
        for token in self.entries:  # compare every entry: no early exit timing signal
            if hmac.compare_digest(token.digest, presented):
                found = token
        return found

    @property
    def policy_files(self) -> frozenset[str]:
        """Every per-token policy file named."""
        return frozenset(t.policy for t in self.entries if t.policy is not None)

    @property
    def empty(self) -> bool:
        return not self.entries


def load_tokens(env_value: str | None, token_file: str | None) -> TokenTable:
    entries: list[Token] = []
    for token in (env_value or "").split(","):
        if token.strip():
            entries.append(Token(_digest(token.strip()), frozenset(SCOPES)))
    if token_file:
        for n, line in enumerate(Path(token_file).read_text(encoding="utf-8").splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            secret, *rest = line.split()
            policy = next((r[len("policy=") :] for r in rest if r.startswith("policy=")), None)
            if policy is not None and not Path(policy).is_absolute():
                policy = str(Path(token_file).parent / policy)  # relative to the token file
            scope_text = ",".join(r for r in rest if not r.startswith("policy="))
            scopes = frozenset(s.strip() for s in scope_text.split(",") if s.strip()) or frozenset(SCOPES)
            unknown = scopes - set(SCOPES)
            if unknown:
                raise TokenFileError(
                    f"{token_file}:{n}: unknown scope(s) {sorted(unknown)} ({', '.join(SCOPES)})"
                )
            if secret.startswith("sha256:"):
                digest = secret[len("sha256:") :].lower()
                if len(digest) != 64:
                    raise TokenFileError(f"{token_file}:{n}: sha256: must be followed by 64 hex digits")
            else:
                digest = _digest(secret)
            entries.append(Token(digest, scopes, policy))
    return TokenTable(tuple(entries))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
