"""Statements that fence themselves: once-per-deployment work on PostgreSQL checks, in the statement that
writes, that this process still holds the leader lease (its fencing token), so a leader that woke up after
losing the lease changes nothing and needs no separate round trip to find that out."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from shared.concurrency.loops import RetryLater
from shared.persistence.db import UTCDateTime

#: What a statement checks to fence itself: (lease name, our fencing token; None when we lead no more).
Fencing = tuple[str, int | None]

#: The check a statement folds in where its SQL says `:fence` (`true` when there is no lease to check).
FENCED = "EXISTS (SELECT 1 FROM leases WHERE leases.name = :fence_name AND leases.token = :fence_token)"


class LeaseMovedOn(RetryLater):
    """A fenced statement found another process's fencing token: this one is no longer the leader."""


def fence_params(fencing: Callable[[], Fencing | None] | None) -> tuple[bool, dict[str, Any]]:
    """Whether statements check the lease, and the lease's name and our token when they do."""
    held = fencing() if fencing is not None else None
    if held is None:
        return False, {}
    name, token = held
    return True, {"fence_name": name, "fence_token": token}


@functools.cache
def statement(sql: str, fenced: bool = False) -> sa.TextClause:
    """Build a statement once, with or without the lease check folded in (`:now` is a UTC timestamp,
    `:ids` outside `ANY(…)` an expanding IN list)."""
    text = sa.text(sql.replace(":fence", FENCED if fenced else "true"))
    if ":now" in sql:
        text = text.bindparams(sa.bindparam("now", type_=UTCDateTime))
    if ":ids" in sql and "ANY" not in sql:
        text = text.bindparams(sa.bindparam("ids", expanding=True))
    return text


@functools.cache
def psycopg_sql(sql: str, fenced: bool, dialect: sa.Dialect) -> str:
    """The statement as psycopg SQL (named parameters), for the driver connection itself."""
    return str(statement(sql, fenced).compile(dialect=dialect))
