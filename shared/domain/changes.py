"""Change sets: what one change did to a row, as `{field: {old, new}}` (task.updated, list.updated).

Old and new values are in the shapes the row's view shows (the API and event JSON: times with
offsets in the task's zone), so an audit reader or a replay sees what the API showed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

Row = TypeVar("Row")


class ChangeSet(Generic[Row]):
    """Collect the changes made to one row, starting from how it looks now."""

    def __init__(self, row: Row, view: Callable[[Row], Mapping[str, Any]]):
        self._row = row
        self._view = view
        self._before = view(row)
        #: {field: {"old": …, "new": …}}, in the order the fields changed.
        self.fields: dict[str, dict[str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self.fields)

    def __contains__(self, field: str) -> bool:
        return field in self.fields

    def set(self, field: str, value: object) -> None:
        """Store a field's new value; one that differs from the stored value is a change."""
        if getattr(self._row, field) == value:
            return
        old = self._view(self._row)[field]
        setattr(self._row, field, value)
        self.fields[field] = {"old": old, "new": self._view(self._row)[field]}

    def compare(self, fields: Iterable[str]) -> None:
        """Note those of `fields` whose shown value moved since this change set began."""
        after = self._view(self._row)
        for field in fields:
            if self._before[field] != after[field]:
                self.fields[field] = {"old": self._before[field], "new": after[field]}
