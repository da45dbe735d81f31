"""The wire format, shared by the blocking and the asyncio client.

* a frame is a 4-byte big-endian length followed by one UTF-8 JSON object;
* a request is ``{"id": n, "op": "...", "params": {...}}`` and its response
  echoes ``id`` with either ``"ok": true, "result": {...}`` or
  ``"ok": false, "error": {"code", "message", "retryable", "retry_after_ms"?}``;
* byte strings travel as hex (see ``results.to_hex``).

Nothing here touches a socket: ``encode_request`` makes a frame and
``FrameBuffer`` cuts received bytes into responses, so both clients decode
exactly alike.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, Mapping, Optional, Tuple, Union

from .errors import ClientError, ProtocolError, RequestTooLargeError, TradewardError
from .results import JSONObject, Response

__all__ = [
    "PROTOCOL_VERSION",
    "SOCK_ENV",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "CLOSING_CODES",
    "MAX_ID",
    "socket_path",
    "encode_request",
    "FrameBuffer",
]

#: The protocol version this client speaks. The agent bumps its version only
#: on incompatible changes, so any other number means "do not talk to it".
PROTOCOL_VERSION = 1

#: Environment variable naming the agent's socket, as SSH_AUTH_SOCK does for
#: ssh-agent: deployment decides where the socket is, not the bot's code.
SOCK_ENV = "TRADEWARD_SOCK"

#: Seconds a send, or a wait for a response, may block. A little longer than
#: the agent's own default signing timeout (30 s), so that when the token is
#: slow the bot receives the agent's retryable ``backend_unavailable`` answer
#: rather than giving up first and never learning what happened.
DEFAULT_TIMEOUT = 35.0

#: Largest response frame the client will accept. Real answers are a few
#: hundred bytes per key; the cap stops a broken or hostile process sitting on
#: the socket path from making the bot allocate unbounded memory.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024

#: Error codes after which the agent closes the connection. They arrive with
#: ``"id": null`` when they answer the connection rather than a request.
CLOSING_CODES = frozenset({"unknown_peer", "too_many_connections", "frame_too_large", "shutting_down"})

#: Connection refusals that a new connection would only meet again: the
#: client does not reconnect by itself after one of these.
PERMANENT_REFUSALS = frozenset({"unknown_peer", "frame_too_large"})

MAX_ID = 2**64 - 1
HEADER = struct.Struct(">I")


def socket_path(path: Union[str, "os.PathLike[str]", None]) -> str:
    """``path``, or ``$TRADEWARD_SOCK`` when it is ``None``."""
    if path is None:
        path = os.environ.get(SOCK_ENV)
        if not path:
            raise ClientError(
                f"no socket path given and {SOCK_ENV} is not set "
                "(export it the way ssh tools use SSH_AUTH_SOCK)"
            )
    return os.fspath(path)


def encode_request(request_id: int, op: str, params: Optional[Mapping[str, Any]], max_bytes: int) -> bytes:
    """One request frame. Raises ``RequestTooLargeError`` (nothing sent) past
    ``max_bytes``, ``ValueError``/``TypeError`` for a bad op or params."""
    if not isinstance(op, str) or not op:
        raise ValueError("op must be a non-empty string")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise TypeError("params must be a mapping")
    body = json.dumps(
        {"id": request_id, "op": op, "params": dict(params)},
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")
    if len(body) > max_bytes:
        raise RequestTooLargeError(
            f"request of {len(body)} bytes exceeds the agent's limit of {max_bytes} bytes; not sent"
        )
    return HEADER.pack(len(body)) + body


class FrameBuffer:
    """Received bytes, cut into responses. Bytes accumulate across reads, so
    a timeout in the middle of a frame loses nothing and the stream stays
    in sync."""

    def __init__(self, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.max_response_bytes = max_response_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        self._buf = bytearray()

    def partial(self) -> Optional[Tuple[int, Optional[int]]]:
        """``(received, expected)`` bytes of a frame begun but not complete
        (``expected`` ``None`` while the length is not in yet), or ``None``."""
        if not self._buf:
            return None
        if len(self._buf) < 4:
            return len(self._buf), None
        (n,) = HEADER.unpack_from(self._buf)
        return len(self._buf), 4 + n

    def next(self) -> Optional[Response]:
        """Decode one complete frame, if there is one. Raises
        ``ProtocolError`` for an oversized or malformed frame."""
        if len(self._buf) < 4:
            return None
        (n,) = HEADER.unpack_from(self._buf)
        if n > self.max_response_bytes:
            raise ProtocolError(
                f"response frame of {n} bytes exceeds max_response_bytes ({self.max_response_bytes})"
            )
        if len(self._buf) < 4 + n:
            return None
        payload = bytes(self._buf[4 : 4 + n])
        del self._buf[: 4 + n]
        return parse_response(payload)


def parse_response(payload: bytes) -> Response:
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(f"the agent sent a frame that is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
        raise ProtocolError(f"malformed response from the agent: {payload[:200]!r}")
    rid = obj.get("id")
    if rid is not None and (not isinstance(rid, int) or isinstance(rid, bool)):
        raise ProtocolError(f"response id must be an integer or null, got {rid!r}")
    if obj["ok"]:
        result: Any = obj.get("result")
        if not isinstance(result, dict):
            raise ProtocolError(f"success response without a result object: {payload[:200]!r}")
        res: JSONObject = result
        return Response(id=rid, ok=True, result=res)
    return Response(id=rid, ok=False, error=TradewardError.from_json(obj.get("error"), rid))
