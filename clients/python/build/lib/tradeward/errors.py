"""Every exception the client raises, in one place.

All derive from ``ClientError``, so a bot can catch "anything went wrong
talking to the agent" in one clause and still tell these apart:

* ``TradewardError``: the agent answered and refused; nothing was signed.
* ``ConnectionClosedError``: the connection is gone. Its subclass
  ``AnswerLostError`` names a request that was written whole but whose
  answer never came (``TornFrameError`` when the connection broke in the
  middle of that answer); ``AgentUnavailableError`` says no agent could be
  reached within the reconnect policy's time.
* ``ResponseTimeout``: no answer in time; the connection stays usable.
* ``ProtocolError``: the peer broke the protocol (``UnexpectedResponseError``
  for an answer to a request that was never sent).
* ``RequestTooLargeError``: refused before sending.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = [
    "ClientError",
    "TradewardError",
    "SwitchTrippedError",
    "ProtocolError",
    "UnexpectedResponseError",
    "ConnectionClosedError",
    "AnswerLostError",
    "TornFrameError",
    "AgentUnavailableError",
    "ResponseTimeout",
    "RequestTooLargeError",
]


class ClientError(Exception):
    """Base class of every error this package raises, so a bot can catch
    "anything went wrong talking to the agent" in one clause while still
    telling the agent's refusals (``TradewardError``) apart from transport
    trouble."""


class TradewardError(ClientError):
    """The agent answered with a structured error; nothing was signed.

    ``code`` is stable and meant for programs to branch on (``unknown_key``,
    ``forbidden``, ``too_many_in_flight``, ...); ``message`` is for humans and
    may change. ``retryable`` says whether sending the same request again
    later may succeed, and ``retry_after_ms``, when present, how long to wait
    first. ``request_id`` is ``None`` for errors about the connection as a
    whole (for instance ``unknown_peer``), which the agent cannot tie to a
    request. ``denials`` is, for ``policy_denied``, the policy's structured
    reasons (``{"rule", "scope", "intent", "subject", "limit", "observed",
    "retry_after_ms"}``, see docs/policy.md), otherwise an empty list.
    """

    def __init__(
        self,
        code: str,
        message: str,
        retryable: bool = False,
        retry_after_ms: Optional[int] = None,
        request_id: Optional[int] = None,
        denials: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms
        self.request_id = request_id
        self.denials: List[Dict[str, Any]] = [dict(d) for d in denials]

    @classmethod
    def from_json(cls, error: Any, request_id: Optional[int]) -> "TradewardError":
        """Build from a response's ``error`` object, tolerating missing fields
        so that a malformed error still surfaces as an error, not a crash."""
        if not isinstance(error, dict):
            return cls("unknown", f"malformed error object: {error!r}", request_id=request_id)
        retry_after = error.get("retry_after_ms")
        denials = error.get("denials")
        code = str(error.get("code", "unknown"))
        if cls is TradewardError and code == SwitchTrippedError.CODE:
            cls = SwitchTrippedError
        return cls(
            code=code,
            message=str(error.get("message", "")),
            retryable=bool(error.get("retryable", False)),
            retry_after_ms=retry_after if isinstance(retry_after, int) else None,
            request_id=request_id,
            denials=[d for d in denials if isinstance(d, dict)] if isinstance(denials, list) else (),
        )

    def to_dict(self) -> Dict[str, Any]:
        """The error as the agent sent it (``code``, ``message``,
        ``retryable``, and ``retry_after_ms`` / ``denials`` when set)."""
        d: Dict[str, Any] = {"code": self.code, "message": self.message, "retryable": self.retryable}
        if self.retry_after_ms is not None:
            d["retry_after_ms"] = self.retry_after_ms
        if self.denials:
            d["denials"] = [dict(x) for x in self.denials]
        return d

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"retryable={self.retryable!r}, retry_after_ms={self.retry_after_ms!r}, "
            f"request_id={self.request_id!r}, denials={self.denials!r})"
        )


class SwitchTrippedError(TradewardError):
    """``switch_tripped``: this identity's dead-man's switch has tripped.

    The agent has halted the identity (no new risk is signed for it) and
    refuses its heartbeats until an operator re-arms the switch
    (``tradeward ctl rearm``). A bot cannot re-arm it itself; the right
    reaction is to stop opening positions and alert a human.
    """

    CODE = "switch_tripped"


class ProtocolError(ClientError):
    """The peer broke the protocol (malformed frame, oversized response, an
    incompatible version). The connection cannot be trusted afterwards and
    is closed; requests in flight on it are reported lost."""


class UnexpectedResponseError(ProtocolError):
    """The agent answered a request id this client is not waiting for (never
    sent, or already answered). The stream cannot be trusted after that, so
    the connection is closed. ``response_id`` is the id it carried."""

    def __init__(self, message: str, response_id: Optional[int]) -> None:
        super().__init__(message)
        self.response_id = response_id


class ConnectionClosedError(ClientError, ConnectionError):
    """The connection is gone: the agent closed it (shutdown, restart, a
    connection-level refusal) or an earlier failure closed it.

    ``pending`` lists the ids of requests that were sent but will never be
    answered on this connection. Whether the agent signed them is unknown;
    see ``AnswerLostError`` for what that means for a bot.
    """

    def __init__(self, message: str, pending: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.pending: Tuple[int, ...] = tuple(pending)


class AnswerLostError(ConnectionClosedError):
    """A request was written whole, but the connection closed before its
    answer arrived (the agent was killed or restarted, or the stream broke).

    The agent may have judged it, journaled it and signed it, or not: the
    client cannot know. What a bot does know: **the signature never reached
    this process**, so there is nothing it could post. With an
    agent-assigned nonce (Hyperliquid, no ``nonce=``) or an agent-set
    timestamp (REST), a signature that was made is simply never used;
    sending the request again asks for a new one, which the policy judges
    afresh. An opening order the agent did sign counts as open until it is
    reported closed (``order_report`` by its client id) or its TTL runs out.
    Reports and heartbeats are idempotent and safe to repeat.

    The client does not resend it by itself: a second signature for the
    same intent is the bot's decision. ``request_id`` and ``op`` name the
    request; ``pending`` lists every request lost with the connection.
    """

    def __init__(
        self,
        message: str,
        request_id: Optional[int],
        op: Optional[str] = None,
        pending: Sequence[int] = (),
    ) -> None:
        super().__init__(message, pending)
        self.request_id = request_id
        self.op = op


class TornFrameError(AnswerLostError):
    """The connection closed in the middle of a response frame
    (``received`` of ``expected`` bytes, header included). Whatever answer it
    carried is lost, as for ``AnswerLostError``."""

    def __init__(
        self,
        message: str,
        request_id: Optional[int],
        op: Optional[str] = None,
        pending: Sequence[int] = (),
        received: int = 0,
        expected: Optional[int] = None,
    ) -> None:
        super().__init__(message, request_id, op, pending)
        self.received = received
        self.expected = expected


class AgentUnavailableError(ConnectionClosedError):
    """No agent could be reached: the socket is missing, nothing listens on
    it, or it kept refusing, for as long as the reconnect policy allows
    (``Reconnect.give_up_after``). Nothing was sent. ``attempts`` is how
    many connections were tried."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class ResponseTimeout(ClientError, TimeoutError):
    """No response arrived within the timeout. The connection stays usable
    (a partly received frame is kept), so the answer can still be collected
    later with ``recv``."""


class RequestTooLargeError(ClientError, ValueError):
    """The request would exceed the agent's frame limit. It was not sent:
    sending it would make the agent drop the whole connection."""
