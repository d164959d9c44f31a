"""Accounts under abuse: throttled sign-ins and sign-ups, bounded argon2, no phantom accounts, no weak passwords."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from functions.tasks import create_app
from shared.persistence.models import User
from shared.services import credentials
from tests.conftest import with_

PASSWORD = "correct horse battery"


@pytest.fixture
def server(settings, serve):
    return serve(
        create_app(
            with_(
                settings,
                run_background_workers=False,
                auth_rate_limit="8 per minute",
                auth_account_limit="3 per minute",
            )
        )
    )


def post(client, path, **body):
    return client.request("POST", path, auth=False, json=body)


def assert_throttled(resp):
    assert resp.status_code == 429, resp.text
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert int(resp.headers["Retry-After"]) > 0


def test_failed_logins_are_throttled_per_account_even_with_the_right_password(server, make_client):
    victim = make_client(server).signup(password=PASSWORD)
    attacker = make_client(server)
    for _ in range(3):
        assert post(attacker, "/api/auth/login", email=victim.email, password="wrong guess 123").status_code == 401
    assert_throttled(post(attacker, "/api/auth/login", email=victim.email, password=PASSWORD))
    assert_throttled(post(attacker, "/api/auth/login", email=victim.email.upper(), password=PASSWORD))


def test_sign_ins_are_throttled_per_client_address(server, make_client):
    client = make_client(server)
    answers = [
        post(client, "/api/auth/login", email=f"{uuid.uuid4().hex}@example.com", password="wrong guess 123")
        for _ in range(8)
    ]
    assert {a.status_code for a in answers} == {401}, "different accounts: only the address limit applies"
    assert_throttled(post(client, "/api/auth/register", email="new@example.com", password="a fine password 9"))


class CountingHasher:
    """The real argon2 hasher, counting its runs (a hash or a verify: the work that takes the time)."""

    def __init__(self, real):
        self.real, self.runs = real, 0

    def hash(self, password):
        self.runs += 1
        return self.real.hash(password)

    def verify(self, password_hash, password):
        self.runs += 1
        return self.real.verify(password_hash, password)

    def check_needs_rehash(self, password_hash):
        return self.real.check_needs_rehash(password_hash)


def test_registering_a_taken_email_says_to_sign_in_and_never_hands_out_a_token(
    settings, serve, make_client, monkeypatch
):
    server = serve(create_app(with_(settings, run_background_workers=False, auth_rate_limit="1000 per minute")))
    owner = make_client(server).signup(password=PASSWORD)
    client = make_client(server)
    hashing = credentials._hashing()
    counting = CountingHasher(hashing.hasher)
    monkeypatch.setattr(hashing, "hasher", counting)

    def register(email):
        """POST /api/auth/register; the answer and how many argon2 runs it took."""
        before = counting.runs
        resp = post(client, "/api/auth/register", email=email, password="a fine password 9")
        return resp, counting.runs - before

    for _ in range(2):
        fresh, fresh_runs = register(f"{uuid.uuid4().hex}@example.com")
        taken, taken_runs = register(owner.email)
        assert fresh.status_code == 201 and set(fresh.json()) == {"user_id", "token"}
        assert taken.status_code == 409, taken.text
        assert taken.headers["Content-Type"] == "application/problem+json"
        assert "sign in instead" in taken.json()["detail"] and "token" not in taken.json()
        assert taken.json()["errors"] == {"email": "already has an account"}
        assert fresh_runs == taken_runs == 1, (fresh_runs, taken_runs)
    mine = post(client, "/api/auth/register", email=owner.email, password=PASSWORD)
    assert mine.status_code == 201 and mine.json()["user_id"] == owner.user_id, "the owner registering again signs in"
    with server.app.extensions["taskflow"].sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(User).where(User.email == owner.email)) == 1


def test_registering_a_taken_email_is_throttled_like_sign_in(server, make_client):
    owner = make_client(server).signup(password=PASSWORD)
    answers = [
        post(make_client(server), "/api/auth/register", email=owner.email, password="another pass 77").status_code
        for _ in range(10)
    ]
    assert 409 in answers and answers[-1] == 429, answers


@pytest.mark.parametrize(
    "password,why",
    [
        ("password", "common"),
        ("Password1", "common"),
        ("12345678", "common"),
        ("iloveyou", "common"),
        ("        ", "whitespace"),
        ("\t\t\t\t\t\t\t\t", "whitespace"),
        ("aaaaaaaaaaaa", "one character"),
        ("{email}", "the email"),
        ("{local}-2026!", "the email's local part"),
        ("my taskflow pw", "the service"),
    ],
)
def test_weak_and_context_specific_passwords_are_refused(server, make_client, password, why):
    email = f"someone.{uuid.uuid4().hex[:6]}@example.com"
    resp = post(
        make_client(server),
        "/api/auth/register",
        email=email,
        password=password.format(email=email, local=email.split("@")[0]),
    )
    assert resp.status_code == 422, (why, resp.text)
    assert "password" in resp.json()["errors"]


def test_argon2_uses_owasp_parameters_and_upgrades_old_hashes_on_login(server, make_client):
    client = make_client(server).signup(password=PASSWORD)
    rt = server.app.extensions["taskflow"]
    with rt.sessions() as s:
        user = s.scalars(sa.select(User).where(User.email == client.email)).one()
        assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        from argon2 import PasswordHasher

        user.password_hash = PasswordHasher(memory_cost=65536, time_cost=3, parallelism=4).hash(PASSWORD)
        s.commit()
    assert post(client, "/api/auth/login", email=client.email, password=PASSWORD).status_code == 200
    with rt.sessions() as s:
        assert (
            s.scalars(sa.select(User.password_hash).where(User.email == client.email))
            .one()
            .startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        )
