"""`taskflow-dlq`: list and replay the events the in-process consumers parked."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

from functions.combined import create_app
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.web.admin import letter_json


def main(argv: Sequence[str] | None = None) -> int:
    """`taskflow-dlq list [--consumer C] [--all]` / `taskflow-dlq replay ID [ID ...]`."""
    parser = argparse.ArgumentParser(prog="taskflow-dlq", description="List and replay parked events.")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list")
    listing.add_argument("--consumer")
    listing.add_argument("--all", action="store_true")
    replay = sub.add_parser("replay")
    replay.add_argument("ids", nargs="+", type=int)
    args = parser.parse_args(argv)

    app = create_app(dataclasses.replace(Settings.from_env(), run_background_workers=False))
    rt: Runtime = app.extensions["taskflow"]
    try:
        if args.command == "list":
            for letter in rt.pipeline.dead_letters(args.consumer, include_replayed=args.all, limit=10_000):
                print(json.dumps(letter_json(letter)))
            return 0
        failed = 0
        for letter_id in args.ids:
            try:
                letter = rt.pipeline.replay(letter_id)
                print(json.dumps(letter_json(letter)))
            except Exception as exc:  # report each id and carry on with the rest
                failed += 1
                print(json.dumps({"id": letter_id, "error": f"{type(exc).__name__}: {exc}"}), file=sys.stderr)
        return 1 if failed else 0
    finally:
        rt.close()
