"""Markdown for GitHub job summaries and PR comments: verdict, a table of findings, links.

GitHub aborts a step summary over 1 MiB, so the table is capped and says what it left out.
"""

from __future__ import annotations

from scanner.model import Finding, Report, Severity
from scanner.policy import Policy
from scanner.report.interface import Renderer

MAX_ROWS = 200
MAX_BYTES = 900 * 1024

_ICON = {
    Severity.CRITICAL: "🔴 critical",
    Severity.HIGH: "🟠 high",
    Severity.MEDIUM: "🟡 medium",
    Severity.LOW: "🔵 low",
    Severity.INFO: "⚪ info",
}


def cell(text: str, limit: int = 200) -> str:
    """Text made safe for one Markdown table cell (no pipes, newlines or raw HTML)."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("`", "'")


def summary_markdown(report: Report, policy: Policy, links: dict[str, str] | None = None) -> str:
    verdict = policy.judge(report)
    status = "✅ passed" if verdict.passed else "❌ failed"
    threshold = verdict.fail_on.label if verdict.fail_on is not None else "never"
    lines = [
        f"## modelscan: {status}",
        "",
        f"Target `{cell(report.target)}`"
        + (f" at `{report.revision}`" if report.revision else "")
        + f" · {len(report.artifacts)} artifacts · fail-on **{threshold}**",
        "",
    ]
    lines += [f"- {cell(r, 500)}" for r in verdict.reasons]
    counts = " · ".join(f"{label}: {n}" for label, n in verdict.counts.items() if n)
    lines += ["", f"Findings: {counts or 'none'}", ""]
    counted = [f for f in (policy.effective(x) for x in report.findings) if f is not None]
    counted.sort(key=lambda f: (-f.severity, f.sort_key()))
    if counted:
        lines += ["| severity | rule | artifact | finding | evidence |", "|---|---|---|---|---|"]
        for f in counted[:MAX_ROWS]:
            lines.append(_row(f))
        if len(counted) > MAX_ROWS:
            lines.append(f"\n{len(counted) - MAX_ROWS} more findings are in the SARIF and JSON reports.")
    if links:
        lines += ["", *(f"- {name}: `{cell(value)}`" for name, value in links.items())]
    text = "\n".join(lines) + "\n"
    if len(text.encode()) > MAX_BYTES:
        text = text.encode()[:MAX_BYTES].decode(errors="ignore") + "\n\n(summary truncated)\n"
    return text


def _row(f: Finding) -> str:
    evidence = f"`{cell(f.evidence, 160)}`" if f.evidence else ""
    return (
        f"| {_ICON[f.severity]} | {f.rule_id} | `{cell(f.artifact, 120)}` | {cell(f.message)} | {evidence} |"
    )


class MarkdownRenderer(Renderer):
    name = "markdown"

    def render(self, report: Report, policy: Policy) -> str:
        return summary_markdown(report, policy)


RENDERER = MarkdownRenderer()
