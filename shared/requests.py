"""Parse request bodies at the edge: JSON objects only, known fields only, errors per field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request

from shared.errors import ProblemError, ValidationFailed
from shared.timeutil import BadValue

UNSET: Any = object()


def json_body(allowed: set[str]) -> dict[str, Any]:
    """Return the JSON object body, refusing malformed JSON, non-objects and unknown fields."""
    if not request.is_json:
        raise ProblemError(
            "Send a JSON body with Content-Type: application/json.", status=415, title="Unsupported media type"
        )
    body = request.get_json(silent=True)
    if body is None:
        raise ProblemError("The request body is not valid JSON.", title="Malformed JSON")
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationFailed(
            "Unknown fields in the request body.", errors={name[:100]: "unknown field" for name in unknown[:20]}
        )
    return body


class FieldErrors:
    """Collect per-field messages and raise them together as one 422."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def check(self, field: str, fn: Callable[..., Any], *args: Any) -> Any:
        # Any: the parsed value of a JSON field, whatever type its parser `fn` returns (or UNSET).
        try:
            return fn(*args)
        except BadValue as exc:
            self.errors[field] = str(exc)
            return UNSET

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed("Some fields are invalid.", errors=self.errors)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue("must be true or false")
    return value
