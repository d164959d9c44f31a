"""Gunicorn settings for the combined app (Render container, `make run`, benchmarks) and the functions.

gevent workers: each request and each open WebSocket is a greenlet, not a thread, so open tabs
never starve the API (flask-sock's documented pairing). gunicorn's gevent worker monkey-patches
the standard library before it imports the app, so psycopg (3.1.14+ detects gevent itself),
kafka-python and `threading` cooperate; grpc is switched to gevent's loop before the first
channel (shared/messaging/transports.py). CPU-heavy calls run on gevent's pool of real threads
(shared/concurrency/offload.py). The defaults and the measurements behind them are in the README.
"""

import os
import resource
import shutil
import tempfile

# The container listens on every interface (Render, Knative route to it); make run and tests bind loopback.
bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# Two workers use both cores of a 2-core machine; the Render blueprint sets 1 for a 512 MB container.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))  # gthread only
# Open connections (sockets included) per gevent worker.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "10000"))
timeout = 60
graceful_timeout = 20
# An idle keep-alive connection holds a greenlet that a graceful shutdown waits for: keep it short.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "2"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
# The path without its query string: a WebSocket's `?token=` never reaches the access log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss "%(a)s"'
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def on_starting(server):
    """Raise the open-files limit, and give the workers one fresh directory for their metrics."""
    # Every socket is a file descriptor.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # prometheus_client's multiprocess mode: each worker writes its counters, histograms and gauges
    # to files here, and /metrics in any worker merges them all (shared/runtime/metrics.py). Set before a
    # worker imports prometheus_client; private (0700) and new at every start, so no stale values.
    # A PROMETHEUS_MULTIPROC_DIR already set (a tmpfs mount, say) is where that directory goes.
    parent = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="taskflow-metrics-", dir=parent)


def child_exit(server, worker):
    """A worker is gone (exit, crash, SIGKILL): its live gauges (sockets, leader, lag) go with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory (the files of this run only)."""
    shutil.rmtree(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""), ignore_errors=True)


def post_worker_init(worker):
    """On SIGTERM, close every WebSocket with 1001 first, so clients reconnect elsewhere at once
    instead of waiting for the graceful timeout, and hand the leader lease over right away."""
    import signal

    def close_sockets_then_exit(signum, frame):
        extensions = getattr(worker.wsgi, "extensions", {})
        hub = extensions.get("taskflow_hub")
        if hub is not None:
            hub.close_all()
        rt = extensions.get("taskflow")

        def stop_loops_then_exit():
            # Loops stop first: the lease goes to another worker now, and Kafka consumers leave
            # their groups instead of making the next member wait for a session timeout.
            if rt is not None and rt.election is not None:
                rt.election.stop()
            worker.handle_exit(signum, frame)

        # Stopping loops blocks; under gevent a signal handler runs in the event loop, which must not.
        if worker.cfg.worker_class_str == "gevent":
            import gevent

            gevent.spawn(stop_loops_then_exit)
        else:
            stop_loops_then_exit()

    signal.signal(signal.SIGTERM, close_sockets_then_exit)

    # The app's modules (schemas, tracing, date and calendar libraries) are millions of long-lived
    # objects: out of the collector's sight, a full collection no longer stalls every socket and
    # request of the worker for ~100 ms now and then (measured on `make run` with 500 sockets).
    import gc

    gc.freeze()
    # A young-generation collection every 20,000 new objects instead of every 700: a create allocates
    # thousands, most freed by reference counting before a collection would scan them, and 50
    # requests in flight keep many alive at once. Measured with wrk on the tasks function: 11–16 %
    # less CPU per create (paired runs, tests/bench/bench_writepath.py's setup), memory unchanged.
    gc.set_threshold(int(os.environ.get("GC_GEN0_THRESHOLD", "20000")), *gc.get_threshold()[1:])
