"""A user's own rows: load one by id, and the one unit of work that changes a versioned row.

`editing` is the load → version check → change → commit sequence every write to a task or a list
follows. The version check is the caller's (HTTP's If-Match, functions.tasks.api.versions): core
only asks it whether the row's version is the one the change was based on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa

from shared.domain.errors import NotFound
from shared.persistence.models import Reminder, Task, TaskList

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

Owned = TypeVar("Owned", Task, TaskList, Reminder)
Versioned = TypeVar("Versioned", Task, TaskList)
#: Refuses (raises) when a change was based on another version of the row than `version`.
VersionCheck = Callable[[int], None]


def get_owned(
    session: orm.Session, model: type[Owned], user_id: str, row_id: str, what: str, *, for_update: bool = False
) -> Owned:
    """Load a user's task, list or reminder by id; another user's is simply not found (404, never 403)."""
    stmt = sa.select(model).where(model.id == row_id, model.user_id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound(f"No such {what}.")
    return found


@contextmanager
def editing(
    rt: Runtime,
    model: type[Versioned],
    user_id: str,
    row_id: str,
    what: str,
    check_version: VersionCheck | None = None,
) -> Iterator[tuple[orm.Session, Versioned]]:
    """Lock a user's row, refuse a change based on a stale version, let the caller change it, commit.

    Anything the caller raises rolls the whole change back (nothing is committed).
    """
    with rt.uow() as uow:
        row = get_owned(uow.session, model, user_id, row_id, what, for_update=True)
        if check_version is not None:
            check_version(row.version)
        yield uow.session, row
        uow.commit()
