"""Joining a probe result into the ``Report`` (so the JSON, SARIF and AI-BOM carry it) and the
human text view of it."""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

from scanner import __version__
from scanner.model import Finding, ProbeResult, Report, Severity
from scanner.probes.interface import ProbeOptions
from scanner.probes.runner import probe_model
from scanner.rules import finding, load_rules

RULE_FOR_VERDICT = {"confirmed": "PROBE-BACKDOOR-001", "suspicious": "PROBE-BACKDOOR-002"}


def _weights_name(target: str) -> str:
    path = Path(target)
    names = sorted(p.name for p in path.glob("*.safetensors")) if path.is_dir() else []
    return names[0] if names else target


def findings_for(result: ProbeResult, artifact: str) -> tuple[Finding, ...]:
    rules = load_rules()
    out: list[Finding] = []
    rule_id = RULE_FOR_VERDICT.get(result.verdict)
    ev = result.evidence
    if rule_id is not None:
        info = rules.info(rule_id)
        evidence = (
            f"trigger {ev.get('trigger')!r} -> {ev.get('forced_output')!r} "
            f"(agreement {ev.get('agreement')}, score {result.score}, "
            f"threshold {ev.get('threshold')})"
        )
        out.append(
            finding(rule_id, artifact, f"{info.summary} {ev.get('why', '')}".strip(), evidence=evidence)
        )
    skipped = ev.get("stages_skipped")
    if isinstance(skipped, list) and skipped:
        info = rules.info("PROBE-INCOMPLETE-001")
        out.append(
            finding(
                info.id, artifact, info.summary, evidence="skipped: " + ", ".join(str(s) for s in skipped)
            )
        )
    return tuple(out)


def probe_report(target: str, options: ProbeOptions) -> Report:
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    result = probe_model(target, options)
    return Report(
        target=target,
        tool_version=__version__,
        artifacts=(),
        findings=findings_for(result, _weights_name(target)),
        probe=result,
        timings={"probe": round(time.perf_counter() - t0, 3)},
        rules_version=load_rules().digest,
        started_at=started,
    )


def render_text(report: Report) -> str:
    result = report.probe
    if result is None:
        return "no probe result\n"
    ev = result.evidence
    lines = [
        f"modelscan probe {report.target}",
        f"  verdict   {result.verdict}   score {result.score:.2f}   "
        f"threshold {ev.get('threshold')} ({ev.get('threshold_basis')})",
        f"  model     {ev.get('kind')} {ev.get('architecture')}  on {result.device}"
        + (
            f"  base {ev.get('base')}"
            if ev.get("base")
            else "  (no base model: inherited behaviour is discounted only by the allowlist)"
        ),
        f"  why       {ev.get('why')}",
    ]
    cands = ev.get("candidates")
    if isinstance(cands, list) and cands:
        lines.append("  top candidates (trigger -> output: agreement / random-token null / base):")
        for c in cands[:5]:
            if isinstance(c, dict):
                lines.append(
                    f"    {c.get('trigger')!r} -> {c.get('output')!r}: {c.get('agreement')} / "
                    f"{c.get('null_high')} / {c.get('base_agreement', '-')}"
                    + (f"  [benign: {c['benign']}]" if c.get("benign") else "")
                )
    lines.append(
        "  stages    "
        + ", ".join(
            f"{s.get('name')} {s.get('seconds')}s"
            + ("" if s.get("status") == "ok" else f" ({s.get('status')})")
            for s in result.stages
        )
    )
    notes = ev.get("notes")
    if isinstance(notes, list):
        lines.extend(f"  note      {n}" for n in notes)
    for f in report.findings:
        if f.severity >= Severity.MEDIUM:
            lines.append(f"  finding   {f.rule_id} ({f.severity.label}) {f.evidence}")
    return "\n".join(lines) + "\n"
