"""Moving in from Todoist for one user: read their project CSV (plan) and store it as one new list (apply).

The import makes a new list named by the person (`?list=`), as Todoist imports a template into a
new project: a name one of their lists already has is refused (409), so an import never mixes into
a list they have, and taking it back is deleting that one list. Everything goes in one transaction:
a file that fails anywhere stores nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.todoist import apply, plan
from functions.tasks.todoist.scan import BadTodoist
from shared.concurrency.offload import offload
from shared.domain.errors import Conflict, Unauthorized, ValidationFailed
from shared.persistence.db import utcnow
from shared.persistence.models import Preferences, TaskList, User

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime


def import_csv(rt: Runtime, user_id: str, data: bytes, list_name: str, dry_run: bool) -> dict[str, Any]:
    """Create a list with the file's sections, tasks, sub-tasks and comments (dry_run: only report them).

    Any: the JSON result ({dry_run, list, created, unsupported}).
    """
    now = utcnow()
    with rt.uow() as uow:
        default_tz = _user_zone(uow.session, user_id)
        _refuse_taken(uow.session, user_id, list_name)
    # Reading the file and its dates (dateparser) is CPU work: on the bounded pool, holding no connection.
    try:
        planned = offload(plan.plan_import, data, default_tz, now)
    except BadTodoist as exc:
        raise ValidationFailed(
            f"The Todoist file cannot be imported: {exc}", errors={"file": str(exc)}, extensions={"line": exc.line}
        ) from None
    result: dict[str, Any] = {
        "dry_run": dry_run,
        "list": None,
        "created": planned.counts(),
        "unsupported": planned.unsupported,
    }
    # Every row and event is built first: the transaction (SQLite's one writer) only inserts them.
    rows = offload(apply.build, user_id, planned, now)
    prepared = offload(apply.prepare, rows, rt.engine.dialect)
    with rt.uow() as uow:
        _refuse_taken(uow.session, user_id, list_name)
        task_list = apply.store(uow.session, user_id, list_name, rows, prepared, now)
        if dry_run:
            return result  # the unit of work rolls back: nothing stored
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Unauthorized("This account no longer exists.") from None
    result["list"] = {"id": task_list.id, "name": task_list.name}
    rt.wake("recurrence")
    return result


def _refuse_taken(session: orm.Session, user_id: str, name: str) -> None:
    """409 when one of the user's lists already has the name (case aside): the import makes a new list."""
    taken = session.scalar(
        sa.select(TaskList.id).where(TaskList.user_id == user_id, sa.func.lower(TaskList.name) == name.lower())
    )
    if taken is not None:
        raise Conflict(
            f"You already have a list named {name!r}: the import makes a new list, choose another name.",
            errors={"list": "a list of that name exists"},
        )


def _user_zone(session: orm.Session, user_id: str) -> str:
    """The zone dates without TIMEZONE are read in: the user's preference, else their account's zone."""
    preferred = session.scalar(sa.select(Preferences.timezone).where(Preferences.user_id == user_id))
    return preferred or session.scalar(sa.select(User.timezone).where(User.id == user_id)) or "UTC"
