"""SPDX 3.0.1 AI-BOM (AI, Dataset, Security profiles) of a scan, through spdx-python-model.

spdx-tools 0.8.5 writes a 2023 prototype of SPDX 3 that fails the 3.0.1 schema, so the
official generated bindings are used. The bindings do not enforce the AI profile's
"exactly one" fields (releaseTime, suppliedBy, downloadLocation, packageVersion,
primaryPurpose) and neither do the JSON schema or SHACL shapes: this module always sets them
and ``ai_profile_gaps`` checks a written document for them.

Where the profile demands a value the scan cannot know, the choice is stated, not hidden:
a local model's version is the digest of its file hashes, its download location is where it
was scanned, an unknown supplier is the ``NOASSERTION`` organisation, and the release time is
when the scan observed the model. ``completeness`` lists each of these as not filled.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cyclonedx.spdx import fixup_id as spdx_license_id
from cyclonedx.spdx import is_expression as is_spdx_expression
from spdx_python_model import v3_0_1 as spdx

from sbom import ids
from sbom.completeness import COMPLETENESS_PREFIX, Score, score_document
from sbom.content import issues, signature_text, verdict_properties
from sbom.facts import ModelFacts, model_facts
from scanner.model import Report
from scanner.policy import Policy

HUB = "https://huggingface.co"
NOASSERTION = "NOASSERTION"
#: The fields SPDX 3.0.1 makes mandatory on an AIPackage (its "cardinality updates").
AI_REQUIRED = (
    "releaseTime",
    "suppliedBy",
    "software_downloadLocation",
    "software_packageVersion",
    "software_primaryPurpose",
)


def render_spdx(report: Report, policy: Policy | None = None) -> str:
    """The SPDX 3.0.1 JSON-LD document; the same report always gives the same bytes."""
    chosen = policy or Policy.default()
    # Score the document as written, then say in it which recommended fields stayed empty.
    score = score_document(load_document(_serialize(build_spdx(report, chosen))))
    return _serialize(build_spdx(report, chosen, score))


def _serialize(objects: spdx.SHACLObjectSet) -> str:
    buffer = io.BytesIO()
    spdx.JSONLDSerializer().write(objects, buffer, indent=2)
    return buffer.getvalue().decode("utf-8").rstrip("\n") + "\n"


def build_spdx(report: Report, policy: Policy, score: Score | None = None) -> spdx.SHACLObjectSet:
    facts = model_facts(report)
    when = ids.bom_timestamp(report) or datetime(1970, 1, 1, tzinfo=timezone.utc)
    stamp = when.isoformat().replace("+00:00", "Z")
    base = f"https://modelscan.invalid/spdx/{ids.serial_number(report, 'spdx-3.0.1', stamp, policy.digest)}/"
    objs = spdx.SHACLObjectSet()
    elements: list[Any] = []

    def add(obj: Any) -> Any:
        objs.add(obj)
        elements.append(obj)
        return obj

    info = spdx.CreationInfo(specVersion="3.0.1", created=when)
    agent = add(spdx.SoftwareAgent(_id=base + "agent/modelscan", name="modelscan", creationInfo=info))
    tool = add(
        spdx.Tool(_id=base + "tool/modelscan", name=f"modelscan {report.tool_version}", creationInfo=info)
    )
    info.createdBy = [agent]
    info.createdUsing = [tool]
    supplier = add(
        spdx.Organization(_id=base + "supplier", name=facts.author or NOASSERTION, creationInfo=info)
    )

    model = add(_model_package(report, facts, base, info, supplier, when))
    files = _files(report, base, info, add)
    if files:
        add(
            spdx.Relationship(
                _id=base + "rel/model-contains",
                creationInfo=info,
                from_=model,
                relationshipType=spdx.RelationshipType.contains,
                to=[files[a.path] for a in report.artifacts if "!" not in a.path],
            )
        )
    for artifact in report.artifacts:
        if "!" in artifact.path:
            container = files.get(artifact.path.rsplit("!", 1)[0])
            if container is not None:
                add(
                    spdx.Relationship(
                        _id=base + "rel/contains/" + _slug(artifact.path),
                        creationInfo=info,
                        from_=container,
                        relationshipType=spdx.RelationshipType.contains,
                        to=[files[artifact.path]],
                    )
                )
    for license_text in facts.licenses:
        expression = add(
            spdx.simplelicensing_LicenseExpression(
                _id=base + "license/" + _slug(license_text),
                creationInfo=info,
                simplelicensing_licenseExpression=license_expression(license_text),
            )
        )
        add(
            spdx.Relationship(
                _id=base + "rel/license/" + _slug(license_text),
                creationInfo=info,
                from_=model,
                relationshipType=spdx.RelationshipType.hasDeclaredLicense,
                to=[expression],
            )
        )
    datasets = [add(_dataset(name, facts, base, info)) for name in facts.datasets]
    if datasets:
        add(
            spdx.Relationship(
                _id=base + "rel/trained-on",
                creationInfo=info,
                from_=model,
                relationshipType=spdx.RelationshipType.trainedOn,
                to=datasets,
            )
        )
    for name in facts.base_models:
        ancestor = add(
            spdx.software_Package(
                **_given(
                    _id=base + "ancestor/" + _slug(name),
                    name=name,
                    creationInfo=info,
                    software_primaryPurpose=spdx.software_SoftwarePurpose.model,
                    software_packageUrl=_purl(name, None),
                )
            )
        )
        add(
            spdx.Relationship(
                _id=base + "rel/ancestor/" + _slug(name),
                creationInfo=info,
                from_=ancestor,
                relationshipType=spdx.RelationshipType.ancestorOf,
                to=[model],
            )
        )
    for index, issue in enumerate(issues(report, policy)):
        ref = ids.finding_ref(issue.rule_id, index)
        vuln = add(
            spdx.security_Vulnerability(
                **_given(
                    _id=base + _slug(ref),
                    name=issue.rule_id,
                    creationInfo=info,
                    summary=issue.description,
                    description=issue.detail,
                    comment=f"severity: {issue.severity}",
                    externalRef=[
                        *(
                            spdx.ExternalRef(
                                externalRefType=spdx.ExternalRefType.securityAdvisory, locator=[r]
                            )
                            for r in issue.references
                            if r.startswith(("http://", "https://"))
                        ),
                        *(
                            spdx.ExternalRef(
                                externalRefType=spdx.ExternalRefType.cwe,
                                locator=[f"https://cwe.mitre.org/data/definitions/{c}.html"],
                            )
                            for c in issue.cwes
                        ),
                    ],
                )
            )
        )
        affected = files.get(issue.artifact) if issue.artifact else None
        add(
            spdx.security_VexAffectedVulnAssessmentRelationship(
                _id=base + _slug(ref) + "/affects",
                creationInfo=info,
                from_=vuln,
                relationshipType=spdx.RelationshipType.affects,
                to=[affected if affected is not None else model],
                suppliedBy=agent,
                security_actionStatement=issue.recommendation
                or "Do not load this model until the finding is triaged.",
            )
        )
    text = signature_text(report)
    if text is not None:
        add(
            spdx.Annotation(
                _id=base + "annotation/signature",
                creationInfo=info,
                subject=model,
                annotationType=spdx.AnnotationType.review,
                statement=text,
            )
        )
    verdict = "; ".join(f"{k.rsplit(':', 1)[-1]}={v}" for k, v in verdict_properties(report, policy))
    add(
        spdx.Annotation(
            _id=base + "annotation/verdict",
            creationInfo=info,
            subject=model,
            annotationType=spdx.AnnotationType.review,
            statement=f"modelscan verdict: {verdict}",
        )
    )
    if score is not None:
        unfilled = ", ".join(score.missing) or "none"
        add(
            spdx.Annotation(
                _id=base + "annotation/completeness",
                creationInfo=info,
                subject=model,
                annotationType=spdx.AnnotationType.review,
                statement=f"{COMPLETENESS_PREFIX} {score.score}/100; fields not filled: {unfilled}",
            )
        )
    objs.add(
        spdx.SpdxDocument(
            _id=base + "document",
            name=f"AI-BOM for {facts.hub_id or facts.name}",
            creationInfo=info,
            rootElement=[model],
            element=elements,
            profileConformance=[
                spdx.ProfileIdentifierType.core,
                spdx.ProfileIdentifierType.software,
                spdx.ProfileIdentifierType.ai,
                spdx.ProfileIdentifierType.dataset,
                spdx.ProfileIdentifierType.security,
                spdx.ProfileIdentifierType.simpleLicensing,
            ],
        )
    )
    return objs


def _model_package(
    report: Report, facts: ModelFacts, base: str, info: Any, supplier: Any, when: datetime
) -> Any:
    hyper = [
        ("parameter_count", facts.parameter_count),
        ("context_length", facts.context_length),
        ("quantization", facts.quantization),
        ("dtypes", ",".join(facts.dtypes) or None),
        ("chat_template_sha256", facts.chat_template_sha256),
    ]
    metrics = []
    if report.probe is not None:
        metrics.append(spdx.DictionaryEntry(key="backdoor_probe_score", value=f"{report.probe.score:.6g}"))
        metrics.append(spdx.DictionaryEntry(key="backdoor_probe_verdict", value=report.probe.verdict))
    type_of_model = [t for t in (facts.architecture, facts.family) if t]
    return spdx.ai_AIPackage(
        **_given(
            _id=base + "model",
            name=facts.hub_id or facts.name,
            creationInfo=info,
            software_packageVersion=facts.revision or _content_version(report),
            software_downloadLocation=_download_location(report, facts),
            software_packageUrl=_purl(facts.hub_id, facts.revision) if facts.hub_id else None,
            software_primaryPurpose=spdx.software_SoftwarePurpose.model,
            suppliedBy=supplier,
            releaseTime=when,
            ai_typeOfModel=type_of_model,
            ai_domain=[facts.task] if facts.task else [],
            ai_hyperparameter=[spdx.DictionaryEntry(key=k, value=str(v)) for k, v in hyper if v is not None],
            ai_metric=metrics,
        )
    )


def _files(report: Report, base: str, info: Any, add: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for artifact in report.artifacts:
        verified = (
            [spdx.Hash(algorithm=spdx.HashAlgorithm.sha256, hashValue=artifact.sha256)]
            if artifact.sha256
            else []
        )
        out[artifact.path] = add(
            spdx.software_File(
                _id=base + _slug(ids.file_ref(artifact.path)),
                name=artifact.path,
                creationInfo=info,
                verifiedUsing=verified,
                comment=f"format: {artifact.format}; size: {artifact.size}",
            )
        )
    return out


def _dataset(name: str, facts: ModelFacts, base: str, info: Any) -> Any:
    location = f"{HUB}/datasets/{name}" if facts.hub_id and "://" not in name else None
    # The card names the dataset but not its kind; the profile requires at least one type.
    return spdx.dataset_DatasetPackage(
        **_given(
            _id=base + _slug(ids.data_ref(name)),
            name=name,
            creationInfo=info,
            software_primaryPurpose=spdx.software_SoftwarePurpose.data,
            software_downloadLocation=location,
            dataset_datasetType=[spdx.dataset_DatasetType.noAssertion],
        )
    )


def _download_location(report: Report, facts: ModelFacts) -> str:
    if facts.hub_id and facts.revision:
        return f"{HUB}/{facts.hub_id}/tree/{facts.revision}"
    path = Path(report.target)
    return path.as_uri() if path.is_absolute() else NOASSERTION


def _content_version(report: Report) -> str:
    """A local model has no version: name its content instead (digest of path + file hash)."""
    digest = hashlib.sha256()
    for artifact in report.artifacts:
        digest.update(f"{artifact.path}\0{artifact.sha256 or '-'}\0".encode())
    return f"sha256:{digest.hexdigest()}"


def _purl(name: str | None, version: str | None) -> str | None:
    if not name or "/" not in name:
        return None
    org, _, short = name.partition("/")
    return f"pkg:huggingface/{quote(org)}/{quote(short)}" + (f"@{version}" if version else "")


def license_expression(text: str) -> str:
    """A card's licence as an SPDX expression: a known id in its canonical case
    (``apache-2.0`` -> ``Apache-2.0``), an expression as written, anything else a
    ``LicenseRef-`` (``llama2`` -> ``LicenseRef-llama2``) rather than an invalid expression."""
    known = spdx_license_id(text)
    if known is not None:
        return known
    if is_spdx_expression(text):
        return text
    return "LicenseRef-" + (re.sub(r"[^A-Za-z0-9.\-]+", "-", text).strip("-") or "unknown")


def _given(**values: Any) -> dict[str, Any]:
    """Only the properties that have a value: the bindings reject None and the schema
    rejects empty lists."""
    return {k: v for k, v in values.items() if v is not None and v != []}


def _slug(text: str) -> str:
    return quote(text, safe="/:@-._~")


def ai_profile_gaps(document: dict[str, Any]) -> list[str]:
    """Which mandatory AI-profile fields each AIPackage of a JSON-LD document lacks.

    Neither the 3.0.1 JSON schema nor its SHACL shapes encode these cardinalities, so a
    consumer that needs them (and our tests) must check them here.
    """
    gaps: list[str] = []
    for node in _graph(document):
        if node.get("type") == "ai_AIPackage":
            name = node.get("spdxId", "?")
            gaps.extend(f"{name}: {key}" for key in AI_REQUIRED if node.get(key) in (None, "", []))
    return gaps


def _graph(document: dict[str, Any]) -> Iterable[dict[str, Any]]:
    graph = document.get("@graph", [])
    return [n for n in graph if isinstance(n, dict)] if isinstance(graph, list) else []


def load_document(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("an SPDX 3 JSON-LD document is an object")
    return doc
