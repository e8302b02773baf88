"""The policy cannot be misread: one typed value, checked once against the published schema,
the only way to a verdict, found by itself only where the user (not the model) controls it.

Threat model: a misspelled key (``require_signatures``) that is silently ignored turns a
security requirement off; a policy passed where something else was expected falls back to the
default; a model folder that ships its own ``.modelscan.yaml`` suppressing everything would
judge itself.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import scanner
from scanner.model import Report, Severity
from scanner.policy import Policy, PolicyError, discover_policy, load_policy
from scanner.policy_yaml import policy_schema
from scanner.schema import validate
from tests.conftest import REPO, run_cli

UNKNOWN_BLOB = bytes(range(256)) * 4


def unknown_blob_model(folder: Path) -> Path:
    """A model whose only finding is SCAN-UNKNOWN-001 (medium: fails the default policy)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weights.bin").write_bytes(UNKNOWN_BLOB)
    return folder


def policy_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return str(caught.value)


# -- checked once, against the schema, with the line ---------------------------------------------
def test_misspelled_key_is_exit_2_naming_the_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("fail_on: medium\n\nrequire_signatures: true\n")
    proc = run_cli("scan", str(unknown_blob_model(tmp_path / "m")), "--policy", str(policy))
    assert proc.returncode == 2, proc.stdout
    assert f"{policy}:3: unknown key 'require_signatures'; did you mean 'require_signature'?" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_nested_key_names_its_own_line(tmp_path: Path) -> None:
    message = policy_error(
        tmp_path, "suppressions:\n  - rule: SCAN-UNKNOWN-001\n    reason: ok\n    paht: x\n"
    )
    assert message.endswith("policy.yaml:4: unknown key 'paht' in 'suppressions[0]'; did you mean 'path'?")


def test_wrong_type_names_the_line(tmp_path: Path) -> None:
    message = policy_error(tmp_path, "fail_on: high\nrequire_signature: 'yes please'\n")
    assert message.endswith("policy.yaml:2: 'require_signature' must be true or false, not 'yes please'")


def test_a_date_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    text = "suppressions:\n  - {rule: SCAN-UNKNOWN-001, reason: ok, expires: 2026-02-30}\n"
    assert policy_error(tmp_path, text).endswith("policy.yaml:2: '2026-02-30' is not a date")


def test_override_of_a_rule_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    message = policy_error(tmp_path, "severity_overrides:\n  PICKLE-EXEC-01: low\n")
    assert "policy.yaml:2:" in message and "not have the expected form" in message
    message = policy_error(tmp_path, "severity_overrides:\n  PICKLE-EXEC-999: low\n")
    assert message.endswith("policy.yaml:2: PICKLE-EXEC-999 is not a rule id (see `modelscan rules`)")


def test_suppression_glob_matching_no_rule_is_refused(tmp_path: Path) -> None:
    message = policy_error(tmp_path, "suppressions:\n  - {rule: 'SCAN-UNKWN-*', reason: typo}\n")
    assert message.endswith("policy.yaml:2: 'SCAN-UNKWN-*' matches no rule id (see `modelscan rules`)")


def test_repeated_key_is_refused(tmp_path: Path) -> None:
    assert policy_error(tmp_path, "fail_on: low\nfail_on: never\n").endswith(
        "policy.yaml:2: key 'fail_on' appears twice"
    )


