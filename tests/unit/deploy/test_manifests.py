"""Deployment files as they are in the repository: valid against the upstream schemas, and the rules that matter.

(The overlays as `kubectl kustomize` renders them are checked in tests/integration/deploy/test_manifests.py.)
"""

from __future__ import annotations

import json
import re

import jsonschema
import yaml

from tests.support.manifests import SCHEMAS, VALIDATORS, crd_schema
from tests.support.paths import ROOT


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


def test_dockerfile_follows_the_rules_that_matter():
    text = (ROOT / "render" / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    # The base is a build argument (`make image` may pass a local stand-in); its default is what a registry build uses.
    base = re.search(r"^ARG BASE=(\S+)", text, re.M)
    froms = [base.group(1) if base and f in ("${BASE}", "$BASE") else f for f in froms]
    assert len(froms) >= 2, "multi-stage"
    assert all(re.match(r"python:3\.\d+\.\d+-slim", f) for f in froms), "pinned slim base"
    final = text.split("FROM ")[-1]
    assert "gcc" not in final and "apt-get install" not in final, "no build tools in the final image"
    assert re.search(r"^USER (?!root)\S+", final, re.M), "non-root user"
    assert "HEALTHCHECK" in final
    assert not re.search(r"(SECRET|PASSWORD|TOKEN)\s*=", text, re.I), "no secrets baked in"
