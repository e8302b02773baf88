"""CycloneDX ML-BOM (1.6 default, 1.7) of a scan, JSON or XML, through cyclonedx-python-lib.

Built only from the ``Report``: the model is a ``machine-learning-model`` component whose
nested ``file`` components are the scanned files (container members nested under their
container), findings are ``vulnerabilities[]``, and the verdict sits in metadata properties.
The library models all of that; ``cdx_extensions`` adds the model card, dataset ``data`` and
the signature annotation that it cannot model yet.
"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.impact_analysis import ImpactAnalysisState
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAdvisory,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from sbom import ids
from sbom.cdx_extensions import (
    Annotation,
    ComponentData,
    Extensions,
    ModelCard,
    PerformanceMetric,
    splice_json,
    splice_xml,
)
from sbom.completeness import score_document
from sbom.content import Issue, issues, prop, signature_properties, signature_text, verdict_properties
from sbom.facts import ModelFacts, model_facts
from scanner.model import Artifact, Report
from scanner.policy import Policy

SPEC_VERSIONS = {"1.6": SchemaVersion.V1_6, "1.7": SchemaVersion.V1_7}
HUB = "https://huggingface.co"


def render_cyclonedx(
    report: Report, policy: Policy | None = None, spec_version: str = "1.6", xml: bool = False
) -> str:
    """The BOM as text; the same report always gives byte-identical output."""
    schema = SPEC_VERSIONS.get(spec_version)
    if schema is None:
        raise ValueError(f"unsupported CycloneDX version {spec_version!r} (expected 1.6 or 1.7)")
    chosen = policy or Policy.default()
    timestamp = ids.bom_timestamp(report)
    bom, ext = build_bom(report, chosen, timestamp, spec_version)
    # Score the document as written, then say in it which recommended fields stayed empty.
    score = score_document(splice_json(json.loads(_serialize(bom, OutputFormat.JSON, schema)), ext))
    bom.metadata.properties.add(Property(name=prop("sbom:completeness"), value=str(score.score)))
    for field_id in score.missing:
        bom.metadata.properties.add(Property(name=prop("sbom:unfilled"), value=field_id))
    text = _serialize(bom, OutputFormat.XML if xml else OutputFormat.JSON, schema)
    if xml:
        root = ET.fromstring(text)
        ET.register_namespace("", root.tag[1:].split("}", 1)[0])
        splice_xml(root, ext)
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    doc = splice_json(json.loads(text), ext)
    return json.dumps(_ordered(doc), indent=2, ensure_ascii=False) + "\n"


def _serialize(bom: Bom, fmt: OutputFormat, schema: SchemaVersion) -> str:
    with warnings.catch_warnings():
        # The library warns about components without dependency entries: files are nested
        # in the model, which is how CycloneDX says "contains"; that is intended.
        warnings.simplefilter("ignore", UserWarning)
        return make_outputter(bom, fmt, schema).output_as_string()


def build_bom(
    report: Report, policy: Policy, timestamp: datetime | None, spec_version: str
) -> tuple[Bom, Extensions]:
    facts = model_facts(report)
    stamp = timestamp.isoformat().replace("+00:00", "Z") if timestamp else ""
    serial = ids.serial_number(report, spec_version, stamp, policy.digest)
    model_ref = ids.model_ref(facts.hub_id or facts.name, facts.revision)
    data_components = [_data_component(name, facts) for name in facts.datasets]
    files = _file_components(report.artifacts, report)
    model = _model_component(report, facts, model_ref, files)
    bom = Bom(serial_number=serial, components=[model, *data_components])
    if timestamp is not None:
        bom.metadata.timestamp = timestamp
    bom.metadata.tools.components.add(
        Component(
            type=ComponentType.APPLICATION,
            name="modelscan",
            version=report.tool_version,
            bom_ref=ids.TOOL_REF,
        )
    )
    for name, value in verdict_properties(report, policy):
        bom.metadata.properties.add(Property(name=name, value=value))
    if data_components:
        bom.register_dependency(model, data_components)
    file_refs = {a.path for a in report.artifacts}
    for index, issue in enumerate(issues(report, policy)):
        target = ids.file_ref(issue.artifact) if issue.artifact in file_refs else model_ref
        bom.vulnerabilities.add(_vulnerability(issue, ids.finding_ref(issue.rule_id, index), target))
    card = ModelCard(
        task=facts.task,
        architecture_family=facts.family,
        model_architecture=facts.architecture,
        dataset_refs=tuple(ids.data_ref(name) for name in facts.datasets),
        performance_metrics=_probe_metrics(report),
        properties=_card_properties(facts, report),
    )
    annotations: tuple[Annotation, ...] = ()
    text = signature_text(report)
    if text is not None and stamp:
        annotations = (
            Annotation(
                ids.signature_annotation_ref(), (model_ref,), stamp, text, tool_version=report.tool_version
            ),
        )
    ext = Extensions(
        model_cards={model_ref: card},
        component_data={ids.data_ref(n): (ComponentData(n),) for n in facts.datasets},
        annotations=annotations,
    )
    return bom, ext


def _model_component(report: Report, facts: ModelFacts, ref: str, files: list[Component]) -> Component:
    refs: list[ExternalReference] = []
    purl = None
    if facts.hub_id and facts.revision:
        assert facts.group is not None
        purl = PackageURL(type="huggingface", namespace=facts.group, name=facts.name, version=facts.revision)
        refs.append(
            ExternalReference(
                type=ExternalReferenceType.DISTRIBUTION,
                url=XsUri(f"{HUB}/{facts.hub_id}/tree/{facts.revision}"),
            )
        )
        if any(a.path.lower() == "readme.md" for a in report.artifacts):
            refs.append(
                ExternalReference(
                    type=ExternalReferenceType.MODEL_CARD,
                    url=XsUri(f"{HUB}/{facts.hub_id}/blob/{facts.revision}/README.md"),
                )
            )
    sig_path, sig_sha256 = _signature_bundle(report)
    if sig_path is not None:
        refs.append(
            ExternalReference(
                type=ExternalReferenceType.DIGITAL_SIGNATURE,
                url=XsUri(sig_path),
                comment=f"signature {report.signature.status}" if report.signature else None,
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sig_sha256)] if sig_sha256 else None,
            )
        )
    licenses = LicenseFactory()
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=ref,
        group=facts.group,
        name=facts.name,
        version=facts.revision,
        purl=purl,
        supplier=OrganizationalEntity(name=facts.author) if facts.author else None,
        licenses=[licenses.make_from_string(text) for text in facts.licenses],
        external_references=refs,
        properties=[Property(name=n, value=v) for n, v in signature_properties(report.signature)],
        pedigree=Pedigree(ancestors=[_ancestor(name) for name in facts.base_models])
        if facts.base_models
        else None,
        components=files,
        tags=[facts.task] if facts.task else None,
    )


def _signature_bundle(report: Report) -> tuple[str | None, str | None]:
    """Where the signature bundle is, and its digest: a ``.sig`` file among the scanned ones,
    else the OpenSSF model-signing default name the verifier reads, when it verified one."""
    for artifact in report.artifacts:
        if artifact.depth == 0 and artifact.path.endswith(".sig"):
            return artifact.path, artifact.sha256
    if report.signature is not None and report.signature.status != "missing":
        return "model.sig", None
    return None, None


def _ancestor(name: str) -> Component:
    org, _, short = name.rpartition("/")
    purl = PackageURL(type="huggingface", namespace=org, name=short) if org else None
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=ids.ancestor_ref(name),
        group=org or None,
        name=short,
        purl=purl,
    )


def _data_component(name: str, facts: ModelFacts) -> Component:
    refs = []
    # Dataset names in a Hugging Face card are hub dataset ids; for a local folder they are
    # whatever its card says, so no URL is made up for them.
    if facts.hub_id and "://" not in name:
        refs.append(
            ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(f"{HUB}/datasets/{name}"))
        )
    return Component(type=ComponentType.DATA, bom_ref=ids.data_ref(name), name=name, external_references=refs)


def _file_components(artifacts: Iterable[Artifact], report: Report) -> list[Component]:
    """One ``file`` component per artifact; members nested under their container."""
    signed = {c.path: c for c in report.signature.files} if report.signature else {}
    by_path: dict[str, Component] = {}
    top: list[Component] = []
    for artifact in artifacts:
        component = _file_component(artifact, report, signed.get(artifact.path))
        by_path[artifact.path] = component
        parent = by_path.get(artifact.path.rsplit("!", 1)[0]) if "!" in artifact.path else None
        if parent is not None:
            parent.components.add(component)
        else:
            top.append(component)
    return top


def _file_component(artifact: Artifact, report: Report, check: object) -> Component:
    props = [
        Property(name=prop("format"), value=artifact.format),
        Property(name=prop("size"), value=str(artifact.size)),
    ]
    if artifact.expected_sha256:
        props.append(Property(name=prop("expected-sha256"), value=artifact.expected_sha256))
    if artifact.sha256 is None:
        # Members of containers are not hashed by the scan; say so rather than leave a gap.
        props.append(Property(name=prop("sha256"), value="not computed"))
    status = getattr(check, "status", None)
    if isinstance(status, str):
        props.append(Property(name=prop("signature:file-status"), value=status))
    for key, value in sorted(report.facts.get(artifact.path, {}).items()):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) <= 256:
            props.append(Property(name=prop(f"fact:{key}"), value=str(value)))
    return Component(
        type=ComponentType.FILE,
        bom_ref=ids.file_ref(artifact.path),
        name=artifact.path,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=artifact.sha256)] if artifact.sha256 else None,
        properties=props,
    )


def _vulnerability(issue: Issue, ref: str, target: str) -> Vulnerability:
    references, advisories = [], []
    for reference in issue.references:
        if reference.startswith(("http://", "https://")):
            advisories.append(VulnerabilityAdvisory(url=XsUri(reference)))
        elif reference.upper().startswith("CVE-"):
            references.append(
                VulnerabilityReference(
                    id=reference.upper(),
                    source=VulnerabilitySource(
                        name="NVD", url=XsUri(f"https://nvd.nist.gov/vuln/detail/{reference.upper()}")
                    ),
                )
            )
        elif reference.upper().startswith("GHSA-"):
            references.append(
                VulnerabilityReference(
                    id=reference,
                    source=VulnerabilitySource(
                        name="GitHub Advisory Database",
                        url=XsUri(f"https://github.com/advisories/{reference}"),
                    ),
                )
            )
    state = ImpactAnalysisState.EXPLOITABLE if issue.confirmed else ImpactAnalysisState.IN_TRIAGE
    return Vulnerability(
        bom_ref=ref,
        id=issue.rule_id,
        source=VulnerabilitySource(name="modelscan"),
        references=references,
        ratings=[
            VulnerabilityRating(
                severity=VulnerabilitySeverity(issue.severity), method=VulnerabilityScoreSource.OTHER
            )
        ],
        cwes=issue.cwes,
        description=issue.description,
        detail=issue.detail,
        recommendation=issue.recommendation,
        advisories=advisories,
        analysis=VulnerabilityAnalysis(state=state),
        affects=[BomTarget(ref=target)],
        properties=[Property(name=n, value=v) for n, v in issue.properties],
    )


def _probe_metrics(report: Report) -> tuple[PerformanceMetric, ...]:
    probe = report.probe
    if probe is None:
        return ()
    metrics = [PerformanceMetric("backdoor-probe-score", f"{probe.score:.6g}", f"verdict={probe.verdict}")]
    for index, stage in enumerate(probe.stages):
        score = stage.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            name = stage.get("name") or stage.get("stage") or index
            metrics.append(
                PerformanceMetric(f"backdoor-probe:{name}", f"{score:.6g}", f"device={probe.device}")
            )
    return tuple(metrics)


def _card_properties(facts: ModelFacts, report: Report) -> tuple[tuple[str, str], ...]:
    props: list[tuple[str, str]] = []
    if facts.parameter_count is not None:
        props.append((prop("parameter-count"), str(facts.parameter_count)))
    props.extend((prop("dtype"), d) for d in facts.dtypes)
    for key, value in (
        ("quantization", facts.quantization),
        ("context-length", facts.context_length),
        ("chat-template-sha256", facts.chat_template_sha256),
    ):
        if value is not None:
            props.append((prop(key), str(value)))
    if report.probe is not None:
        props.extend(
            [(prop("probe:verdict"), report.probe.verdict), (prop("probe:device"), report.probe.device)]
        )
    return tuple(props)


def _ordered(doc: dict[str, object]) -> dict[str, object]:
    """Put ``$schema``, ``bomFormat`` and ``specVersion`` first, as people expect to read them."""
    head = ("$schema", "bomFormat", "specVersion", "serialNumber", "version", "metadata")
    return {**{k: doc[k] for k in head if k in doc}, **{k: v for k, v in doc.items() if k not in head}}
