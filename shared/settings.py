"""Typed settings, read from the environment once and passed in everywhere."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tempfile
from collections.abc import Mapping

# The placeholders of knative/base/secrets.yaml ("CHANGE-ME…"): never a real secret, however long.
_PLACEHOLDER = re.compile(r"change[-_ ]?me", re.IGNORECASE)


class SettingsError(RuntimeError):
    """Raised at start-up when the environment cannot run the service safely."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every knob the functions read; build with `Settings.from_env()` or by hand in tests."""

    database_url: str = "sqlite:///taskflow.db"
    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    use_dapr: bool = False
    dapr_http_port: int = 3500
    dapr_grpc_port: int = 50001
    dapr_api_token: str | None = None
    app_api_token: str | None = None
    pubsub_name: str = "kafka-pubsub"
    # The local-only default; production refuses to start without JWT_SECRET (see check).
    jwt_secret: str = "dev-only-insecure-jwt-secret-change-me-in-production"  # noqa: S105
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_ttl_seconds: int = 24 * 3600
    cors_origins: tuple[str, ...] = ()
    environment: str = "local"
    port: int = 8000
    log_level: str = "INFO"
    event_retention_days: int = 90
    outbox_retention_days: int = 7
    reminder_grace_minutes: int = 60
    relay_batch_size: int = 500
    db_pool_size: int = 10
    cpu_threads: int = 2
    db_max_overflow: int = 5
    #: Connections per worker kept in autocommit for one-statement reads and writes (the sign-in check,
    #: a plain create): at least the requests a worker serves at once, so a burst opens no new sessions.
    db_autocommit_pool_size: int = 25
    run_background_workers: bool = True
    ws_ping_seconds: float = 25.0
    #: Messages a socket may have waiting before it is marked behind and reads the stream itself. The
    #: follower reads 1,000 positions at a time, so a burst (a broker back after an outage) fits; each entry
    #: is a reference to its event's message, built once for all of the user's sockets in the worker.
    ws_queue_size: int = 2048
    webhook_allow_private: bool = False
    webhook_retry_base_seconds: float = 30.0
    webhook_max_attempts: int = 8
    smtp_url: str | None = None
    smtp_from: str = "TaskFlow <taskflow@localhost>"
    app_url: str = "http://127.0.0.1:8000"
    # Proxies in front of the app that append to X-Forwarded-For (Render: 1). 0 trusts none.
    trusted_proxy_hops: int = 0
    # Where the rate limits count (flask-limiter storage URI): memory:// is per process (`make run`); with
    # more than one process or instance, a shared store such as redis://127.0.0.1:6379/0.
    rate_limit_storage_uri: str = "memory://"
    # Sign-in throttles (flask-limiter syntax): every auth request per client IP, failed logins per account.
    auth_rate_limit: str = "30 per minute;300 per hour"
    auth_account_limit: str = "5 per minute;20 per hour"
    # Traces (shared/observability/tracing.py): on when an OTLP endpoint is configured (the OTEL_* variables).
    tracing: bool = False
    # Quick-add parsing (POST /api/<user_id>/parse, called as the user types): per client IP.
    parse_rate_limit: str = "120 per minute;2000 per hour"
    # Public calendar feed (/ical/<token>.ics) per client IP: clients poll every few minutes at most.
    feed_rate_limit: str = "60 per minute;600 per hour"
    # .ics imports per client IP (each may spend seconds of CPU planning and creating).
    import_rate_limit: str = "10 per minute;60 per hour"

    @property
    def transport(self) -> str:
        """Name the event transport: dapr, kafka or local (DESIGN.md's precedence)."""
        if self.use_dapr:
            return "dapr"
        if self.kafka_bootstrap_servers:
            return "kafka"
        return "local"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the environment once; refuse to start in production without secrets."""
        env = os.environ if env is None else env
        defaults = cls()
        settings = cls(
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            kafka_security_protocol=env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT",
            kafka_sasl_mechanism=env.get("KAFKA_SASL_MECHANISM") or None,
            kafka_sasl_username=env.get("KAFKA_SASL_USERNAME") or None,
            kafka_sasl_password=env.get("KAFKA_SASL_PASSWORD") or None,
            use_dapr=_bool(env.get("USE_DAPR")),
            dapr_http_port=_int(env, "DAPR_HTTP_PORT", 3500),
            dapr_grpc_port=_int(env, "DAPR_GRPC_PORT", 50001),
            dapr_api_token=env.get("DAPR_API_TOKEN") or None,
            app_api_token=env.get("APP_API_TOKEN") or None,
            pubsub_name=env.get("PUBSUB_NAME") or "kafka-pubsub",
            jwt_secret=env.get("JWT_SECRET") or defaults.jwt_secret,
            jwt_issuer=env.get("JWT_ISSUER") or None,
            jwt_audience=env.get("JWT_AUDIENCE") or None,
            jwt_ttl_seconds=_int(env, "JWT_TTL_SECONDS", defaults.jwt_ttl_seconds),
            cors_origins=tuple(o.strip() for o in (env.get("CORS_ORIGINS") or "").split(",") if o.strip()),
            environment=(env.get("ENVIRONMENT") or "local").strip().lower(),
            port=_int(env, "PORT", 8000),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            event_retention_days=_int(env, "EVENT_RETENTION_DAYS", 90),
            outbox_retention_days=_int(env, "OUTBOX_RETENTION_DAYS", 7),
            reminder_grace_minutes=_int(env, "REMINDER_GRACE_MINUTES", 60),
            relay_batch_size=_int(env, "RELAY_BATCH_SIZE", 500),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10),
            cpu_threads=_int(env, "CPU_THREADS", 2),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 5),
            db_autocommit_pool_size=_int(env, "DB_AUTOCOMMIT_POOL_SIZE", 25),
            run_background_workers=_bool(env.get("RUN_BACKGROUND_WORKERS"), True),
            ws_ping_seconds=float(_int(env, "WS_PING_SECONDS", 25)),
            ws_queue_size=_int(env, "WS_QUEUE_SIZE", 2048),
            webhook_allow_private=_bool(env.get("WEBHOOK_ALLOW_PRIVATE")),
            webhook_retry_base_seconds=float(_int(env, "WEBHOOK_RETRY_BASE_SECONDS", 30)),
            webhook_max_attempts=_int(env, "WEBHOOK_MAX_ATTEMPTS", 8),
            smtp_url=env.get("SMTP_URL") or None,
            smtp_from=env.get("SMTP_FROM") or defaults.smtp_from,
            app_url=env.get("APP_URL") or defaults.app_url,
            trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0),
            rate_limit_storage_uri=(env.get("RATE_LIMIT_STORAGE_URI") or "").strip() or defaults.rate_limit_storage_uri,
            auth_rate_limit=env.get("AUTH_RATE_LIMIT") or defaults.auth_rate_limit,
            auth_account_limit=env.get("AUTH_ACCOUNT_LIMIT") or defaults.auth_account_limit,
            tracing=bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            and not _bool(env.get("OTEL_SDK_DISABLED")),
            parse_rate_limit=env.get("PARSE_RATE_LIMIT") or defaults.parse_rate_limit,
            feed_rate_limit=env.get("FEED_RATE_LIMIT") or defaults.feed_rate_limit,
            import_rate_limit=env.get("IMPORT_RATE_LIMIT") or defaults.import_rate_limit,
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Stop start-up with a clear message when production would run unsafely."""
        secrets = {
            "JWT_SECRET": self.jwt_secret,
            "APP_API_TOKEN": self.app_api_token,
            "DAPR_API_TOKEN": self.dapr_api_token,
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "KAFKA_SASL_USERNAME": self.kafka_sasl_username,
            "KAFKA_SASL_PASSWORD": self.kafka_sasl_password,
        }
        for name, value in secrets.items():
            if value and value != Settings.jwt_secret and _PLACEHOLDER.search(value):
                raise SettingsError(
                    f"{name} still holds a CHANGE-ME placeholder (knative/base/secrets.yaml); set a real value"
                )
        if not 0 <= self.trusted_proxy_hops <= 5:
            raise SettingsError(f"TRUSTED_PROXY_HOPS must be between 0 and 5, got {self.trusted_proxy_hops}")
        if self.environment not in {"local", "production"}:
            raise SettingsError(f"ENVIRONMENT must be 'local' or 'production', got {self.environment!r}")
        if self.is_production and self.jwt_secret == Settings.jwt_secret:
            raise SettingsError("JWT_SECRET must be set when ENVIRONMENT=production")
        if self.is_production and self.use_dapr and not self.app_api_token:
            raise SettingsError("APP_API_TOKEN must be set when ENVIRONMENT=production and USE_DAPR=true")
        if self.is_production and len(self.jwt_secret) < 32:
            raise SettingsError("JWT_SECRET must be at least 32 characters in production")


