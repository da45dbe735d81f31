"""One connection to the agent, blocking: framing on a Unix socket,
pipelining (several requests in flight, answers in completion order, parked
until asked for), and a precise account of what a broken connection lost.

``Client`` (client.py) adds reconnecting and the typed operations on top.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

from .errors import (
    AgentUnavailableError,
    AnswerLostError,
    ClientError,
    ConnectionClosedError,
    ProtocolError,
    ResponseTimeout,
    TornFrameError,
    TradewardError,
    UnexpectedResponseError,
)
from .framing import (
    CLOSING_CODES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    MAX_ID,
    FrameBuffer,
    encode_request,
    socket_path,
)
from .results import DEFAULT_MAX_REQUEST_BYTES, JSONObject, Response

__all__ = ["Connection"]

_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)


class _Lost:
    __slots__ = ("op", "reason", "torn")

    def __init__(self, op: Optional[str], reason: str, torn: Optional[Tuple[int, Optional[int]]]) -> None:
        self.op = op
        self.reason = reason
        self.torn = torn


class Connection:
    """A connection to the agent, without reconnecting (see ``Client``).

    Safe to share between threads: sends are serialised by one lock and
    reads by another, and a response read by one thread for another thread's
    request is parked until that thread asks for it. Responses that nobody
    collects stay parked, so every ``send`` should eventually be matched by a
    ``recv`` of its id (``call`` and ``call_many`` always do this).

    ``timeout`` bounds connecting, each send and each wait for a response
    (``None`` waits forever, which a bot should rarely want).
    ``max_response_bytes`` caps a response frame. ``max_request_bytes`` is
    the agent's frame limit; ``hello()`` updates it from the agent.

    When the connection breaks, every request written on it and not yet
    answered is *lost*: ``recv`` of its id raises ``AnswerLostError``
    (``TornFrameError`` if the break came in the middle of a frame), also
    after a new connection was opened.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]", None] = None,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        client_name: str = "tradeward-python",
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive or None")
        if max_response_bytes < 16 or max_request_bytes < 16:
            raise ValueError("frame limits must be at least 16 bytes")
        self.path: str = socket_path(path)
        self._timeout: Optional[float] = timeout
        self.max_request_bytes: int = max_request_bytes
        self.client_name: str = client_name
        self._sock: Optional[socket.socket] = None
        self._closed_reason: Optional[str] = None
        self._next_id = 1
        # Ids sent on the current connection and not yet handed to the
        # caller; `_parked` holds the answers among them that have arrived
        # but were not asked for yet; `_lost` the ids whose connection broke
        # before their answer came.
        self._outstanding: Set[int] = set()
        self._ops: Dict[int, str] = {}
        self._parked: Dict[int, Response] = {}
        self._lost: Dict[int, _Lost] = {}
        self._frames = FrameBuffer(max_response_bytes)
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._state_lock = threading.Lock()

    @property
    def max_response_bytes(self) -> int:
        return self._frames.max_response_bytes

    # -- connection -----------------------------------------------------------

    def connect(self) -> "Connection":
        """Open the connection (does nothing if already open); one attempt.
        Returns ``self``. Raises ``AgentUnavailableError`` when no agent
        listens on the path.

        Connecting proves nothing about permissions: the agent identifies the
        peer from the kernel and may refuse it on the first request
        (``unknown_peer``). Call ``hello()`` to find out early.
        """
        if self._sock is not None:
            return self
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
        except FileNotFoundError:
            sock.close()
            raise AgentUnavailableError(f"no agent socket at {self.path} (is the agent running?)") from None
        except ConnectionRefusedError:
            sock.close()
            raise AgentUnavailableError(
                f"nothing is listening on {self.path} (stale socket of a stopped agent?)"
            ) from None
        except socket.timeout:
            sock.close()
            raise ResponseTimeout(f"timed out connecting to {self.path}") from None
        except OSError as e:
            sock.close()
            raise AgentUnavailableError(f"cannot connect to {self.path}: {e}") from e
        with self._state_lock:
            # Answers that already arrived stay collectable.
            self._outstanding = set(self._parked)
            self._frames.clear()
            self._closed_reason = None
            self._sock = sock
        return self

    def close(self) -> None:
        """Close the connection. Requests still in flight are abandoned (and
        reported lost to ``recv``): the agent may or may not have signed
        them."""
        self._mark_closed("the client closed the connection")

    @property
    def timeout(self) -> Optional[float]:
        """Seconds a send or a wait for a response may block (``None``:
        forever). May be changed at any time; it applies from the next call."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: Optional[float]) -> None:
        if value is not None and value <= 0:
            raise ValueError("timeout must be positive or None")
        self._timeout = value
        sock = self._sock
        if sock is not None:
            sock.settimeout(value)

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def pending(self) -> Tuple[int, ...]:
        """Ids sent whose answers have not arrived yet."""
        with self._state_lock:
            return self._unanswered()

    def _unanswered(self) -> Tuple[int, ...]:
        # Caller holds _state_lock.
        return tuple(sorted(self._outstanding.difference(self._parked)))

    def __enter__(self) -> "Connection":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _mark_closed(self, reason: str, torn: Optional[Tuple[int, Optional[int]]] = None) -> None:
        with self._state_lock:
            sock, self._sock = self._sock, None
            if sock is not None or self._closed_reason is None:
                self._closed_reason = reason
            for rid in self._unanswered():
                self._lost[rid] = _Lost(self._ops.pop(rid, None), reason, torn)
                self._outstanding.discard(rid)
        if sock is not None:
            # shutdown() first: it wakes a thread blocked reading this socket,
            # which a bare close() would leave waiting for its timeout.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _not_connected(self) -> ConnectionClosedError:
        e = ConnectionClosedError(f"not connected ({self._closed_reason or 'connect() was not called'})")
        e.not_sent = True  # type: ignore[attr-defined]
        return e

    # -- sending ----------------------------------------------------------------

    def send(self, op: str, params: Optional[Mapping[str, Any]] = None) -> int:
        """Send one request without waiting for its answer; return its id.

        Use with ``recv`` to keep several requests in flight, which hides the
        token's latency when a bot signs many things at once. The agent limits
        how many may be in flight per connection (64 by default) and refuses
        the excess with the retryable ``too_many_in_flight``.

        An error raised here means the request was not written whole, so
        the agent cannot have acted on it (``e.not_sent`` is true).
        """
        with self._send_lock:
            sock = self._sock
            if sock is None:
                raise self._not_connected()
            request_id = self._next_id
            data = encode_request(request_id, op, params, self.max_request_bytes)
            self._next_id = 1 if request_id >= MAX_ID else request_id + 1
            with self._state_lock:
                self._outstanding.add(request_id)
                self._ops[request_id] = op
            try:
                sock.sendall(data, _SEND_FLAGS)
            except socket.timeout:
                # Part of the frame may be on the wire: the stream can no
                # longer be trusted to be in sync, so it must go. The agent
                # never acts on a torn frame.
                with self._state_lock:
                    self._outstanding.discard(request_id)
                    self._ops.pop(request_id, None)
                self._mark_closed("a send timed out part-way through a frame")
                err = ResponseTimeout(f"timed out sending request {request_id} ({op}); connection closed")
                err.not_sent = True  # type: ignore[attr-defined]
                raise err from None
            except OSError as e:
                # The frame did not get through whole, so the agent cannot
                # have acted on this request; the others are another matter.
                with self._state_lock:
                    self._outstanding.discard(request_id)
                    self._ops.pop(request_id, None)
                closed = self._closed_by_agent(f"while sending request {request_id} ({op})", e)
                closed.not_sent = True  # type: ignore[attr-defined]
                raise closed from e
            return request_id

    def _closed_by_agent(self, when: str, err: BaseException) -> ClientError:
        """Turn a failed send into the most informative error available.

        An agent that refuses a connection (unknown peer, connection limit,
        oversized frame) writes one last error frame before closing. When a
        send fails because of that, the explanation is usually still unread
        in the receive buffer, so look for it before giving up. Answers to
        earlier requests found there are parked, not lost.
        """
        reason: Optional[TradewardError] = None
        if self._recv_lock.acquire(blocking=False):
            try:
                reason = self._salvage()
            finally:
                self._recv_lock.release()
        if reason is not None:
            self._mark_closed(f"the agent refused the connection: {reason}")
            self._refused(reason)
            return reason
        msg = f"the agent closed the connection {when} ({err.__class__.__name__}: {err})"
        self._mark_closed(msg)
        return ConnectionClosedError(msg)

    def _refused(self, reason: TradewardError) -> None:
        """Hook: the agent refused the whole connection (``Client`` remembers
        permanent refusals)."""

    def _salvage(self) -> Optional[TradewardError]:
        # Caller holds _recv_lock.
        sock = self._sock
        if sock is None:
            return None
        try:
            sock.settimeout(0.05)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                self._frames.feed(chunk)
        except OSError:
            pass
        reason: Optional[TradewardError] = None
        while True:
            try:
                resp = self._frames.next()
            except ProtocolError:
                break
            if resp is None:
                break
            with self._state_lock:
                if resp.id is None and resp.error is not None:
                    reason = resp.error
                elif resp.id is not None and resp.id in self._outstanding:
                    self._parked[resp.id] = resp
        return reason

    # -- receiving --------------------------------------------------------------

    def recv(self, request_id: int) -> JSONObject:
        """Wait for the answer to ``request_id`` and return its result, or
        raise the agent's ``TradewardError``. Answers to other requests that
        arrive first are parked for their own ``recv``."""
        return self.recv_response(request_id).unwrap()

    def _raise_lost(self, request_id: int) -> None:
        # Caller holds _state_lock.
        lost = self._lost.pop(request_id)
        others = tuple(sorted(self._lost))
        what = f"request {request_id}" + (f" ({lost.op})" if lost.op else "")
        if lost.torn is not None:
            received, expected = lost.torn
            msg = (
                f"{what} was sent, but the connection broke in the middle of a response frame "
                f"({received} of {expected if expected is not None else 'at least 4'} bytes): {lost.reason}. "
                "Its answer is lost: it may or may not have been signed, and no signature reached this process"
            )
            raise TornFrameError(msg, request_id, lost.op, (request_id,) + others, received, expected)
        msg = (
            f"{what} was sent, but its answer was lost: {lost.reason}. "
            "It may or may not have been signed; no signature reached this process"
        )
        raise AnswerLostError(msg, request_id, lost.op, (request_id,) + others)

    def recv_response(self, request_id: Optional[int] = None) -> Response:
        """Like ``recv`` but returns the ``Response`` instead of raising for an
        agent error. Without ``request_id``, returns whichever outstanding
        answer is available first (parked ones before reading more), which is
        how a bot drains a pipeline in completion order."""
        with self._state_lock:
            if request_id is not None and request_id in self._lost:
                self._raise_lost(request_id)
            if request_id is not None and request_id not in self._outstanding:
                raise ValueError(f"request {request_id} is not awaiting an answer")
            if request_id is None and not self._outstanding:
                if self._lost:
                    self._raise_lost(min(self._lost))
                raise ValueError("no request is awaiting an answer")
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with self._recv_lock:
            while True:
                # Check the parking lot on every turn: another thread may
                # have read this answer while we waited for the lock.
                with self._state_lock:
                    if request_id is None and self._parked:
                        ready: Optional[int] = min(self._parked)
                    elif request_id is not None and request_id in self._parked:
                        ready = request_id
                    else:
                        ready = None
                    if ready is not None:
                        self._outstanding.discard(ready)
                        self._ops.pop(ready, None)
                        return self._parked.pop(ready)
                    if request_id is not None and request_id in self._lost:
                        self._raise_lost(request_id)
                    if request_id is None and not self._outstanding and self._lost:
                        self._raise_lost(min(self._lost))
                try:
                    resp = self._read_response(deadline)
                except ConnectionClosedError:
                    # The connection is gone; the loop's next turn reports
                    # this request lost (or this error, if it was not ours).
                    with self._state_lock:
                        mine = (request_id in self._lost) if request_id is not None else bool(self._lost)
                    if mine:
                        continue
                    raise
                if resp.id is None:
                    raise self._connection_error(resp)
                with self._state_lock:
                    known = resp.id in self._outstanding and resp.id not in self._parked
                    if known:
                        self._parked[resp.id] = resp
                if not known:
                    msg = f"the agent answered request {resp.id}, which is not awaiting an answer"
                    self._mark_closed(f"{msg}; the stream cannot be trusted")
                    raise UnexpectedResponseError(msg + "; connection closed", resp.id)

    def _connection_error(self, resp: Response) -> TradewardError:
        """An error with a null id answers the connection, not a request.
        Some of them (``unknown_peer``, ``too_many_connections``,
        ``frame_too_large``) mean the agent is closing it."""
        err = resp.error
        if err is None:
            self._mark_closed("the agent sent a success response without an id")
            return TradewardError("protocol", "success response without an id")
        if err.code in CLOSING_CODES:
            self._mark_closed(f"the agent refused the connection: {err}")
            self._refused(err)
        return err

    def _read_response(self, deadline: Optional[float]) -> Response:
        while True:
            try:
                resp = self._frames.next()
            except ProtocolError as e:
                self._mark_closed(f"the agent broke the protocol: {e}")
                raise
            if resp is not None:
                return resp
            self._fill(deadline)

    def _fill(self, deadline: Optional[float]) -> None:
        """Read more bytes into the buffer, waiting until ``deadline``."""
        sock = self._sock
        if sock is None:
            raise self._eof_error(None)
        if deadline is not None:
            wait = deadline - time.monotonic()
            # Wait with poll rather than by changing the socket's timeout,
            # which a concurrent send in another thread relies on.
            if wait <= 0 or not _wait_readable(sock, wait):
                with self._state_lock:
                    unanswered = self._unanswered()
                partial = self._frames.partial()
                part = ""
                if partial is not None:
                    part = f"; a response frame is partly received ({partial[0]} bytes so far), kept for later"
                raise ResponseTimeout(
                    f"no response from the agent within {self.timeout} s "
                    f"(still waiting for requests {list(unanswered)}){part}"
                )
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return  # the deadline check on the next turn decides
        except OSError as e:
            raise self._eof_error(f"{e.__class__.__name__}: {e}") from e
        if not chunk:
            raise self._eof_error(None)
        self._frames.feed(chunk)

    def _eof_error(self, detail: Optional[str]) -> ConnectionClosedError:
        with self._state_lock:
            unanswered = self._unanswered()
            closed_here = self._sock is None and self._closed_reason is not None
        torn = None
        if closed_here:
            # Another thread closed it (close(), or a failure it saw first).
            msg = f"connection closed: {self._closed_reason}"
        else:
            torn = self._frames.partial()
            msg = "the agent closed the connection" + (" in the middle of a frame" if torn else "")
            if detail:
                msg += f" ({detail})"
        self._mark_closed(msg, torn)
        return ConnectionClosedError(msg, unanswered)

    # -- request/response -------------------------------------------------------

    def call(self, op: str, params: Optional[Mapping[str, Any]] = None) -> JSONObject:
        """Send one request and wait for its result; raise ``TradewardError``
        if the agent refuses. The raw form behind the typed helpers, useful
        for operations this client has no helper for yet."""
        return self.recv(self.send(op, params))

    def call_many(
        self,
        requests: Iterable[Tuple[str, Optional[Mapping[str, Any]]]],
        window: int = 32,
    ) -> List[Response]:
        """Pipeline ``(op, params)`` requests on this connection and return
        their responses in request order, failures included.

        At most ``window`` requests are in flight at once, below the agent's
        per-connection limit, so none is refused with ``too_many_in_flight``
        and neither side's socket buffers fill up while the other waits.
        """
        if window < 1:
            raise ValueError("window must be at least 1")
        ids: List[int] = []
        done: Dict[int, Response] = {}
        in_flight: List[int] = []
        try:
            for op, params in requests:
                if len(in_flight) >= window:
                    rid = in_flight.pop(0)
                    done[rid] = self.recv_response(rid)
                rid = self.send(op, params)
                ids.append(rid)
                in_flight.append(rid)
            while in_flight:
                rid = in_flight.pop(0)
                done[rid] = self.recv_response(rid)
        except BaseException:
            # Collect what is still in flight so nothing stays parked, then
            # let the original error through.
            for rid in in_flight:
                try:
                    self.recv_response(rid)
                except ResponseTimeout:
                    break
                except (ClientError, ValueError):
                    continue
            raise
        return [done[i] for i in ids]


def _wait_readable(sock: socket.socket, seconds: float) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(max(0, int(seconds * 1000) + 1)))
    readable, _, _ = select.select([sock], [], [], seconds)
    return bool(readable)
