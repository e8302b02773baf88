"""``modelscan pull``: judge a hub repo before its weights are downloaded, then download exactly
what was judged.

remote scan (range reads, pinned commit) → policy → ``snapshot_download`` of that commit (the
client's cache, progress bars and resume) → every file's digest checked against the hub's
listing → local rescan → one atomic rename into ``--dest`` with ``modelscan-report.json``.
Nothing is ever left in ``--dest`` unless every step passed: the work happens in a staging
folder beside it, removed on any failure.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scanner import pipeline
from scanner.model import Finding, Report, Severity
from scanner.pipeline import ScanOptions
from scanner.policy import Policy
from scanner.rules import finding
from scanner.sources.hf import (
    HubAccessError,
    HubFile,
    HubRef,
    HubSnapshot,
    check_access,
    explain_hub_error,
    fetch_snapshot,
    tree_from_snapshot,
)
from scanner.sources.interface import SourceError

REPORT_NAME = "modelscan-report.json"
BOM_NAME = "modelscan-aibom.cdx.json"

#: Pickle-based weight files that duplicate a folder's safetensors weights (transformers,
#: diffusers and original-checkpoint layouts). Other pickles (optimizer state, custom data)
#: are never skipped silently: they are downloaded and scanned like any file.
REDUNDANT_PICKLE_WEIGHTS = (
    "pytorch_model*.bin",
    "pytorch_model*.bin.index.json",
    "diffusion_pytorch_model*.bin",
    "model*.pt",
    "model*.pth",
    "consolidated*.pth",
    "consolidated*.pt",
    "*.ckpt",
)

Log = Callable[[str], None]


class PullError(SourceError):
    """The pull could not be done (exit 2): the hub, the network, the destination."""


@dataclass(frozen=True)
class PullOptions:
    dest: Path
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    take_all: bool = False
    """Take redundant pickle weights too (``--all``)."""
    use_cache: bool = True
    rules_dirs: tuple[str, ...] = ()
    token: str | bool | None = None
    signature_file: str | None = None
    """The signature to verify the download against instead of its ``model.sig`` (``--signature``)."""


@dataclass(frozen=True)
class PullResult:
    report: Report
    """The report the decision rests on: the local rescan, or the remote scan if it refused."""
    passed: bool
    stage: str
    """Where it ended: ``remote-scan`` / ``verify`` / ``local-scan`` refused, or ``done``."""
    dest: Path | None
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    files: tuple[HubFile, ...]
    skipped: tuple[str, ...]
    """Redundant pickle weights left out because safetensors hold the same weights."""


def select_files(
    files: Sequence[HubFile], include: Sequence[str], exclude: Sequence[str], take_all: bool
) -> Selection:
    """Apply ``--include``/``--exclude`` globs (on repo paths), then prefer safetensors."""
    chosen = [
        f
        for f in files
        if (not include or any(fnmatch.fnmatchcase(f.path, g) for g in include))
        and not any(fnmatch.fnmatchcase(f.path, g) for g in exclude)
    ]
    if take_all:
        return Selection(tuple(chosen), ())
    folders_with_safetensors = {posixpath.dirname(f.path) for f in chosen if f.path.endswith(".safetensors")}
    kept, skipped = [], []
    for f in chosen:
        folder, name = posixpath.split(f.path)
        if folder in folders_with_safetensors and any(
            fnmatch.fnmatchcase(name, g) for g in REDUNDANT_PICKLE_WEIGHTS
        ):
            skipped.append(f.path)
        else:
            kept.append(f)
    return Selection(tuple(kept), tuple(skipped))


def remote_scan(
    snapshot: HubSnapshot, selection: Selection, policy: Policy, options: PullOptions, log: Log
) -> Report:
    """Scan the selected files of the pinned commit with range reads (cached per commit)."""
    tree = tree_from_snapshot(snapshot, options.token, frozenset(f.path for f in selection.files))
    scan_options = ScanOptions(policy=policy, rules_dirs=options.rules_dirs, use_cache=options.use_cache)
    report = pipeline.scan(tree, scan_options)
    if "cache" in report.timings:
        log(f"using the cached result for {snapshot.ref.repo_id}@{snapshot.commit[:12]}")
    return _with_findings(report, _skipped_findings(selection.skipped))


def pull(ref: HubRef, policy: Policy, options: PullOptions, log: Log) -> PullResult:
    """Run the whole pull; raise ``PullError``/``SourceError`` when it cannot be done."""
    dest = options.dest
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PullError(f"--dest {dest} already exists and is not an empty folder; choose another")
    snapshot = fetch_snapshot(ref, options.token)
    selection = select_files(snapshot.files, options.include, options.exclude, options.take_all)
    if not selection.files:
        raise PullError(f"no file of {ref.display} matches the --include/--exclude patterns")
    check_access(snapshot, options.token, among=selection.files)
    log(
        f"{ref.repo_id}: revision {ref.revision or 'main'} is commit {snapshot.commit}; "
        f"scanning {len(selection.files)} file(s) remotely"
    )
    for path in selection.skipped:
        log(f"skipping {path}: pickle weights duplicated by safetensors (use --all to take it)")
    report = remote_scan(snapshot, selection, policy, options, log)
    # A required signature is checked on the downloaded bytes (the remote scan reads no
    # model.sig contents), so the remote stage judges the findings only.
    if not policy.findings_only().judge(report).passed:
        return PullResult(report, False, "remote-scan", None, selection.skipped)
    return _download_verify_install(snapshot, selection, policy, options, report, log)


def refusal_lines(result: PullResult, policy: Policy) -> list[str]:
    """What the user reads on stderr: where it stopped, and each counted finding's file and rule."""
    if result.passed:
        where = f" into {result.dest}" if result.dest else ""
        files = sum(1 for a in result.report.artifacts if a.depth == 0 and "!" not in a.path)
        return [f"pulled {files} file(s) at commit {result.report.revision}{where}"]
    stage = {
        "remote-scan": "the remote scan",
        "verify": "the digest check",
        "local-scan": "the local rescan",
    }.get(result.stage, result.stage)
    lines = [f"refused by {stage}; nothing was written to the destination"]
    lines += [f"  {reason}" for reason in policy.judge(result.report).reasons if "signature" in reason]
    threshold = policy.fail_on if result.stage != "verify" else Severity.HIGH
    for f in result.report.findings:
        counted = policy.effective(f)
        if counted is not None and threshold is not None and counted.severity >= threshold:
            lines.append(f"  {f.artifact}: {f.rule_id} ({counted.severity.label}) {f.message}")
    return lines


