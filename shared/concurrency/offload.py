"""Run CPU-heavy calls (password hashing, RRULE expansion, calendar building) on real threads.

Under gevent every request and socket shares one OS thread; a 100 ms argon2 hash there would
stall every open socket of the worker. Both functions here run the call on a real thread and only
the calling greenlet waits; without gevent (threaded servers, tests) they call straight through.

- `offload_native` is for calls that release the GIL while they work (argon2's C code): gevent's
  hub pool, at most `CPU_THREADS` at once, which also bounds hashing's 64 MiB a call.
- `offload` is for pure-Python work (dateutil, icalendar, dateparser), which holds the GIL: one
  thread per process. With two or more such threads the GIL passes between them and starves the
  loop for hundreds of milliseconds; with one, the loop is the only other waiter and gets the GIL
  back every switch interval (5 ms). Python work cannot run in parallel anyway.
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


@functools.cache
def _python_pool() -> Any:  # Any: gevent's ThreadPool
    """One real thread for GIL-holding work, made in the process that uses it (after gunicorn's fork)."""
    if _pool() is None:
        return None
    from gevent.threadpool import ThreadPool

    return ThreadPool(1)


def _outcome(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """Run `fn` in the pool's thread and hand back its result or its exception, never raising there:
    gevent prints an exception raised in a pool thread to stderr before re-raising it in the caller,
    so every 422 a bad rule or calendar earns would leave a traceback in the log."""
    try:
        return True, fn(*args, **kwargs)
    except Exception as exc:  # re-raised in the calling greenlet, with its traceback
        return False, exc


def _apply(pool: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    ok, value = pool.apply(_outcome, (fn, args, kwargs))
    if not ok:
        raise value
    return value


def offload(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call pure-Python `fn` on the process's one Python-work thread under gevent, else directly."""
    pool = _python_pool()
    if pool is None:
        return fn(*args, **kwargs)
    return cast(R, _apply(pool, fn, args, kwargs))


def offload_native(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call `fn`, which releases the GIL while it works, on the bounded CPU pool under gevent, else directly."""
    pool = _pool()
    if pool is None:
        return fn(*args, **kwargs)
    return cast(R, _apply(pool, fn, args, kwargs))
