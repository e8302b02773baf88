"""Model URIs in Kubernetes objects: KServe InferenceServices, Seldon, Pods and pod templates."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_MODEL_ENV = ("STORAGE_URI", "HF_MODEL_ID", "MODEL_ID")


def model_uris(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(JSON pointer, URI) for every model reference in ``obj``, in document order."""
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    found: list[tuple[str, str]] = []
    if kind == "InferenceService":
        for component in ("predictor", "transformer", "explainer"):
            part = spec.get(component)
            if isinstance(part, dict):
                found.extend(_kserve_component(part, f"/spec/{component}"))
    elif kind == "Model":  # Seldon Core v2
        if isinstance(spec.get("storageUri"), str):
            found.append(("/spec/storageUri", spec["storageUri"]))
    elif kind == "SeldonDeployment":
        for i, predictor in enumerate(spec.get("predictors") or []):
            if isinstance(predictor, dict) and isinstance(predictor.get("graph"), dict):
                found.extend(_seldon_graph(predictor["graph"], f"/spec/predictors/{i}/graph"))
    elif kind == "Pod":
        found.extend(_pod_spec(spec, "/spec"))
    else:  # Deployment, StatefulSet, Job, ... carry a pod template
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            found.extend(_pod_spec(template["spec"], "/spec/template/spec"))
    return found


def _kserve_component(part: Mapping[str, Any], at: str) -> Iterator[tuple[str, str]]:
    for name, value in part.items():
        if not isinstance(value, dict):
            continue
        # spec.predictor.model.storageUri, legacy spec.predictor.<framework>.storageUri
        if isinstance(value.get("storageUri"), str):
            yield (f"{at}/{name}/storageUri", value["storageUri"])
        for i, entry in enumerate(value.get("storageUris") or []):
            if isinstance(entry, dict) and isinstance(entry.get("uri"), str):
                yield (f"{at}/{name}/storageUris/{i}/uri", entry["uri"])
    if isinstance(part.get("storageUri"), str):
        yield (f"{at}/storageUri", part["storageUri"])


def _seldon_graph(graph: Mapping[str, Any], at: str) -> Iterator[tuple[str, str]]:
    if isinstance(graph.get("modelUri"), str):
        yield (f"{at}/modelUri", graph["modelUri"])
    for i, child in enumerate(graph.get("children") or []):
        if isinstance(child, dict):
            yield from _seldon_graph(child, f"{at}/children/{i}")


def _pod_spec(spec: Mapping[str, Any], at: str) -> Iterator[tuple[str, str]]:
    for i, volume in enumerate(spec.get("volumes") or []):
        image = volume.get("image") if isinstance(volume, dict) else None
        if isinstance(image, dict) and isinstance(image.get("reference"), str):
            yield (f"{at}/volumes/{i}/image/reference", "oci://" + image["reference"])
    for group in ("initContainers", "containers"):
        for c, container in enumerate(spec.get(group) or []):
            if not isinstance(container, dict):
                continue
            for e, env in enumerate(container.get("env") or []):
                if (
                    isinstance(env, dict)
                    and env.get("name") in _MODEL_ENV
                    and isinstance(env.get("value"), str)
                ):
                    value = env["value"]
                    uri = value if "://" in value else f"hf://{value}"
                    yield (f"{at}/{group}/{c}/env/{e}/value", uri)
            args = [a for a in container.get("args") or [] if isinstance(a, str)]
            for a, arg in enumerate(args):
                if arg == "--model" and a + 1 < len(args):
                    value = args[a + 1]
                    uri = value if "://" in value or value.startswith("/") else f"hf://{value}"
                    yield (
                        f"{at}/{group}/{c}/args/{a + 1}",
                        uri if not uri.startswith("/") else f"file://{uri}",
                    )
                elif arg.startswith("--model="):
                    value = arg.split("=", 1)[1]
                    yield (f"{at}/{group}/{c}/args/{a}", value if "://" in value else f"hf://{value}")
