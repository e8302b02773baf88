"""The ``modelscan`` command line: each command is a few lines over the library API.

Exit codes (every command): 0 nothing at or above the fail-on severity; 1 findings at or
above it (or a failed signature requirement); 2 the command itself could not be done.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click

from scanner import __version__, pipeline
from scanner.engine import Progress
from scanner.model import Report
from scanner.pipeline import ScanOptions
from scanner.policy import Policy, PolicyError, parse_fail_on, resolve_policy
from scanner.report import RENDERER_MODULES, Renderer, renderer_for
from scanner.rules import RulesError, load_rules
from scanner.sources import SourceError
from signatures.commands import SignatureOptions, sign, signature_options, trust, verify
from signatures.errors import SignatureError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
F = TypeVar("F", bound=Callable[..., object])

FAIL_ON_CHOICES = ["info", "low", "medium", "high", "critical", "never"]


class UsageFailure(click.ClickException):
    """A problem with what the user asked for: message on stderr, exit 2."""

    exit_code = EXIT_ERROR


class _Guarded(click.Group):
    """Whatever a command hits, the user gets one line and exit 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise UsageFailure("interrupted") from None
        except Exception as exc:
            if os.environ.get("MODELSCAN_DEBUG"):
                raise
            raise UsageFailure(
                f"internal error ({type(exc).__name__}: {exc}); set MODELSCAN_DEBUG=1 for a traceback"
            ) from None


@click.group(cls=_Guarded, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="modelscan")
def main() -> None:
    """Scan ML models for malicious code, backdoors and supply-chain tampering.

    modelscan parses model files without loading them: pickles (PyTorch, joblib, NumPy),
    safetensors, GGUF, ONNX, Keras, TensorFlow and whole Hugging Face repos.

    \b
    Exit codes: 0 clean at the threshold, 1 findings at or above --fail-on,
                2 the scan could not be done.
    """


def scan_options(func: F) -> F:
    """Options shared by every command that scans."""
    options = [
        click.option(
            "--format",
            "-f",
            "fmt",
            type=click.Choice(sorted(RENDERER_MODULES)),
            default="text",
            show_default=True,
            help="Report format.",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Path(dir_okay=False),
            help="Write the report to this file instead of stdout.",
        ),
        click.option(
            "--fail-on",
            type=click.Choice(FAIL_ON_CHOICES, case_sensitive=False),
            default=None,
            help="Lowest severity that makes the command exit 1 [default: the policy's, medium].",
        ),
        click.option(
            "--policy",
            "policy_file",
            type=click.Path(exists=True, dir_okay=False),
            help="Policy file (YAML): threshold, severity overrides, suppressions.",
        ),
        click.option(
            "--rules",
            "rules_dirs",
            multiple=True,
            type=click.Path(exists=True, file_okay=False),
            help="Extra rules directory (repeatable); adds to the built-in rules.",
        ),
        click.option(
            "--no-progress",
            is_flag=True,
            help="Do not draw the progress bar (it is drawn on stderr only when it is a terminal).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@click.argument("target")
@scan_options
@click.option(
    "--hash",
    "hash_files",
    is_flag=True,
    help="Record each file's SHA-256 in the report (reads every byte of the weights).",
)
@click.option(
    "--sbom",
    "sbom_file",
    type=click.Path(dir_okay=False),
    help="Also write a CycloneDX 1.6 AI-BOM of the scan to this file (implies --hash).",
)
@signature_options
@click.option("--no-cache", is_flag=True, help="hf:// targets: rescan even if the commit's result is cached.")
def scan(
    target: str,
    fmt: str,
    output: str | None,
    fail_on: str | None,
    policy_file: str | None,
    rules_dirs: tuple[str, ...],
    no_progress: bool,
    hash_files: bool,
    sbom_file: str | None,
    signing: SignatureOptions,
    no_cache: bool,
) -> None:
    """Scan TARGET (one model file or folder) without executing anything in it.

    One target per command, so one report, one verdict and one SARIF run per target; scan
    several models with several commands (each exit code then speaks for one model).
    """
    policy = signing.over(load_policy(policy_file, fail_on, rules_dirs, [target]))
    check_writable(output)
    check_writable(sbom_file)
    with handled_errors(), progress_bar(enabled=not no_progress) as on_progress:
        options = ScanOptions(
            policy=policy,
            rules_dirs=rules_dirs,
            hash_files=hash_files or sbom_file is not None,
            signature_file=signing.signature,
            use_cache=not no_cache,
            progress=on_progress,
        )
        report = pipeline.scan(target, options)
    if sbom_file:
        write_bom(report, policy, sbom_file, "cyclonedx", "1.6", xml=False)
    sys.exit(emit(report, policy, fmt, output, rules_dirs))


@main.command()
@click.argument("target", required=False)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["cyclonedx", "spdx"]),
    default="cyclonedx",
    show_default=True,
    help="CycloneDX ML-BOM or SPDX 3.0.1 (AI and Dataset profiles).",
)
@click.option(
    "--spec-version",
    type=click.Choice(["1.6", "1.7"]),
    default="1.6",
    show_default=True,
    help="CycloneDX specification version.",
)
@click.option("--xml", is_flag=True, help="Write CycloneDX as XML instead of JSON.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write the AI-BOM here instead of stdout."
)
@click.option(
    "--check",
    "check_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Score the completeness of an existing AI-BOM (CycloneDX JSON or SPDX 3) instead.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON_CHOICES, case_sensitive=False),
    default=None,
    help="Lowest severity that makes the command exit 1 [default: the policy's, medium].",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Policy file (YAML); its verdict and digest are recorded in the AI-BOM.",
)
@click.option(
    "--rules",
    "rules_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Extra rules directory (repeatable).",
)
@signature_options
def sbom(
    target: str | None,
    fmt: str,
    spec_version: str,
    xml: bool,
    output: str | None,
    check_file: str | None,
    fail_on: str | None,
    policy_file: str | None,
    rules_dirs: tuple[str, ...],
    signing: SignatureOptions,
) -> None:
    """Write an AI-BOM of TARGET: every file with its SHA-256, the model card, findings, signature.

    The BOM is built from the scan alone and is deterministic (SOURCE_DATE_EPOCH pins its
    timestamp). With --check FILE, score an existing AI-BOM's completeness instead.
    """
    if check_file:
        from sbom.completeness import CompletenessError, score_text

        try:
            scored = score_text(Path(check_file).read_text(encoding="utf-8"))
            click.echo(scored.render(), nl=False)  # scan-safe: our completeness score, not a template
        except (CompletenessError, OSError, UnicodeDecodeError) as exc:
            raise UsageFailure(f"cannot score {check_file}: {exc}") from None
        sys.exit(EXIT_OK)
    if not target:
        raise UsageFailure("give a TARGET to describe, or --check FILE to score an existing AI-BOM")
    policy = signing.over(load_policy(policy_file, fail_on, rules_dirs, [target]))
    check_writable(output)
    with handled_errors():
        options = ScanOptions(
            policy=policy, rules_dirs=rules_dirs, hash_files=True, signature_file=signing.signature
        )
        report = pipeline.scan(target, options)
    write_bom(report, policy, output, fmt, spec_version, xml)
    sys.exit(EXIT_OK if policy.judge(report).passed else EXIT_FINDINGS)