def sqlite_path(database_url: str) -> str | None:
    """The file of a SQLite database URL (None for another database or one in memory)."""
    if not database_url.startswith("sqlite") or "///" not in database_url:
        return None
    path = database_url.split("///", 1)[1].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def with_local_secret(settings: Settings) -> Settings:
    """Embedded mode without JWT_SECRET: sign with a random secret, never the public default.

    On a SQLite file (`make run`) it is made once and kept beside the database, readable by its owner
    only (`<database>.jwt-secret`, 0600), so sessions survive a restart; in memory, one per process.
    Anything else is left as it is (production refuses to start without JWT_SECRET: `Settings.check`).
    """
    if settings.jwt_secret != Settings.jwt_secret or settings.is_production:
        return settings
    if not settings.database_url.startswith("sqlite"):
        return settings
    path = sqlite_path(settings.database_url)
    if path is None:
        return dataclasses.replace(settings, jwt_secret=secrets.token_urlsafe(48))
    return dataclasses.replace(settings, jwt_secret=_kept_secret(f"{path}.jwt-secret"))


def _kept_secret(path: str) -> str:
    """Read the secret at `path`, or make it: written whole to a temporary file, then linked into place
    (so two workers starting at once both end up with the one that won)."""
    try:
        with open(path) as kept:
            secret = kept.read().strip()
        if len(secret) >= 32:
            return secret
    except FileNotFoundError:
        pass
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".jwt-secret-")  # 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another worker made it first (or a short one is there): use the file
            pass
    finally:
        os.unlink(temporary)
    with open(path) as kept:
        secret = kept.read().strip()
    if len(secret) < 32:
        raise SettingsError(f"{path} holds no usable secret; delete it or set JWT_SECRET")
    return secret
