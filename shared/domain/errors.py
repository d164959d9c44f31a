"""Domain errors: what a rule refuses, in words a person can act on. Rendered once, at the edge
(shared.web.problems maps each kind to its HTTP status), so the rules never import a web framework."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the client can act on; handlers raise it, each edge renders it once."""

    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, str] | None = None,
        title: str | None = None,
        retry_after: int | None = None,
        extensions: dict[str, Any] | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.retry_after = retry_after
        #: More members of the answer (RFC 9457 extension members), e.g. a merge's conflicts. Any: JSON values.
        self.extensions = extensions or {}
        if title is not None:
            self.title = title


class ValidationFailed(DomainError):
    title = "Validation failed"


class Unauthorized(DomainError):
    title = "Unauthorized"


class Forbidden(DomainError):
    title = "Forbidden"


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class PreconditionFailed(DomainError):
    title = "Precondition failed"


class Unavailable(DomainError):
    """Busy or down for a moment: the client should retry after `retry_after` seconds."""

    title = "Service unavailable"
