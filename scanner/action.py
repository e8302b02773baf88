"""What the GitHub Action runs: scan every input, one SARIF run, a job summary, step outputs.

Inputs arrive only through the environment (the action never puts ``${{ inputs.* }}`` inside a
script): ``MS_PATHS`` and ``MS_REPOS`` (whitespace- or newline-separated), ``MS_FAIL_ON``,
``MS_POLICY``, ``MS_SARIF``, ``MS_SBOM``. Outputs: ``verdict`` (pass | fail | error),
``findings`` (at or above fail-on), ``sarif-file``, ``sbom-file``. Exit codes as the CLI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from scanner import __version__, pipeline
from scanner.model import Artifact, Facts, Finding, Report, Severity
from scanner.pipeline import ScanOptions
from scanner.policy import PolicyError, parse_fail_on, resolve_policy
from scanner.report.markdown import summary_markdown
from scanner.report.sarif import SarifRenderer
from scanner.rules import RulesError
from scanner.sources import SourceError
from signatures.errors import SignatureError


def targets_from(env: Mapping[str, str]) -> list[str]:
    paths = env.get("MS_PATHS", "").split()
    repos = [r if r.startswith("hf://") else f"hf://{r}" for r in env.get("MS_REPOS", "").split()]
    return paths + repos


def merge(reports: Sequence[Report]) -> Report:
    """One report over several targets: artifact paths are prefixed with their target, so the
    single SARIF run points at workspace-relative files."""
    if len(reports) == 1:
        return reports[0]
    artifacts: list[Artifact] = []
    findings: list[Finding] = []
    facts: dict[str, Facts] = {}
    for r in reports:
        prefix = _prefix(r.target)
        artifacts += [replace(a, path=prefix + a.path) for a in r.artifacts]
        findings += [replace(f, artifact=prefix + f.artifact) for f in r.findings]
        facts.update({prefix + k: v for k, v in r.facts.items()})
    first = reports[0]
    return replace(
        first,
        target=".",
        artifacts=tuple(artifacts),
        findings=tuple(sorted(findings, key=Finding.sort_key)),
        facts=facts,
        revision=None,
        bytes_read=sum(r.bytes_read for r in reports),
        bytes_total=sum(r.bytes_total for r in reports),
    )


def _prefix(target: str) -> str:
    """The workspace-relative folder an artifact path of ``target`` is relative to."""
    if "://" in target:
        return target.rstrip("/") + "/"
    path = Path(target)
    folder = (path if path.is_dir() else path.parent).as_posix()
    return "" if folder in (".", "") else folder.rstrip("/") + "/"


def run(env: Mapping[str, str]) -> int:
    outputs: dict[str, str] = {}
    try:
        targets = targets_from(env)
        if not targets:
            raise ValueError("give at least one of the 'paths' or 'repos' inputs")
        policy = resolve_policy(env.get("MS_POLICY") or None, targets)
        if env.get("MS_FAIL_ON"):
            policy = policy.with_fail_on(parse_fail_on(env["MS_FAIL_ON"]))
        options = ScanOptions(policy=policy, hash_files=bool(env.get("MS_SBOM")))
        reports = [pipeline.scan(t, options) for t in targets]
    except (SourceError, PolicyError, RulesError, SignatureError, ValueError) as exc:
        print(f"modelscan: {exc}", file=sys.stderr)
        _write_outputs(env, {"verdict": "error", "findings": "0"})
        _append(env.get("GITHUB_STEP_SUMMARY"), f"## modelscan: ⚠️ could not scan\n\n{exc}\n")
        return 2
    report = merge(reports)
    # each target is judged on its own (its signature is its own); the merged report only
    # carries them into one SARIF run and one summary
    passed = all(policy.judge(r).passed for r in reports)
    verdict = policy.judge(report)
    links: dict[str, str] = {}
    sarif_path = env.get("MS_SARIF", "modelscan.sarif")
    if sarif_path:
        sarif = SarifRenderer().render(report, policy)  # scan-safe: our SARIF renderer
        Path(sarif_path).write_text(sarif, encoding="utf-8")
        outputs["sarif-file"] = sarif_path
        links["SARIF"] = sarif_path
    if env.get("MS_SBOM"):
        from sbom.cyclonedx import render_cyclonedx

        Path(env["MS_SBOM"]).write_text(render_cyclonedx(report, policy), encoding="utf-8")
        outputs["sbom-file"] = env["MS_SBOM"]
        links["AI-BOM (CycloneDX)"] = env["MS_SBOM"]
    at_threshold = 0
    if verdict.fail_on is not None:
        at_threshold = sum(n for label, n in verdict.counts.items() if _rank(label) >= verdict.fail_on)
    outputs.update(verdict="pass" if passed else "fail", findings=str(at_threshold))
    _write_outputs(env, outputs)
    _append(env.get("GITHUB_STEP_SUMMARY"), summary_markdown(report, policy, links))
    print(
        f"modelscan {__version__}: {outputs['verdict']} ({at_threshold} finding(s) at or above the threshold)"
    )
    return 0 if passed else 1


def _rank(label: str) -> Severity:
    return Severity.parse(label)


def _write_outputs(env: Mapping[str, str], outputs: Mapping[str, str]) -> None:
    _append(env.get("GITHUB_OUTPUT"), "".join(f"{k}={v}\n" for k, v in outputs.items()))


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def main() -> None:
    sys.exit(run(os.environ))


if __name__ == "__main__":
    main()
