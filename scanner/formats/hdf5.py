"""HDF5 files, in practice Keras legacy ``.h5`` models and ``model.weights.h5``.

Opened read-only with ``h5py`` on the blob (attributes and link metadata only; datasets are
never read, Keras is never imported). The ``model_config`` attribute is a Keras config and goes
to the Keras analysis: legacy H5 loading ignores safe_mode (CVE-2025-9905), so a Lambda there
runs on load. External links make a reader open other files and are findings.
"""

from __future__ import annotations

from typing import Any

import h5py

from scanner.formats.interface import Analysis, Analyzer, Context
from scanner.formats.keras import analyze_config_text
from scanner.model import FactValue, Finding, Location
from scanner.sources.interface import Node

_MAX_LINKS = 200_000


class HDF5Analyzer(Analyzer):
    formats = ("hdf5",)

    def analyze(self, node: Node, context: Context) -> Analysis:
        path = node.artifact.path
        try:
            with h5py.File(node.blob.open(), "r") as h5:
                return self._inspect(h5, path, context)
        except Exception as exc:  # h5py raises OSError/KeyError/ValueError on damaged files: fail closed
            return Analysis(
                findings=(
                    context.finding(
                        "KERAS-PARSE-001",
                        path,
                        f"The HDF5 file could not be read: {type(exc).__name__}.",
                        evidence=str(exc)[:200],
                    ),
                )
            )

    def _inspect(self, h5: Any, path: str, context: Context) -> Analysis:
        found: list[Finding] = []
        facts: dict[str, FactValue] = {"format": "hdf5"}
        for key in ("keras_version", "backend"):
            if key in h5.attrs:
                facts[key] = _text(h5.attrs[key])
        links: list[tuple[str, str]] = []

        def visit(name: str, link: Any) -> None:
            if isinstance(link, h5py.ExternalLink):
                links.append((name, f"{link.filename}:{link.path}"))
            return None if len(links) < _MAX_LINKS else True  # type: ignore[return-value]

        h5.visititems_links(visit)
        for name, target in links:
            found.append(
                context.finding(
                    "KERAS-H5LINK-001",
                    path,
                    f"The HDF5 link /{name} points into another file; a reader opens it.",
                    location=Location(pointer=f"/{name}"),
                    evidence=target,
                )
            )
        if "model_config" in h5.attrs:
            config = analyze_config_text(_text(h5.attrs["model_config"]), path, context)
            found.extend(config.findings)
            facts.update(config.facts)
        return Analysis(findings=tuple(found), facts=facts)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


ANALYZER = HDF5Analyzer()
