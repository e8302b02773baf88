"""The ``verify``, ``sign`` and ``trust`` commands, and the signature options of ``scan``,
``pull`` and ``sbom`` (which the pipeline's signature step carries out).

Each command is a few lines over the library; ``scanner/cli.py`` registers them. Exit codes:
0 verified (or signed), 1 not verified (the reason is printed), 2 could not run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from scanner.model import SignatureResult
from scanner.policy import GitHubSigner, Policy, Signer, SignerIdentity
from signatures.errors import SignatureError
from signatures.signer import method_for

F = TypeVar("F", bound=Callable[..., Any])


class CannotRun(click.ClickException):
    """Bad arguments or unreadable inputs: exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class SignatureOptions:
    """What the user said about signatures on the command line."""

    identities: tuple[str, ...] = ()
    identity_regexes: tuple[str, ...] = ()
    issuer: str | None = None
    github_repository: str | None = None
    github_ref: str | None = None
    github_workflow: str | None = None
    key: str | None = None
    certificate_chain: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    trust_root: str | None = None
    signature: str | None = None
    require_signature: bool = False

    def signer(self) -> Signer:
        """Who these options name as the signer (an empty ``Signer`` when none was given);
        ``SignatureError`` for options that do not make one signer."""
        if (self.identities or self.identity_regexes) and not self.issuer:
            raise SignatureError("--identity and --identity-regex need --issuer (the OIDC issuer URL)")
        issuer = str(self.issuer)
        signer = Signer(
            identities=tuple(SignerIdentity(issuer, identity=i) for i in self.identities)
            + tuple(SignerIdentity(issuer, identity_regex=r) for r in self.identity_regexes),
            github=(
                GitHubSigner(self.github_repository, self.github_ref, self.github_workflow)
                if self.github_repository
                else None
            ),
            key=self.key,
            certificate_chain=self.certificate_chain,
            subjects=self.subjects,
            trust_root=self.trust_root,
        )
        if len(signer.methods) > 1:
            raise SignatureError("choose one of --identity/--issuer, --key or --certificate-chain")
        return signer

    def over(self, policy: Policy) -> Policy:
        """``policy`` with these options applied: a signer named here replaces the policy's, and
        naming one (or ``--require-signature``) requires a signature that verifies."""
        try:
            return policy.with_signer(self.signer(), self.require_signature)
        except SignatureError as exc:
            raise CannotRun(str(exc)) from None


def signature_options(func: F) -> F:
    """Add the signature options to a command; it receives them as one ``signing`` argument."""
    names = [f.name for f in dataclasses.fields(SignatureOptions)]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        picked = {n: kwargs.pop(n) for n in names if n in kwargs}
        for n in ("identities", "identity_regexes", "certificate_chain", "subjects"):
            picked[n] = tuple(picked.get(n) or ())
        return func(*args, signing=SignatureOptions(**picked), **kwargs)

    options = [
        click.option(
            "--signature",
            type=click.Path(dir_okay=False),
            help="Signature file [default: MODEL_DIR/model.sig].",
        ),
        click.option(
            "--identity",
            "identities",
            multiple=True,
            help="Keyless: the signer's exact identity (SAN: email or URI); repeatable (any of).",
        ),
        click.option(
            "--identity-regex",
            "identity_regexes",
            multiple=True,
            help="Keyless: a regex the whole signer identity must match; repeatable.",
        ),
        click.option("--issuer", help="Keyless: the exact OIDC issuer URL of the identity."),
        click.option("--github-repository", help="Keyless: signed by GitHub Actions in this owner/repo."),
        click.option("--github-ref", help="With --github-repository: ref glob, e.g. 'refs/tags/v*'."),
        click.option("--github-workflow", help="With --github-repository: workflow file, e.g. release.yml."),
        click.option("--key", type=click.Path(dir_okay=False), help="Verify with this EC public key (PEM)."),
        click.option(
            "--certificate-chain",
            multiple=True,
            type=click.Path(dir_okay=False),
            help="Verify certificate signatures to these root certificates (PEM); repeatable.",
        ),
        click.option(
            "--subject",
            "subjects",
            multiple=True,
            help="With --certificate-chain: allowed leaf common name or SAN; repeatable.",
        ),
        click.option(
            "--trust-root",
            type=click.Path(dir_okay=False),
            help="Sigstore trusted root JSON [default: pinned; see `modelscan trust show`].",
        ),
    ]
    if func.__name__ != "verify":
        options.append(
            click.option(
                "--require-signature", is_flag=True, help="Fail (exit 1) unless a signature verifies."
            )
        )
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


