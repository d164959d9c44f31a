"""Gunicorn settings for the combined app (Render container, `make run`, benchmarks)."""
import os

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
# gthread: long-lived WebSockets hold a thread each, short API calls share the rest.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = 60
graceful_timeout = 20
keepalive = 30
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
