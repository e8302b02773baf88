"""Comparing a model folder with a signed manifest, file by file.

The folder is enumerated without following symlinks, every file is hashed once on all cores
(``scanner.hashing``), and each file gets one status: ``ok``, ``mismatch``, ``missing``,
``unsigned`` (present but not signed: fails verification, and is still scanned) or
``ignored-by-signer`` (the signer excluded it through ``ignore_paths``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.hashing import Span, hash_spans
from scanner.model import FileCheck
from signatures.errors import SignatureError
from signatures.statement import Resource, SignedManifest

OK, MISMATCH, MISSING, UNSIGNED, IGNORED = "ok", "mismatch", "missing", "unsigned", "ignored-by-signer"
#: Ignored by every model-signing verifier, at the top level only (model_signing's default).
DEFAULT_IGNORES = (".git", ".gitattributes", ".github", ".gitignore")
MAX_FILES = 1_000_000
#: Suffixes of files some loader executes or deserializes: a signer that excludes one of these
#: leaves exactly the part an attacker wants unsigned.
LOADABLE_SUFFIXES = (
    ".pkl",
    ".pickle",
    ".pt",
    ".pth",
    ".bin",
    ".ckpt",
    ".joblib",
    ".npy",
    ".npz",
    ".safetensors",
    ".gguf",
    ".onnx",
    ".h5",
    ".hdf5",
    ".keras",
    ".pb",
    ".msgpack",
    ".py",
    ".json",
    ".jinja",
    ".model",
    ".tflite",
    ".mar",
    ".zip",
    ".tar",
    ".gz",
)


@dataclass(frozen=True)
class LocalFile:
    """One entry of the model folder as found on disk."""

    rel: str
    """POSIX path relative to the model folder (the basename for a single-file model)."""
    path: Path
    size: int
    regular: bool
    """False for symlinks and special files, which are never followed or read."""


@dataclass(frozen=True)
class ManifestCheck:
    """The outcome of comparing a folder with a manifest."""

    files: tuple[FileCheck, ...]
    digests: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Whole-file digests computed on the way, per relative path and algorithm, for the scan
    and the AI-BOM to reuse (so that each file is read once)."""

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


def is_loadable(rel: str) -> bool:
    """True when a loader would deserialize or execute a file of this name."""
    return rel.lower().endswith(LOADABLE_SUFFIXES)


def enumerate_model(root: Path, skip: Sequence[str] = ()) -> list[LocalFile]:
    """Every entry under ``root`` (or ``root`` itself when it is a file), sorted, no symlinks followed.

    ``skip`` holds relative paths (files or folders) the verifier itself ignores.
    """
    try:
        st = root.lstat()
    except OSError as exc:
        raise SignatureError(f"cannot read model {root}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        return [LocalFile(root.name, root, st.st_size, stat.S_ISREG(st.st_mode))]
    out: list[LocalFile] = []
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise SignatureError(f"cannot list {folder}: {exc.strerror}") from None
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if covered(rel, skip):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), rel + "/"))
                continue
            info = entry.stat(follow_symlinks=False)
            out.append(LocalFile(rel, Path(entry.path), info.st_size, stat.S_ISREG(info.st_mode)))
            if len(out) > MAX_FILES:
                raise SignatureError(f"model has more than {MAX_FILES} files")
    return sorted(out, key=lambda f: f.rel)


def covered(rel: str, paths: Sequence[str]) -> bool:
    """True when ``rel`` is one of ``paths`` or lies under one of them."""
    return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in paths)


def check_manifest(
    root: Path,
    manifest: SignedManifest,
    skip: Sequence[str] = (),
    known_sha256: Mapping[str, str] | None = None,
    workers: int | None = None,
) -> ManifestCheck:
    """Compare the folder at ``root`` with ``manifest``.

    ``skip``: paths the verifier ignores on its own (the signature file); the top-level git
    files are always skipped. ``known_sha256``: digests already verified against a trusted
    source (the hub's LFS oid), reused instead of reading the file again.
    """
    root = root.resolve()  # the folder the user named may itself be a link; nothing inside is followed
    single_file = root.is_file()
    local = enumerate_model(root, () if single_file else (*DEFAULT_IGNORES, *skip))
    expected: dict[str, list[Resource]] = {}
    for r in manifest.resources:
        path = local[0].rel if single_file and r.path == "." else r.path
        expected.setdefault(path, []).append(r)

    checks: dict[str, FileCheck] = {}
    to_hash: list[tuple[LocalFile, list[Resource]]] = []
    for f in local:
        resources = expected.get(f.rel)
        if resources is None:
            if covered(f.rel, manifest.ignore_paths):
                loadable = " a loadable file" if is_loadable(f.rel) else ""
                why = f"the signer excluded{loadable} it; it is still scanned"
                checks[f.rel] = FileCheck(f.rel, IGNORED, why)
            else:
                checks[f.rel] = FileCheck(f.rel, UNSIGNED, "present but not covered by the signature")
        elif not f.regular:
            checks[f.rel] = FileCheck(f.rel, MISMATCH, "is a symlink or special file; never followed")
        else:
            gap = _coverage_gap(f, resources, manifest.method)
            if gap:
                checks[f.rel] = FileCheck(f.rel, MISMATCH, gap)
            else:
                to_hash.append((f, resources))
    present = {f.rel for f in local}
    for path in expected:
        if path not in present:
            checks[path] = FileCheck(path, MISSING, "signed but not found")

    digests = _hash_all(to_hash, manifest, known_sha256 or {}, workers)
    for f, resources in to_hash:
        bad = [r.name for r in resources if digests.get(_key(f, r)) != r.digest]
        checks[f.rel] = (
            FileCheck(f.rel, MISMATCH, f"{manifest.hash_type} digest differs from the signed one")
            if bad
            else FileCheck(f.rel, OK)
        )
    whole = {
        f.rel: {manifest.hash_type: digests[_key(f, rs[0])]}
        for f, rs in to_hash
        if rs[0].start is None and _key(f, rs[0]) in digests
    }
    return ManifestCheck(files=tuple(checks[k] for k in sorted(checks)), digests=whole)


def _key(f: LocalFile, r: Resource) -> tuple[str, int | None, int | None]:
    return (f.rel, r.start, r.end)


def _hash_all(
    todo: Sequence[tuple[LocalFile, list[Resource]]],
    manifest: SignedManifest,
    known_sha256: Mapping[str, str],
    workers: int | None,
) -> dict[tuple[str, int | None, int | None], str]:
    out: dict[tuple[str, int | None, int | None], str] = {}
    spans: dict[Span, tuple[str, int | None, int | None]] = {}
    for f, resources in todo:
        for r in resources:
            if r.start is None and manifest.hash_type == "sha256" and f.rel in known_sha256:
                out[_key(f, r)] = known_sha256[f.rel].lower()
            else:
                spans[Span(f.path, r.start or 0, r.end)] = _key(f, r)
    for span, result in hash_spans(spans, (manifest.hash_type,), workers).items():
        out[spans[span]] = result[manifest.hash_type]
    return out


def _coverage_gap(f: LocalFile, resources: Sequence[Resource], method: str) -> str | None:
    """For shards: the signed ranges must tile the whole file, or bytes would go unchecked."""
    if method != "shards":
        return None
    pos = 0
    for r in sorted(resources, key=lambda r: r.start or 0):
        if r.start != pos:
            return f"signed shards do not cover bytes {pos}..{r.start} of the file"
        pos = r.end or 0
    if pos != f.size:
        return f"signed shards cover {pos} bytes but the file has {f.size}"
    return None
