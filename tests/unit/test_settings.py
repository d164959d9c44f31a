"""Settings come from the environment once; production refuses to start without its secrets."""

from __future__ import annotations

import pytest
import yaml

from shared.settings import Settings, SettingsError
from tests.support.paths import ROOT


def test_defaults_pick_sqlite_and_the_local_bus():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///taskflow.db"
    assert settings.transport == "local" and settings.pubsub_name == "kafka-pubsub"
    assert settings.event_retention_days == 90


def test_transport_precedence_dapr_then_kafka():
    assert Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k:9092"}).transport == "kafka"
    assert Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "USE_DAPR": "true"}).transport == "dapr"


def test_environment_is_parsed_into_types():
    s = Settings.from_env(
        {
            "DAPR_HTTP_PORT": "3600",
            "CORS_ORIGINS": "https://a.example, https://b.example",
            "EVENT_RETENTION_DAYS": "7",
            "USE_DAPR": "1",
            "APP_API_TOKEN": "t",
        }
    )
    assert s.dapr_http_port == 3600 and s.event_retention_days == 7 and s.use_dapr
    assert s.cors_origins == ("https://a.example", "https://b.example")
    with pytest.raises(SettingsError, match="DAPR_HTTP_PORT"):
        Settings.from_env({"DAPR_HTTP_PORT": "lots"})


@pytest.mark.parametrize(
    "env,message",
    [
        ({"ENVIRONMENT": "production"}, "JWT_SECRET"),
        ({"ENVIRONMENT": "production", "JWT_SECRET": "short"}, "at least 32"),
        ({"ENVIRONMENT": "production", "JWT_SECRET": "x" * 40, "USE_DAPR": "true"}, "APP_API_TOKEN"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT"),
    ],
)
def test_production_refuses_unsafe_settings(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_production_with_secrets_starts():
    s = Settings.from_env(
        {"ENVIRONMENT": "production", "JWT_SECRET": "x" * 40, "USE_DAPR": "true", "APP_API_TOKEN": "token"}
    )
    assert s.is_production


def test_production_on_sqlite_warns_loudly():
    import logging

    from shared.runtime.process import Runtime

    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("shared.runtime.process").addHandler(handler)
    try:
        Runtime(
            Settings(
                database_url="sqlite://", environment="production", jwt_secret="x" * 40, run_background_workers=False
            )
        ).close()
    finally:
        logging.getLogger("shared.runtime.process").removeHandler(handler)
    assert any("PRODUCTION IS RUNNING ON SQLITE" in r.getMessage() for r in records)


def _knative_secret_env() -> dict[str, str]:
    """The environment a pod gets from knative/base/secrets.yaml applied unchanged."""
    import yaml

    docs = {
        d["metadata"]["name"]: d["stringData"]
        for d in yaml.safe_load_all((ROOT / "knative/base/secrets.yaml").read_text())
    }
    main = docs["taskflow-secrets"]
    return {
        "DATABASE_URL": main["DATABASE_URL"],
        "JWT_SECRET": main["JWT_SECRET"],
        "KAFKA_BOOTSTRAP_SERVERS": main["KAFKA_BROKERS"],
        "KAFKA_SASL_USERNAME": main["KAFKA_SASL_USERNAME"],
        "KAFKA_SASL_PASSWORD": main["KAFKA_SASL_PASSWORD"],
        "APP_API_TOKEN": docs["taskflow-app-token"]["token"],
        "DAPR_API_TOKEN": docs["taskflow-dapr-api-token"]["token"],
    }


@pytest.mark.parametrize(
    "name",
    [
        "DATABASE_URL",
        "JWT_SECRET",
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
        "APP_API_TOKEN",
        "DAPR_API_TOKEN",
    ],
)
def test_each_placeholder_secret_from_the_knative_template_is_refused_at_start_up(name):
    real = {
        "ENVIRONMENT": "production",
        "USE_DAPR": "true",
        "JWT_SECRET": "r" * 40,
        "APP_API_TOKEN": "a-real-token",
        "DATABASE_URL": "postgresql://taskflow:s3cret@db:5432/taskflow",
    }
    placeholder = _knative_secret_env()[name]
    assert len(placeholder) >= 8
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**real, name: placeholder})
    Settings.from_env(real)


def test_the_render_blueprint_generates_the_app_token():
    import yaml

    render = yaml.safe_load((ROOT / "render/render.yaml").read_text())
    env = {e["key"]: e for e in render["services"][0]["envVars"]}
    assert env["APP_API_TOKEN"] == {"key": "APP_API_TOKEN", "generateValue": True}


def test_proxy_hops_come_from_the_environment_and_render_trusts_exactly_one():
    assert Settings.from_env({}).trusted_proxy_hops == 0
    assert Settings.from_env({"TRUSTED_PROXY_HOPS": "1"}).trusted_proxy_hops == 1
    with pytest.raises(SettingsError):
        Settings.from_env({"TRUSTED_PROXY_HOPS": "-1"})
    render = yaml.safe_load((ROOT / "render" / "render.yaml").read_text())
    env = {e["key"]: e for e in render["services"][0]["envVars"]}
    assert env["TRUSTED_PROXY_HOPS"]["value"] == "1"
