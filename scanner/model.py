"""The data types that cross every module boundary.

Everything here is a frozen dataclass (or an enum) and does no I/O: sources produce
``Artifact`` values, analyzers produce ``Finding`` values and facts, the engine joins them
into one ``Report``, and renderers only read it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

#: A fact is plain JSON: what an analyzer learned about an artifact (tensor count, dtypes,
#: architecture, chat template digest, ...). Facts feed the AI-BOM and the JSON report.
FactValue = Union[str, int, float, bool, None, list["FactValue"], dict[str, "FactValue"]]  # noqa: UP007
Facts = Mapping[str, FactValue]


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that ``Severity.HIGH > Severity.MEDIUM``."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse ``"high"`` / ``"HIGH"`` into a severity; raise ``ValueError`` otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None

    @property
    def label(self) -> str:
        """The lower-case name used in every output format."""
        return self.name.lower()


@dataclass(frozen=True)
class Artifact:
    """One file, or one member of a container, as the scan saw it."""

    path: str
    """Logical path: relative to the target; members of containers are joined with ``!``
    (``model.bin!archive/data.pkl``)."""
    size: int
    """Size in bytes (for a compressed member: its decompressed size when known, else -1)."""
    format: str = "unknown"
    """The sniffed format name (``pickle``, ``zip``, ``safetensors``, ...), never from the extension."""
    sha256: str | None = None
    """SHA-256 of the bytes, when something computed or verified it."""
    expected_sha256: str | None = None
    """The digest a hub published for this file (the LFS oid), when known."""
    depth: int = 0
    """Container nesting depth: 0 for a file of the target itself."""


@dataclass(frozen=True)
class Location:
    """Where in an artifact a finding points. Every field is optional."""

    offset: int | None = None
    """Byte offset inside the artifact (for a pickle: of the opcode)."""
    opcode_index: int | None = None
    """Index of the pickle opcode in its stream."""
    stream: int | None = None
    """Index of the pickle stream in the file (files may hold several)."""
    member: str | None = None
    """Container member name, when the finding is about a member."""
    pointer: str | None = None
    """JSON pointer (RFC 6901) into a JSON or YAML document."""
    line: int | None = None
    """1-based line in a text artifact (Python source, templates)."""

    def describe(self, sep: str = " · ") -> str:
        """``member archive/data.pkl · stream 0 · opcode 12 · byte 57`` (only the known parts)."""
        parts: list[str] = []
        if self.member is not None:
            parts.append(f"member {self.member}")
        if self.stream is not None:
            parts.append(f"stream {self.stream}")
        if self.opcode_index is not None:
            parts.append(f"opcode {self.opcode_index}")
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        if self.pointer is not None:
            parts.append(f"at {self.pointer or '/'}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        return sep.join(parts)


@dataclass(frozen=True)
class Finding:
    """One thing the scan found. ``rule_id`` is stable: its meaning never changes."""

    rule_id: str
    """Stable identifier, e.g. ``PICKLE-EXEC-001``; documented in ``rules/catalog/``."""
    severity: Severity
    artifact: str
    """``Artifact.path`` of the artifact the finding is about."""
    message: str
    """One sentence a person understands."""
    location: Location = field(default_factory=Location)
    evidence: str | None = None
    """What proves it, readable: e.g. the resolved call ``posix.system('curl … | sh')``."""
    callable: str | None = None
    """The fully qualified callable involved, when there is one (``posix.system``)."""
    reference: str | None = None
    """A CVE id or URL that explains the technique."""

    def sort_key(self) -> tuple[str, int, int, int, str, str]:
        """Deterministic order: by artifact, then position, then rule."""
        loc = self.location
        return (
            self.artifact,
            loc.stream if loc.stream is not None else -1,
            loc.offset if loc.offset is not None else -1,
            loc.line if loc.line is not None else -1,
            self.rule_id,
            self.evidence or "",
        )


@dataclass(frozen=True)
class FileCheck:
    """How one file fared against a signature's manifest."""

    path: str
    status: str
    """``ok | mismatch | missing | unsigned | ignored-by-signer``."""
    detail: str | None = None


@dataclass(frozen=True)
class SignatureResult:
    """The outcome of verifying a model signature (see ``signatures/``)."""

    status: str
    """``verified | failed | missing | error``."""
    reason: str
    """One sentence saying why."""
    method: str | None = None
    """``sigstore | key | certificate``."""
    signer: str | None = None
    issuer: str | None = None
    log_index: int | None = None
    signed_at: str | None = None
    trust_root_digest: str | None = None
    policy: str | None = None
    files: tuple[FileCheck, ...] = ()
    predicate_type: str | None = None
    """The signed statement's predicate (``https://model_signing/signature/v1.0``)."""
    hash_type: str | None = None
    """``sha256 | blake2b | blake3``: how the signer hashed the files."""
    manifest_digest: str | None = None
    """SHA-256 over the signed file digests: a compact id of exactly what was signed."""
    ignore_paths: tuple[str, ...] = ()
    """Paths the signer excluded from the signature (recorded in the signed statement)."""

    @property
    def verified(self) -> bool:
        return self.status == "verified"


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of the backdoor probes (see ``scanner/probes/``)."""

    verdict: str
    """``confirmed | suspicious | no-finding`` (never "clean")."""
    score: float
    """0–1, higher means more likely backdoored."""
    device: str
    stages: tuple[Mapping[str, FactValue], ...] = ()
    evidence: Mapping[str, FactValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanError:
    """An operational problem that did not stop the scan but limits what it could see."""

    artifact: str | None
    message: str


@dataclass(frozen=True)
class Verdict:
    """What a policy concluded from a report."""

    passed: bool
    fail_on: Severity | None
    """The threshold; ``None`` means the policy never fails on findings."""
    worst: Severity | None
    """The highest severity among the findings, if any."""
    counts: Mapping[str, int]
    """Findings per severity label, after the policy's suppressions and overrides."""
    reasons: tuple[str, ...]
    """Why it failed (empty when it passed)."""


@dataclass(frozen=True)
class Report:
    """Everything one scan produced: one frozen value that every renderer reads."""

    target: str
    tool_version: str
    artifacts: tuple[Artifact, ...]
    findings: tuple[Finding, ...]
    facts: Mapping[str, Facts] = field(default_factory=dict)
    """Facts per artifact path."""
    revision: str | None = None
    """The resolved revision (a commit sha for hub targets)."""
    signature: SignatureResult | None = None
    probe: ProbeResult | None = None
    errors: tuple[ScanError, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds per phase (``scan``, ``verify``, ...)."""
    bytes_read: int = 0
    """Bytes read from the source during the scan (the cost of the scan)."""
    bytes_total: int = 0
    """Total size of the target's files."""
    rules_version: str = ""
    """Digest of the rule set used, so cached results can be invalidated."""
    started_at: str = ""
    """ISO-8601 UTC time the scan started."""
