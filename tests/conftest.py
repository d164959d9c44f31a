"""Fixtures with real parts: PostgreSQL on 127.0.0.1:5432, the tansu broker, live HTTP servers."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from shared.persistence.db import make_engine, migrate
from shared.persistence.models import Base
from shared.settings import Settings
from tests.support.broker import Tansu
from tests.support.live import Client, LiveServer
from tests.support.pg import create_database, drop_database

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@pytest.fixture(scope="session")
def pg_url():
    """One migrated PostgreSQL database for the session (dropped afterwards)."""
    url = create_database()
    migrate(url)
    yield url
    drop_database(url)


@pytest.fixture
def db_url(pg_url):
    """The session database, emptied before the test."""
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_url


@pytest.fixture(scope="session")
def broker():
    tansu = Tansu().start()
    yield tansu
    tansu.stop()


@pytest.fixture
def settings(db_url):
    return Settings(database_url=db_url, jwt_secret=JWT_SECRET)


@pytest.fixture
def serve():
    """Start apps on live HTTP servers; stop them and their runtimes after the test."""
    started = []

    def _serve(app) -> LiveServer:
        server = LiveServer(app).__enter__()
        started.append(server)
        return server

    yield _serve
    for server in reversed(started):
        server.__exit__(None, None, None)
        server.app.extensions["taskflow"].close()


@pytest.fixture
def make_client():
    def _make(server: LiveServer) -> Client:
        return Client(server.url)

    return _make


@pytest.fixture
def api(settings, serve, make_client):
    """A signed-up client of the tasks function (no background workers), with its runtime as `.rt`."""
    from functions.tasks import create_app

    server = serve(create_app(with_(settings, run_background_workers=False)))
    client = make_client(server).signup()
    client.rt = server.app.extensions["taskflow"]
    return client


def with_(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, **changes)


@pytest.fixture(scope="module")
def spans():
    """Spans finished in this module, in memory (an SDK provider is installed once per process:
    OpenTelemetry's provider is global; this module's processor is shut down after it)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()  # later modules' spans go nowhere
