"""Loading detection knowledge from ``rules/`` (and ``--rules DIR``): data, not code.

Every YAML file under a rules directory is one document with a ``kind`` (``catalog``,
``pickle-callables``, ``python-patterns``, ``jinja-patterns``, ``policy``, ...) and a list of
``entries``. This module only loads, validates the envelope and groups them; each subsystem
turns the entries of its own kind into typed structures. The rule set's digest changes
whenever any rule file changes, so cached verdicts are invalidated with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from scanner import datacache
from scanner.model import Finding, Location, Severity


class RulesError(Exception):
    """A rule file is malformed."""


@dataclass(frozen=True)
class RuleInfo:
    """A stable rule id and what it means (for SARIF ``rules``, ``modelscan rules``, docs)."""

    id: str
    name: str
    severity: Severity
    """Default severity: what a finding of this rule carries unless its emitter says otherwise."""
    summary: str
    help: str = ""
    cwe: tuple[int, ...] = ()
    references: tuple[str, ...] = ()
    severities: tuple[Severity, ...] = ()
    """Every severity a finding of this rule may carry (the default among them). A rule whose
    severity varies with context declares the set in the catalog (``severities: [high,
    critical]``); ``RuleSet.finding`` refuses any other."""


@dataclass(frozen=True)
class RuleSet:
    """All rule documents, grouped by kind, with the rule catalog parsed."""

    documents: Mapping[str, tuple[Mapping[str, Any], ...]]
    """Entries per kind, in a deterministic order (built-in first, then ``--rules`` dirs)."""
    catalog: Mapping[str, RuleInfo]
    digest: str
    sources: tuple[str, ...] = field(default=())

    def entries(self, kind: str) -> tuple[Mapping[str, Any], ...]:
        """Every entry of ``kind`` across all loaded files."""
        return self.documents.get(kind, ())

    def info(self, rule_id: str) -> RuleInfo:
        """The catalog entry of ``rule_id``; an unknown id is a programming error."""
        try:
            return self.catalog[rule_id]
        except KeyError:
            raise RulesError(f"rule id {rule_id!r} is not in the catalog") from None

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
        """The one way to make a finding: its severity (and, unless given, its reference) come
        from the catalog entry of ``rule_id``. ``severity`` may only pick another severity the
        entry declares; an unknown rule id or an undeclared severity is a ``RulesError``."""
        info = self.info(rule_id)
        chosen = info.severity if severity is None else severity
        if chosen not in info.severities:
            allowed = ", ".join(s.label for s in info.severities)
            raise RulesError(f"{rule_id} is never {chosen.label} (the catalog allows: {allowed})")
        return Finding(
            rule_id,
            chosen,
            artifact,
            message,
            location if location is not None else Location(),
            evidence,
            callable,
            reference if reference is not None else next(iter(info.references), None),
        )


def finding(
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
    """``RuleSet.finding`` over the built-in catalog, for code that runs without an analyzer
    ``Context`` (the signature step, ``pull``, the probe report). Rule ids our code emits are
    all built in; ``--rules`` folders may add rules but never redefine one."""
    return load_rules().finding(
        rule_id,
        artifact,
        message,
        severity=severity,
        location=location,
        evidence=evidence,
        callable=callable,
        reference=reference,
    )


def builtin_rules_dir() -> Path:
    """The ``rules/`` folder shipped with the package."""
    import rules  # the data package itself (no importlib.resources: it costs a CLI start ~5 ms)

    return Path(rules.__path__[0])


def load_rules(extra_dirs: Sequence[str | Path] = ()) -> RuleSet:
    """Built-in rules plus every YAML file under ``extra_dirs`` (``--rules DIR``)."""
    return _load(tuple(str(Path(d).resolve()) for d in extra_dirs))


@lru_cache(maxsize=8)
def _load(extra_dirs: tuple[str, ...]) -> RuleSet:
    files: list[tuple[Path, str, bytes]] = []
    for directory in (str(builtin_rules_dir()), *extra_dirs):
        root = Path(directory)
        if not root.is_dir():
            raise RulesError(f"rules directory not found: {directory}")
        files += [(p, p.relative_to(root).as_posix(), p.read_bytes()) for p in sorted(_yaml_files(root))]
    digest = hashlib.sha256()
    for _, name, raw in files:
        digest.update(name.encode() + b"\0" + raw + b"\0")
    grouped = _parsed_documents(files)
    catalog = _parse_catalog(grouped.get("catalog", []))
    documents = {kind: tuple(entries) for kind, entries in grouped.items()}
    return RuleSet(documents, catalog, digest.hexdigest()[:16], tuple(str(p) for p, _, _ in files))


def _parsed_documents(files: Sequence[tuple[Path, str, bytes]]) -> dict[str, list[Mapping[str, Any]]]:
    """Entries per kind, from the JSON data cache when these exact files (and this parser) were
    parsed before: YAML parsing and PyYAML's import were most of a small scan's start-up."""
    key = datacache.key_of(
        [Path(__file__).read_bytes(), *(part for p, _, raw in files for part in (str(p).encode(), raw))]
    )
    cached = datacache.load("rules", key)
    if isinstance(cached, dict):
        return cached
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for path, _, raw in files:
        kind, entries = _parse_document(path, raw)
        grouped.setdefault(kind, []).extend(entries)
    datacache.store("rules", key, grouped)
    return grouped


def _yaml_files(root: Path) -> Iterable[Path]:
    for pattern in ("*.yaml", "*.yml"):
        yield from root.rglob(pattern)


def _parse_document(path: Path, raw: bytes) -> tuple[str, list[Mapping[str, Any]]]:
    import yaml  # only on a data cache miss

    # libyaml's safe loader parses the rule files ~10x faster than the pure-Python one; both
    # construct plain data only.
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(raw, Loader=loader)  # scan-safe: our rule files, safe loader
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise RulesError(f"{path}: a rule file is a mapping with a 'kind' string")
    entries = doc.get("entries", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RulesError(f"{path}: 'entries' must be a list of mappings")
    tagged: list[Mapping[str, Any]] = [{**e, "_file": path.name} for e in entries]
    kind: str = doc["kind"]
    return kind, tagged


def _parse_catalog(entries: Sequence[Mapping[str, Any]]) -> dict[str, RuleInfo]:
    catalog: dict[str, RuleInfo] = {}
    for entry in entries:
        try:
            default = Severity.parse(str(entry["severity"]))
            declared = tuple(sorted({Severity.parse(str(s)) for s in entry.get("severities", ())}))
            if declared and default not in declared:
                raise ValueError(f"'severities' {[s.label for s in declared]} must include {default.label}")
            info = RuleInfo(
                id=str(entry["id"]),
                name=str(entry["name"]),
                severity=default,
                summary=str(entry["summary"]),
                help=str(entry.get("help", "")),
                cwe=tuple(int(c) for c in entry.get("cwe", ())),
                references=tuple(str(r) for r in entry.get("references", ())),
                severities=declared or (default,),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise RulesError(f"{entry.get('_file')}: bad catalog entry {entry!r}: {exc}") from None
        if info.id in catalog:
            raise RulesError(f"{entry.get('_file')}: rule id {info.id} is defined twice")
        catalog[info.id] = info
    return catalog
