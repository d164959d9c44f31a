"""Read the lines of an .ics file before parsing it: UTF-8, content-line syntax, BEGIN/END nesting.

A file that fails here is refused with the number of the line at fault (RFC 5545 §3.1: content
lines, folding; §3.4 and §3.6: components), and the component tree it returns tells the importer
on which line each component and property starts.
"""

from __future__ import annotations

import dataclasses
import re

from shared.domain.times import BadValue

MAX_COMPONENTS = 2000
#: Content lines (after unfolding) and the length of one: the parser's work grows with both.
MAX_LINES = 30_000
MAX_LINE_CHARS = 32_768
_NAME = r"[A-Za-z0-9-]+"
_PVALUE = r'(?:"[^"]*"|[^";:,]*)'
_CONTENT_LINE = re.compile(rf"^({_NAME})((?:;{_NAME}={_PVALUE}(?:,{_PVALUE})*)*):(.*)$", re.DOTALL)
# RFC 5545 §3.6.1, §3.6.2, §3.6.6, §3.6.5: properties that "MUST NOT occur more than once".
_ONCE = frozenset(
    ("UID", "DTSTAMP", "DTSTART", "DUE", "DTEND", "DURATION", "SUMMARY", "DESCRIPTION", "STATUS", "PRIORITY")
    + ("COMPLETED", "RECURRENCE-ID", "CREATED", "LAST-MODIFIED", "SEQUENCE", "TZID", "TRIGGER", "ACTION")
)


class BadCalendar(BadValue):
    """The file cannot be imported; `line` is the 1-based line at fault (None when unknown)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclasses.dataclass
class ScannedComponent:
    """Where a component and its properties start in the file (line numbers are 1-based)."""

    name: str
    line: int
    properties: dict[str, int] = dataclasses.field(default_factory=dict)
    children: list[ScannedComponent] = dataclasses.field(default_factory=list)


def decode(data: bytes) -> str:
    """The file's text (UTF-8, as RFC 5545 §3.1.4 requires); a bad byte is reported with its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadCalendar("is not UTF-8 text", data.count(b"\n", 0, exc.start) + 1) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def scan(text: str) -> ScannedComponent:
    """Check content-line syntax and BEGIN/END nesting; return the component tree with line numbers."""
    logical: list[tuple[int, str]] = []
    for number, raw in enumerate(re.split(r"\r\n|\n|\r", text), start=1):
        if "\x00" in raw:
            raise BadCalendar("contains a NUL character", number)
        if raw[:1] in (" ", "\t") and logical:
            logical[-1] = (logical[-1][0], logical[-1][1] + raw[1:])  # folded (RFC 5545 §3.1)
        elif raw.strip():
            if len(logical) >= MAX_LINES:
                raise BadCalendar(f"the file has more than {MAX_LINES} content lines", number)
            logical.append((number, raw))
        if logical and len(logical[-1][1]) > MAX_LINE_CHARS:
            raise BadCalendar(f"is longer than {MAX_LINE_CHARS} characters (unfolded)", logical[-1][0])
    if not logical or logical[0][1].strip().upper() != "BEGIN:VCALENDAR":
        raise BadCalendar("the file must start with BEGIN:VCALENDAR", logical[0][0] if logical else 1)
    stack: list[ScannedComponent] = []
    root: ScannedComponent | None = None
    components = 0
    for number, line in logical:
        match = _CONTENT_LINE.match(line)
        if not match:
            raise BadCalendar("is not an iCalendar content line (NAME;PARAM=VALUE:VALUE)", number)
        name, value = match.group(1).upper(), match.group(3).strip().upper()
        if root is not None and not stack:
            raise BadCalendar("comes after END:VCALENDAR", number)
        if name == "BEGIN":
            components += 1
            if components > MAX_COMPONENTS:
                raise BadCalendar(f"the file has more than {MAX_COMPONENTS} components", number)
            component = ScannedComponent(value, number)
            if stack:
                stack[-1].children.append(component)
            else:
                root = component
            stack.append(component)
        elif name == "END":
            if not stack or stack[-1].name != value:
                expected = stack[-1].name if stack else "nothing"
                raise BadCalendar(f"END:{value[:30]} does not close BEGIN:{expected}", number)
            stack.pop()
        elif not stack:
            raise BadCalendar("is outside BEGIN:VCALENDAR … END:VCALENDAR", number)
        else:
            if name in _ONCE and name in stack[-1].properties:
                raise BadCalendar(f"{name} must not occur twice in {stack[-1].name}", number)
            stack[-1].properties.setdefault(name, number)
    if stack or root is None:
        raise BadCalendar(f"BEGIN:{stack[-1].name if stack else 'VCALENDAR'} is never closed", logical[-1][0])
    return root
