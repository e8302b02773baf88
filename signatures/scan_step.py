"""Signature verification as a step of ``scan``: run it when a signature exists or is required.

The result goes into ``Report.signature`` (the policy fails a report whose required signature
did not verify); findings are added for what a security reviewer must see even when no
signature was required: a signature that does not match, one that could not be checked, and
loadable files the signer chose to leave unsigned.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.model import Finding, Report, SignatureResult
from scanner.rules import finding
from signatures.manifest import IGNORED, is_loadable
from signatures.paths import default_signature_path

if TYPE_CHECKING:
    from signatures.verify import Method

SIGNED_FILE_REFERENCE = "https://github.com/ossf/model-signing-spec"


def attach_signature(
    report: Report, target: str, method: Method | None, signature: str | None, required: bool
) -> Report:
    """``report`` with the signature result and its findings, or unchanged when there is nothing to do."""
    model = Path(target)
    if not model.exists():  # a remote target: the hub/pull path verifies its own download
        return report
    sig_path = Path(signature) if signature else default_signature_path(model)
    if not sig_path.is_file() and not required and method is None:
        return report
    from signatures.verify import verify_with_digests  # sigstore is slow to import: only when needed

    known = {a.path: a.sha256 for a in report.artifacts if a.sha256 and a.depth == 0 and "!" not in a.path}
    result, digests = verify_with_digests(model, method, sig_path, known_sha256=known)
    findings = tuple(
        sorted((*report.findings, *signature_findings(result, sig_path.name)), key=Finding.sort_key)
    )
    # The verifier read every signed file; give its sha256 to the report (and so to the AI-BOM)
    # instead of letting a later step read the weights again.
    artifacts = tuple(
        dataclasses.replace(a, sha256=digests[a.path]["sha256"])
        if a.sha256 is None and "sha256" in digests.get(a.path, {})
        else a
        for a in report.artifacts
    )
    return dataclasses.replace(report, signature=result, findings=findings, artifacts=artifacts)


def signature_findings(result: SignatureResult, signature_name: str) -> tuple[Finding, ...]:
    """Findings a signature result implies (see ``rules/catalog/signatures.yaml``)."""
    out: list[Finding] = []
    if result.status == "failed":
        message = f"Signature verification failed: {result.reason}."
        out.append(finding("SIG-FAILED-001", signature_name, message, reference=SIGNED_FILE_REFERENCE))
    elif result.status == "error":
        out.append(
            finding(
                "SIG-UNVERIFIED-001", signature_name, f"The signature could not be checked: {result.reason}."
            )
        )
    for f in result.files:
        if f.status == IGNORED and is_loadable(f.path):
            message = "The signer excluded this loadable file from the signature (ignore_paths)."
            out.append(finding("SIG-IGNORED-001", f.path, message, evidence=f.detail))
    return tuple(out)
