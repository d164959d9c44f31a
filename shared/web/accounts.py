"""The account check a view does itself: one round trip fewer on a hot route.

`require_path_user` (shared.web.app) reads the account (it still exists, the token is of its current
session generation) before every /api/<user_id>/… view, except one marked with
`account_checked_by_the_view`: there it only notes what to check, and the view checks it inside its
own statement (`deferred_account()`, e.g. a plain create's insert) or calls `check_account()` before
it reads or writes anything else. A request whose body or query is refused is checked first, so a
gone account is told 401 before its input's faults (shared.web.operations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import current_app, g, has_request_context

_P = ParamSpec("_P")
_R = TypeVar("_R")


def account_checked_by_the_view(view: Callable[_P, _R]) -> Callable[_P, _R]:
    """Mark a view under `require_path_user` that checks the account itself (see the module)."""
    view.checks_account_itself = True  # type: ignore[attr-defined]  # read by checks_account_itself
    return view


def checks_account_itself(view: Any) -> bool:  # Any: a view function, or None for an unrouted request
    return bool(getattr(view, "checks_account_itself", False))


def defer_account_check(generation: int) -> None:
    """Leave this request's account check to its view: the token says `generation`."""
    g.account_generation = generation


def deferred_account() -> tuple[str, int] | None:
    """The account (id, session generation) this request's view must still check, or None when it was checked."""
    generation = g.get("account_generation")
    return None if generation is None else (g.user_id, generation)


def check_account() -> None:
    """Check a deferred account now (401 when it is gone or signed out); nothing when none is deferred."""
    from shared.services.credentials import require_account

    if not has_request_context() or "user_id" not in g:
        return
    generation = g.pop("account_generation", None)
    if generation is not None:
        require_account(current_app.extensions["taskflow"].engine, g.user_id, generation)
