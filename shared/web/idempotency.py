"""Idempotent creates: a retried request with the same `Idempotency-Key` gets the first response.

Same key + same request (method, path, body) → the stored response, replayed; same key + another
request → 422; same key while the first is still running → 409. Only successful (2xx) answers
are kept, for KEY_TTL; a failed attempt frees the key so the client can retry it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec

import sqlalchemy as sa
from flask import Response, current_app, g, request

from shared.domain.errors import Conflict, ValidationFailed
from shared.persistence.db import utcnow
from shared.persistence.models import IdempotencyKey
from shared.web.accounts import check_account
from shared.web.app import runtime

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

_P = ParamSpec("_P")

HEADER = "Idempotency-Key"
KEY_TTL = dt.timedelta(hours=24)
# A key still "running" after this long belongs to a request that died: a retry may take it over.
ABANDONED_AFTER = dt.timedelta(seconds=60)
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")


def idempotent(view: Callable[_P, ResponseReturnValue]) -> Callable[_P, ResponseReturnValue]:
    """Honour an Idempotency-Key header on a creating route (after the path-user guard ran)."""

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> ResponseReturnValue:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY_RE.match(key):
            raise ValidationFailed(
                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                errors={HEADER: "1 to 255 visible ASCII characters"},
            )
        check_account()  # the key's row is the account's: check it before reserving (a deferred check)
        user_id, fingerprint = g.user_id, _fingerprint()
        replay = _reserve(user_id, key, fingerprint)
        if replay is not None:
            return replay
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            _release(user_id, key)
            raise
        if 200 <= response.status_code < 300:
            _keep(user_id, key, response)
        else:
            _release(user_id, key)
        return response

    wrapper.idempotent = True  # type: ignore[attr-defined]  # read by shared.web.operations for the spec
    return wrapper


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _reserve(user_id: str, key: str, fingerprint: str) -> Response | None:
    """Claim the key for this request (None), or answer from what an earlier request left."""
    now = utcnow()
    with runtime().uow() as uow:
        session = uow.session
        session.execute(
            sa.delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.expires_at <= now)
        )
        row = session.get(IdempotencyKey, (user_id, key), with_for_update=True)
        if row is None:
            session.add(
                IdempotencyKey(
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    status=None,
                    response=None,
                    created_at=now,
                    expires_at=now + KEY_TTL,
                )
            )
            try:
                uow.commit()
            except sa.exc.IntegrityError:
                raise Conflict(
                    "A request with this Idempotency-Key is in progress; retry shortly.", retry_after=1
                ) from None
            return None
        if row.fingerprint != fingerprint:
            raise ValidationFailed(
                "This Idempotency-Key was already used for a different request.",
                errors={HEADER: "already used with another method, path or body"},
            )
        if row.status is None:
            if now - row.created_at < ABANDONED_AFTER:
                raise Conflict("A request with this Idempotency-Key is in progress; retry shortly.", retry_after=1)
            row.created_at = now  # the first attempt died mid-way: this one takes over
            uow.commit()
            return None
        stored = row.response or {}
        response = Response(stored.get("body", ""), status=row.status)
        for name, value in (stored.get("headers") or {}).items():
            response.headers[name] = value
        response.headers["Idempotent-Replayed"] = "true"
        return response


def _keep(user_id: str, key: str, response: Response) -> None:
    headers = {name: response.headers[name] for name in _REPLAYED_HEADERS if name in response.headers}
    with runtime().uow() as uow:
        row = uow.session.get(IdempotencyKey, (user_id, key), with_for_update=True)
        if row is not None:
            row.status = response.status_code
            row.response = {"body": response.get_data(as_text=True), "headers": headers}
            uow.commit()


def _release(user_id: str, key: str) -> None:
    with runtime().uow() as uow:
        uow.session.execute(
            sa.delete(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key, IdempotencyKey.status.is_(None)
            )
        )
        uow.commit()
