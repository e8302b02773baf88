"""Reports built directly (no scan), covering what an AI-BOM must carry."""

from __future__ import annotations

from scanner.model import (
    Artifact,
    FileCheck,
    Finding,
    Location,
    ProbeResult,
    Report,
    Severity,
    SignatureResult,
)

REV = "0123456789abcdef0123456789abcdef01234567"
SHA_BIN = "a" * 64
SHA_ST = "b" * 64
SHA_CFG = "c" * 64


def hub_report(
    signature: SignatureResult | None = None,
    probe: ProbeResult | None = None,
    findings: tuple[Finding, ...] | None = None,
) -> Report:
    """A hub model with a pickle checkpoint (a zip with a member), safetensors and a config."""
    default_findings = (
        Finding(
            "PICKLE-EXEC-001",
            Severity.CRITICAL,
            "pytorch_model.bin!archive/data.pkl",
            "The pickle calls posix.system when loaded.",
            Location(offset=42, opcode_index=7),
            evidence="posix.system('true')",
            callable="posix.system",
            reference="CVE-2025-32434",
        ),
        Finding("SCAN-UNKNOWN-001", Severity.MEDIUM, "blob.dat", "The file's bytes match no known format."),
    )
    return Report(
        target=f"hf://acme/tiny-bert@{REV}",
        tool_version="0.1.0",
        artifacts=(
            Artifact("README.md", 120, "text", sha256="d" * 64),
            Artifact("blob.dat", 10, "unknown", sha256="e" * 64),
            Artifact("config.json", 300, "json", sha256=SHA_CFG, expected_sha256=SHA_CFG),
            Artifact("model.safetensors", 4096, "safetensors", sha256=SHA_ST, expected_sha256=SHA_ST),
            Artifact("pytorch_model.bin", 5000, "zip", sha256=SHA_BIN),
            Artifact("pytorch_model.bin!archive/data.pkl", 800, "pickle", depth=1),
        ),
        findings=findings if findings is not None else default_findings,
        facts={
            ".": {
                "architecture": "BertForMaskedLM",
                "model_type": "bert",
                "pipeline_tag": "fill-mask",
                "license": "apache-2.0",
                "datasets": ["wikipedia", "bookcorpus"],
                "base_model": "google/bert-base-uncased",
                "context_length": 512,
                "chat_template_sha256": "f" * 64,
            },
            "model.safetensors": {"parameter_count": 1234567, "dtypes": ["F32"], "tensor_count": 5},
            "pytorch_model.bin!archive/data.pkl": {"protocol": 2},
        },
        revision=REV,
        signature=signature,
        probe=probe,
        rules_version="r1",
        started_at="2026-01-02T03:04:05Z",
    )


def bare_local_report() -> Report:
    """A local folder with nothing declared: no card, no licence, no datasets."""
    return Report(
        target="/models/anon",
        tool_version="0.1.0",
        artifacts=(Artifact("weights.safetensors", 64, "safetensors", sha256=SHA_ST),),
        findings=(),
        started_at="2026-01-02T03:04:05Z",
    )


def verified_signature() -> SignatureResult:
    return SignatureResult(
        status="verified",
        reason="all files match the signed manifest",
        method="sigstore",
        signer="release@acme.example",
        issuer="https://accounts.example.com",
        log_index=123456,
        files=(FileCheck("model.safetensors", "ok"), FileCheck("config.json", "ok")),
    )


def failed_signature() -> SignatureResult:
    return SignatureResult(
        status="failed",
        reason="model.safetensors does not match the signed digest",
        method="sigstore",
        signer="release@acme.example",
        files=(FileCheck("model.safetensors", "mismatch", "digest differs"),),
    )