def write_bom(
    report: Report, policy: Policy, output: str | None, fmt: str, spec_version: str, xml: bool
) -> None:
    """Render the AI-BOM and write it to ``output`` (stdout when None)."""
    from sbom import SbomError, render_sbom

    try:
        text = render_sbom(report, policy, fmt, spec_version, xml)
        if output:
            Path(output).write_text(text, encoding="utf-8")
        else:
            click.echo(text, nl=False)
    except (SbomError, ValueError) as exc:
        raise UsageFailure(str(exc)) from None
    except OSError as exc:
        raise UsageFailure(f"cannot write {output}: {exc.strerror}") from None


@main.command("rules")
@click.option(
    "--rules",
    "rules_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Extra rules directory (repeatable).",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one rule per line; json: the whole catalog entry per rule.",
)
def list_rules(rules_dirs: tuple[str, ...], fmt: str) -> None:
    """List every rule id with its default severity and meaning."""
    with handled_errors():
        rules = load_rules(rules_dirs)
    ordered = sorted(rules.catalog.values(), key=lambda r: r.id)
    if fmt == "json":
        doc = {
            "rules_version": rules.digest,
            "rules": [
                {
                    "id": r.id,
                    "name": r.name,
                    "severity": r.severity.label,
                    "severities": [s.label for s in r.severities],
                    "summary": r.summary,
                    "help": r.help,
                    "cwe": list(r.cwe),
                    "references": list(r.references),
                }
                for r in ordered
            ],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    for info in ordered:
        click.echo(f"{info.id:<22} {info.severity.label:<9} {info.summary}")


@main.command()
@click.argument("repo")
@click.option("--dest", type=click.Path(file_okay=False), help="Folder to create [default: ./NAME].")
@click.option("--include", multiple=True, help="Only files matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Leave out files matching this glob (repeatable).")
@click.option("--all", "take_all", is_flag=True, help="Also take pickle weights duplicated by safetensors.")
@click.option("--no-cache", is_flag=True, help="Rescan even if this commit's result is cached.")
@scan_options
@signature_options
def pull(
    repo: str,
    dest: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    take_all: bool,
    no_cache: bool,
    fmt: str,
    output: str | None,
    fail_on: str | None,
    policy_file: str | None,
    rules_dirs: tuple[str, ...],
    no_progress: bool,
    signing: SignatureOptions,
) -> None:
    """Scan hub repo REPO (org/name[@revision]) remotely; download it only if it passes.

    The revision is pinned to one commit; every file is checked against the hub's digest and
    rescanned before one atomic move into --dest, with modelscan-report.json beside it.
    """
    from scanner import pull as puller
    from scanner.sources.hf import parse_hub_target

    policy = signing.over(load_policy(policy_file, fail_on, rules_dirs, []))
    check_writable(output)
    with handled_errors():
        ref = parse_hub_target(repo, bare=True)
        options = puller.PullOptions(
            Path(dest or ref.repo_id.split("/")[1]),
            include,
            exclude,
            take_all,
            not no_cache,
            rules_dirs,
            signature_file=signing.signature,
        )
        result = puller.pull(ref, policy, options, lambda line: click.echo(line, err=True))
    emit(result.report, policy, fmt, output)
    for reason in puller.refusal_lines(result, policy):
        click.echo(reason, err=True)
    sys.exit(EXIT_OK if result.passed else EXIT_FINDINGS)


@main.command()
@click.argument("model")
@click.option("--base", help="The declared clean parent model: behaviour it shares is not reported.")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to this file.")
@click.option("--deep", is_flag=True, help="Run the escalation stages whatever the cheap ones find.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option(
    "--budget-seconds",
    default=600.0,
    show_default=True,
    type=click.FloatRange(1, 86400),
    help="Stages that would start after this many seconds are skipped (and said so).",
)
@click.option(
    "--calibration",
    type=click.Path(exists=True, file_okay=False),
    help="Probe results (JSON) of known-clean models of the family: conformal threshold.",
)
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False), help="Policy file.")
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
def probe(
    model: str,
    base: str | None,
    fmt: str,
    output: str | None,
    deep: bool,
    device: str,
    budget_seconds: float,
    calibration: str | None,
    policy_file: str | None,
    no_progress: bool,
) -> None:
    """Probe MODEL's safetensors weights for backdoor triggers (loads weights; never a pickle).

    Verdict: confirmed | suspicious | no-finding (never "clean"); exit 1 on confirmed or suspicious.
    """
    from scanner.probes import ProbeError, ProbeOptions
    from scanner.probes.report import render_text

    policy = load_policy(policy_file, None, (), [])
    check_writable(output)
    options = ProbeOptions(
        base=base,
        deep=deep,
        device=device,
        budget_seconds=budget_seconds,
        calibration=Path(calibration) if calibration else None,
        progress=not no_progress,
    )
    with handled_errors():
        try:
            report = pipeline.scan(model, ScanOptions(policy=policy, static=False, probe=options))
        except ProbeError as exc:
            raise UsageFailure(str(exc)) from None
    if fmt != "text":
        sys.exit(emit(report, policy, fmt, output))
    text = render_text(report)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_OK if policy.judge(report).passed else EXIT_FINDINGS)


