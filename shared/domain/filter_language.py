"""The filter language (close to Todoist's): a query read into a tree of terms, pure (no database).

    today · tomorrow · overdue · no date · next 7 days (also "7 days", "next N days", N ≤ 366)
    p1 (urgent) · p2 (high) · p3 (medium) · p4 (low, and tasks with no priority, as Todoist's p4)
    no priority · #list (by name, case-insensitive; "##list" alike) · no list · @tag
    search: text (in the title or description) · recurring · subtask · all-day

combined with `!` (not), `&` (and), `|` (or) and parentheses; `!` binds tightest, then `&`,
then `|`, as in Todoist. Todoist's `,` (several views side by side) is refused: save one
filter per view. A query that does not read raises FilterError naming the character offset
and what was expected there. functions.tasks.core.filters compiles the tree to one SQL WHERE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LENGTH = 1000
MAX_DEPTH = 32
MAX_DAYS = 366
_OPERATORS = "&|!(),"

#: p1..p4 → the priorities each matches (Todoist's p4 is "no priority": both low and none).
PRIORITIES: dict[str, tuple[str, ...]] = {
    "p1": ("urgent",),
    "p2": ("high",),
    "p3": ("medium",),
    "p4": ("low", "none"),
}
#: The plain words and phrases, each the term it reads as.
_PHRASES: dict[tuple[str, ...], str] = {
    ("today",): "today",
    ("tomorrow",): "tomorrow",
    ("overdue",): "overdue",
    ("od",): "overdue",
    ("no", "date"): "no_date",
    ("no", "due", "date"): "no_date",
    ("recurring",): "recurring",
    ("subtask",): "subtask",
    ("subtasks",): "subtask",
    ("all-day",): "all_day",
    ("all", "day"): "all_day",
    ("no", "list"): "no_list",
    ("no", "priority"): "no_priority",
}
_NUMBER = re.compile(r"[0-9]{1,4}")


class FilterError(ValueError):
    """A query that does not read: where (a character offset) and what was expected there."""

    def __init__(self, position: int, expected: str, found: str | None = None):
        self.position = position
        self.expected = expected
        self.found = found
        what = f"expected {expected} at {position}"
        super().__init__(what if found is None else f"{what} (found {found!r})")


@dataclass(frozen=True)
class Term:
    """One condition: kind is a _PHRASES value, "priority" (value p1..p4), "days" (value N),
    "list" (value a name), "tag" (value a tag) or "search" (value text)."""

    kind: str
    value: str | int | None = None


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Term | Not | And | Or


@dataclass(frozen=True)
class _Token:
    kind: str  # an operator character, "word", "list", "tag", "search" or "end"
    text: str
    position: int


def parse(query: str) -> Node:
    """Read a query into its tree, or raise FilterError."""
    if len(query) > MAX_LENGTH:
        raise FilterError(MAX_LENGTH, f"at most {MAX_LENGTH} characters")
    return _Parser(_tokens(query)).read()


def _tokens(query: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char in _OPERATORS:
            out.append(_Token(char, char, i))
            i += 1
        elif char in "#@":
            start = i
            i += 1
            if char == "#" and i < n and query[i] == "#":
                i += 1
            end = _end_of_name(query, i, stop_at_space=char == "@")
            name = query[i:end].strip()
            if not name:
                raise FilterError(i, "a list name after #" if char == "#" else "a tag after @")
            out.append(_Token("list" if char == "#" else "tag", name, start))
            i = end
        elif query[i : i + 7].lower() == "search:":
            start = i
            end = _end_of_name(query, i + 7, stop_at_space=False)
            text = query[i + 7 : end].strip()
            if not text:
                raise FilterError(i + 7, "the text to search for after search:")
            out.append(_Token("search", text, start))
            i = end
        else:
            end = i
            while end < n and not query[end].isspace() and query[end] not in _OPERATORS:
                end += 1
            out.append(_Token("word", query[i:end], i))
            i = end
    out.append(_Token("end", "", n))
    return out


def _end_of_name(query: str, i: int, *, stop_at_space: bool) -> int:
    """Where a name (a list's, a tag, search text) ends: at an operator (a tag also at a space)."""
    while i < len(query) and query[i] not in _OPERATORS and not (stop_at_space and query[i].isspace()):
        i += 1
    return i


class _Parser:
    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        self.at = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def read(self) -> Node:
        if self.token.kind == "end":
            raise FilterError(0, "a term (such as today, p1, #list or @tag)")
        node = self._or()
        if self.token.kind != "end":
            raise self._unexpected("&, | or the end of the query")
        return node

    def _unexpected(self, expected: str) -> FilterError:
        token = self.token
        if token.kind == ",":
            return FilterError(token.position, f"{expected}; ',' (several views at once) is not supported")
        return FilterError(token.position, expected, token.text or None)

    def _or(self) -> Node:
        items = [self._and()]
        while self.token.kind == "|":
            self.at += 1
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and(self) -> Node:
        items = [self._unary()]
        while self.token.kind == "&":
            self.at += 1
            items.append(self._unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(self.token.position, f"at most {MAX_DEPTH} levels of nesting")

    def _unary(self) -> Node:
        token = self.token
        if token.kind == "!":
            self._nested()
            self.at += 1
            node: Node = Not(self._unary())
            self.depth -= 1
            return node
        if token.kind == "(":
            self._nested()
            self.at += 1
            node = self._or()
            if self.token.kind != ")":
                raise self._unexpected("')'")
            self.at += 1
            self.depth -= 1
            return node
        if token.kind in ("list", "tag", "search"):
            self.at += 1
            return Term(token.kind, token.text)
        if token.kind == "word":
            return self._phrase()
        raise self._unexpected("a term (such as today, p1, #list or @tag)")

    def _phrase(self) -> Node:
        start = self.at
        words: list[str] = []
        while self.tokens[self.at].kind == "word":
            words.append(self.tokens[self.at].text.lower())
            self.at += 1
        position = self.tokens[start].position
        used, term = _match(words)
        if term is None:
            raise FilterError(position, "a term (such as today, p1, #list or @tag)", " ".join(words))
        if used < len(words):
            raise FilterError(self.tokens[start + used].position, "&, | or the end of the query", words[used])
        return term


def _match(words: list[str]) -> tuple[int, Term | None]:
    """The longest known phrase at the start of the words: (how many words it takes, its term)."""
    first = words[0]
    if first in PRIORITIES:
        return 1, Term("priority", first)
    days = words[1:] if first == "next" else words
    if len(days) >= 2 and _NUMBER.fullmatch(days[0]) and days[1] in ("days", "day"):
        count = int(days[0])
        if not 1 <= count <= MAX_DAYS:
            return 0, None
        return len(words) - len(days) + 2, Term("days", count)
    if first == "next" and words[1:2] == ["week"]:
        return 2, Term("days", 7)
    for size in (3, 2, 1):
        kind = _PHRASES.get(tuple(words[:size]))
        if kind is not None:
            return size, Term(kind)
    return 0, None
