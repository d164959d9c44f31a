"""Deployment overlays as `kubectl kustomize` renders them: valid against the upstream schemas, names agreeing
across files and with the apps' routes, and the deploy script applying one image digest everywhere."""

from __future__ import annotations

import subprocess

import jsonschema
import pytest
import yaml

from functions.combined import create_app as combined_app
from shared.settings import Settings
from tests.support.manifests import SCHEMAS, VALIDATORS, crd_schema
from tests.support.paths import ROOT

OVERLAYS = ("dapr", "eventing")


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict]]:
    """`kubectl kustomize` each overlay (kustomize is built into kubectl; no cluster needed)."""
    assert SCHEMAS.is_dir(), f"upstream schemas expected at {SCHEMAS}"
    out = {}
    for overlay in OVERLAYS:
        text = subprocess.run(
            ["kubectl", "kustomize", str(ROOT / "knative" / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        out[overlay] = [d for d in yaml.safe_load_all(text) if d]
    return out


DIGEST = "sha256:" + "0123456789abcdef" * 4


IMAGE = f"ghcr.io/acme/taskflow@{DIGEST}"


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_validates_against_its_upstream_schema(built, overlay):
    checked = 0
    for doc in built[overlay]:
        key = (doc["apiVersion"], doc["kind"])
        if key in VALIDATORS:
            jsonschema.validate(doc, crd_schema(*VALIDATORS[key]))
            checked += 1
    assert checked >= 6


def function_routes() -> set[str]:
    """Every route the separately deployed functions serve (the Knative/Dapr deployment)."""
    import importlib

    routes: set[str] = set()
    for module in ("tasks", "outbox", "recurrence", "reminders", "audit", "fanout", "notifications"):
        app = importlib.import_module(f"functions.{module}").create_app(
            Settings(database_url="sqlite://", run_background_workers=False)
        )
        routes |= {r.rule for r in app.url_map.iter_rules()}
        app.extensions["taskflow"].close()
    return routes


def test_the_combined_app_mounts_no_trigger_route_without_the_app_token():
    bare = combined_app(Settings(database_url="sqlite://", run_background_workers=False))
    guarded = combined_app(Settings(database_url="sqlite://", run_background_workers=False, app_api_token="t" * 32))
    triggers = {
        "/outbox-cron",
        "/recurrence-cron",
        "/reminder-cron",
        "/audit-retention-cron",
        "/notification-cron",
        "/events/<topic>",
        "/admin/dead-letters",
    }
    assert triggers & {r.rule for r in bare.url_map.iter_rules()} == set()
    assert triggers <= {r.rule for r in guarded.url_map.iter_rules()}
    client = guarded.test_client()
    for path in ("/outbox-cron", "/recurrence-cron", "/events/tasks.events"):
        assert client.post(path, json={}).status_code == 401
        assert client.post(path, json={}, headers={"dapr-api-token": "wrong"}).status_code == 403
    for app in (bare, guarded):
        app.extensions["taskflow"].close()


def test_dapr_names_agree_across_files_and_with_the_apps(built):
    docs = built["dapr"]
    routes = function_routes()
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    app_ids = {}
    for name, svc in services.items():
        notes = svc["spec"]["template"]["metadata"]["annotations"]
        assert notes["dapr.io/enabled"] == "true" and notes["dapr.io/app-id"] == name
        assert notes["dapr.io/metrics-port"] != "9090", "queue-proxy owns 9090"
        port = svc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        assert notes["dapr.io/app-port"] == str(port) == "8080"
        app_ids[name] = notes
        if name != "taskflow-tasks":
            assert notes["autoscaling.knative.dev/min-scale"] == "1", f"{name}: Dapr triggers need a replica"
    assert (
        services["taskflow-tasks"]["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"]
        == "0"
    )
    for comp in by_kind(docs, "Component"):
        assert set(comp.get("scopes", [])) <= set(app_ids), comp["metadata"]["name"]
        if comp["spec"]["type"] == "bindings.cron":
            assert f"/{comp['metadata']['name']}" in routes, f"no route for binding {comp['metadata']['name']}"
            [scope] = comp["scopes"]
            module = scope.removeprefix("taskflow-")
            args = services[scope]["spec"]["template"]["spec"]["containers"][0]["args"]
            assert f"functions.{module}:create_app()" in args
    for sub in by_kind(docs, "Subscription"):
        assert sub["spec"]["routes"]["default"].replace(sub["spec"]["topic"], "<topic>") == "/events/<topic>"
        assert "/events/<topic>" in routes
    fanout = by_kind(docs, "Component")
    fan = [c for c in fanout if "taskflow-fanout" in c.get("scopes", [])][0]
    meta = {m["name"]: m.get("value") for m in fan["spec"]["metadata"]}
    assert meta["consumerID"] == "{uuid}" and meta["initialOffset"] == "newest"
    env = {
        e["name"]: e.get("value")
        for e in services["taskflow-fanout"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PUBSUB_NAME"] == fan["metadata"]["name"]
    kafka = [c for c in fanout if c["metadata"]["name"] == "kafka-pubsub"][0]
    kmeta = {m["name"]: m.get("value") for m in kafka["spec"]["metadata"]}
    assert kmeta["authType"] and kmeta["saslMechanism"] in ("SHA-256", "SHA-512")


def test_eventing_overlay_sinks_hit_real_routes_and_trigger_services_are_private(built):
    docs = built["eventing"]
    routes = function_routes()
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    for src in by_kind(docs, "PingSource") + by_kind(docs, "KafkaSource"):
        sink = src["spec"]["sink"]
        assert sink["ref"]["name"] in services
        if src["kind"] == "KafkaSource":
            [topic] = src["spec"]["topics"]
            assert sink["uri"] == f"/events/{topic}", "one source per topic, each to its own route"
        else:
            assert sink["uri"] in routes
        svc = services[sink["ref"]["name"]]
        assert svc["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
        assert "dapr.io/enabled" not in svc["spec"]["template"]["metadata"].get("annotations", {})
    assert "networking.knative.dev/visibility" not in services["taskflow-tasks"]["metadata"]["labels"]
    assert services["taskflow-fanout"]["spec"]["template"]["spec"]["timeoutSeconds"] == 600


def test_every_env_name_in_the_manifests_is_a_setting_the_code_reads(built):
    settings_source = (ROOT / "shared" / "settings.py").read_text() + (ROOT / "render" / "gunicorn.conf.py").read_text()
    names = set()
    for overlay in OVERLAYS:
        for svc in by_kind(built[overlay], "Service"):
            names |= {e["name"] for e in svc["spec"]["template"]["spec"]["containers"][0]["env"]}
        for cm in by_kind(built[overlay], "ConfigMap"):
            names |= set(cm["data"])
    render = yaml.safe_load((ROOT / "render" / "render.yaml").read_text())
    names |= {e["key"] for e in render["services"][0]["envVars"]}
    for name in names:
        assert f'"{name}"' in settings_source, f"{name} is set in a manifest but read nowhere"


def test_no_container_uses_a_knative_reserved_port(built):
    reserved = {8012, 8022, 8112, 9090, 9091}
    for overlay in OVERLAYS:
        for svc in by_kind(built[overlay], "Service"):
            for port in svc["spec"]["template"]["spec"]["containers"][0]["ports"]:
                assert port["containerPort"] not in reserved
    conf = (ROOT / "render" / "gunicorn.conf.py").read_text()
    assert "os.environ.get('PORT', '8000')" in conf and "0.0.0.0" in conf


def test_subscribed_topics_are_published_by_the_code(built):
    from shared.domain.events import TOPIC_OF

    published = set(TOPIC_OF.values())
    for sub in by_kind(built["dapr"], "Subscription"):
        assert sub["spec"]["topic"] in published
    for src in by_kind(built["eventing"], "KafkaSource"):
        assert set(src["spec"]["topics"]) <= published


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
