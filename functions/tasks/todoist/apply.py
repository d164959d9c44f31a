"""Apply a Todoist import plan in the caller's unit of work: the list, its sections, tasks (sub-tasks and
series) and comments, each with its event through the outbox (list.created, section.created,
task.created with parent_task_id and section_id, comment.added)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import orm

from functions.tasks.core.export import comment_view, section_view, task_view
from functions.tasks.core.lists import create_list
from functions.tasks.schemas.lists import ListCreate
from functions.tasks.todoist.plan import TodoistPlan
from shared.domain import events
from shared.domain.days import day_instant, local_day
from shared.domain.events import Event
from shared.messaging.outbox import add_event
from shared.persistence.models import Comment, Section, Task, TaskList, new_id
from shared.services import series
from shared.services.tasks import new_task


def create_all(session: orm.Session, user_id: str, list_name: str, plan: TodoistPlan, now: dt.datetime) -> TaskList:
    """Create the list and everything the plan holds, with their events; a flush per kind of row."""
    task_list = create_list(session, user_id, ListCreate(name=list_name))
    sections: list[Section] = []
    for position, planned_section in enumerate(plan.sections, start=1):
        section = Section(
            id=new_id(),
            user_id=user_id,
            list_id=task_list.id,
            name=planned_section.name,
            position=float(position),
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(section)
        sections.append(section)
        add_event(session, _event(events.SECTION_CREATED, user_id, section.id, section_view(section)))
    session.flush()
    tasks: list[Task] = []
    comments: list[Comment] = []
    for position, item in enumerate(plan.tasks, start=1):
        due = item.due
        if due is not None and item.all_day:
            due = day_instant(local_day(due, item.timezone))
        task = new_task(
            user_id,
            item.title,
            now,
            description=item.description,
            due_date=due.astimezone(dt.UTC) if due is not None else None,
            all_day=item.all_day,
            timezone=item.timezone,
            priority=item.priority,
            tags=item.tags,
            list_id=task_list.id,
            position=float(position),
        )
        task.parent_task_id = tasks[item.parent].id if item.parent is not None else None
        task.section_id = sections[item.section].id if item.section is not None else None
        if item.rule is not None:
            series.start_series(task, item.rule, item.repeat_from, now)
        session.add(task)
        tasks.append(task)
        add_event(session, _event(events.TASK_CREATED, user_id, task.id, task_view(task)))
        for planned_comment in item.comments:
            comment = Comment(
                id=new_id(), user_id=user_id, task_id=task.id, text=planned_comment.text, version=1, created_at=now
            )
            comments.append(comment)
            add_event(session, _event(events.COMMENT_ADDED, user_id, comment.id, comment_view(comment)))
    # Tasks before their comments (no relationship tells the unit of work), parents before sub-tasks (in order).
    session.flush()
    session.add_all(comments)
    session.flush()
    return task_list


def _event(event_type: str, user_id: str, aggregate_id: str, data: dict[str, Any]) -> Event:
    return Event(event_type=event_type, user_id=user_id, aggregate_id=aggregate_id, data=data)
