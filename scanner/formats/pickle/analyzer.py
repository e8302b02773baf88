"""The pickle analyzer: every stream of a file, under the loader that will read it.

A file may hold several pickle streams (legacy PyTorch writes five, then raw storages), bytes
after the last STOP, a stream that breaks mid-way, a FRAME trick that reads differently under
``pickle.loads`` and ``torch.load``, joblib's inline arrays, and pickles nested in byte strings.
Each of these is scanned, and each anomaly is itself a finding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from scanner import rules
from scanner.detect import SNIFF_BYTES, sniff_bytes
from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.formats.pickle import joblib
from scanner.formats.pickle.policy import CallablePolicy
from scanner.formats.pickle.reader import StreamReader
from scanner.formats.pickle.recorder import StreamRecorder
from scanner.formats.pickle.values import Seq
from scanner.formats.pickle.vm import Machine, run_stream
from scanner.model import Artifact, FactValue, Finding, Location, Severity
from scanner.sources.interface import Blob, BytesBlob, Node

#: ``torch.serialization.MAGIC_NUMBER``: the first pickle of a legacy (non-zip) torch file.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_STREAMS = 5
MAX_STREAMS = 64
MAX_NESTED_DEPTH = 3
PROFILE_SNIFF = 1 << 20

_END_RULES = {
    "truncated": (
        "PICKLE-TRUNCATED-001",
        "The pickle stream is cut off ({why}); every opcode before "
        "the break runs when it is loaded, so the file is not clean.",
    ),
    "error": (
        "PICKLE-MALFORMED-001",
        "The real loader raises at this point ({why}); everything before it has already run.",
    ),
    "limit": (
        "PICKLE-LIMIT-001",
        "A scan budget was reached ({why}); the rest of the stream was not inspected.",
    ),
}


@dataclass
class ScanState:
    """What one file's scan accumulates across its streams."""

    findings: list[Finding] = field(default_factory=list)
    callables: dict[str, None] = field(default_factory=dict)
    opcodes: int = 0
    streams: int = 0
    protocol: int = 0
    tensors: int = 0
    dtypes: set[str] = field(default_factory=set)
    children: list[tuple[int, Blob, str]] = field(default_factory=list)
    """Embedded non-pickle payloads handed to loads-like callables (offset, bytes, callable)."""