@click.command()
@click.argument("model_dir", type=click.Path())
@signature_options
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def verify(model_dir: str, signing: SignatureOptions, fmt: str) -> None:
    """Verify MODEL_DIR against its OpenSSF model signature (offline)."""
    try:
        method = method_for(signing.signer())
        if method is None:
            raise SignatureError(
                "say who must have signed: --identity/--issuer (or --identity-regex, "
                "--github-repository), --key, or --certificate-chain"
            )
        from signatures.verify import verify_model

        result = verify_model(model_dir, method, signing.signature)
    except SignatureError as exc:
        raise CannotRun(str(exc)) from None
    click.echo(json.dumps(dataclasses.asdict(result), indent=2) if fmt == "json" else render_text(result))
    sys.exit(0 if result.verified else 1)


@click.command()
@click.argument("model_dir", type=click.Path(exists=True))
@click.option(
    "--key",
    "private_key",
    type=click.Path(exists=True, dir_okay=False),
    help="EC private key (PEM) to sign with; with --cert, the certificate's key.",
)
@click.option("--cert", type=click.Path(exists=True, dir_okay=False), help="Leaf certificate (PEM) of --key.")
@click.option(
    "--chain",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Intermediate certificates (PEM), leaf-side first; repeatable.",
)
@click.option(
    "--root",
    "roots",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="With --cert: root(s) to check the new signature against [default: last of --chain].",
)
@click.option(
    "--sigstore", is_flag=True, help="Sign keyless with Sigstore (needs network and an OIDC token)."
)
@click.option(
    "--identity-token", help="With --sigstore: the OIDC token [default: $SIGSTORE_ID_TOKEN/ambient]."
)
@click.option("--signature", type=click.Path(dir_okay=False), help="Output [default: MODEL_DIR/model.sig].")
@click.option(
    "--hash",
    "hash_type",
    type=click.Choice(["sha256", "blake2b", "blake3"]),
    default="sha256",
    show_default=True,
)
@click.option("--shard-size", type=click.IntRange(min=1), help="Sign byte ranges of this size (shards).")
@click.option("--ignore", "ignore_paths", multiple=True, help="Relative path to leave unsigned; repeatable.")
def sign(
    model_dir: str,
    private_key: str | None,
    cert: str | None,
    chain: tuple[str, ...],
    roots: tuple[str, ...],
    sigstore: bool,
    identity_token: str | None,
    signature: str | None,
    hash_type: str,
    shard_size: int | None,
    ignore_paths: tuple[str, ...],
) -> None:
    """Sign MODEL_DIR (OpenSSF model signing v1.0) and verify the result before returning."""
    from signatures import sign as signing

    password = os.environ.get("MODELSCAN_KEY_PASSWORD")
    secret = password.encode() if password else None
    signer: signing.SignerChoice
    if sigstore == (private_key is not None):
        raise CannotRun("choose --key PEM (optionally with --cert/--chain) or --sigstore")
    if sigstore:
        signer = signing.SigstoreSigner(identity_token)
    elif cert:
        signer = signing.CertificateSigner(
            Path(str(private_key)), Path(cert), tuple(map(Path, chain)), secret
        )
    else:
        signer = signing.KeySigner(Path(str(private_key)), secret)
    options = signing.HashingOptions(hash_type, shard_size, ignore_paths)
    try:
        result = signing.sign_model(model_dir, signer, signature, options, tuple(map(Path, roots)))
    except SignatureError as exc:
        raise CannotRun(str(exc)) from None
    click.echo(render_text(result))


@click.group()
def trust() -> None:
    """Show or refresh the pinned Sigstore trusted root used for keyless verification."""


@trust.command("show")
@click.option("--trust-root", type=click.Path(dir_okay=False), help="Show this root instead.")
def trust_show(trust_root: str | None) -> None:
    """Print which trusted root is in use, its sha256, and what it trusts."""
    from signatures.trust import describe, load_trust_root

    try:
        click.echo("\n".join(describe(load_trust_root(trust_root))))
    except SignatureError as exc:
        raise CannotRun(str(exc)) from None


@trust.command("update")
@click.option("--staging", is_flag=True, help="Use Sigstore's staging instance.")
def trust_update(staging: bool) -> None:
    """Refresh the trusted root over TUF (needs network) and pin it for later offline use."""
    from signatures.trust import describe, update_trust_root

    try:
        click.echo("\n".join(describe(update_trust_root(staging))))
    except SignatureError as exc:
        raise CannotRun(str(exc)) from None


def render_text(result: SignatureResult) -> str:
    """A human summary: the verdict and reason, then each file that is not plainly ok."""
    lines = [f"{result.status.upper()}: {result.reason}"]
    for label, value in (
        ("method", result.method),
        ("signer", result.signer),
        ("issuer", result.issuer),
        ("log index", result.log_index),
        ("signed at", result.signed_at),
        ("policy", result.policy),
        ("trusted root sha256", result.trust_root_digest),
    ):
        if value is not None:
            lines.append(f"  {label}: {value}")
    for f in result.files:
        note = f"  ({f.detail})" if f.detail and f.status != "ok" else ""
        lines.append(f"  {f.status:<18} {f.path}{note}")
    return "\n".join(lines)
