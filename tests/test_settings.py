"""Settings come from the environment once; production refuses to start without its secrets."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError


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

    from shared.runtime import Runtime

    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("shared.runtime").addHandler(handler)
    try:
        Runtime(
            Settings(
                database_url="sqlite://", environment="production", jwt_secret="x" * 40, run_background_workers=False
            )
        ).close()
    finally:
        logging.getLogger("shared.runtime").removeHandler(handler)
    assert any("PRODUCTION IS RUNNING ON SQLITE" in r.getMessage() for r in records)
