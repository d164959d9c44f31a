"""Request metadata that travels with events and log lines instead of through signatures."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import ipaddress
import re
import uuid
from collections.abc import Iterator

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Column sizes of the audit log: what is stored never fails the insert.
MAX_REQUEST_ID = 128
MAX_USER_AGENT = 512


@dataclasses.dataclass(frozen=True)
class RequestMeta:
    """Who asked for a change: correlation id, request id, client IP and user agent."""

    correlation_id: str
    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v and k != "correlation_id"}


_current: contextvars.ContextVar[RequestMeta | None] = contextvars.ContextVar("taskflow_meta", default=None)


def clean_correlation_id(raw: str | None) -> str:
    """Accept a caller's correlation id when it is a sane token; otherwise mint one."""
    if raw and _SAFE_ID.match(raw):
        return raw
    return str(uuid.uuid4())


def clean_ip(raw: object) -> str | None:
    """A client IP as stored: a valid IPv4/IPv6 address in canonical form, or None."""
    if not isinstance(raw, str) or not raw or len(raw) > 64:
        return None
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None


def bounded(raw: object, limit: int) -> str | None:
    """Header-derived text cut to `limit` characters, without NULs (PostgreSQL refuses them)."""
    if not isinstance(raw, str) or not raw:
        return None
    return raw.replace("\x00", "")[:limit] or None


def current() -> RequestMeta | None:
    return _current.get()


def correlation_id() -> str | None:
    meta = _current.get()
    return meta.correlation_id if meta else None


def set_meta(meta: RequestMeta | None) -> contextvars.Token[RequestMeta | None]:
    return _current.set(meta)


def reset_meta(token: contextvars.Token[RequestMeta | None]) -> None:
    _current.reset(token)


@contextlib.contextmanager
def bound(meta: RequestMeta) -> Iterator[RequestMeta]:
    """Bind request metadata for the duration of a block (events, cron sweeps)."""
    token = _current.set(meta)
    try:
        yield meta
    finally:
        _current.reset(token)
