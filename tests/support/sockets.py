"""WebSocket helpers the socket tests share."""

from __future__ import annotations

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