def load_policy(
    policy_file: str | None, fail_on: str | None, rules_dirs: Sequence[str], targets: Sequence[str]
) -> Policy:
    """``--policy`` or the ``.modelscan.yaml`` discovered for ``targets`` (validated against
    the schema and the rules' catalog), with ``--fail-on`` over it; a bad policy is exit 2."""
    try:
        policy = resolve_policy(policy_file, targets, load_rules(rules_dirs))
    except (PolicyError, RulesError) as exc:
        raise UsageFailure(str(exc)) from None
    return policy.with_fail_on(parse_fail_on(fail_on)) if fail_on else policy


def check_writable(output: str | None) -> None:
    """Refuse an unwritable ``--output`` before a long scan, not after it."""
    if not output:
        return
    path = Path(output)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageFailure(f"cannot write {output}: it is a folder")
    if not folder.is_dir():
        raise UsageFailure(f"cannot write {output}: folder {folder} does not exist")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise UsageFailure(f"cannot write {output}: permission denied")


def renderer_to(fmt: str, output: str | None, rules_dirs: tuple[str, ...] = ()) -> Renderer:
    """The renderer for ``fmt``; text gets colour only on a terminal and without ``NO_COLOR``;
    SARIF describes the rules of ``--rules`` directories too."""
    renderer = renderer_for(fmt)  # imports only the module of ``fmt`` (rich only for text)
    if fmt == "sarif" and rules_dirs:
        from scanner.report.sarif import SarifRenderer

        assert isinstance(renderer, SarifRenderer)
        return renderer.with_rules(rules_dirs)
    if fmt == "text":
        from scanner.report.text import TextRenderer

        assert isinstance(renderer, TextRenderer)
        to_terminal = output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        width = 100
        if to_terminal:
            import shutil  # only for a terminal: its import costs a non-interactive scan ~2 ms

            width = shutil.get_terminal_size((100, 24)).columns
        renderer = renderer.with_color(to_terminal, width)
    return renderer


