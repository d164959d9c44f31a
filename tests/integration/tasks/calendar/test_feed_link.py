"""The calendar link is shown again (GET /calendar-feed) without the database holding it; the server
says whether it sends email, so the web app offers email reminders only where they can arrive."""

from __future__ import annotations

import hashlib

import requests
import sqlalchemy as sa

from functions.combined import create_app
from shared.persistence.models import CalendarFeed
from tests.conftest import with_


def test_the_feed_link_is_shown_again_until_replaced_or_revoked(api):
    assert api.request("GET", "/api/{me}/calendar-feed").status_code == 404
    made = api.request("POST", "/api/{me}/calendar-feed")
    assert made.status_code == 201
    shown = api.request("GET", "/api/{me}/calendar-feed")
    assert shown.status_code == 200
    body = shown.json()
    assert body["url"] == made.json()["url"] and body["webcal_url"] == made.json()["webcal_url"]
    assert body["created_at"].endswith("+00:00")
    assert requests.get(body["url"], timeout=30).status_code == 200, "the link shown works"
    # the database holds a seed and the token's hash, never the token
    token = made.json()["token"]
    with api.rt.sessions() as session:
        row = session.scalar(sa.select(CalendarFeed).where(CalendarFeed.user_id == api.user_id))
        assert row.seed and token not in (row.seed, row.token_hash)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # replacing: the old link stops working and the new one is what is shown
    replaced = api.request("POST", "/api/{me}/calendar-feed").json()
    assert requests.get(body["url"], timeout=30).status_code == 404
    assert api.request("GET", "/api/{me}/calendar-feed").json()["url"] == replaced["url"]
    # another user's link is not theirs to see; revoked: nothing to show
    assert api.request("GET", "/api/{me}/calendar-feed", auth=False).status_code == 401
    assert api.request("DELETE", "/api/{me}/calendar-feed").status_code == 204
    assert api.request("GET", "/api/{me}/calendar-feed").status_code == 404


def test_a_link_made_before_seeds_were_kept_is_not_shown_but_still_works(api):
    made = api.request("POST", "/api/{me}/calendar-feed").json()
    with api.rt.sessions.begin() as session:
        session.execute(sa.update(CalendarFeed).where(CalendarFeed.user_id == api.user_id).values(seed=None))
    shown = api.request("GET", "/api/{me}/calendar-feed").json()
    assert shown["url"] is None and shown["created_at"]
    assert requests.get(made["url"], timeout=30).status_code == 200


def test_preferences_say_whether_the_server_sends_email(settings, serve, make_client):
    without = make_client(serve(create_app(with_(settings, run_background_workers=False)))).signup()
    assert without.request("GET", "/api/{me}/preferences").json()["email_available"] is False
    smtp = with_(settings, run_background_workers=False, smtp_url="smtp://127.0.0.1:2525")
    with_email = make_client(serve(create_app(smtp))).signup()
    assert with_email.request("GET", "/api/{me}/preferences").json()["email_available"] is True
    put = with_email.request("PUT", "/api/{me}/preferences", json={"email_reminders": True})
    assert put.json()["email_available"] is True and put.json()["email_reminders"] is True
