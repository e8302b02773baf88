"""`modelscan pull` against a fake hub, with the real huggingface_hub client in a subprocess.

Threat model: the bytes that land in --dest must be exactly the bytes that were judged, from one
pinned commit, and nothing may land there unless every check passed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.hub.conftest import modelscan
from tests.hub.fakehub import Content, FakeHub, FakeRepo, safetensors_file
from tests.hub.models import CONFIG, malicious_torch_checkpoint, small_safetensors


def _benign_files() -> dict[str, Content | bytes]:
    return {"config.json": CONFIG, "model.safetensors": small_safetensors(), "README.md": b"# tiny\n"}


def _resolve_requests(hub: FakeHub) -> list[str]:
    return [path for _, path, _ in hub.requests if "/resolve/" in path]


def _nothing_left(parent: Path, name: str) -> None:
    assert not (parent / name).exists()
    leftovers = [p.name for p in parent.iterdir() if "modelscan-pull" in p.name]
    assert leftovers == [], f"staging folders left behind: {leftovers}"


def test_benign_repo_is_pulled_pinned_to_the_scanned_commit(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = hub.add_repo("acme/tiny", _benign_files())
    commit = repo.refs["main"]
    dest = tmp_path / "out"
    r = modelscan(hub_env, "pull", "acme/tiny@main", "--dest", str(dest), "-f", "json")
    assert r.returncode == 0, r.stderr
    assert commit in r.stderr
    files = repo.commits[commit]
    for name in ("config.json", "model.safetensors", "README.md"):
        assert (dest / name).read_bytes() == files[name].read()
    report = json.loads((dest / "modelscan-report.json").read_text())
    assert report["revision"] == commit
    assert report["target"] == "hf://acme/tiny@main"  # what was asked; "revision" is what it meant
    assert report["verdict"]["passed"] is True
    # Every file request names the commit sha, never the branch: the pin holds for every byte.
    resolves = _resolve_requests(hub)
    assert resolves and all(f"/resolve/{commit}/" in p for p in resolves)
    assert sum(1 for _, p, _ in hub.requests if "/revision/" in p) == 1


def test_pull_leaves_an_ai_bom_of_the_pinned_commit_beside_the_model(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = hub.add_repo("acme/tiny", _benign_files())
    commit = repo.refs["main"]
    dest = tmp_path / "out"
    r = modelscan(hub_env, "pull", "acme/tiny", "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    bom = json.loads((dest / "modelscan-aibom.cdx.json").read_text())
    [model] = [c for c in bom["components"] if c["type"] == "machine-learning-model"]
    assert model["purl"] == f"pkg:huggingface/acme/tiny@{commit}"
    files = {c["name"]: c for c in model.get("components", [])}
    digest = hashlib.sha256(repo.commits[commit]["model.safetensors"].read()).hexdigest()
    assert files["model.safetensors"]["hashes"] == [{"alg": "SHA-256", "content": digest}]


def test_pull_requiring_a_signature_refuses_an_unsigned_repo(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("acme/tiny", _benign_files())
    policy = tmp_path / "policy.yaml"
    policy.write_text("require_signature: true\n")
    dest = tmp_path / "out"
    r = modelscan(hub_env, "pull", "acme/tiny", "--dest", str(dest), "--policy", str(policy))
    assert r.returncode == 1, r.stderr
    assert "signature" in r.stderr
    _nothing_left(tmp_path, "out")


def test_redundant_pickle_weights_are_skipped_unless_all(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("acme/both", {**_benign_files(), "pytorch_model.bin": malicious_torch_checkpoint()})
    dest = tmp_path / "out"
    r = modelscan(hub_env, "pull", "acme/both", "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    assert "skipping pytorch_model.bin" in r.stderr
    assert (dest / "model.safetensors").is_file()
    assert not (dest / "pytorch_model.bin").exists()
    # The skipped file was never fetched, not even its first block.
    assert not any("pytorch_model.bin" in p for p in _resolve_requests(hub))


def test_malicious_pickle_repo_is_refused_and_dest_stays_empty(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("evil/ckpt", {"config.json": CONFIG, "pytorch_model.bin": malicious_torch_checkpoint()})
    r = modelscan(hub_env, "pull", "evil/ckpt", "--dest", str(tmp_path / "out"))
    assert r.returncode == 1, r.stderr
    assert "refused by the remote scan" in r.stderr
    refusal = [line for line in r.stderr.splitlines() if line.startswith("  pytorch_model.bin")]
    assert refusal and "PICKLE" in refusal[0], r.stderr
    _nothing_left(tmp_path, "out")
    # Only range reads happened: the checkpoint was judged without downloading it.
    assert all(rng is not None for _, p, rng in hub.requests if p.startswith("/cdn/"))


def test_malicious_pickle_is_refused_even_with_all(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("evil/both", {**_benign_files(), "pytorch_model.bin": malicious_torch_checkpoint()})
    r = modelscan(hub_env, "pull", "evil/both", "--all", "--dest", str(tmp_path / "out"))
    assert r.returncode == 1, r.stderr
    assert "pytorch_model.bin" in r.stderr
    _nothing_left(tmp_path, "out")


def test_same_size_tampered_blob_is_refused_by_the_digest_check(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = hub.add_repo("acme/tiny", _benign_files())
    original = repo.commits[repo.refs["main"]]["model.safetensors"]
    data = bytearray(original.read())
    data[-1] ^= 0xFF  # same header, same size: the client's size check cannot notice
    hub.tamper[original.sha256] = Content(bytes(data))
    r = modelscan(hub_env, "pull", "acme/tiny", "--dest", str(tmp_path / "out"))
    assert r.returncode == 1, r.stderr
    assert "refused by the digest check" in r.stderr
    assert any(line.startswith("  model.safetensors: HUB-DIGEST-001") for line in r.stderr.splitlines())
    _nothing_left(tmp_path, "out")
    # The tampered copy does not stay in the client's cache to be served next time.
    blobs = list((Path(hub_env["HF_HOME"]) / "hub").rglob(f"blobs/{original.sha256}"))
    assert blobs == []


def test_revision_moving_between_scan_and_download_does_not_move_the_pin(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = hub.add_repo("acme/moving", _benign_files())
    scanned = repo.refs["main"]

    def push_malicious(r: FakeRepo) -> None:
        r.on_info.clear()
        r.commit(
            {
                **_benign_files(),
                "config.json": b'{"model_type": "evil"}',
                "pytorch_model.bin": malicious_torch_checkpoint(),
            }
        )

    repo.on_info.append(push_malicious)
    dest = tmp_path / "out"
    r = modelscan(hub_env, "pull", "acme/moving", "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    assert repo.refs["main"] != scanned  # the branch did move
    assert (dest / "config.json").read_bytes() == CONFIG
    assert not (dest / "pytorch_model.bin").exists()
    assert json.loads((dest / "modelscan-report.json").read_text())["revision"] == scanned


def test_gated_repo_without_access_says_how_to_get_it(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("meta/gated", _benign_files(), gated=True, token="hf_granted")
    for args in (["pull", "meta/gated", "--dest", str(tmp_path / "out")], ["scan", "hf://meta/gated"]):
        r = modelscan(hub_env, *args)
        assert r.returncode == 2, r.stderr
        assert "gated" in r.stderr
        assert f"{hub.url}/meta/gated" in r.stderr  # where to accept the license
        assert "HF_TOKEN" in r.stderr and "login" in r.stderr
        assert "Traceback" not in r.stderr
    _nothing_left(tmp_path, "out")


def test_gated_repo_with_a_granted_token_is_pulled(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("meta/gated", _benign_files(), gated=True, token="hf_granted")
    r = modelscan({**hub_env, "HF_TOKEN": "hf_granted"}, "pull", "meta/gated", "--dest", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "model.safetensors").is_file()


def test_connection_dropped_mid_download_exits_2_without_partial_dest(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = hub.add_repo("acme/flaky", _benign_files())
    weights = repo.commits[repo.refs["main"]]["model.safetensors"]
    hub.drop[weights.sha256] = 1000  # every download attempt is cut off
    r = modelscan(hub_env, "pull", "acme/flaky", "--dest", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    assert "download of acme/flaky" in r.stderr and "failed" in r.stderr
    assert "Traceback" not in r.stderr
    _nothing_left(tmp_path, "out")


def test_interrupted_download_resumes_where_it_stopped(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    # 24 MB: the client writes to disk in 10 MiB chunks, so a cut at 12 MB leaves 10 MiB to keep.
    weights = safetensors_file({"w": ("F32", [6_000_000])})
    hub.add_repo("acme/flaky", {"config.json": CONFIG, "model.safetensors": weights})
    hub.drop[weights.sha256] = 1
    r = modelscan(hub_env, "pull", "acme/flaky", "--dest", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == weights.read()
    downloads = [
        rng
        for _, p, rng in hub.requests
        if p == f"/cdn/{weights.sha256}" and (rng is None or rng.endswith("-"))
    ]
    assert downloads == [None, f"bytes={10 * 1024 * 1024}-"]


def test_unknown_repo_and_unknown_revision_exit_2(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("acme/tiny", _benign_files())
    r = modelscan(hub_env, "pull", "acme/nope", "--dest", str(tmp_path / "a"))
    assert r.returncode == 2 and "acme/nope" in r.stderr and "not found" in r.stderr
    r = modelscan(hub_env, "pull", "acme/tiny@v9", "--dest", str(tmp_path / "b"))
    assert r.returncode == 2 and "revision 'v9' was not found" in r.stderr


def test_non_empty_dest_is_refused_before_anything_is_fetched(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("acme/tiny", _benign_files())
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep")
    r = modelscan(hub_env, "pull", "acme/tiny", "--dest", str(dest))
    assert r.returncode == 2 and "not an empty folder" in r.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["mine.txt"]
    assert _resolve_requests(hub) == []


def test_include_and_exclude_globs_choose_what_is_scanned_and_pulled(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo(
        "acme/tiny",
        {**_benign_files(), "onnx/model.onnx": b"\x08\x07", "extra/evil.bin": malicious_torch_checkpoint()},
    )
    dest = tmp_path / "out"
    r = modelscan(
        hub_env,
        "pull",
        "acme/tiny",
        "--include",
        "*.json",
        "--include",
        "*.safetensors",
        "--exclude",
        "extra/*",
        "--dest",
        str(dest),
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in dest.iterdir()) == [
        "config.json",
        "model.safetensors",
        "modelscan-aibom.cdx.json",
        "modelscan-report.json",
    ]
    assert not any("evil.bin" in p or "onnx" in p for p in _resolve_requests(hub))


def test_second_pull_of_the_same_commit_uses_the_cached_verdict(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("acme/tiny", _benign_files())
    assert modelscan(hub_env, "pull", "acme/tiny", "--dest", str(tmp_path / "a")).returncode == 0
    hub.reset_counters()
    r = modelscan(hub_env, "pull", "acme/tiny", "--dest", str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    assert "using the cached result" in r.stderr
    assert not any(rng is not None and rng != "bytes=0-" for _, _, rng in hub.requests)
    hub.reset_counters()
    r = modelscan(hub_env, "pull", "acme/tiny", "--no-cache", "--dest", str(tmp_path / "c"))
    assert r.returncode == 0 and "cached" not in r.stderr
    assert any(rng is not None for _, _, rng in hub.requests)


def test_repo_listing_a_path_outside_the_folder_is_refused(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("evil/traversal", {**_benign_files(), "../../outside.txt": b"planted"})
    dest = tmp_path / "deep" / "out"
    r = modelscan(hub_env, "pull", "evil/traversal", "--dest", str(dest))
    assert r.returncode == 2, r.stderr
    assert "unsafe file path '../../outside.txt'" in r.stderr
    assert not dest.exists() and not (tmp_path / "outside.txt").exists()


def test_the_token_goes_to_the_hub_but_never_to_the_cdn(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add_repo("meta/gated", _benign_files(), gated=True, token="hf_granted")
    r = modelscan({**hub_env, "HF_TOKEN": "hf_granted"}, "pull", "meta/gated", "--dest", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    cdn = [auth for path, auth in hub.authorized if path.startswith("/cdn/")]
    hub_side = [auth for path, auth in hub.authorized if "/resolve/" in path]
    assert cdn and not any(cdn), "the token leaked to the CDN host"
    assert hub_side and all(hub_side)


def test_running_the_same_pull_again_fetches_only_the_files_still_missing(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    done, cut = small_safetensors(), safetensors_file({"w": ("F32", [600_000])})
    hub.add_repo("acme/flaky", {"config.json": CONFIG, "a.safetensors": done, "model.safetensors": cut})
    hub.drop[cut.sha256] = 1000
    first = modelscan(hub_env, "pull", "acme/flaky", "--dest", str(tmp_path / "out"))
    assert first.returncode == 2 and "fetches only the rest" in first.stderr
    hub.drop.clear()
    hub.reset_counters()
    second = modelscan(hub_env, "pull", "acme/flaky", "--dest", str(tmp_path / "out"))
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == cut.read()
    assert (tmp_path / "out" / "a.safetensors").read_bytes() == done.read()
    downloads = [p for _, p, rng in hub.requests if p.startswith("/cdn/") and rng is None]
    assert downloads == [f"/cdn/{cut.sha256}"]  # the completed file came from the cache


def test_small_file_altered_in_transit_is_refused_by_its_git_blob_id(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    repo = hub.add_repo("acme/tiny", _benign_files())
    config = repo.commits[repo.refs["main"]]["config.json"]
    altered = config.read().replace(b'"bert"', b'"BERT"')  # same size, other bytes
    assert len(altered) == config.size
    hub.tamper[config.git_sha1] = Content(altered)
    r = modelscan(hub_env, "pull", "acme/tiny", "--dest", str(tmp_path / "out"))
    assert r.returncode == 1, r.stderr
    assert any(
        line.startswith("  config.json: HUB-DIGEST-001") and "git blob id" in line
        for line in r.stderr.splitlines()
    ), r.stderr
    _nothing_left(tmp_path, "out")


def test_a_tree_listing_over_several_pages_is_pulled_whole(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    files = {**_benign_files(), "tokenizer/vocab.txt": b"a\nb\n", "tokenizer/merges.txt": b"a b\n"}
    hub.add_repo("acme/paged", files)
    hub.page_size = 2
    dest = tmp_path / "out"
    r = modelscan(hub_env, "pull", "acme/paged", "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    assert sum(1 for _, p, _ in hub.requests if "/tree/" in p) >= 3  # the client followed the pages
    for name, content in files.items():
        assert (dest / name).read_bytes() == (content if isinstance(content, bytes) else content.read())


def test_pull_with_key_refuses_a_repo_without_model_sig(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.signatures.pki import make_pki

    pki = make_pki(tmp_path / "pki")
    hub.add_repo("acme/tiny", _benign_files())
    dest = tmp_path / "out"
    r = modelscan(hub_env, "pull", "acme/tiny", "--dest", str(dest), "--key", str(pki.public_key))
    assert r.returncode == 1, r.stderr
    assert "refused by the local rescan" in r.stderr
    assert "a verified signature is required" in r.stderr
    _nothing_left(tmp_path, "out")


def test_pull_and_scan_of_the_same_commit_give_the_same_findings(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """`pull` goes through the same pipeline as `scan hf://` (remote) and `scan DIR` (local)."""
    hub.add_repo("acme/mixed", {**_benign_files(), "blob.dat": bytes(range(256)) * 8})
    policy = tmp_path / "policy.yaml"
    policy.write_text("suppressions:\n  - {rule: SCAN-UNKNOWN-001, path: blob.dat, reason: vendor blob}\n")
    scanned = modelscan(hub_env, "scan", "hf://acme/mixed", "--policy", str(policy), "-f", "json")
    dest = tmp_path / "out"
    pulled = modelscan(
        hub_env, "pull", "acme/mixed", "--dest", str(dest), "--policy", str(policy), "-f", "json"
    )
    assert scanned.returncode == pulled.returncode == 0, (scanned.stderr, pulled.stderr)
    remote, local = json.loads(scanned.stdout), json.loads(pulled.stdout)
    assert [(f["rule_id"], f["artifact"]) for f in local["findings"]] == [("SCAN-UNKNOWN-001", "blob.dat")]
    assert [(f["rule_id"], f["artifact"]) for f in remote["findings"]] == [("SCAN-UNKNOWN-001", "blob.dat")]
    assert remote["verdict"]["counts"] == local["verdict"]["counts"]


def test_remote_scan_with_key_fails_and_says_pull_verifies(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.signatures.pki import make_pki

    pki = make_pki(tmp_path / "pki")
    hub.add_repo("acme/tiny", _benign_files())
    r = modelscan(hub_env, "scan", "hf://acme/tiny", "--key", str(pki.public_key), "-f", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["signature"]["status"] == "missing"
    assert "modelscan pull" in doc["signature"]["reason"]
