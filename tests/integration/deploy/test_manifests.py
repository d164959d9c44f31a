"""Deployment files: validated against the upstream schemas, and their names checked across files."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess

import jsonschema
import pytest
import yaml

from functions.combined import create_app as combined_app
from shared.settings import Settings
from tests.support.paths import ROOT

SCHEMAS = ROOT.parent / "shared" / "schemas"
OVERLAYS = ("dapr", "eventing")


def crd_schema(file: str, version: str) -> dict:
    crd = yaml.safe_load((SCHEMAS / file).read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return _openapi_to_jsonschema(v["schema"]["openAPIV3Schema"])
    raise AssertionError(f"{file} has no version {version}")


def _openapi_to_jsonschema(node):
    """OpenAPI v3 schema -> JSON Schema: honour `nullable`, drop Kubernetes extensions."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


VALIDATORS = {
    ("serving.knative.dev/v1", "Service"): ("service.yaml", "v1"),
    ("sources.knative.dev/v1beta1", "KafkaSource"): ("100-kafka-source.yaml", "v1beta1"),
    ("dapr.io/v1alpha1", "Component"): ("components.yaml", "v1alpha1"),
    ("dapr.io/v2alpha1", "Subscription"): ("subscription.yaml", "v2alpha1"),
    ("dapr.io/v1alpha1", "Resiliency"): ("resiliency.yaml", "v1alpha1"),
    ("dapr.io/v1alpha1", "Configuration"): ("configuration.yaml", "v1alpha1"),
}


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


def test_local_dapr_components_validate_too():
    for path in (ROOT / "dapr" / "local" / "components").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            jsonschema.validate(doc, crd_schema(*VALIDATORS[(doc["apiVersion"], doc["kind"])]))


def test_component_metadata_uses_fields_dapr_knows():
    kafka_meta = yaml.safe_load((SCHEMAS / "components-contrib/pubsub/kafka/metadata.yaml").read_text())
    cron_meta = yaml.safe_load((SCHEMAS / "components-contrib/bindings/cron/metadata.yaml").read_text())
    known = {"pubsub.kafka": kafka_meta, "bindings.cron": cron_meta}
    for path in [*(ROOT / "dapr").glob("*.yaml"), *(ROOT / "dapr/local/components").glob("*.yaml")]:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc.get("kind") != "Component":
                continue
            meta = known[doc["spec"]["type"]]
            fields: dict[str, set | None] = {}
            for m in meta.get("metadata", []) + [
                m for a in meta.get("authenticationProfiles", []) for m in a.get("metadata", [])
            ]:
                values = m.get("allowedValues")
                if m["name"] in fields and (fields[m["name"]] is None or values is None):
                    fields[m["name"]] = None
                else:
                    fields[m["name"]] = (fields.get(m["name"]) or set()) | set(values or ()) if values else None
            if doc["spec"]["type"].startswith("pubsub."):
                fields.setdefault("consumerID", None)  # a pub/sub field of the Dapr runtime, any broker
            if doc["spec"]["type"].startswith("bindings."):
                fields.setdefault("direction", {"input", "output", "input, output"})  # runtime-level field
            for item in doc["spec"]["metadata"]:
                assert item["name"] in fields, f"{path.name}: {item['name']} is not a {doc['spec']['type']} field"
                allowed = fields[item["name"]]
                if allowed and "value" in item:
                    assert item["value"] in allowed, f"{item['name']}={item['value']} not in {allowed}"


def test_func_yaml_validates_against_the_func_schema():
    schema = json.loads((SCHEMAS / "func_yaml-schema.json").read_text())
    func = yaml.safe_load((ROOT / "func.yaml").read_text())
    func["created"] = func["created"].isoformat() if hasattr(func["created"], "isoformat") else func["created"]
    jsonschema.validate(func, {**schema, "$ref": "#/definitions/Function"})


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


def test_render_blueprint_has_the_fields_render_needs():
    render = yaml.safe_load((ROOT / "render" / "render.yaml").read_text())
    [web] = render["services"]
    assert web["type"] == "web" and web["runtime"] == "docker" and web["plan"] == "free"
    assert (ROOT / web["dockerfilePath"]).is_file() and (ROOT / web["dockerContext"]).is_dir()
    assert web["healthCheckPath"] == "/health"
    for env in web["envVars"]:
        assert set(env) in ({"key", "value"}, {"key", "generateValue"}, {"key", "sync"}, {"key", "fromDatabase"})
        if "fromDatabase" in env:
            assert env["fromDatabase"]["property"] == "connectionString"
            assert env["fromDatabase"]["name"] in {d["name"] for d in render["databases"]}
    [db] = render["databases"]
    assert set(db) >= {"name", "plan", "databaseName", "user", "postgresMajorVersion"}