def _download_verify_install(
    snapshot: HubSnapshot,
    selection: Selection,
    policy: Policy,
    options: PullOptions,
    remote: Report,
    log: Log,
) -> PullResult:
    dest = options.dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.modelscan-pull-", dir=dest.parent))
    try:
        downloaded = _download(snapshot, selection, options)
        measured, digest_findings = _copy_and_verify(selection, downloaded, staging)
        if digest_findings:
            refused = _with_findings(remote, digest_findings)
            return PullResult(refused, False, "verify", None, selection.skipped)
        log(f"all {len(selection.files)} file(s) match the hub's digests; rescanning locally")
        # The signature step runs on the downloaded bytes: a signer the policy names (or
        # --key/--identity/... on the command line) must have signed exactly these files.
        rescan = ScanOptions(
            policy=policy,
            rules_dirs=options.rules_dirs,
            measured_sha256=measured,
            signature_file=options.signature_file,
        )
        local = pipeline.scan(str(staging), rescan)
        local = _pinned(local, snapshot, selection, remote)
        if not policy.judge(local).passed:
            return PullResult(local, False, "local-scan", None, selection.skipped)
        from scanner.report import renderer_for

        report_json = renderer_for("json").render(local, policy)  # scan-safe: our JSON report
        (staging / REPORT_NAME).write_text(report_json, encoding="utf-8")
        try:
            from sbom import write_sbom
        except ImportError:  # the sbom extra is optional; the report is still written
            log(f"no AI-BOM written: install model-scanner[sbom] for {BOM_NAME}")
        else:
            write_sbom(local, staging / BOM_NAME, policy)
        if dest.exists():
            dest.rmdir()  # an empty folder the user made for us; rename cannot replace it portably
        os.rename(staging, dest)
        return PullResult(local, True, "done", dest, selection.skipped)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _download(snapshot: HubSnapshot, selection: Selection, options: PullOptions) -> Path:
    """``snapshot_download`` of exactly the selected files at the pinned commit, into the
    client's cache (a cut connection is resumed by the client; completed files are reused)."""
    from huggingface_hub import snapshot_download

    patterns = [_escape_glob(f.path) for f in selection.files]
    try:
        folder = snapshot_download(
            snapshot.ref.repo_id,
            revision=snapshot.commit,
            allow_patterns=patterns,
            endpoint=snapshot.endpoint,
            token=options.token,
        )
    except Exception as exc:
        why = explain_hub_error(exc, snapshot.ref, snapshot.endpoint)
        # huggingface_hub resumes a cut connection within one run; across runs it keeps only
        # completed files (in its cache), so a rerun fetches just the files still missing.
        raise PullError(
            f"download of {snapshot.ref.repo_id}@{snapshot.commit[:12]} failed: {why}; "
            "nothing was written to the destination; files already downloaded stay in "
            "the hub cache, so running the same command again fetches only the rest"
        ) from None
    return Path(str(folder))


