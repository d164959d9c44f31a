"""Gunicorn settings for the combined app (Render container, `make run`, benchmarks)."""

import os

# A container must listen on every interface; `make run` and the tests set BIND_HOST=127.0.0.1.
bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
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


def post_worker_init(worker):
    """On SIGTERM, close every WebSocket with 1001 first, so clients reconnect elsewhere at once
    instead of waiting for the graceful timeout."""
    import signal

    def close_sockets_then_exit(signum, frame):
        hub = getattr(worker.wsgi, "extensions", {}).get("taskflow_hub")
        if hub is not None:
            hub.close_all()
        worker.handle_exit(signum, frame)

    signal.signal(signal.SIGTERM, close_sockets_then_exit)
