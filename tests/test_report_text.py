"""The terminal report: a person must see what was found, the proof, where, and the verdict."""

from __future__ import annotations

from scanner.model import Severity
from scanner.policy import Policy, Suppression
from scanner.report.text import TextRenderer, safe_text
from tests.test_report_samples import EVIDENCE, clean_report, full_report, sample_report


def render(report: object = None, policy: Policy | None = None, color: bool = False) -> str:
    return TextRenderer(color=color).render(report or sample_report(), policy or Policy())  # type: ignore[arg-type]


def test_findings_are_grouped_under_their_artifact_with_evidence_and_location() -> None:
    text = render()
    _, _, rest = text.partition("pytorch_model.bin!archive/data.pkl\n")
    assert rest, text
    first_group = rest.split("\n\n")[0]
    assert "CRITICAL" in first_group and "PICKLE-EXEC-001" in first_group
    assert EVIDENCE in first_group
    assert "member archive/data.pkl · stream 0 · opcode 12 · byte 57" in first_group
    assert "CVE-2025-0000" in first_group
    assert "line 3" in text and "at /chat_template" in text


def test_summary_table_counts_findings_per_severity() -> None:
    text = render()
    rows = [line.split() for line in text.splitlines()]
    assert ["critical", "1", "PICKLE-EXEC-001"] in rows
    assert ["medium", "2", "SCAN-ERROR-001,", "SCAN-UNKNOWN-001"] in rows


def test_verdict_line_says_fail_and_why() -> None:
    last = render().rstrip().splitlines()[-1]
    assert last.startswith("FAIL") and "3 finding(s) at or above medium" in last


def test_verdict_line_follows_the_threshold_and_says_pass_when_clean() -> None:
    last = render(policy=Policy(fail_on=Severity.CRITICAL)).rstrip().splitlines()[-1]
    assert last == "FAIL  1 finding(s) at or above critical (fail-on: critical)"
    last = render(clean_report()).rstrip().splitlines()[-1]
    assert last == "PASS  no findings at or above medium"


def test_plain_text_has_no_escape_sequences_and_colour_mode_has_them() -> None:
    assert "\x1b[" not in render()
    assert "\x1b[" in render(color=True)


def test_terminal_escapes_in_evidence_are_shown_not_interpreted() -> None:
    # A pickle could carry "\x1b[2K\x1b[1A" to erase its own finding from the terminal.
    hostile = sample_report()
    from dataclasses import replace

    f = replace(hostile.findings[0], evidence="posix.system('x')\x1b[2K\x1b[1A\rclean")
    text = render(replace(hostile, findings=(f,)), color=True)
    assert "\x1b[2K" not in text and "\r" not in text
    assert "\\x1b[2K\\x1b[1A\\x0dclean" in text


def test_rich_markup_in_scanned_strings_is_printed_literally() -> None:
    from dataclasses import replace

    r = sample_report()
    f = replace(r.findings[0], evidence="[/][bold green]PASS[/]", artifact="[red]x[/red].bin")
    text = render(replace(r, findings=(f,)))
    assert "[/][bold green]PASS[/]" in text and "[red]x[/red].bin" in text


def test_suppressed_findings_are_not_counted_but_are_mentioned() -> None:
    policy = Policy(suppressions=(Suppression("SCAN-*", "vendor blob, reviewed"),))
    text = render(policy=policy)
    assert "SCAN-UNKNOWN-001  The file's bytes" not in text
    assert "2 finding(s) suppressed by policy" in text
    assert "1 finding(s) at or above medium" in text.splitlines()[-1]


def test_severity_override_is_what_the_report_shows() -> None:
    policy = Policy(severity_overrides={"PICKLE-EXEC-001": Severity.LOW})
    text = render(policy=policy)
    assert "LOW      PICKLE-EXEC-001" in text


def test_very_long_evidence_is_cut_with_a_count() -> None:
    assert safe_text("a" * 700, 600).endswith("… (100 more characters)")


def test_signature_and_probe_results_are_shown() -> None:
    text = render(full_report())
    expected = "signature: verified (sigstore, signer ci@example.invalid) — signed by the expected identity"
    assert expected in text
    assert "backdoor probe: no-finding (score 0.02 on cpu)" in text
    assert "error: extra/blob.dat: read timed out" in text


def test_failed_signature_lists_the_files_that_did_not_match() -> None:
    from dataclasses import replace

    from scanner.model import FileCheck, SignatureResult

    sig = SignatureResult(
        "failed",
        "1 file does not match the manifest",
        files=(FileCheck("model.safetensors", "mismatch", "sha256 differs"), FileCheck("config.json", "ok")),
    )
    text = render(replace(sample_report(), signature=sig))
    assert "signature: failed — 1 file does not match the manifest" in text
    assert "mismatch: model.safetensors: sha256 differs" in text and "ok: config.json" not in text


def test_a_storm_of_findings_is_cut_per_artifact_keeping_the_worst() -> None:
    from dataclasses import replace

    from scanner.model import Finding, Location

    noise = tuple(
        Finding("SCAN-LIMIT-001", Severity.LOW, "big.pkl", f"noise {i}", Location(offset=i))
        for i in range(120)
    )
    worst = Finding(
        "PICKLE-EXEC-001",
        Severity.CRITICAL,
        "big.pkl",
        "runs a command",
        Location(offset=999),
        evidence=EVIDENCE,
    )
    text = render(replace(sample_report(), findings=(*noise, worst)))
    assert EVIDENCE in text
    assert "… 71 more finding(s) here (worst: low); --format json lists all" in text
    assert text.count("noise ") == 49
