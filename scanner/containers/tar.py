"""Tar archives: legacy PyTorch checkpoints (``sys_info``, ``pickle``, ``storages``,
``tensors``) and generic tars.

Headers are read with ``tarfile`` over the blob in its plain, uncompressed mode ("r:"), one
member at a time, with the member list dropped as it goes so memory stays flat. ``tarfile``
stops silently at a bad header after the first one; here that is a finding, because the
members behind it are invisible to torch but not to every extractor.
"""

from __future__ import annotations

import tarfile
from collections import Counter

from scanner.containers.common import child_node, mismatch_findings, unsafe_name_reason
from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.model import Finding, Location
from scanner.sources.interface import Node

LEGACY_TORCH = {"sys_info", "pickle", "storages", "tensors"}
"""Members ``torch.load`` reads from a legacy tar checkpoint; each starts with a pickle."""
BLOCK = 512


class TarAnalyzer(Analyzer):
    formats = ("tar",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        path = node.artifact.path
        findings: list[Finding] = mismatch_findings(context, node, "tar")
        members: list[tarfile.TarInfo] = []
        limit = context.limits.max_members
        stopped_at: int | None = None
        error: str | None = None
        try:
            with tarfile.open(fileobj=node.blob.open(), mode="r:") as tf:
                while True:
                    info = tf.next()
                    # tarfile keeps every header otherwise: 10^6 members would be 10^6 objects.
                    tf.members = []  # type: ignore[attr-defined]
                    if info is None:
                        stopped_at = tf.offset
                        break
                    members.append(info)
                    if len(members) >= limit:
                        findings.append(
                            context.finding(
                                "ARCHIVE-LIMIT-001",
                                path,
                                f"The archive has more than {limit} members; the rest were not inspected.",
                            )
                        )
                        break
        except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            findings.append(
                context.finding(
                    "TAR-MALFORMED-001",
                    path,
                    f"The tar archive cannot be read past member {len(members)}: {error}.",
                )
            )
        elif stopped_at is not None and stopped_at < node.blob.size:
            end = node.blob.read_at(stopped_at, BLOCK)
            if end.strip(b"\x00"):
                findings.append(
                    context.finding(
                        "TAR-MALFORMED-001",
                        path,
                        "Reading stopped at a header that "
                        "is neither a member nor the end-of-archive marker; anything after it "
                        "was not inspected.",
                        location=Location(offset=stopped_at),
                    )
                )
        names = {m.name for m in members}
        legacy = names >= LEGACY_TORCH or {"pickle", "storages", "tensors"} <= names
        children: list[Node] = []
        seen: Counter[str] = Counter(m.name for m in members)
        for name, n in sorted(seen.items()):
            if n > 1:
                findings.append(
                    context.finding(
                        "TAR-DUP-001",
                        path,
                        f"{n} members are named {name!r}; tarfile reads the last one. Each copy is scanned.",
                        location=Location(member=name),
                    )
                )
        copies: Counter[str] = Counter()
        for m in members:
            copies[m.name] += 1
            why = unsafe_name_reason(m.name)
            if why is not None:
                findings.append(
                    context.finding(
                        "TAR-PATH-001",
                        path,
                        f"Member name {m.name!r} {why}.",
                        location=Location(offset=m.offset, member=m.name),
                    )
                )
            if m.issym() or m.islnk():
                kind = "symbolic" if m.issym() else "hard"
                findings.append(
                    context.finding(
                        "TAR-LINK-001",
                        path,
                        f"Member {m.name!r} is a {kind} link to {m.linkname!r}.",
                        location=Location(offset=m.offset, member=m.name),
                        evidence=f"{m.name} -> {m.linkname}",
                    )
                )
                continue
            if m.ischr() or m.isblk() or m.isfifo():
                findings.append(
                    context.finding(
                        "TAR-DEVICE-001",
                        path,
                        f"Member {m.name!r} is a device or FIFO.",
                        location=Location(offset=m.offset, member=m.name),
                    )
                )
                continue
            if not m.isfile():
                continue
            if m.offset_data + m.size > node.blob.size:
                findings.append(
                    context.finding(
                        "TAR-MALFORMED-001",
                        path,
                        f"Member {m.name!r} claims {m.size} "
                        "bytes past the end of the file; the part present is scanned.",
                        location=Location(offset=m.offset_data, member=m.name),
                    )
                )
            hint = "torch" if legacy and m.name in LEGACY_TORCH else None
            suffix = f"#{copies[m.name]}" if copies[m.name] > 1 else ""
            blob = node.blob.window(m.offset_data, m.size)
            children.append(child_node(node, m.name, blob, hint, "tar", suffix))
        facts = {"tar.members": len(members)}
        return Analysis(
            findings=tuple(findings),
            facts=facts,
            children=tuple(children),
            format="pytorch-tar" if legacy else "tar",
        )


ANALYZER = TarAnalyzer()