def test_signer_that_is_not_required_is_a_contradiction(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("not checked here")
    message = policy_error(tmp_path, "signatures:\n  key: k.pub\n  required: false\n")
    assert message.endswith("policy.yaml:3: a named signer is always required: remove 'required: false'")


def test_two_signing_methods_and_missing_key_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("x")
    (tmp_path / "root.pem").write_text("x")
    two = "signatures:\n  key: k.pub\n  certificate_chain: [root.pem]\n"
    assert policy_error(tmp_path, two).endswith("choose one signing method, not key and certificate")
    assert "policy.yaml:2: 'gone.pub': no such file" in policy_error(
        tmp_path, "signatures:\n  key: gone.pub\n"
    )


def test_a_policy_naming_a_signer_requires_it(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("x")
    path = tmp_path / "policy.yaml"
    path.write_text("signatures:\n  key: k.pub\n")
    policy = load_policy(path)
    assert policy.require_signature and policy.signer.key == str(tmp_path / "k.pub")
    unsigned = Report("m", "0", (), ())
    assert policy.judge(unsigned).reasons == ("a verified signature is required: no signature was found",)


def test_wrapped_form_of_the_builtin_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("kind: policy\nentries:\n  - fail_on: high\n    severity_overides: {}\n")
    with pytest.raises(PolicyError, match=r"policy\.yaml:4: unknown key 'severity_overides'"):
        load_policy(path)
    path.write_text("kind: policy\nentries:\n  - fail_on: high\n")
    assert load_policy(path).fail_on == Severity.HIGH


def test_report_has_no_verdict_method_that_could_fall_back_to_the_default() -> None:
    # Report.verdict(object) judged with the default policy when given anything but a Policy
    # (a path string, say) and so dropped require_signature; the only way is Policy.judge.
    assert not hasattr(Report, "verdict")


def test_published_schema_is_the_one_the_code_checks_with() -> None:
    published = json.loads((REPO / "docs" / "policy-schema.json").read_text())
    assert published == policy_schema()
    jsonschema.Draft202012Validator.check_schema(published)


CORPUS: list[Any] = [
    {},
    {"fail_on": "never"},
    {"fail_on": "severe"},
    {"fail_on": 3},
    {"severity_overrides": {"SCAN-UNKNOWN-001": "low"}},
    {"severity_overrides": {"scan-unknown-001": "low"}},
    {"severity_overrides": {"SCAN-UNKNOWN-001": "never"}},
    {"severity_overrides": []},
    {"suppressions": [{"rule": "SCAN-*", "reason": "r"}]},
    {"suppressions": [{"rule": "SCAN-*"}]},
    {"suppressions": [{"rule": "SCAN-*", "reason": ""}]},
    {"suppressions": [{"rule": "SCAN-*", "reason": "r", "expires": "2026-01-01"}]},
    {"suppressions": [{"rule": "SCAN-*", "reason": "r", "expires": "soon"}]},
    {"suppressions": [{"rule": "SCAN-*", "reason": "r", "until": "2026-01-01"}]},
    {"suppressions": {"rule": "SCAN-*"}},
    {"require_signature": True},
    {"require_signature": 1},
    {"require_signatures": True},
    {"signatures": {"required": True, "key": "k.pub"}},
    {"signatures": {"identities": []}},
    {"signatures": {"identities": [{"identity": "a@b", "issuer": "https://i"}]}},
    {"signatures": {"identities": [{"identity": "a@b"}]}},
    {"signatures": {"github": {"repository": "org/repo", "ref": "refs/tags/v*"}}},
    {"signatures": {"github": {"repository": "just-a-name"}}},
    {"signatures": {"certificate_chain": "root.pem"}},
    {"signatures": {"certificate_chain": ["root.pem"], "subjects": ["ml"]}},
    {"signatures": {"certificate_chain": []}},
    {"signatures": {"keys": "k.pub"}},
    [],
    "fail_on: high",
    None,
]


@pytest.mark.parametrize("doc", CORPUS)
def test_our_validator_and_jsonschema_agree(doc: Any) -> None:
    ours = validate(doc, policy_schema()) is None
    reference = jsonschema.Draft202012Validator(policy_schema()).is_valid(doc)
    assert ours == reference


# -- one policy for every front door; honoured by the API ----------------------------------------
def test_api_scan_honours_its_policy_signer(tmp_path: Path) -> None:
    pytest.importorskip("sigstore")
    from tests.signatures.pki import make_pki

    model = unknown_blob_model(tmp_path / "m")
    (model / "weights.bin").write_text('{"a": 1}')  # clean
    pki = make_pki(tmp_path / "pki")
    assert run_cli("sign", str(model), "--key", str(pki.key)).returncode == 0
    policy = Policy.default().with_signer(scanner.policy.Signer(key=str(pki.public_key)))
    report = scanner.scan(model, policy=policy)
    assert report.signature is not None and report.signature.status == "verified"
    assert policy.judge(report).passed
    (model / "model.sig").unlink()
    stripped = scanner.scan(model, policy=policy)
    assert stripped.signature is not None and stripped.signature.status == "missing"
    assert not policy.judge(stripped).passed


def test_fail_on_from_the_command_line_wins_over_the_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("fail_on: critical\n")
    model = str(unknown_blob_model(tmp_path / "m"))
    assert run_cli("scan", model, "--policy", str(policy)).returncode == 0
    assert run_cli("scan", model, "--policy", str(policy), "--fail-on", "medium").returncode == 1


# -- discovery ---------------------------------------------------------------------------------
def git_repo(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    return folder


LENIENT = "suppressions:\n  - {rule: '*', reason: accepted by the security team}\n"


def test_policy_in_the_working_directory_is_used_and_reported(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    (repo / ".modelscan.yaml").write_text(LENIENT)
    model = unknown_blob_model(repo / "models" / "m")
    proc = run_cli("scan", str(model), "--no-progress", cwd=repo)
    assert proc.returncode == 0, proc.stdout
    assert f"policy: {repo / '.modelscan.yaml'} (found from the working directory)" in proc.stdout
    doc = json.loads(run_cli("scan", str(model), "-f", "json", cwd=repo).stdout)
    assert doc["verdict"]["policy"] == str(repo / ".modelscan.yaml")
    assert doc["verdict"]["policy_origin"] == "discovered"


def test_policy_in_a_parent_up_to_the_repository_root_is_used(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    (repo / ".modelscan.yaml").write_text(LENIENT)
    model = unknown_blob_model(repo / "models" / "m")
    assert run_cli("scan", str(model), cwd=repo / "models").returncode == 0


def test_discovery_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / ".modelscan.yaml").write_text(LENIENT)  # above the repository: not the project's
    repo = git_repo(tmp_path / "repo")
    model = unknown_blob_model(repo / "m")
    assert discover_policy([str(model)], cwd=repo) is None
    assert run_cli("scan", str(model), cwd=repo).returncode == 1


def test_outside_a_repository_only_the_working_directory_is_looked_at(tmp_path: Path) -> None:
    # an unpacked bundle: the attacker's folder holds the policy, the user cds into a subfolder
    (tmp_path / ".modelscan.yaml").write_text(LENIENT)
    work = tmp_path / "bundle" / "work"
    work.mkdir(parents=True)
    model = unknown_blob_model(tmp_path / "bundle" / "model")
    assert discover_policy([str(model)], cwd=work) is None
    assert run_cli("scan", str(model), cwd=work).returncode == 1


def test_explicit_policy_wins_over_the_discovered_one(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    (repo / ".modelscan.yaml").write_text(LENIENT)
    strict = tmp_path / "strict.yaml"
    strict.write_text("fail_on: low\n")
    model = unknown_blob_model(repo / "m")
    doc = json.loads(run_cli("scan", str(model), "--policy", str(strict), "-f", "json", cwd=repo).stdout)
    assert doc["verdict"]["policy"] == str(strict) and doc["verdict"]["policy_origin"] == "given"
    assert doc["verdict"]["passed"] is False


def test_model_shipping_a_policy_that_suppresses_everything_does_not_weaken_the_scan(tmp_path: Path) -> None:
    """The attack: a downloaded model folder carries `.modelscan.yaml` suppressing every rule."""
    repo = git_repo(tmp_path / "project")
    model = unknown_blob_model(repo / "downloads" / "evil-model")
    (model / ".modelscan.yaml").write_text(LENIENT + "fail_on: never\n")
    for cwd in (repo, model):  # scanned from the project, and from inside the model folder
        proc = run_cli("scan", str(model), "-f", "json", cwd=cwd)
        doc = json.loads(proc.stdout)
        assert proc.returncode == 1, (cwd, doc["verdict"])
        assert doc["verdict"]["policy_origin"] == "built-in"
        rules = {f["rule_id"] for f in doc["findings"]}
        assert {"SCAN-UNKNOWN-001", "POLICY-IN-TARGET-001"} <= rules
    nested = unknown_blob_model(repo / "downloads" / "other")
    (nested / "sub").mkdir()
    (nested / "sub" / ".modelscan.yaml").write_text(LENIENT)
    assert run_cli("scan", str(nested), cwd=nested / "sub").returncode == 1  # cwd below the target


def test_the_user_can_vouch_for_a_policy_inside_the_target_with_policy(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    (repo / ".modelscan.yaml").write_text(LENIENT)
    unknown_blob_model(repo)
    proc = run_cli("scan", ".", "-f", "json", cwd=repo)
    assert proc.returncode == 1 and "POLICY-IN-TARGET-001" in proc.stdout  # found, but it is in the target
    vouched = run_cli("scan", ".", "--policy", ".modelscan.yaml", "-f", "json", cwd=repo)
    assert vouched.returncode == 0, vouched.stdout
    assert "POLICY-IN-TARGET-001" not in vouched.stdout


def test_cloned_model_repo_scanned_file_by_file_from_inside_cannot_choose_its_policy(tmp_path: Path) -> None:
    """A model cloned with git has its own `.git`: from inside it, its root is "the repository"."""
    clone = git_repo(tmp_path / "evil-model")
    (clone / ".modelscan.yaml").write_text(LENIENT + "fail_on: never\n")
    weights = unknown_blob_model(clone) / "weights.bin"
    assert discover_policy(["weights.bin"], cwd=clone) is None
    proc = run_cli("scan", "weights.bin", "-f", "json", cwd=clone)
    assert proc.returncode == 1, proc.stdout
    assert json.loads(proc.stdout)["verdict"]["policy_origin"] == "built-in"
    assert weights.is_file()


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    bomb = (
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n"
    )
    assert "YAML aliases (*name) are not allowed" in policy_error(tmp_path, bomb)


def test_a_discovered_policy_another_user_owns_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another local user plants `.modelscan.yaml` in a shared folder (/tmp) the victim scans from."""
    import os

    from scanner.policy import resolve_policy

    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    planted = shared / ".modelscan.yaml"
    planted.write_text(LENIENT)
    if planted.stat().st_uid == 0:
        os.chown(planted, 12345, 12345)  # running as root: make it another user's
    owner = planted.stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)  # the victim is someone else, not root
    model = unknown_blob_model(tmp_path / "m")
    with pytest.raises(PolicyError, match=f"belongs to uid {owner}, not to you"):
        resolve_policy(None, [str(model)], cwd=shared)
    assert resolve_policy(str(planted), [str(model)], cwd=shared).origin == "given"  # vouched for


def test_a_link_into_the_scanned_model_is_not_a_policy_from_outside(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    model = unknown_blob_model(repo / "m")
    (model / ".modelscan.yaml").write_text(LENIENT)
    (repo / ".modelscan.yaml").symlink_to(model / ".modelscan.yaml")
    assert discover_policy([str(model)], cwd=repo) is None