def _copy_and_verify(
    selection: Selection, downloaded: Path, staging: Path
) -> tuple[dict[str, str], tuple[Finding, ...]]:
    """Copy each selected file into staging, hashing the very bytes written: their SHA-256
    per path, and a finding for each file the hub's digest disagrees with."""
    measured: dict[str, str] = {}
    findings: list[Finding] = []
    for f in selection.files:
        src = downloaded / f.path
        if not src.is_file():
            findings.append(
                finding(
                    "HUB-MISSING-001",
                    f.path,
                    "The hub lists this file for the pinned commit but the download did not deliver it.",
                )
            )
            continue
        target = staging / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        sha256, sha1 = _copy_hashing(src, target, f.size)
        measured[f.path] = sha256
        expected: str | None = f.sha256 if f.sha256 is not None else f.blob_id
        actual, kind = (sha256, "LFS sha256") if f.sha256 is not None else (sha1, "git blob id")
        if expected is not None and actual != expected.lower():
            findings.append(
                finding(
                    "HUB-DIGEST-001",
                    f.path,
                    f"The downloaded bytes do not match the hub's {kind}: they are not the bytes that "
                    "were scanned.",
                    evidence=f"expected {expected}, got {actual}",
                )
            )
            _evict(src)
    return measured, tuple(findings)


def _copy_hashing(src: Path, dst: Path, size: int) -> tuple[str, str]:
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % size)  # git's blob id, the digest of non-LFS files
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(4 * 1024 * 1024):
            sha256.update(chunk)
            sha1.update(chunk)
            fout.write(chunk)
    if os.path.getsize(dst) != size:
        sha1 = hashlib.sha1(b"size-mismatch")  # a blob id of another size can never match
    return sha256.hexdigest(), sha1.hexdigest()


def _evict(path: Path) -> None:
    """Remove a tampered file from the client's cache so the next pull fetches it again."""
    real = Path(os.path.realpath(path))
    for p in {path, real}:
        with contextlib.suppress(OSError):
            p.unlink()


def _pinned(local: Report, snapshot: HubSnapshot, selection: Selection, remote: Report) -> Report:
    """The local rescan, reported as the pinned hub revision, with the hub's digests beside the
    measured ones (they agreed, or the pull stopped at the digest check)."""
    digests = {f.path: f.sha256 for f in selection.files}
    artifacts = tuple(replace(a, expected_sha256=digests.get(a.path)) for a in local.artifacts)
    skipped = tuple(f for f in remote.findings if f.rule_id == "HUB-SKIPPED-001")
    return _with_findings(
        replace(
            local,
            target=f"hf://{snapshot.ref.display}",
            revision=snapshot.commit,
            artifacts=artifacts,
            bytes_total=sum(f.size for f in selection.files),
        ),
        skipped,
    )


def _skipped_findings(paths: Sequence[str]) -> tuple[Finding, ...]:
    message = (
        "Not downloaded: pickle weights that duplicate this folder's safetensors weights "
        "(use --all to take them)."
    )
    return tuple(finding("HUB-SKIPPED-001", p, message) for p in paths)


def _with_findings(report: Report, extra: Sequence[Finding]) -> Report:
    if not extra:
        return report
    merged = tuple(sorted(set(report.findings) | set(extra), key=Finding.sort_key))
    return replace(report, findings=merged)


def _escape_glob(path: str) -> str:
    """An fnmatch pattern matching exactly ``path`` (allow_patterns are globs)."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in path)


__all__ = [
    "REPORT_NAME",
    "HubAccessError",
    "PullError",
    "PullOptions",
    "PullResult",
    "pull",
    "refusal_lines",
    "select_files",
]
