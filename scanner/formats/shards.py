"""Sharded safetensors: the index (``model.safetensors.index.json``) against the shard headers.

The index decides which shard a loader reads each tensor from. The shard headers were already
parsed by the safetensors analyzer; their tensor tables arrive here as facts, so no header is
read twice. Disagreements are where a tensor can be hidden from one reader and seen by another.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping

from scanner.formats.interface import Context
from scanner.model import Facts, FactValue, Finding, Location


def check_index(path: str, doc: object, present: Collection[str], context: Context) -> list[Finding]:
    """Findings for the index at ``path`` (parsed JSON ``doc``); ``present`` lists the tree's files;
    the shards' tensor tables come from ``context.facts``."""
    facts = context.facts
    out: list[Finding] = []

    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        out.append(
            context.finding(
                "REPO-INDEX-001", path, "The shard index has no weight_map of tensor names to shard files."
            )
        )
        return out
    folder = posixpath.dirname(path)
    holders: dict[str, list[str]] = {}
    parsed: set[str] = set()
    for shard in sorted(set(weight_map.values())):
        target = posixpath.normpath(posixpath.join(folder, shard))
        if shard.startswith("/") or ".." in shard.split("/"):
            out.append(
                context.finding(
                    "REPO-INDEX-002",
                    path,
                    "The shard index names a file outside the folder.",
                    location=Location(pointer="/weight_map"),
                    evidence=shard,
                )
            )
            continue
        if target not in present:
            out.append(
                context.finding(
                    "REPO-INDEX-002",
                    path,
                    "The shard index names a shard that is not in the folder.",
                    location=Location(pointer="/weight_map"),
                    evidence=shard,
                )
            )
            continue
        tensors = tensor_names(facts.get(target, {}))
        if tensors is None:
            continue  # the shard itself failed to parse; that is its own finding
        parsed.add(shard)
        for name in tensors:
            holders.setdefault(name, []).append(shard)
    for name, shards in sorted(holders.items()):
        if len(shards) > 1:
            out.append(
                context.finding(
                    "REPO-INDEX-002",
                    path,
                    f"Tensor {name!r} is stored in several shards; the loader's choice depends on "
                    "load order.",
                    evidence=", ".join(shards),
                )
            )
        elif name not in weight_map:
            out.append(
                context.finding(
                    "REPO-INDEX-002",
                    path,
                    f"Tensor {name!r} in {shards[0]} is missing from the index: bytes no loader declares.",
                    evidence=shards[0],
                )
            )
        elif weight_map[name] != shards[0]:
            out.append(
                context.finding(
                    "REPO-INDEX-002",
                    path,
                    f"The index puts {name!r} in {weight_map[name]}, but it is stored in {shards[0]}.",
                    evidence=shards[0],
                )
            )
    for name, shard in sorted(weight_map.items()):
        if name not in holders and shard in parsed:
            out.append(
                context.finding(
                    "REPO-INDEX-002",
                    path,
                    f"The index maps {name!r} to {shard}, which does not hold it.",
                    location=Location(pointer="/weight_map"),
                    evidence=shard,
                )
            )
    return out


def weights_facts(
    folder: str, index_doc: object, safetensors: list[str], facts: Mapping[str, Facts]
) -> dict[str, FactValue]:
    """Parameter count and dtypes over the folder's weights: the indexed shards when there is an
    index (a consolidated copy beside the shards is not counted twice), else every file."""
    shards = sorted(safetensors)
    mapped = index_doc.get("weight_map") if isinstance(index_doc, dict) else None
    if isinstance(mapped, dict):
        shards = sorted({posixpath.join(folder, str(s)) for s in mapped.values()} & set(shards))
    if not shards:
        return {}
    params = 0
    dtypes: set[str] = set()
    for shard in shards:
        f = facts.get(shard, {})
        count = f.get("parameter_count")
        params += count if isinstance(count, int) else 0
        d = f.get("dtypes")
        if isinstance(d, dict):
            dtypes.update(d)
    return {
        "parameter_count": params,
        "weight_dtypes": list[FactValue](sorted(dtypes)),
        "weight_files": list[FactValue](shards),
    }


def tensor_names(facts: Facts) -> list[str] | None:
    table = facts.get("tensors")
    return list(table) if isinstance(table, dict) else None
