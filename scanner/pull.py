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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scanner import __version__, cache
from scanner.engine import ProgressCallback, scan_target, scan_tree
from scanner.model import Finding, Report, Severity
from scanner.policy import Policy
from scanner.rules import load_rules
from scanner.sources.hf import (
    HubAccessError,
    HubFile,
    HubRef,
    HubSnapshot,
    check_access,
    explain_hub_error,
    fetch_snapshot,
    parse_hub_target,
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


def remote_scan(snapshot: HubSnapshot, selection: Selection, options: PullOptions, log: Log) -> Report:
    """Scan the selected files of the pinned commit with range reads (cached per commit)."""
    paths = [f.path for f in selection.files]
    key = cache.cache_key(
        snapshot.ref.repo_id, snapshot.commit, __version__, load_rules(options.rules_dirs).digest, paths
    )
    if options.use_cache and (hit := _cached(key)) is not None:
        log(f"using the cached result for {snapshot.ref.repo_id}@{snapshot.commit[:12]}")
        report = hit
    else:
        tree = tree_from_snapshot(snapshot, options.token, frozenset(paths))
        report = scan_tree(tree, options.rules_dirs)
        if options.use_cache:
            cache.store(key, report)
    return _with_findings(report, _skipped_findings(selection.skipped))


def scan_hub(
    target: str,
    rules_dirs: Sequence[str] = (),
    use_cache: bool = True,
    progress: ProgressCallback | None = None,
) -> Report:
    """``modelscan scan hf://…``: the remote scan of a whole repo, cached per commit."""
    snapshot = fetch_snapshot(parse_hub_target(target))
    check_access(snapshot)
    key = cache.cache_key(
        snapshot.ref.repo_id,
        snapshot.commit,
        __version__,
        load_rules(rules_dirs).digest,
        [f.path for f in snapshot.files],
    )
    if use_cache and (hit := _cached(key)) is not None:
        return replace(hit, target=target)
    report = scan_tree(tree_from_snapshot(snapshot), rules_dirs, progress=progress)
    if use_cache:
        cache.store(key, report)
    return report


def _cached(key: str) -> Report | None:
    """A cached report as this run's: it read nothing, and its only phase was the lookup."""
    t0 = time.perf_counter()
    hit = cache.load(key)
    if hit is None:
        return None
    return replace(hit, bytes_read=0, timings={"cache": round(time.perf_counter() - t0, 6)})


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
    report = remote_scan(snapshot, selection, options, log)
    # A required signature is checked on the downloaded bytes (the remote scan reads no
    # model.sig contents), so the remote stage judges the findings only.
    if not report.verdict(replace(policy, require_signature=False)).passed:
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
    lines += [f"  {reason}" for reason in result.report.verdict(policy).reasons if "signature" in reason]
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
        digest_findings = _copy_and_verify(selection, downloaded, staging)
        if digest_findings:
            refused = _with_findings(remote, digest_findings)
            return PullResult(refused, False, "verify", None, selection.skipped)
        log(f"all {len(selection.files)} file(s) match the hub's digests; rescanning locally")
        local = scan_target(str(staging), rules_dirs=options.rules_dirs, hash_files=False)
        local = _pinned(local, snapshot, selection, remote)
        local = _with_signature(local, staging, policy)
        if not local.verdict(policy).passed:
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


def _copy_and_verify(selection: Selection, downloaded: Path, staging: Path) -> tuple[Finding, ...]:
    """Copy each selected file into staging, hashing the very bytes written."""
    findings: list[Finding] = []
    for f in selection.files:
        src = downloaded / f.path
        if not src.is_file():
            findings.append(
                Finding(
                    "HUB-MISSING-001",
                    Severity.HIGH,
                    f.path,
                    "The hub lists this file for the pinned commit but the download did not deliver it.",
                )
            )
            continue
        target = staging / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        sha256, sha1 = _copy_hashing(src, target, f.size)
        expected: str | None = f.sha256 if f.sha256 is not None else f.blob_id
        actual, kind = (sha256, "LFS sha256") if f.sha256 is not None else (sha1, "git blob id")
        if expected is not None and actual != expected.lower():
            findings.append(
                Finding(
                    "HUB-DIGEST-001",
                    Severity.CRITICAL,
                    f.path,
                    f"The downloaded bytes do not match the hub's {kind}: they are not the bytes that "
                    "were scanned.",
                    evidence=f"expected {expected}, got {actual}",
                )
            )
            _evict(src)
    return tuple(findings)


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
    """The local rescan, reported as the pinned hub revision, with verified digests recorded."""
    digests = {f.path: f.sha256 for f in selection.files}
    artifacts = tuple(
        replace(a, expected_sha256=digests.get(a.path), sha256=digests.get(a.path)) for a in local.artifacts
    )
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


def _with_signature(report: Report, staging: Path, policy: Policy) -> Report:
    """Verify the downloaded folder's ``model.sig`` (or require one) as ``scan`` does; the
    signer comes from the policy file's ``signatures:`` section. The verifier reuses the
    digests already checked against the hub, so no file is read twice."""
    from signatures.paths import default_signature_path

    if not policy.require_signature and not default_signature_path(staging).is_file():
        return report
    from signatures.policy_file import load_signature_policy
    from signatures.scan_step import attach_signature

    from_file = load_signature_policy(policy.source) if Path(policy.source).is_file() else None
    method = from_file.method if from_file is not None else None
    return attach_signature(report, str(staging), method, None, policy.require_signature)


def _skipped_findings(paths: Sequence[str]) -> tuple[Finding, ...]:
    return tuple(
        Finding(
            "HUB-SKIPPED-001",
            Severity.INFO,
            p,
            "Not downloaded: pickle weights that duplicate this folder's safetensors "
            "weights (use --all to take them).",
        )
        for p in paths
    )


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
    "scan_hub",
    "select_files",
]
