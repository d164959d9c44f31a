"""Operate the in-process pipeline: list and replay dead letters (admin routes and `taskflow-dlq`).

The routes are mounted only when APP_API_TOKEN is set and need it in the `dapr-api-token`
header (the same guard as every trigger route); without a token, use `taskflow-dlq`
(functions/combined/dlq.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify

from shared.domain.errors import NotFound
from shared.domain.times import rfc3339
from shared.persistence.models import DeadLetter
from shared.runtime.process import Runtime
from shared.web.app import trigger_route
from shared.web.operations import operation
from shared.web.schemas import DeadLetter as DeadLetterOut
from shared.web.schemas import DeadLetterList, DeadLetterQuery

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
    @operation(
        query=DeadLetterQuery,
        responses={200: DeadLetterList},
        auth="app-token",
        summary="List parked events (dead letters)",
        tags=["operations"],
    )
    def list_dead_letters(query: DeadLetterQuery) -> ResponseReturnValue:
        """List parked events (?consumer=, ?all=true for replayed ones too)."""
        letters = rt.pipeline.dead_letters(query.consumer or None, include_replayed=query.all)
        return jsonify(items=[letter_json(letter) for letter in letters])

    @app.post("/admin/dead-letters/<int:letter_id>/replay")
    @trigger_route
    @operation(
        responses={200: DeadLetterOut},
        auth="app-token",
        problems=[404],
        summary="Hand a parked event to its consumer again",
        tags=["operations"],
    )
    def replay_dead_letter(letter_id: int) -> ResponseReturnValue:
        """Hand a parked event to its consumer again; 200 with the letter once applied."""
        try:
            letter = rt.pipeline.replay(letter_id)
        except (LookupError, KeyError) as exc:
            raise NotFound("No such dead letter.") from exc
        return jsonify(letter_json(letter))
