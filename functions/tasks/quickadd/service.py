"""Quick add for one user: read their zone, lists and default reminder, then parse the line (quickadd.parser)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.quickadd import parser
from functions.tasks.schemas.quickadd import ParseRequest
from shared.concurrency.offload import offload
from shared.persistence.db import utcnow
from shared.persistence.models import Preferences, TaskList

if TYPE_CHECKING:
    from shared.runtime.process import Runtime


def parse(rt: Runtime, user_id: str, body: ParseRequest) -> dict[str, Any]:
    """Read one line of plain English as a task for this user; Any: the JSON body of the parse route."""
    now = body.now or utcnow()
    with rt.uow() as uow:
        prefs = uow.session.get(Preferences, user_id)
        rows = uow.session.execute(
            sa.select(TaskList.id, TaskList.name).where(TaskList.user_id == user_id, TaskList.archived.is_(False))
        )
        names = {row.id: row.name for row in rows}
    timezone = body.timezone or (prefs.timezone if prefs else "UTC")
    default_reminder = prefs.default_reminder_minutes if prefs and prefs.default_reminder_minutes is not None else 0
    quick_add = parser.QuickAdd(timezone, now, names, default_reminder)
    # RRULE expansion is CPU work: on the bounded pool, like the recurrence routes.
    result: dict[str, Any] = offload(lambda: parser.as_json(quick_add.parse(body.text), timezone))
    return result
