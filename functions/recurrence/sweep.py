"""The recurrence sweep: spawn one instance for every due series, in bounded batches."""

from __future__ import annotations

import datetime as dt
import logging

from shared.persistence.db import utcnow
from shared.runtime.process import Runtime
from shared.services import series

log = logging.getLogger(__name__)


def spawn_due(rt: Runtime, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Spawn the instances of every series due at `now`; return how many were spawned.

    Each batch is one transaction: instances, `recurring.spawned` events and the advanced
    next_occurrence commit together or not at all.
    """
    now = now or utcnow()
    spawned = 0
    while True:
        with rt.uow() as uow:
            due = series.claim_due_series(uow.session, now, batch_size)
            if not due:
                break
            # claim_due_series only returns series with a next occurrence.
            occurrences = [(s, s.next_occurrence) for s in due if s.next_occurrence is not None]
            skipped = series.skipped_occurrences(
                uow.session, [s.id for s, _ in occurrences], since=min(o for _, o in occurrences)
            )
            # A skipped occurrence is never spawned (next_occurrence passes over skips; this guards the rest).
            kept = [(s, o) for s, o in occurrences if o not in skipped[s.id]]
            spawned += len(series.spawn_instances(uow.session, kept, now))
            done = series.done_ahead(uow.session, [s.id for s, _ in occurrences], now)  # ticked ahead
            for s, occurrence in occurrences:
                series.advance(s, occurrence, now, skipped[s.id] | done[s.id])
                series.arm_relative_reminders(uow.session, s, now)  # rested ones ring for the next occurrences
            rt.fence(uow.session)  # a leader that lost its lease while frozen commits nothing
            uow.commit()
        if len(due) < batch_size:
            break
    if spawned:
        log.info("recurring instances spawned", extra={"spawned": spawned})
    return spawned


def next_due(rt: Runtime) -> dt.datetime | None:
    with rt.sessions() as session:
        return series.earliest_occurrence(session)
