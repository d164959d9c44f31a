"""The release pipeline as specifications: the workflows' rules.

Nothing in .github/workflows can run here; `make lint` validates them against GitHub's schema and
these tests hold them to the rules the pipeline promises (pinned actions, least privilege, secrets
only through `secrets.*`, scan before push, smoke test after every deployment). The deploy script is
checked in tests/integration/deploy/test_manifests.py, the image's install in tests/e2e/deploy.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support.paths import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "release.yml", "deploy.yml")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
SECRET_LIKE = re.compile(r"token|secret|password|kube_config|hook", re.I)


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def step_index(job: dict, predicate) -> int:
    matches = [i for i, step in enumerate(steps(job)) if predicate(step)]
    assert matches, f"no step matches in {[s.get('name') or s.get('uses') for s in steps(job)]}"
    return matches[0]


@pytest.mark.parametrize("name", NAMES)
def test_every_third_party_action_is_pinned_to_a_commit(name):
    for job in workflow(name)["jobs"].values():
        uses = [job["uses"]] if "uses" in job else [s["uses"] for s in steps(job) if "uses" in s]
        for ref in uses:
            assert ref.startswith("./") or PINNED.match(ref), f"{name}: {ref} is not pinned to a commit SHA"


@pytest.mark.parametrize("name", NAMES)
def test_no_permissions_by_default_and_each_job_asks_for_its_own(name):
    flow = workflow(name)
    assert flow["permissions"] == {}, f"{name}: the workflow grants nothing by default"
    for job_name, job in flow["jobs"].items():
        assert "permissions" in job, f"{name}/{job_name} states its permissions"
        assert isinstance(job["permissions"], dict), f"{name}/{job_name}: no read-all / write-all"


def test_only_the_release_image_job_can_write_packages_or_mint_an_id_token():
    writers = {
        (name, job_name, scope)
        for name in NAMES
        for job_name, job in workflow(name)["jobs"].items()
        for scope, level in job["permissions"].items()
        if level == "write"
    }
    assert writers == {("release.yml", "image", "packages"), ("release.yml", "image", "id-token")}


@pytest.mark.parametrize("name", NAMES)
def test_secrets_come_only_from_the_secrets_context_and_never_into_a_script(name):
    for job_name, job in workflow(name)["jobs"].items():
        for step in steps(job):
            assert "secrets." not in step.get("run", ""), f"{name}/{job_name}: pass secrets through env"
            for key, value in {**step.get("env", {}), **step.get("with", {})}.items():
                if SECRET_LIKE.search(key) and key != "token-setup-trivy":
                    assert re.fullmatch(r"\$\{\{ secrets\.\w+ \}\}", str(value)), f"{name}: {key}={value}"


def test_ci_lints_then_tests_on_postgres_and_keeps_the_screenshots():
    jobs = workflow("ci.yml")["jobs"]
    assert any(s.get("run") == "make lint" for s in steps(jobs["lint"]))
    test = jobs["test"]
    assert "postgres" in test["services"]
    assert test["env"]["CI"] == "true"
    run_tests = step_index(test, lambda s: s.get("run") == "make test")
    upload = step_index(test, lambda s: s.get("uses", "").startswith("actions/upload-artifact@"))
    assert run_tests < upload and steps(test)[upload]["with"]["path"].endswith("tests/artifacts/")
    assert any(s.get("uses", "").startswith("actions/cache@") for s in steps(test)), "pip cache"


def test_release_scans_before_it_pushes_and_signs_the_pushed_digest():
    flow = workflow("release.yml")
    assert set(flow[True]["push"]) == {"branches", "tags"}  # PyYAML reads the key `on` as True
    image = flow["jobs"]["image"]
    scan = step_index(image, lambda s: s.get("with", {}).get("exit-code") == "1")
    assert steps(image)[scan]["with"]["severity"] == "HIGH,CRITICAL"
    assert steps(image)[scan]["uses"].startswith("aquasecurity/trivy-action@")
    push = step_index(image, lambda s: s.get("with", {}).get("push") is True)
    assert steps(image)[push]["with"]["sbom"] is True and steps(image)[push]["with"]["file"] == "render/Dockerfile"
    sign = step_index(image, lambda s: "cosign sign" in s.get("run", ""))
    assert scan < push < sign
    assert "steps.push.outputs.digest" in steps(image)[sign]["env"]["IMAGE"], "signs the digest, not a tag"
    deploy = flow["jobs"]["deploy"]
    assert deploy["uses"] == "./.github/workflows/deploy.yml" and "digest" in deploy["with"]["image"]


def test_deploy_goes_development_staging_production_with_a_smoke_test_after_each():
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["development"]["needs"] == "verify"
    assert jobs["staging"]["needs"] == "development"
    assert jobs["production"]["needs"] == "staging"
    for env in ("development", "staging", "production"):
        job = jobs[env]
        assert job["environment"]["name"] == env
        apply = step_index(job, lambda s: s.get("run", "").startswith(".ci/deploy_knative.sh apply"))
        smoke = step_index(job, lambda s: s.get("run", "").startswith("python3 tests/smoke.py"))
        assert apply < smoke
    verify = " ".join(s.get("run", "") for s in steps(jobs["verify"]))
    assert "cosign verify" in verify and "release.yml@" in str(steps(jobs["verify"]))
    render = jobs["render"]
    assert "tests/smoke.py" in steps(render)[-1]["run"]
