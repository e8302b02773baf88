"""The ``modelscan`` command line: each command is a few lines over the library API.

Exit codes (every command): 0 nothing at or above the fail-on severity; 1 findings at or
above it (or a failed signature requirement); 2 the command itself could not be done.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click

from scanner import __version__
from scanner.engine import Progress, scan_target
from scanner.model import Report
from scanner.policy import Policy, PolicyError, parse_fail_on
from scanner.report import RENDERER_MODULES, renderer_for
from scanner.rules import RulesError, load_rules
from scanner.sources import SourceError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
F = TypeVar("F", bound=Callable[..., object])

FAIL_ON_CHOICES = ["info", "low", "medium", "high", "critical", "never"]


class UsageFailure(click.ClickException):
    """A problem with what the user asked for: message on stderr, exit 2."""

    exit_code = EXIT_ERROR


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
        click.option("--format", "-f", "fmt", type=click.Choice(sorted(RENDERER_MODULES)), default="text",
                     show_default=True, help="Report format."),
        click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
                     help="Write the report to this file instead of stdout."),
        click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES, case_sensitive=False), default=None,
                     help="Lowest severity that makes the command exit 1 [default: the policy's, medium]."),
        click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False),
                     help="Policy file (YAML): threshold, severity overrides, suppressions."),
        click.option("--rules", "rules_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
                     help="Extra rules directory (repeatable); adds to the built-in rules."),
        click.option("--no-progress", is_flag=True, help="Do not draw a progress bar."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@click.argument("target")
@scan_options
def scan(target: str, fmt: str, output: str | None, fail_on: str | None, policy_file: str | None,
         rules_dirs: tuple[str, ...], no_progress: bool) -> None:
    """Scan TARGET (a model file or folder) without executing anything in it."""
    policy = load_policy(policy_file, fail_on)
    with handled_errors(), progress_bar(enabled=not no_progress) as on_progress:
        report = scan_target(target, rules_dirs=rules_dirs, progress=on_progress)
    sys.exit(emit(report, policy, fmt, output))


@main.command("rules")
@click.option("--rules", "rules_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Extra rules directory (repeatable).")
def list_rules(rules_dirs: tuple[str, ...]) -> None:
    """List every rule id with its default severity and meaning."""
    with handled_errors():
        rules = load_rules(rules_dirs)
    for info in sorted(rules.catalog.values(), key=lambda r: r.id):
        click.echo(f"{info.id:<22} {info.severity.label:<9} {info.summary}")


def load_policy(policy_file: str | None, fail_on: str | None) -> Policy:
    try:
        policy = Policy.from_file(policy_file) if policy_file else Policy.default()
    except (PolicyError, RulesError) as exc:
        raise UsageFailure(str(exc)) from None
    return policy.with_fail_on(parse_fail_on(fail_on)) if fail_on else policy


def emit(report: Report, policy: Policy, fmt: str, output: str | None) -> int:
    """Render ``report``, write it, and return the exit code its verdict calls for."""
    text = renderer_for(fmt).render(report, policy)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageFailure(f"cannot write {output}: {exc.strerror}") from None
    else:
        click.echo(text, nl=False)
    return EXIT_OK if report.verdict(policy).passed else EXIT_FINDINGS


@contextmanager
def handled_errors() -> Iterator[None]:
    """Known failures become one clear line and exit 2, never a traceback."""
    try:
        yield
    except (SourceError, RulesError, PolicyError) as exc:
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
        raise UsageFailure(f"internal error ({type(exc).__name__}: {exc}); "
                           "set MODELSCAN_DEBUG=1 for a traceback") from None


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[Progress], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("[bold]scanning[/] {task.description}"), BarColumn(), DownloadColumn(),
             TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(p: Progress) -> None:
            bar.update(task, description=p.path, completed=p.bytes_done, total=p.bytes_total)

        yield update


if __name__ == "__main__":
    main()
