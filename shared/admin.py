"""Operate the in-process pipeline: list and replay dead letters (admin routes and `taskflow-dlq`).

The routes are mounted only when APP_API_TOKEN is set and need it in the `dapr-api-token`
header (the same guard as every trigger route); without a token, use `taskflow-dlq`
(functions/combined/dlq.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, request

from shared.errors import NotFound, ValidationFailed
from shared.models import DeadLetter
from shared.runtime import Runtime
from shared.timeutil import rfc3339
from shared.web import trigger_route

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "consumer": letter.consumer,
        "event_id": letter.event_id,
        "seq": letter.seq,
        "topic": letter.topic,
        "event_type": (letter.payload or {}).get("event_type"),
        "error": letter.error,
        "attempts": letter.attempts,
        "created_at": rfc3339(letter.created_at),
        "replayed_at": rfc3339(letter.replayed_at),
    }


def register(app: Flask, rt: Runtime) -> None:
    """Mount GET /admin/dead-letters and POST /admin/dead-letters/<id>/replay behind the app token."""
    if not rt.settings.app_api_token:
        return

    @app.get("/admin/dead-letters")
    @trigger_route
    def list_dead_letters() -> ResponseReturnValue:
        """List parked events (?consumer=, ?all=true for replayed ones too)."""
        consumer = request.args.get("consumer") or None
        if consumer is not None and len(consumer) > 100:
            raise ValidationFailed("consumer is too long.", errors={"consumer": "at most 100 characters"})
        letters = rt.pipeline.dead_letters(consumer, include_replayed=request.args.get("all") == "true")
        return jsonify(items=[letter_json(letter) for letter in letters])

    @app.post("/admin/dead-letters/<int:letter_id>/replay")
    @trigger_route
    def replay_dead_letter(letter_id: int) -> ResponseReturnValue:
        """Hand a parked event to its consumer again; 200 with the letter once applied."""
        try:
            letter = rt.pipeline.replay(letter_id)
        except (LookupError, KeyError) as exc:
            raise NotFound("No such dead letter.") from exc
        return jsonify(letter_json(letter))
