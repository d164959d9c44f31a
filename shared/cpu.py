"""Run CPU-heavy calls (password hashing, RRULE expansion) on a bounded pool of real threads.

Under gevent every request and socket shares one OS thread; a 100 ms argon2 hash there would
stall every open socket of the worker. `offload` runs the call on gevent's thread pool (real
threads, at most `CPU_THREADS` at once, so memory-hungry hashing stays bounded too) and only the
calling greenlet waits. Without gevent (threaded servers, tests) it calls straight through.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def _pool() -> Any:  # Any: gevent's ThreadPool (gevent ships no types)
    """gevent's hub thread pool when the process runs under gevent's monkey patching."""
    try:
        from gevent import get_hub, monkey
    except ImportError:
        return None
    if not monkey.is_module_patched("threading"):
        return None
    return get_hub().threadpool


def bound(threads: int) -> None:
    """Cap the pool (CPU_THREADS): argon2 takes 64 MiB a hash, so the cap bounds memory as well as CPU."""
    pool = _pool()
    if pool is not None:
        pool.maxsize = max(1, threads)


def offload(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call `fn` on the CPU pool under gevent (blocking only the calling greenlet), else directly."""
    pool = _pool()
    if pool is None:
        return fn(*args, **kwargs)
    return cast(R, pool.apply(fn, args, kwargs))
