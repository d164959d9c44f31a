"""The web page as the tasks function serves it: only its own origin, no sniffing, no referrer."""

from __future__ import annotations


def test_the_web_page_allows_only_its_own_origin(api):
    import requests

    page = requests.get(api.base + "/", timeout=10)
    assert page.status_code == 200 and "<title>TaskFlow</title>" in page.text
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";") if part.strip()
    )
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"] == "no-referrer"
