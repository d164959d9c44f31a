"""The filter language's parser (pure): the tree each query reads as, Todoist's precedence, and
errors naming the character offset and what was expected; random queries either read or raise
FilterError, and every tree that reads compiles to SQL for PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from functions.tasks.core.filters import Compiler
from shared.domain.filter_language import MAX_DEPTH, And, FilterError, Not, Or, Term, parse
from tests.support.examples import examples


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("today", Term("today")),
        ("  Overdue ", Term("overdue")),
        ("no date", Term("no_date")),
        ("no   due date", Term("no_date")),
        ("next 7 days", Term("days", 7)),
        ("14 days", Term("days", 14)),
        ("p1", Term("priority", "p1")),
        ("P4", Term("priority", "p4")),
        ("#Work stuff", Term("list", "Work stuff")),
        ("##Home", Term("list", "Home")),
        ("@waiting", Term("tag", "waiting")),
        ("search: buy milk", Term("search", "buy milk")),
        ("all-day", Term("all_day")),
        ("all day", Term("all_day")),
        ("subtasks", Term("subtask")),
        ("today | overdue & p1", Or((Term("today"), And((Term("overdue"), Term("priority", "p1")))))),
        ("(today | overdue) & p1", And((Or((Term("today"), Term("overdue"))), Term("priority", "p1")))),
        ("!p1 & @a", And((Not(Term("priority", "p1")), Term("tag", "a")))),
        ("!(p1|p2)", Not(Or((Term("priority", "p1"), Term("priority", "p2"))))),
        ("@a&@b|@c", Or((And((Term("tag", "a"), Term("tag", "b"))), Term("tag", "c")))),
        ("search: a & #L", And((Term("search", "a"), Term("list", "L")))),
    ],
)
def test_reads_as(query, tree):
    assert parse(query) == tree


@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        ("", 0, "a term"),
        ("today &", 7, "a term"),
        ("today & & p1", 8, "a term"),
        ("today overdue", 6, "&, | or the end of the query"),
        ("p5", 0, "a term"),
        ("next days", 0, "a term"),
        ("0 days", 0, "a term"),
        ("(today", 6, "')'"),
        ("today)", 5, "&, | or the end of the query"),
        ("p1, p2", 2, "not supported"),
        ("# & p1", 1, "a list name after #"),
        ("@", 1, "a tag after @"),
        ("search:", 7, "the text to search for"),
        ("((p1)", 5, "')'"),
    ],
)
def test_errors_name_the_position_and_what_was_expected(query, position, expected):
    with pytest.raises(FilterError) as caught:
        parse(query)
    assert caught.value.position == position
    assert expected in str(caught.value) and f"at {position}" in str(caught.value)


def test_bounded():
    with pytest.raises(FilterError, match="1000"):
        parse("p1|" * 400)
    with pytest.raises(FilterError, match="nesting"):
        parse("(" * (MAX_DEPTH + 1) + "p1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(FilterError, match="nesting"):
        parse("!" * (MAX_DEPTH + 1) + "p1")
    assert parse("(" * MAX_DEPTH + "p1" + ")" * MAX_DEPTH) == Term("priority", "p1")


PIECES = st.sampled_from(
    [
        "today",
        "tomorrow",
        "overdue",
        "no date",
        "next 7 days",
        "3 days",
        "p1",
        "p4",
        "#Work",
        "##",
        "@waiting",
        "@",
        "search: x",
        "search:",
        "recurring",
        "subtask",
        "all-day",
        "no list",
        "&",
        "|",
        "!",
        "(",
        ")",
        ",",
        " ",
        "next",
        "999 days",
        "#a b",
        "%",
        "_",
        "'",
        '"',
        "\\",
        "--",
        ";",
    ]
)
QUERIES = st.one_of(
    st.lists(PIECES, max_size=25).map(" ".join), st.lists(PIECES, max_size=25).map("".join), st.text(max_size=60)
)


@settings(max_examples=examples(600), deadline=None)
@given(QUERIES)
def test_random_queries_read_or_raise_filter_error_and_compile(query):
    try:
        tree = parse(query)
    except FilterError as exc:
        assert 0 <= exc.position <= max(len(query), 1000)
        return
    now = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)
    for dialect, name in ((postgresql.dialect(), "postgresql"), (sqlite.dialect(), "sqlite")):
        condition = Compiler("u", "Europe/Paris", now, name).where(tree)
        assert str(condition.compile(dialect=dialect))
