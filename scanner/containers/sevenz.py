"""7z archives, read with ``py7zr`` (optional: without it, a "support not installed" finding).

nullifAI wrapped a PyTorch pickle in 7z so the scanners of the day skipped it, and broke the
stream so those that tried errored out: here an archive that cannot be listed or whose
streams do not decode is a finding, and whatever did decode is still scanned.
"""

from __future__ import annotations

from scanner.containers.common import budget_left, child_node, mismatch_findings, spend_budget
from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.model import Finding, Location
from scanner.sources.interface import BytesBlob, Node


class SevenZipAnalyzer(Analyzer):
    formats = ("7z",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        path = node.artifact.path
        findings: list[Finding] = mismatch_findings(context, node, "7z")
        try:
            import py7zr
            from py7zr.io import BytesIOFactory
        except ImportError:
            findings.append(
                context.finding(
                    "SCAN-UNSUPPORTED-001",
                    path,
                    "This 7z archive was not inspected: "
                    "the optional package 'py7zr' is not installed (pip install "
                    "model-scanner[sevenz]).",
                )
            )
            return Analysis(findings=tuple(findings))
        limits = context.limits
        try:
            archive = py7zr.SevenZipFile(node.blob.open(), mode="r")
        except Exception as exc:  # py7zr raises many types on hostile input; all mean "unreadable"
            findings.append(
                context.finding(
                    "ARCHIVE-MALFORMED-001",
                    path,
                    f"The 7z archive cannot be opened: {type(exc).__name__}: {exc}.",
                )
            )
            return Analysis(findings=tuple(findings))
        children: list[Node] = []
        with archive:
            if archive.needs_password():
                findings.append(
                    context.finding(
                        "ARCHIVE-ENCRYPTED-001",
                        path,
                        "The 7z archive is encrypted; its members were not inspected.",
                    )
                )
                return Analysis(findings=tuple(findings))
            infos = [i for i in archive.list() if not i.is_directory]
            if len(infos) > limits.max_members:
                findings.append(
                    context.finding(
                        "ARCHIVE-LIMIT-001",
                        path,
                        f"The archive has {len(infos)} "
                        f"members; only the first {limits.max_members} were inspected.",
                    )
                )
                infos = infos[: limits.max_members]
            total = sum(max(0, int(i.uncompressed or 0)) for i in infos)
            cap = min(limits.max_inflate, budget_left(context))
            if total > cap:
                findings.append(
                    context.finding(
                        "ARCHIVE-BOMB-001",
                        path,
                        f"The archive declares {total} bytes of members; at most {cap} were inflated.",
                    )
                )
            factory = BytesIOFactory(cap)
            try:
                archive.extract(targets=[i.filename for i in infos], factory=factory)
            except Exception as exc:  # a broken stream: keep what decoded, report the break
                findings.append(
                    context.finding(
                        "ARCHIVE-MALFORMED-001",
                        path,
                        f"A stream of the 7z archive "
                        f"is broken: {type(exc).__name__}: {exc}; what decoded is scanned.",
                    )
                )
            for info in infos:
                product = factory.products.get(info.filename)
                if product is None:
                    findings.append(
                        context.finding(
                            "ARCHIVE-MALFORMED-001",
                            path,
                            f"Member {info.filename!r} could not be decoded.",
                            location=Location(member=info.filename),
                        )
                    )
                    continue
                product.seek(0)
                data = product.read()
                spend_budget(context, len(data))
                declared = int(info.uncompressed or 0)
                if declared and len(data) < min(declared, cap):
                    findings.append(
                        context.finding(
                            "ARCHIVE-TRUNCATED-001",
                            path,
                            f"Member {info.filename!r} "
                            f"decoded to {len(data)} of its {declared} bytes; the prefix is "
                            "scanned.",
                            location=Location(member=info.filename),
                        )
                    )
                children.append(child_node(node, info.filename, BytesBlob(data), None, "7z"))
        return Analysis(findings=tuple(findings), facts={"7z.members": len(infos)}, children=tuple(children))


ANALYZER = SevenZipAnalyzer()
