"""AI-BOM of a scan: CycloneDX ML-BOM (1.6, 1.7; JSON or XML) and SPDX 3.0.1 AI.

Built only from a ``Report`` (run the scan with ``hash_files=True`` so that files carry their
SHA-256), never by reading model files again. Output is deterministic: the same report gives
byte-identical documents (set ``SOURCE_DATE_EPOCH`` to pin the timestamp across scans).
"""

from __future__ import annotations

from pathlib import Path

from scanner.model import Report
from scanner.policy import Policy

FORMATS = ("cyclonedx", "spdx")
CYCLONEDX_VERSIONS = ("1.6", "1.7")


class SbomError(ValueError):
    """The AI-BOM cannot be written as asked (bad option combination, unwritable file)."""


def render_sbom(
    report: Report,
    policy: Policy | None = None,
    fmt: str = "cyclonedx",
    spec_version: str = "1.6",
    xml: bool = False,
) -> str:
    """The AI-BOM of ``report`` as text in the chosen format."""
    if fmt == "cyclonedx":
        if spec_version not in CYCLONEDX_VERSIONS:
            raise SbomError(
                f"CycloneDX version must be one of {', '.join(CYCLONEDX_VERSIONS)}, not {spec_version}"
            )
        from sbom.cyclonedx import render_cyclonedx

        return render_cyclonedx(report, policy, spec_version=spec_version, xml=xml)
    if fmt == "spdx":
        if xml:
            raise SbomError("SPDX 3 is written as JSON-LD only; --xml applies to CycloneDX")
        from sbom.spdx import render_spdx

        return render_spdx(report, policy)
    raise SbomError(f"unknown AI-BOM format {fmt!r} (expected one of: {', '.join(FORMATS)})")


def write_sbom(
    report: Report,
    path: str | Path,
    policy: Policy | None = None,
    fmt: str = "cyclonedx",
    spec_version: str = "1.6",
    xml: bool = False,
) -> Path:
    """Write the AI-BOM to ``path`` (e.g. beside a pulled model) and return the path."""
    text = render_sbom(report, policy, fmt, spec_version, xml)
    target = Path(path)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SbomError(f"cannot write {target}: {exc.strerror}") from None
    return target


__all__ = ["CYCLONEDX_VERSIONS", "FORMATS", "SbomError", "render_sbom", "write_sbom"]
