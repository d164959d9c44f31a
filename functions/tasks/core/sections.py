"""Sections of a list (Todoist's sections): create, rename, reorder and delete them, each with its section.* event.

A task sits in at most one section of its own list (tasks.section_id); deleting a section moves its
tasks to the list's top (section_id null), each with its task.updated event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from functions.tasks.core import rows
from functions.tasks.schemas.sections import SectionCreate, SectionUpdate
from shared.domain import events
from shared.domain.changes import ChangeSet
from shared.domain.errors import NotFound, ValidationFailed
from shared.domain.events import Event
from shared.domain.times import rfc3339
from shared.messaging.outbox import add_event
from shared.persistence.db import utcnow
from shared.persistence.models import Section, Task, TaskList, new_id
from shared.services.snapshots import snapshot
from shared.services.tasks import record_update

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.runtime.process import Runtime

MAX_SECTIONS = 200

# -- what the routes call ----------------------------------------------------------------------


def index(rt: Runtime, user_id: str, list_id: str) -> list[dict[str, Any]]:
    """The sections of one of the user's lists, in order."""
    with rt.uow() as uow:
        _owned_list(uow.session, user_id, list_id)
        found = uow.session.scalars(
            sa.select(Section).where(Section.list_id == list_id).order_by(Section.position, Section.created_at)
        )
        return [view(s) for s in found]


def create(rt: Runtime, user_id: str, list_id: str, body: SectionCreate) -> dict[str, Any]:
    """Add a section at the end of a list (or at its given position)."""
    with rt.uow() as uow:
        _owned_list(uow.session, user_id, list_id, for_update=True)
        section = add_section(uow.session, user_id, list_id, body.name, body.position)
        uow.commit()
        return view(section)


def update(rt: Runtime, user_id: str, list_id: str, section_id: str, body: SectionUpdate) -> dict[str, Any]:
    """Rename or move a section; section.updated with {field: {old, new}} when anything changed."""
    with rt.uow() as uow:
        section = _owned_section(uow.session, user_id, list_id, section_id)
        changes = rows.apply_fields(uow.session, section, view, body.given())
        if changes:
            _emit(uow.session, events.SECTION_UPDATED, section, changes=changes.fields)
        uow.commit()
        return view(section)


def delete(rt: Runtime, user_id: str, list_id: str, section_id: str) -> None:
    """Delete a section; its tasks move to the list's top (section_id null), each with its task.updated."""
    with rt.uow() as uow:
        session = uow.session
        section = _owned_section(session, user_id, list_id, section_id)
        moved = list(
            session.scalars(
                sa.select(Task).where(Task.section_id == section.id).order_by(Task.created_at).with_for_update()
            )
        )
        for task in moved:
            changes = ChangeSet(task, snapshot)
            changes.set("section_id", None)
            record_update(session, task, changes)
        _emit(session, events.SECTION_DELETED, section, deleted=True, tasks_moved=len(moved))
        session.delete(section)
        session.flush()
        uow.commit()


# -- the rules, in the caller's unit of work ---------------------------------------------------


def view(section: Section) -> dict[str, Any]:
    """The section as the API and its events show it."""
    return {
        "id": section.id,
        "list_id": section.list_id,
        "name": section.name,
        "position": section.position,
        "version": section.version,
        "created_at": rfc3339(section.created_at),
        "updated_at": rfc3339(section.updated_at),
    }


def add_section(session: orm.Session, user_id: str, list_id: str, name: str, position: float | None = None) -> Section:
    """Add a section to a list the caller checked is the user's (at the end, or at `position`), with section.created.

    At most MAX_SECTIONS per list. Also what an import calls, in its own unit of work.
    """
    count = session.scalar(sa.select(sa.func.count()).select_from(Section).where(Section.list_id == list_id)) or 0
    if count >= MAX_SECTIONS:
        raise ValidationFailed(f"At most {MAX_SECTIONS} sections in a list.", errors={"name": "too many sections"})
    last = session.scalar(sa.select(sa.func.max(Section.position)).where(Section.list_id == list_id))
    now = utcnow()
    section = Section(
        id=new_id(),
        user_id=user_id,
        list_id=list_id,
        name=name,
        position=position if position is not None else (last or 0) + 1,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(section)
    session.flush()
    _emit(session, events.SECTION_CREATED, section)
    return section


def check_section(session: orm.Session, user_id: str, list_id: str | None, section_id: Any) -> None:
    """A task may only sit in a section of its own list (same user): anything else is a 422, never linked."""
    if not isinstance(section_id, str):
        return
    found = session.scalar(sa.select(Section.list_id).where(Section.id == section_id, Section.user_id == user_id))
    if found is None:
        raise ValidationFailed("No such section.", errors={"section_id": "no such section"})
    if found != list_id:
        raise ValidationFailed(
            "A task can only be in a section of its own list.", errors={"section_id": "is a section of another list"}
        )


def _emit(session: orm.Session, event_type: str, section: Section, **extra: Any) -> None:
    """Stage a section event: the section as the API shows it after the change, plus what the change adds."""
    add_event(
        session,
        Event(
            event_type=event_type,
            user_id=section.user_id,
            aggregate_id=section.id,
            data={**view(section), **extra},
        ),
    )


def _owned_list(session: orm.Session, user_id: str, list_id: str, *, for_update: bool = False) -> TaskList:
    """One of the user's lists (another user's is not found)."""
    stmt = sa.select(TaskList).where(TaskList.id == list_id, TaskList.user_id == user_id)
    found = session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if found is None:
        raise NotFound("No such list.")
    return found


def _owned_section(session: orm.Session, user_id: str, list_id: str, section_id: str) -> Section:
    """One of the user's sections, of that list, locked for a change (another user's or list's is not found)."""
    found = session.scalars(
        sa.select(Section)
        .where(Section.id == section_id, Section.list_id == list_id, Section.user_id == user_id)
        .with_for_update()
    ).one_or_none()
    if found is None:
        raise NotFound("No such section.")
    return found
