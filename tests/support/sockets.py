"""WebSocket helpers the socket tests share."""

from __future__ import annotations

import contextlib
import struct
import time

import websocket


def close_code(ws) -> int | None:
    """Read until the close frame; return its status code."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketConnectionClosedException:
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            ws.shutdown()
            return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
    raise AssertionError("no close frame")


class Collector:
    """An open socket read in a thread of its own: every message kept in order, with when it came."""

    def __init__(self, url: str):
        import json
        import threading

        self._json = json
        self.ws = websocket.create_connection(url, timeout=30)
        self.messages: list[dict] = []
        self.arrived: list[float] = []
        self.close_code: int | None = None
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                    break
                if opcode == websocket.ABNF.OPCODE_TEXT and data != b"pong":
                    self.messages.append(self._json.loads(data))
                    self.arrived.append(time.monotonic())
        except (OSError, websocket.WebSocketException):  # closed under us: the test reads what came
            self.close_code = self.close_code
        finally:
            self.closed.set()

    def event_ids(self, event_type: str | None = None) -> list[str]:
        return [m["event_id"] for m in list(self.messages) if "event_id" in m and event_type in (None, m["type"])]

    def close(self) -> None:
        with contextlib.suppress(OSError, websocket.WebSocketException):  # already closed
            self.ws.close()
        self.closed.wait(5)
