"""Request and response bodies of registering and signing in (POST /api/auth/register, /api/auth/login)."""

from __future__ import annotations

import functools
import pathlib
import re
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from shared.domain.times import BadValue
from shared.web.schemas import Body, Out, example

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


def _email(value: str) -> str:
    if len(value) > 320 or not EMAIL_RE.match(value.strip()):
        raise BadValue("must be a valid email address")
    return value.strip().lower()


@functools.cache
def common_passwords() -> frozenset[str]:
    """The blocklist shipped beside this module, common_passwords.txt (no network)."""
    text = (pathlib.Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def new_password(value: str, email_address: str | None) -> str:
    """A password for a new account: not blank, not common, not the email (NIST SP 800-63B)."""
    folded = value.casefold()
    if not value.strip():
        raise BadValue("must not be only whitespace")
    if len(set(folded)) < 3:
        raise BadValue("must not repeat one or two characters")
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise BadValue("is too common; choose a longer, less guessable one")
    if email_address:
        local = email_address.split("@", 1)[0]
        if email_address in folded or (len(local) >= 4 and local in folded) or "taskflow" in folded:
            raise BadValue("must not contain your email address or the service name")
    return value


Email = Annotated[str, Field(max_length=320, json_schema_extra={"format": "email"}), AfterValidator(_email)]
Password = Annotated[str, Field(min_length=8, max_length=128)]


class Login(Body):
    model_config = example({"email": "ada@example.com", "password": "correct horse battery"})
    email: Email
    password: Password


class Registration(Login):
    """A new account's password must also be uncommon and unrelated to the email."""

    password: Annotated[
        Password,
        Field(
            description="8-128 characters; not blank, not one or two repeated characters, not a common "
            "password, not containing the email or the service name (NIST SP 800-63B)"
        ),
    ]

    @field_validator("password")
    @classmethod
    def _strong(cls, value: str, info: ValidationInfo) -> str:
        return new_password(value, info.data.get("email"))


class Token(Out):
    model_config = example({"user_id": "2b7e1516-28ae-4d2a-a6d2-abf7158809cf", "token": "eyJhbGciOiJIUzI1NiJ9.e30.x"})
    user_id: str
    token: str


class SessionOut(Out):
    model_config = example({"user_id": "2b7e1516-28ae-4d2a-a6d2-abf7158809cf", "email": "ada@example.com"})
    user_id: str
    email: str
