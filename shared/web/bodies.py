"""Read request bodies at the edge: JSON objects only, storable text only (shared.web.operations checks fields)."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from shared.domain.errors import ValidationFailed
from shared.web.problems import ProblemError


def json_object() -> dict[str, Any]:
    """Return the JSON object body, refusing other media types, malformed JSON, non-objects and NUL text."""
    if not request.is_json:
        raise ProblemError(
            "Send a JSON body with Content-Type: application/json.", status=415, title="Unsupported media type"
        )
    refuse_oversized_stream()
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise ProblemError("The request body nests too deeply.", title="Malformed JSON") from None
    if body is None:
        raise ProblemError("The request body is not valid JSON.", title="Malformed JSON")
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    bad = _unstorable_text(body)
    if bad is not None:
        raise ValidationFailed(
            "Text must not contain NUL characters or unpaired surrogates.",
            errors={bad[:100]: "contains a NUL character or an unpaired surrogate"},
        )
    return body


def refuse_oversized_stream() -> None:
    """413 for a body without Content-Length (chunked) that reaches the limit.

    werkzeug stops reading such a stream at MAX_CONTENT_LENGTH without complaint, which
    would surface as truncated, malformed JSON (400) instead of "too large".
    """
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(request.get_data(cache=True)) >= limit:
        raise RequestEntityTooLarge()


def storable(text: str) -> bool:
    """Whether PostgreSQL can store the text: no NUL, and valid UTF-8 (no lone surrogates)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable_text(value: Any, field: str = "body") -> str | None:
    """The name of the first field holding text that cannot be stored, or None."""
    if isinstance(value, str):
        return None if storable(value) else field
    if isinstance(value, dict):
        for key, item in value.items():
            name = key if storable(key) else "field name"
            if name != key:
                return name
            found = _unstorable_text(item, field if field != "body" else key)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _unstorable_text(item, field)
            if found:
                return found
    return None