def choose_profile(hint: str | None, head: bytes) -> str:
    """The loader profile: from the container's hint, else from what the content names."""
    if hint in ("torch", "joblib", "numpy"):
        return hint
    # scikit-learn models are as often saved with plain pickle.dump as with joblib.dump; the
    # loader semantics are the same, so the sklearn profile applies (its allowlist holds
    # estimator classes only, never callables).
    if b"NumpyArrayWrapper" in head or b"joblib.numpy_pickle" in head or b"sklearn." in head:
        return "joblib"
    if b"torch._utils" in head or head.startswith(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."):
        return "torch"
    return "pickle"


def _scan_one(
    blob: Blob,
    start: int,
    artifact: str,
    policy: CallablePolicy,
    profile: str,
    index: int,
    ext: dict[int, tuple[str, str]],
    max_opcodes: int,
    discard: bool,
) -> tuple[StreamRecorder, StreamReader, Machine, str, str | None]:
    reader = StreamReader(blob, start, discard_frame_rest=discard)
    rec = StreamRecorder(policy, profile, artifact, index, ext)
    if profile == "joblib":
        rec.build_hook = joblib.build_hook(rec, max_opcodes, ext)
    machine, end, why = run_stream(reader, rec, max_opcodes, ext)
    return rec, reader, machine, end, why


def scan_pickle(
    blob: Blob, artifact: str, policy: CallablePolicy, hint: str | None, max_opcodes: int, depth: int = 0
) -> tuple[ScanState, str]:
    """Scan every stream of ``blob``; return the accumulated state and the profile used."""
    state = ScanState()
    profile = choose_profile(hint, blob.head(PROFILE_SNIFF))
    ext: dict[int, tuple[str, str]] = {}
    pos = 0
    legacy = False
    storages: dict[str, int] = {}
    while pos < blob.size:
        index = state.streams
        if index >= MAX_STREAMS:
            state.findings.append(
                rules.finding(
                    "PICKLE-LIMIT-001",
                    artifact,
                    f"More than {MAX_STREAMS} pickle streams; the rest were not scanned.",
                    location=Location(offset=pos, stream=index),
                )
            )
            break
        rec, reader, machine, end, why = _scan_one(
            blob, pos, artifact, policy, profile, index, ext, max_opcodes, discard=False
        )
        found = rec.judge()
        if reader.straddles:
            # The C unpickler over a non-peeking file (torch.load's BytesIO) drops the rest of
            # a frame when an opcode straddles its end: scan that reading too.
            alt, _r, alt_machine, alt_end, alt_why = _scan_one(
                blob, pos, artifact, policy, profile, index, dict(ext), max_opcodes, discard=True
            )
            found.append(
                rules.finding(
                    "PICKLE-FRAME-001",
                    artifact,
                    "An opcode straddles a FRAME boundary, so pickle.loads and torch.load "
                    "read different opcodes from this stream (cpython#154848); both "
                    "readings were scanned.",
                    location=Location(offset=pos, stream=index),
                )
            )
            found.extend(alt.judge())
            if alt_end != "stop":
                found.append(_end_finding(artifact, alt_end, alt_why, alt_machine, index, "torch.load: "))
            state.opcodes += alt_machine.count
            _absorb_rec(state, alt)
        first_trailing = index > 0 and not legacy
        complete = end == "stop"
        if first_trailing and not complete:
            # Not a whole stream: garbage to pickle.load, but whatever parses before the break
            # still runs for a reader that goes on reading, so its findings are kept.
            state.findings.append(
                rules.finding(
                    "PICKLE-TRAILING-001",
                    artifact,
                    "Bytes follow the pickle's STOP that are not a complete pickle "
                    "stream: data a loader ignores, or a payload for another reader.",
                    location=Location(offset=pos, stream=index),
                    evidence=f"first bytes: {blob.read_at(pos, 16).hex()}",
                )
            )
            if machine.count > 1:
                state.findings.extend(found)
            break
        state.findings.extend(found)
        state.streams += 1
        state.opcodes += machine.count
        state.protocol = max(state.protocol, machine.proto)
        _absorb_rec(state, rec)
        storages.update(rec.facts.storages)
        state.findings.extend(_nested(blob, rec, policy, max_opcodes, depth, artifact, state))
        if first_trailing:
            state.findings.append(
                rules.finding(
                    "PICKLE-STREAM-001",
                    artifact,
                    "The file holds another pickle stream after the first STOP; a loader that reads on "
                    "runs it, and scanners that stop at the first STOP miss it.",
                    location=Location(offset=pos, stream=index),
                )
            )
        if not complete:
            state.findings.append(_end_finding(artifact, end, why, machine, index, ""))
            break
        pos = reader.pos
        if index == 0 and machine.result == TORCH_LEGACY_MAGIC:
            legacy = True
            profile = "torch"
        if legacy and state.streams == TORCH_LEGACY_STREAMS:
            bad = _check_storage_tail(blob, pos, storages, machine.result)
            if bad:
                state.findings.append(
                    rules.finding(
                        "PICKLE-TORCH-001",
                        artifact,
                        f"The raw storage data after a legacy PyTorch file's pickles "
                        f"does not match their storage table ({bad}).",
                        location=Location(offset=pos, stream=index),
                    )
                )
            break
    if (
        legacy
        and state.streams < TORCH_LEGACY_STREAMS
        and not any(
            f.rule_id in ("PICKLE-TRUNCATED-001", "PICKLE-MALFORMED-001", "PICKLE-LIMIT-001")
            for f in state.findings
        )
    ):
        state.findings.append(
            rules.finding(
                "PICKLE-TORCH-001",
                artifact,
                f"A legacy PyTorch file has {state.streams} pickle streams "
                f"instead of {TORCH_LEGACY_STREAMS}.",
                location=Location(offset=pos),
            )
        )
    return state, profile


def _absorb_rec(state: ScanState, rec: StreamRecorder) -> None:
    for name in rec.uses:
        if len(state.callables) < 200:
            state.callables.setdefault(name, None)
    state.tensors += rec.facts.tensors
    state.dtypes |= rec.facts.dtypes


def _end_finding(
    artifact: str, end: str, why: str | None, machine: Machine, index: int, prefix: str
) -> Finding:
    rule, text = _END_RULES[end]
    return rules.finding(
        rule,
        artifact,
        prefix + text.format(why=why),
        location=Location(offset=machine.op_offset, opcode_index=machine.op_index, stream=index),
    )


def _check_storage_tail(blob: Blob, pos: int, storages: dict[str, int], keys: object) -> str | None:
    """Walk the ``int64 numel`` + raw bytes records torch's legacy loader reads, per storage key."""
    expected = keys.count if isinstance(keys, Seq) else None
    if expected is not None and expected != len(storages):
        return f"{expected} storage keys, {len(storages)} storages referenced"
    for key in sorted(storages):
        size = storages[key]
        head = blob.read_at(pos, 8)
        if len(head) < 8 or size <= 0:
            return f"storage {key!r} cannot be located"
        (numel,) = struct.unpack("<q", head)
        pos += 8 + numel * size
        if numel < 0 or pos > blob.size:
            return f"storage {key!r} runs past the end of the file"
    if pos != blob.size:
        return f"{blob.size - pos} unexplained bytes after the last storage"
    return None


def _nested(
    blob: Blob,
    rec: StreamRecorder,
    policy: CallablePolicy,
    max_opcodes: int,
    depth: int,
    artifact: str,
    outer: ScanState,
) -> list[Finding]:
    out: list[Finding] = []
    for offset, data, func, allowed in rec.nested:
        loc = Location(offset=offset, stream=rec.stream)
        if depth >= MAX_NESTED_DEPTH:
            out.append(
                rules.finding(
                    "PICKLE-LIMIT-001",
                    artifact,
                    "Pickles nested deeper than the scan follows; the innermost was not scanned.",
                    location=loc,
                )
            )
            continue
        inner = BytesBlob(data) if isinstance(data, bytes) else blob.window(*data)
        if sniff_bytes(inner.head(SNIFF_BYTES)) != "pickle":
            # A zip (torch.save's current format) or another container: the engine scans it
            # as a member of this file, with the loader that reads it.
            outer.children.append((offset, inner, func))
            continue
        state, _profile = scan_pickle(inner, artifact, policy, None, max_opcodes, depth + 1)
        if allowed and not state.findings:
            continue  # an allowlisted loader (torch's _load_from_bytes) of a clean pickle
        worst = max((f.severity for f in state.findings), default=Severity.HIGH)
        names = ", ".join(list(state.callables)[:8]) or "nothing"
        out.append(
            rules.finding(
                "PICKLE-NESTED-001",
                artifact,
                f"The pickle deserializes a pickle embedded in a byte string with {func}; "
                f"the embedded pickle reaches: {names}.",
                severity=max(worst, Severity.HIGH),
                location=loc,
                evidence=f"{func}(<{inner.size} bytes>)",
                callable=func,
            )
        )
        for f in state.findings:
            out.append(
                rules.finding(
                    f.rule_id,
                    artifact,
                    f"In a pickle nested at offset {offset}: {f.message}",
                    severity=f.severity,
                    location=loc,
                    evidence=f.evidence,
                    callable=f.callable,
                    reference=f.reference,
                )
            )
    return out


class PickleAnalyzer(Analyzer):
    formats = ("pickle",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        policy = _policy(context)
        path = node.artifact.path
        state, profile = scan_pickle(
            node.blob, path, policy, node.loader_hint, context.limits.max_pickle_opcodes
        )
        callables: list[FactValue] = [str(name) for name in state.callables]
        facts: dict[str, FactValue] = {
            "pickle_protocol": state.protocol,
            "pickle_streams": state.streams,
            "pickle_opcodes": state.opcodes,
            "pickle_profile": profile,
            "pickle_callables": callables,
        }
        if state.tensors or state.dtypes:
            facts["tensor_count"] = state.tensors
            dtypes: list[FactValue] = [str(d) for d in sorted(state.dtypes)]
            facts["tensor_dtypes"] = dtypes
        children = tuple(
            Node(
                Artifact(f"{path}!nested@{offset}", blob.size, depth=node.artifact.depth + 1),
                blob,
                loader_hint="torch" if "torch" in func else None,
                parent_format="pickle",
            )
            for offset, blob, func in state.children
        )
        return Analysis(findings=tuple(state.findings), facts=facts, children=children)


_POLICIES: dict[str, CallablePolicy] = {}


def _policy(context: Context) -> CallablePolicy:
    digest = context.rules.digest
    policy = _POLICIES.get(digest)
    if policy is None:
        policy = CallablePolicy.from_rules(context.rules)
        _POLICIES[digest] = policy
    return policy
