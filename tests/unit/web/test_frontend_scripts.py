"""The web app's scripts share one global scope (classic <script> tags in frontend/index.html): a function
declared twice is silently replaced by the later one (a second `dayInWords` once hid "Yesterday")."""

from __future__ import annotations

import collections
import pathlib
import re

FRONTEND = pathlib.Path(__file__).resolve().parents[3] / "frontend"
DECLARED = re.compile(r"^(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(", re.MULTILINE)


def test_every_top_level_function_of_the_web_app_is_declared_once():
    scripts = re.findall(r'<script src="/static/([\w.-]+\.js)"', (FRONTEND / "index.html").read_text())
    assert len(scripts) >= 5, scripts
    where: dict[str, list[str]] = collections.defaultdict(list)
    for script in scripts:
        for name in DECLARED.findall((FRONTEND / script).read_text()):
            where[name].append(script)
    assert len(where) > 100, "the scripts' functions were found"
    assert {name: files for name, files in where.items() if len(files) > 1} == {}
