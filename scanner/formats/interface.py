"""The one interface every format analyzer (and container opener) implements.

An analyzer reads bytes through ``node.blob`` and returns an ``Analysis``: findings, facts
and, for containers, child nodes that the engine scans in turn (depth-limited). It never
loads, imports, renders or executes what it reads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from scanner.model import Facts, Finding, Location, Severity
from scanner.rules import RuleSet
from scanner.sources.interface import Node, Tree


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a scan's time and memory independent of what it is fed."""

    max_depth: int = 8
    """Container nesting depth; deeper members are a finding, not a recursion."""
    max_members: int = 100_000
    """Members of one container."""
    max_inflate: int = 512 * 1024 * 1024
    """Bytes one compressed member may inflate to before it is a (bomb) finding."""
    max_inflate_ratio: int = 1_000
    """Inflated/compressed ratio above which a member is a (bomb) finding."""
    max_header: int = 100 * 1024 * 1024
    """Largest metadata header (safetensors JSON, GGUF metadata) that is parsed."""
    max_text: int = 16 * 1024 * 1024
    """Largest text file (config, code, template) that is read whole."""
    max_pickle_opcodes: int = 50_000_000
    """Opcodes per pickle stream before the rest is reported as not analyzed."""


@dataclass(frozen=True)
class Context:
    """What an analyzer may consult besides the bytes."""

    rules: RuleSet
    limits: Limits = field(default_factory=Limits)
    tree: Tree | None = None
    """The whole tree (repo-level analyzers look at siblings, e.g. ``config.json``)."""
    facts: Mapping[str, Facts] = field(default_factory=dict)
    """Facts per artifact path learned so far (tree analyzers read them instead of re-reading
    headers, e.g. shard tensor tables for a sharded-index check)."""

    def finding(
        self,
        rule_id: str,
        artifact: str,
        message: str,
        *,
        severity: Severity | None = None,
        location: Location | None = None,
        evidence: str | None = None,
        callable: str | None = None,
        reference: str | None = None,
    ) -> Finding:
        """A finding of ``rule_id`` about ``artifact`` (an ``Artifact.path``), its severity and
        default reference from the catalog of this scan's rules (``RuleSet.finding``)."""
        return self.rules.finding(
            rule_id,
            artifact,
            message,
            severity=severity,
            location=location,
            evidence=evidence,
            callable=callable,
            reference=reference,
        )


@dataclass(frozen=True)
class Analysis:
    """What one analyzer learned about one artifact."""

    findings: tuple[Finding, ...] = ()
    facts: Facts = field(default_factory=dict)
    children: tuple[Node, ...] = ()
    """Members of a container, scanned next by the engine (paths already ``parent!member``)."""
    format: str | None = None
    """A refined format name (``pytorch-zip`` for a zip that is a torch checkpoint)."""


class Analyzer(ABC):
    """Analyzes artifacts of the formats it names."""

    formats: ClassVar[tuple[str, ...]] = ()
    """Sniffed format names this analyzer handles (see ``scanner.detect``)."""

    @abstractmethod
    def analyze(self, node: Node, context: Context) -> Analysis:
        """Inspect ``node`` without executing anything in it."""


class Recognizer(ABC):
    """Gives a file a more exact format than its first bytes can: a structure with no magic at
    its start (a TensorFlow checkpoint index), or a generic format a loader reads as something
    else (a Keras ``config.json`` is code to Keras). The registry asks recognizers before it
    picks the analyzer."""

    @abstractmethod
    def recognize(self, node: Node, context: Context) -> str | None:
        """The refined format of ``node``, or None when it is not one this recognizer knows."""


class TreeAnalyzer(ABC):
    """Looks at a whole tree at once: how files relate (a HF repo's ``auto_map``, stray weights)."""

    @abstractmethod
    def analyze_tree(self, tree: Tree, formats: Mapping[str, str], context: Context) -> Analysis:
        """``formats`` maps each artifact path to its sniffed format."""
