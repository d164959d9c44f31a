"""The release pipeline as specifications: the workflows' rules, the deploy script, the image's install.

Nothing in .github/workflows can run here; `make lint` validates them against GitHub's schema and
these tests hold them to the rules the pipeline promises (pinned actions, least privilege, secrets
only through `secrets.*`, scan before push, smoke test after every deployment).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

import pytest
import requests
import yaml

from tests.conftest import JWT_SECRET
from tests.support.net import free_port, wait_until
from tests.support.process import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "release.yml", "deploy.yml")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
SECRET_LIKE = re.compile(r"token|secret|password|kube_config|hook", re.I)
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"ghcr.io/acme/taskflow@{DIGEST}"


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


def render(overlay: str, image: str = IMAGE, namespace: str = "taskflow-dev") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".ci" / "deploy_knative.sh"), "render", namespace, overlay, image],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("overlay", ["dapr", "eventing"])
def test_the_deploy_script_applies_the_digest_everywhere_in_one_namespace_and_no_secrets(overlay):
    result = render(overlay)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert not [d for d in docs if d["kind"] == "Secret"], "secrets are never applied from the repo"
    assert {d["metadata"]["namespace"] for d in docs} == {"taskflow-dev"}
    images = []
    for doc in docs:
        template = doc.get("spec", {}).get("template", {})
        images += [c["image"] for c in template.get("spec", {}).get("containers", [])]
    assert len(images) >= 7 and set(images) == {IMAGE}
    assert not list((ROOT / "knative" / "overlays").glob(".deploy.*")), "the throw-away overlay is removed"


@pytest.mark.parametrize("image", ["ghcr.io/acme/taskflow:latest", "ghcr.io/acme/taskflow@sha256:abc", "taskflow"])
def test_the_deploy_script_refuses_an_image_not_given_by_digest(image):
    result = render("dapr", image)
    assert result.returncode == 2 and "by digest" in result.stderr


def test_the_image_install_runs_the_app_from_the_runtime_lock_alone(tmp_path):
    """Replay render/Dockerfile without Docker: a fresh venv, the hashed runtime lock, the app at /app."""
    dockerfile = (ROOT / "render" / "Dockerfile").read_text()
    for line in (
        "COPY .ci/requirements/runtime.txt ./runtime.txt",
        "RUN pip install --require-hashes -r runtime.txt",
        "RUN pip install --no-deps -e .",
        "COPY migrations ./migrations",
        "COPY frontend ./frontend",
    ):
        assert line in dockerfile
    app, venv = tmp_path / "app", tmp_path / "venv"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("shared", "functions", "migrations", "frontend"):
        shutil.copytree(ROOT / folder, app / folder, ignore=ignore)
    for file in ("pyproject.toml", "README.md", "render/gunicorn.conf.py", "render/entrypoint.sh"):
        (app / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / file, app / file)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    runtime_lock = ROOT / ".ci" / "requirements" / "runtime.txt"
    subprocess.run([*pip, "--require-hashes", "-r", str(runtime_lock)], check=True, timeout=900)
    subprocess.run([*pip, "--no-deps", "-e", str(app)], check=True, timeout=300)

    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "ENVIRONMENT": "production",
        "JWT_SECRET": JWT_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'image.db'}",
    }
    server = subprocess.Popen(
        ["render/entrypoint.sh"],
        cwd=app,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(server.stdout), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert server.poll() is None, "the entrypoint exited:\n" + "".join(output[-40:])
            try:
                return requests.get(f"{base}/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout=90, interval=0.2, message="the replayed image to answer /health")
        assert "<title>TaskFlow</title>" in requests.get(f"{base}/", timeout=5).text, "finds frontend/"
        smoke = subprocess.run(
            [sys.executable, "-I", "-S", str(ROOT / "tests" / "smoke.py"), base],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr + "".join(output[-40:])
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone when it failed to start
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        reader.join(10)
        server.stdout.close()
