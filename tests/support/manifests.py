"""Upstream schemas for the deployment files (Knative, Dapr, func.yaml), as JSON Schema.

The CRDs and component metadata are vendored outside the repository, beside it in shared/schemas.
"""

from __future__ import annotations

import yaml

from tests.support.paths import ROOT

SCHEMAS = ROOT.parent / "shared" / "schemas"


def crd_schema(file: str, version: str) -> dict:
    """The JSON Schema of a CRD file's `version`."""
    crd = yaml.safe_load((SCHEMAS / file).read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return openapi_to_jsonschema(v["schema"]["openAPIV3Schema"])
    raise AssertionError(f"{file} has no version {version}")


def openapi_to_jsonschema(node):
    """OpenAPI v3 schema -> JSON Schema: honour `nullable`, drop Kubernetes extensions."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
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
