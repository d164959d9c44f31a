"""Read request bodies at the edge: JSON objects only, storable text only (shared.web.operations checks fields)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import pydantic
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from shared.domain.errors import ValidationFailed
from shared.web.problems import ProblemError

_M = TypeVar("_M", bound=pydantic.BaseModel)
#: JSON escapes of what PostgreSQL cannot store: NUL, and UTF-16 surrogates (paired ones are fine, but
#: they are rare enough to be told apart by the slow path).
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def validated_json(model: type[_M]) -> _M | None:
    """The JSON body validated into `model` straight from its bytes, or None: let `json_object` answer.

    Only a body that is plainly storable takes this way: no NUL byte, no `\\u0000` or surrogate escape
    (valid UTF-8 holds no lone surrogate). A body that is not JSON, not an object, not storable or not
    valid for the model returns None, and the caller's slow path gives the same answer as ever.
    """
    if not request.is_json:
        return None
    refuse_oversized_stream()
    data = request.get_data(cache=True)
    if b"\x00" in data or (b"\\u" in data and _UNSTORABLE_ESCAPE.search(data)):
        return None
    try:
        return model.model_validate_json(data)
    except pydantic.ValidationError:
        return None


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
    if request.content_length is not None:  # werkzeug refuses a declared length over the limit itself
        return
    limit = request.max_content_length
    if limit is not None and len(request.get_data(cache=True)) >= limit:
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
