"""A user's own rows: load one by id, and the one unit of work that changes a versioned row.

`editing` is the load → version check → change → commit sequence every write to a task or a list
follows. The version check is the caller's (HTTP's If-Match, functions.tasks.api.versions): core
only asks it whether the row's version is the one the change was based on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from shared.domain.changes import ChangeSet
from shared.domain.errors import Conflict, NotFound, ValidationFailed
from shared.persistence.db import utcnow
from shared.persistence.models import Reminder, SavedFilter, Section, Task, TaskList

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

Owned = TypeVar("Owned", Task, TaskList, Reminder)
Versioned = TypeVar("Versioned", Task, TaskList)
Named = TypeVar("Named", TaskList, Section, SavedFilter)
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


def changed_after(row: Task | TaskList, base_version: int, sent: Iterable[str]) -> set[str]:
    """The fields someone changed after `base_version` (before this change notes its own), for a merge.

    A base ahead of the row is refused (422); a row changed before versions were noted per field
    counts every sent field as changed since, so the person is asked rather than overwritten.
    """
    if base_version > row.version:
        raise ValidationFailed(
            f"base_version {base_version} is newer than the {type(row).__tablename__[:-1]} (version {row.version});"
            " reload it.",
            errors={"base_version": f"the row is at version {row.version}"},
        )
    if row.field_versions is None:
        return set(sent) if row.version > base_version else set()
    return {field for field, at in row.field_versions.items() if at > base_version}


def refuse_conflicts(
    what: str,
    sent: Iterable[str],
    changed: set[str],
    theirs: Mapping[str, Any],
    yours: Mapping[str, Any],
    base_of: Callable[[], Mapping[str, Any] | None] = lambda: None,
) -> None:
    """409 (nothing stored) when a sent field was changed by someone else and differs from the person's value.

    `base_of` looks up the row as it was at the base version, only when there is a conflict to show.
    """
    conflicts = [field for field in sorted(sent) if field in changed and yours[field] != theirs[field]]
    if conflicts:
        base = base_of()
        raise Conflict(
            f"Someone changed this {what} while you were editing it: keep their value or yours.",
            extensions={
                "conflicts": [
                    {"field": f, "base": base.get(f) if base else None, "yours": yours[f], "theirs": theirs[f]}
                    for f in conflicts
                ],
                what: dict(theirs),
            },
        )


def apply_fields(
    session: orm.Session, row: Named, view: Callable[[Named], Mapping[str, Any]], fields: Mapping[str, Any]
) -> ChangeSet[Named]:
    """Set the given (non-null) fields of a list, section or filter; when any changed, bump its version,
    note which fields changed at it and flush. The change set says what changed, for the row's event."""
    changes = ChangeSet(row, view)
    for field, value in fields.items():
        if value is not None:
            changes.set(field, value)
    if changes:
        row.version += 1
        row.updated_at = utcnow()
        row.note_changed(changes.fields)
        session.flush()
    return changes