def emit(
    report: Report, policy: Policy, fmt: str, output: str | None, rules_dirs: tuple[str, ...] = ()
) -> int:
    """Render ``report``, write it, and return the exit code its verdict calls for."""
    text = renderer_to(fmt, output, rules_dirs).render(report, policy)  # scan-safe: our report renderer
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageFailure(f"cannot write {output}: {exc.strerror}") from None
    else:
        click.echo(text, nl=False)
    return EXIT_OK if policy.judge(report).passed else EXIT_FINDINGS


@contextmanager
def handled_errors() -> Iterator[None]:
    """Known failures become one clear line and exit 2, never a traceback."""
    try:
        yield
    except (SourceError, RulesError, PolicyError, SignatureError) as exc:
        raise UsageFailure(str(exc)) from None
    except KeyboardInterrupt:
        raise UsageFailure("interrupted") from None
    except MemoryError:
        raise UsageFailure("out of memory while scanning") from None
    except click.ClickException:
        raise
    except Exception as exc:  # a bug must still end in a message and exit 2, not a traceback
        if os.environ.get("MODELSCAN_DEBUG"):
            raise
        raise UsageFailure(
            f"internal error ({type(exc).__name__}: {exc}); set MODELSCAN_DEBUG=1 for a traceback"
        ) from None


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[Progress], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    # Bytes, not files, drive the bar: one 10 GB checkpoint and fifty configs are not 51 equal steps.
    with Bar(
        TextColumn("[bold]scanning[/]"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[files]}"),
        TextColumn("{task.description}", markup=False),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None, files="")

        def update(p: Progress) -> None:
            shown = p.path if len(p.path) <= 60 else "…" + p.path[-59:]
            bar.update(
                task,
                description=shown,
                completed=p.bytes_done,
                total=p.bytes_total or None,
                files=f"{p.done}/{p.total} files",
            )

        yield update


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--db", help="SQLite path or sqlite:///URL [env MODELSCAN_DB; default ~/.cache/modelscan].")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False),
    help="API tokens, one per line: TOKEN or sha256:HEX, then scopes (admit,scan,read).",
)
@click.option(
    "--deadline",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.1, 30),
    help="Seconds within which every admission request is answered.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Concurrent scans.")
@click.option(
    "--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate."
)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Private key of --tls-cert.")
@click.option(
    "--client-ca",
    type=click.Path(exists=True, dir_okay=False),
    help="Require client certificates signed by this CA (mTLS, for the Kubernetes API server).",
)
@click.option(
    "--policy", "policy_file", type=click.Path(exists=True, dir_okay=False), help="Policy file (YAML)."
)
@click.option(
    "--rules",
    "rules_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Extra rules directory (repeatable).",
)
def serve(
    host: str,
    port: int,
    db: str | None,
    token_file: str | None,
    deadline: float,
    workers: int,
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
    policy_file: str | None,
    rules_dirs: tuple[str, ...],
) -> None:
    """Run the admission service (HTTP API for MLOps platforms and Kubernetes).

    API tokens come from MODELSCAN_API_TOKENS (comma-separated) or --token-file; webhook
    secrets from MODELSCAN_HF_WEBHOOK_SECRET and MODELSCAN_MLFLOW_WEBHOOK_SECRET.
    """
    from scanner.serve import run as service
    from scanner.serve.auth import TokenFileError
    from scanner.serve.store import StoreError

    if client_ca and not tls_cert:
        raise UsageFailure("--client-ca needs --tls-cert and --tls-key")
    try:
        config = service.build_config(
            load_policy(policy_file, None, rules_dirs, []),
            rules_dirs,
            db,
            token_file,
            deadline,
            workers,
            client_ca,
        )
        if config.tokens.empty:
            raise UsageFailure("no API tokens: set MODELSCAN_API_TOKENS or pass --token-file")
        service.serve(config, host, port, tls_cert, tls_key, client_ca)
    except (TokenFileError, StoreError, PolicyError, RulesError) as exc:
        raise UsageFailure(str(exc)) from None


for _command in (verify, sign, trust):
    main.add_command(_command)


if __name__ == "__main__":
    main()