def run_entrypoint(env_extra: dict, db_url: str, broker) -> tuple[subprocess.Popen, str, int]:
    """Run the image's entrypoint as the container would (no Docker engine here)."""
    from tests.support.net import free_port

    port = free_port()
    venv_bin = pathlib.Path(os.sys.executable).parent
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": db_url,
        "ENVIRONMENT": "production",
        "JWT_SECRET": "x" * 40,
        "PATH": f"{venv_bin}:{os.environ['PATH']}",
        "BIND_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        **env_extra,
    }
    proc = subprocess.Popen(
        [str(ROOT / "render" / "entrypoint.sh")],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}", port


def wait_up(base: str, path: str = "/health") -> None:
    import requests

    from tests.support.net import wait_until

    def up():
        try:
            return requests.get(base + path, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(up, timeout=90, interval=0.2, message=f"{base}{path}")


@pytest.fixture
def own_broker():
    """A broker of the test's own: /ready waits for the consumer groups to form, and on the session broker
    the groups of consumers that earlier tests killed are still rebalancing (an order-dependent wait)."""
    from tests.support.broker import Tansu

    tansu = Tansu().start()
    yield tansu
    tansu.stop()


def test_the_container_entrypoint_serves_health_api_websocket_and_frontend(db_url, own_broker):
    import signal

    import requests
    import websocket

    dockerfile = (ROOT / "render" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["render/entrypoint.sh"]' in dockerfile
    proc, base, port = run_entrypoint({}, db_url, own_broker)
    try:
        wait_up(base, "/ready")
        assert "<title>TaskFlow</title>" in requests.get(base + "/", timeout=5).text
        assert requests.get(base + "/static/app.js", timeout=5).status_code == 200
        signup = requests.post(
            base + "/api/auth/register", json={"email": "ops@example.com", "password": "pw-ops-123"}, timeout=10
        ).json()
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/ws/user/{signup['user_id']}/tasks?token={signup['token']}", timeout=10
        )
        created = requests.post(
            f"{base}/api/{signup['user_id']}/tasks",
            json={"title": "deployed"},
            headers={"Authorization": f"Bearer {signup['token']}"},
            timeout=10,
        )
        assert created.status_code == 201
        message = json.loads(ws.recv())
        while message["type"] == "ping":
            message = json.loads(ws.recv())
        assert message["type"] == "task.created" and message["data"]["title"] == "deployed"
        ws.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


@pytest.mark.parametrize(
    "module,route,method",
    [
        ("tasks", "/openapi.json", "GET"),
        ("outbox", "/outbox-cron", "OPTIONS"),
        ("recurrence", "/recurrence-cron", "OPTIONS"),
        ("reminders", "/reminder-cron", "OPTIONS"),
        ("audit", "/dapr/subscribe", "GET"),
        ("fanout", "/dapr/subscribe", "GET"),
        ("notifications", "/notification-cron", "OPTIONS"),
    ],
)
def test_each_function_command_serves_its_routes(db_url, broker, module, route, method):
    import signal

    import requests

    proc, base, _ = run_entrypoint(
        {"TASKFLOW_APP": f"functions.{module}:create_app()", "RUN_BACKGROUND_WORKERS": "false"}, db_url, broker
    )
    try:
        wait_up(base)
        assert requests.request(method, base + route, timeout=5).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_dockerfile_follows_the_rules_that_matter():
    text = (ROOT / "render" / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(froms) >= 2, "multi-stage"
    assert all(re.match(r"python:3\.\d+\.\d+-slim", f) for f in froms), "pinned slim base"
    final = text.split("FROM ")[-1]
    assert "gcc" not in final and "apt-get install" not in final, "no build tools in the final image"
    assert re.search(r"^USER (?!root)\S+", final, re.M), "non-root user"
    assert "HEALTHCHECK" in final
    assert not re.search(r"(SECRET|PASSWORD|TOKEN)\s*=", text, re.I), "no secrets baked in"


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


def test_production_container_refuses_to_start_without_a_jwt_secret(db_url):
    env = {**os.environ, "DATABASE_URL": db_url, "ENVIRONMENT": "production"}
    env.pop("JWT_SECRET", None)
    venv_bin = pathlib.Path(os.sys.executable).parent
    result = subprocess.run([str(venv_bin / "taskflow-migrate")], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "JWT_SECRET must be set" in result.stderr
