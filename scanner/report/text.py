"""Human report for terminals: a summary table, findings grouped by artifact, a verdict line.

Colour only when asked for (the CLI asks when stdout is a terminal and ``NO_COLOR`` is unset);
otherwise plain text that diffs and greps well. Everything that came out of a scanned file
(evidence, member names, messages quoting it) is printed through ``safe_text`` and as
``rich.text.Text``, never as markup: a malicious pickle must not be able to inject terminal
escapes that hide a finding, nor rich markup that restyles the report.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich.console import Console
from rich.text import Text

from scanner.model import Finding, Report, Severity
from scanner.policy import Policy
from scanner.report.interface import Renderer

SEVERITY_STYLE: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}

#: Evidence longer than this is cut in the terminal view (the JSON report keeps all of it).
MAX_EVIDENCE_CHARS = 600
#: Findings shown per artifact; the rest are counted (a storm must not bury the verdict).
MAX_FINDINGS_PER_ARTIFACT = 50


def safe_text(value: str, limit: int | None = None) -> str:
    """``value`` with control characters escaped (``\\x1b`` stays visible, never interpreted)."""
    out = value if value.isprintable() else "".join(ch if ch.isprintable() else _escape(ch) for ch in value)
    if limit is not None and len(out) > limit:
        out = out[:limit] + f"… ({len(out) - limit} more characters)"
    return out


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


class TextRenderer(Renderer):
    """Rich text; ``color=False`` (the default) gives plain text with no escape sequences."""

    name = "text"

    def __init__(self, color: bool = False, width: int = 100) -> None:
        self.color = color
        self.width = width

    def with_color(self, color: bool, width: int | None = None) -> TextRenderer:
        return TextRenderer(color=color, width=width or self.width)

    def render(self, report: Report, policy: Policy) -> str:
        buf = io.StringIO()
        console = Console(
            file=buf,
            force_terminal=self.color,
            no_color=not self.color,
            color_system="standard" if self.color else None,
            width=self.width,
            highlight=False,
            emoji=False,
            soft_wrap=not self.color,
        )
        self._header(console, report)
        counted, suppressed = _split(report.findings, policy)
        self._summary(console, report, counted, policy)
        self._findings(console, counted)
        if suppressed:
            console.print(
                Text(
                    f"{len(suppressed)} finding(s) suppressed by policy {policy.source}: "
                    + ", ".join(sorted({f.rule_id for f in suppressed})),
                    style="dim",
                )
            )
        self._signature_and_probe(console, report)
        for err in report.errors:
            where = f"{safe_text(err.artifact)}: " if err.artifact else ""
            console.print(Text(f"error: {where}{safe_text(err.message)}", style="red"))
        self._verdict(console, report, policy)
        return buf.getvalue()

    @staticmethod
    def _header(console: Console, report: Report) -> None:
        title = Text("modelscan ", style="bold")
        title.append(report.tool_version)
        title.append(" · ")
        title.append(safe_text(report.target), style="bold")
        if report.revision:
            title.append(f" @ {safe_text(report.revision)}")
        console.print(title)
        scanned = (
            f"{len(report.artifacts)} artifact(s), {_human_bytes(report.bytes_total)}; "
            f"read {_human_bytes(report.bytes_read)}"
        )
        seconds = report.timings.get("scan")
        if seconds is not None:
            scanned += f" in {seconds:.2f} s"
        console.print(Text(scanned, style="dim"))

    @staticmethod
    def _summary(console: Console, report: Report, counted: list[Finding], policy: Policy) -> None:
        if not counted:
            return
        from rich.table import Table  # a clean report has no table: its import is skipped

        table = Table(title=None, show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("severity")
        table.add_column("findings", justify="right")
        table.add_column("rules")
        for sev in sorted(Severity, reverse=True):
            of_sev = [f for f in counted if f.severity == sev]
            if not of_sev:
                continue
            rules = ", ".join(sorted({f.rule_id for f in of_sev}))
            table.add_row(Text(sev.label, style=SEVERITY_STYLE[sev]), str(len(of_sev)), Text(rules))
        console.print()
        console.print(table)

    @staticmethod
    def _findings(console: Console, counted: list[Finding]) -> None:
        by_artifact: dict[str, list[Finding]] = {}
        for f in counted:
            by_artifact.setdefault(f.artifact, []).append(f)
        for artifact, findings in by_artifact.items():
            # One print per artifact: rich's per-call cost dominates on reports with many findings.
            lines = [Text(""), Text(safe_text(artifact), style="bold underline")]
            # Worst first, so the cut never hides the finding that matters.
            ordered = sorted(findings, key=lambda f: -f.severity)
            for f in ordered[:MAX_FINDINGS_PER_ARTIFACT]:
                line = Text("  ")
                line.append(f"{f.severity.label.upper():<8}", style=SEVERITY_STYLE[f.severity])
                line.append(f" {f.rule_id}  ", style="bold")
                line.append(safe_text(f.message))
                lines.append(line)
                if f.evidence:
                    lines.append(_detail("evidence", safe_text(f.evidence, MAX_EVIDENCE_CHARS), "bold"))
                where = f.location.describe()
                if where:
                    lines.append(_detail("where", safe_text(where)))
                if f.reference:
                    lines.append(_detail("see", safe_text(f.reference), "dim"))
            hidden = ordered[MAX_FINDINGS_PER_ARTIFACT:]
            if hidden:
                worst = max(f.severity for f in hidden).label
                lines.append(
                    Text(
                        f"  … {len(hidden)} more finding(s) here (worst: {worst}); --format json lists all",
                        style="dim",
                    )
                )
            console.print(Text("\n").join(lines))

    @staticmethod
    def _signature_and_probe(console: Console, report: Report) -> None:
        sig = report.signature
        if sig is not None:
            line = Text("signature: ", style="bold")
            line.append(sig.status, style="green" if sig.verified else "red")
            details = [
                x
                for x in (
                    sig.method,
                    f"signer {sig.signer}" if sig.signer else None,
                    f"issuer {sig.issuer}" if sig.issuer else None,
                )
                if x
            ]
            if details:
                line.append(" (" + safe_text(", ".join(details)) + ")")
            line.append(" — " + safe_text(sig.reason))
            console.print()
            console.print(line)
            for check in sig.files:
                if check.status != "ok":
                    detail = f": {check.detail}" if check.detail else ""
                    console.print(_detail(check.status, safe_text(check.path + detail)))
        probe = report.probe
        if probe is not None:
            line = Text("backdoor probe: ", style="bold")
            line.append(probe.verdict, style="green" if probe.verdict == "no-finding" else "red")
            line.append(f" (score {probe.score:.2f} on {safe_text(probe.device)})")
            console.print()
            console.print(line)

    @staticmethod
    def _verdict(console: Console, report: Report, policy: Policy) -> None:
        verdict = policy.judge(report)
        threshold = verdict.fail_on.label if verdict.fail_on is not None else "never"
        console.print()
        if policy.origin != "built-in":
            how = "found from the working directory" if policy.origin == "discovered" else "given"
            console.print(Text(f"policy: {safe_text(policy.source)} ({how})", style="dim"))
        if verdict.passed:
            total = sum(verdict.counts.values())
            below = f" ({total} below the threshold)" if total else ""
            line = Text("PASS", style="bold green")
            line.append(f"  no findings at or above {threshold}{below}")
        else:
            line = Text("FAIL", style="bold white on red")
            line.append("  " + "; ".join(verdict.reasons) + f" (fail-on: {threshold})")
        console.print(line)


def _detail(label: str, value: str, style: str = "") -> Text:
    text = Text(f"           {label}: ", style="dim")
    text.append(value, style=style)
    return text


def _split(findings: Iterable[Finding], policy: Policy) -> tuple[list[Finding], list[Finding]]:
    """Findings as the policy counts them (overrides applied), and the suppressed ones."""
    counted: list[Finding] = []
    suppressed: list[Finding] = []
    for f in findings:
        effective = policy.effective(f)
        if effective is None:
            suppressed.append(f)
        else:
            counted.append(effective)
    return counted, suppressed


RENDERER = TextRenderer()
