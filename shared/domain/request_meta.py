"""Request metadata that travels with events and log lines instead of through signatures."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import ipaddress
import re
import uuid
from collections.abc import Iterator
from typing import cast

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


_UNREAD = object()


class HttpRequestMeta:
    """An HTTP request's metadata, each part worked out when first read (most requests read only the correlation id).

    One id per request: without a usable X-Correlation-ID, the request's own id starts the correlation;
    with one, the request id is minted only if something (an event) asks for it. The client IP is
    parsed once, on first use.
    """

    __slots__ = ("_client_ip", "_raw_ip", "_raw_user_agent", "_request_id", "_user_agent", "correlation_id")

    def __init__(self, raw_correlation_id: str | None, remote_addr: object, user_agent: object) -> None:
        self._request_id: str | None = None
        if raw_correlation_id and _SAFE_ID.match(raw_correlation_id):
            self.correlation_id = raw_correlation_id
        else:
            self._request_id = self.correlation_id = str(uuid.uuid4())
        self._raw_ip = remote_addr
        self._client_ip: object = _UNREAD
        self._raw_user_agent = user_agent
        self._user_agent: object = _UNREAD

    @property
    def request_id(self) -> str:
        if self._request_id is None:
            self._request_id = str(uuid.uuid4())
        return self._request_id

    @property
    def client_ip(self) -> str | None:
        if self._client_ip is _UNREAD:
            self._client_ip = clean_ip(self._raw_ip)
        return cast("str | None", self._client_ip)

    @property
    def user_agent(self) -> str | None:
        if self._user_agent is _UNREAD:
            self._user_agent = bounded(self._raw_user_agent, MAX_USER_AGENT)
        return cast("str | None", self._user_agent)

    def as_dict(self) -> dict[str, str]:
        parts = {"request_id": self.request_id, "client_ip": self.client_ip, "user_agent": self.user_agent}
        return {k: v for k, v in parts.items() if v}


Meta = RequestMeta | HttpRequestMeta

_current: contextvars.ContextVar[Meta | None] = contextvars.ContextVar("taskflow_meta", default=None)


def clean_ip(raw: object) -> str | None:
    """A client IP as stored: a valid IPv4/IPv6 address in canonical form, or None."""
    if not isinstance(raw, str) or not raw or len(raw) > 64:
        return None
    return _canonical_ip(raw)


@functools.lru_cache(maxsize=4096)
def _canonical_ip(raw: str) -> str | None:
    """Parsed once per address (a client sends many requests): the parse was most of an event's metadata."""
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None


def bounded(raw: object, limit: int) -> str | None:
    """Header-derived text cut to `limit` characters, without NULs (PostgreSQL refuses them)."""
    if not isinstance(raw, str) or not raw:
        return None
    return raw.replace("\x00", "")[:limit] or None


def current() -> Meta | None:
    return _current.get()


def correlation_id() -> str | None:
    meta = _current.get()
    return meta.correlation_id if meta else None


def set_meta(meta: Meta | None) -> contextvars.Token[Meta | None]:
    return _current.set(meta)


def reset_meta(token: contextvars.Token[Meta | None]) -> None:
    _current.reset(token)


@contextlib.contextmanager
def bound(meta: RequestMeta) -> Iterator[RequestMeta]:
    """Bind request metadata for the duration of a block (events, cron sweeps)."""
    token = _current.set(meta)
    try:
        yield meta
    finally:
        _current.reset(token)
