"""The asyncio client: the same API as ``Client``, every call a coroutine.

::

    import asyncio
    from tradeward import aio

    async def main() -> None:
        async with await aio.connect() as agent:          # $TRADEWARD_SOCK
            info = await agent.hello()
            signed = await agent.sign_l1_action("hl-main", action, is_mainnet=True)

    asyncio.run(main())

Many coroutines may share one ``AsyncClient``: requests are pipelined on
its connection and each awaits its own answer. Reconnecting follows the same
rules as the blocking client (see ``tradeward.client``): a request never
written is sent again on a new connection, one whose answer was lost raises
``AnswerLostError``, connecting is retried with the ``Reconnect`` policy
until it gives up (``AgentUnavailableError``). ``timeout`` bounds each
answer (``ResponseTimeout``; the request stays answerable, and a late answer
is dropped without closing the connection).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from decimal import Decimal
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import ops
from .backoff import Reconnect
from .errors import (
    AgentUnavailableError,
    AnswerLostError,
    ClientError,
    ConnectionClosedError,
    ProtocolError,
    ResponseTimeout,
    SwitchTrippedError,
    TornFrameError,
    TradewardError,
    UnexpectedResponseError,
)
from .framing import (
    CLOSING_CODES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    MAX_ID,
    PERMANENT_REFUSALS,
    PROTOCOL_VERSION,
    FrameBuffer,
    encode_request,
    socket_path,
)
from .results import (
    DEFAULT_MAX_REQUEST_BYTES,
    HeartbeatInfo,
    HelloInfo,
    HyperliquidSignedAction,
    JSONObject,
    KeyInfo,
    CountedOrder,
    VenueSignedRequest,
    WsSignedRequest,
    OrderReport,
    PositionReport,
    PriceUpdate,
    Response,
    RestSignedRequest,
    Signature,
    TypedDataSignature,
)

__all__ = ["AsyncClient", "AsyncHeartbeater", "connect"]

_log = logging.getLogger("tradeward.aio")
_UNPROCESSED = frozenset({"shutting_down", "too_many_connections"})


class _Link:
    """One connection: the stream pair, its reader task and the futures of
    the requests written on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.waiting: Dict[int, Tuple[str, "asyncio.Future[Response]"]] = {}
        self.task: Optional["asyncio.Task[None]"] = None
        self.closed: Optional[str] = None


class AsyncClient:
    """A connection to the agent for asyncio code; see the module
    documentation. Arguments are those of ``Client``."""

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]", None] = None,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        client_name: str = "tradeward-python-asyncio",
        reconnect: Optional[Reconnect] = Reconnect(),
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive or None")
        if max_response_bytes < 16 or max_request_bytes < 16:
            raise ValueError("frame limits must be at least 16 bytes")
        self.path = socket_path(path)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.max_request_bytes = max_request_bytes
        self.client_name = client_name
        self.reconnect = reconnect
        self.reconnects = 0
        self._link: Optional[_Link] = None
        self._next_id = 1
        self._said_hello = False
        self._ever_connected = False
        self._refusal: Optional[TradewardError] = None
        self._closed_reason: Optional[str] = None
        self._connect_lock = asyncio.Lock()

    # -- connecting -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.closed is None

    async def connect(self, wait: Optional[float] = None) -> "AsyncClient":
        """Open the connection (one attempt, or keep trying for ``wait``
        seconds). Returns ``self``."""
        async with self._connect_lock:
            self._refusal = None
            if not self.connected:
                if wait is None:
                    await self._open()
                else:
                    await self._open_with_backoff(wait)
            self._ever_connected = True
        return self

    async def _open(self) -> None:
        try:
            coro = asyncio.open_unix_connection(self.path)
            reader, writer = await (coro if self.timeout is None else asyncio.wait_for(coro, self.timeout))
        except FileNotFoundError:
            raise AgentUnavailableError(f"no agent socket at {self.path} (is the agent running?)") from None
        except ConnectionRefusedError:
            raise AgentUnavailableError(
                f"nothing is listening on {self.path} (stale socket of a stopped agent?)"
            ) from None
        except asyncio.TimeoutError:
            raise ResponseTimeout(f"timed out connecting to {self.path}") from None
        except OSError as e:
            raise AgentUnavailableError(f"cannot connect to {self.path}: {e}") from e
        link = _Link(reader, writer)
        link.task = asyncio.get_running_loop().create_task(self._read_loop(link))
        self._link = link
        self._closed_reason = None

    async def _open_with_backoff(self, give_up_after: Optional[float]) -> None:
        policy = self.reconnect or Reconnect()
        start = time.monotonic()
        attempts = 0
        last: Optional[BaseException] = None
        for delay in policy.delays():
            attempts += 1
            try:
                await self._open()
                return
            except (AgentUnavailableError, ResponseTimeout) as e:
                last = e
            if give_up_after is not None and time.monotonic() - start + delay > give_up_after:
                break
            await asyncio.sleep(delay)
        raise AgentUnavailableError(
            f"no agent at {self.path} after {attempts} attempts in {time.monotonic() - start:.1f} s ({last})",
            attempts,
        )

    async def _ensure_connected(self) -> _Link:
        link = self._link
        if link is not None and link.closed is None:
            return link
        async with self._connect_lock:
            link = self._link
            if link is not None and link.closed is None:
                return link
            if self._refusal is not None:
                raise ConnectionClosedError(
                    f"not connected: the agent refused this connection ({self._refusal}); "
                    "a new connection would be refused too. Fix the cause, then call connect()"
                )
            if self.reconnect is None or not self._ever_connected:
                err = ConnectionClosedError(
                    f"not connected ({self._closed_reason or 'connect() was not called'})"
                )
                raise err
            await self._open_with_backoff(self.reconnect.give_up_after)
            self.reconnects += 1
            assert self._link is not None
            if self._said_hello:
                op = ops.hello(self.client_name)
                rid, fut = await self._write(self._link, op.op, op.params)
                resp = await self._await(rid, fut)
                self._check_hello(op.decode(resp.unwrap()))
            return self._link

    async def close(self) -> None:
        """Close the connection; requests in flight get ``AnswerLostError``."""
        link = self._link
        if link is not None:
            await self._drop(link, "the client closed the connection", None)

    async def __aenter__(self) -> "AsyncClient":
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the reader -------------------------------------------------------------

    async def _read_loop(self, link: _Link) -> None:
        frames = FrameBuffer(self.max_response_bytes)
        try:
            while True:
                try:
                    resp = frames.next()
                except ProtocolError as e:
                    await self._drop(link, f"the agent broke the protocol: {e}", None, e)
                    return
                if resp is None:
                    try:
                        chunk = await link.reader.read(65536)
                    except (OSError, asyncio.IncompleteReadError) as e:
                        chunk = b""
                        reason = f"the agent closed the connection ({e.__class__.__name__}: {e})"
                    else:
                        reason = "the agent closed the connection"
                    if not chunk:
                        torn = frames.partial()
                        if torn:
                            reason += " in the middle of a frame"
                        await self._drop(link, reason, torn)
                        return
                    frames.feed(chunk)
                    continue
                if resp.id is None:
                    err = resp.error or TradewardError("protocol", "success response without an id")
                    if err.code in PERMANENT_REFUSALS:
                        self._refusal = err
                    if err.code in CLOSING_CODES or resp.error is None:
                        await self._drop(link, f"the agent refused the connection: {err}", None, err)
                        return
                    continue
                entry = link.waiting.pop(resp.id, None)
                if entry is None:
                    msg = f"the agent answered request {resp.id}, which is not awaiting an answer"
                    await self._drop(link, msg, None, UnexpectedResponseError(msg + "; connection closed", resp.id))
                    return
                if not entry[1].done():
                    entry[1].set_result(resp)
        except asyncio.CancelledError:
            pass

    async def _drop(
        self,
        link: _Link,
        reason: str,
        torn: Optional[Tuple[int, Optional[int]]],
        cause: Optional[ClientError] = None,
    ) -> None:
        if link.closed is not None:
            return
        link.closed = reason
        self._closed_reason = reason
        lost = sorted(link.waiting)
        for rid, (op, fut) in sorted(link.waiting.items()):
            if fut.done():
                continue
            if isinstance(cause, (ProtocolError, TradewardError)):
                fut.set_exception(cause)
                continue
            what = f"request {rid} ({op})"
            if torn is not None:
                fut.set_exception(
                    TornFrameError(
                        f"{what} was sent, but the connection broke in the middle of a response frame "
                        f"({torn[0]} bytes received): {reason}. Its answer is lost: it may or may not "
                        "have been signed, and no signature reached this process",
                        rid, op, lost, torn[0], torn[1],
                    )
                )
            else:
                fut.set_exception(
                    AnswerLostError(
                        f"{what} was sent, but its answer was lost: {reason}. It may or may not have "
                        "been signed; no signature reached this process",
                        rid, op, lost,
                    )
                )
        link.waiting.clear()
        try:
            link.writer.close()
        except Exception:  # noqa: BLE001 - closing a broken transport
            pass
        task = link.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # -- sending and receiving --------------------------------------------------

    async def _write(self, link: _Link, op: str, params: Optional[Mapping[str, Any]]) -> Tuple[int, "asyncio.Future[Response]"]:
        rid = self._next_id
        data = encode_request(rid, op, params, self.max_request_bytes)
        self._next_id = 1 if rid >= MAX_ID else rid + 1
        fut: "asyncio.Future[Response]" = asyncio.get_running_loop().create_future()
        link.waiting[rid] = (op, fut)
        try:
            link.writer.write(data)
            await link.writer.drain()
        except (OSError, RuntimeError) as e:
            # Not written whole: the agent cannot have acted on it.
            link.waiting.pop(rid, None)
            await self._drop(link, f"the agent closed the connection while sending request {rid} ({op}): {e}", None)
            err = ConnectionClosedError(f"request {rid} ({op}) could not be sent: {e}")
            err.not_sent = True  # type: ignore[attr-defined]
            raise err from e
        return rid, fut

    async def _await(self, rid: int, fut: "asyncio.Future[Response]") -> Response:
        try:
            if self.timeout is None:
                return await asyncio.shield(fut)
            return await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except asyncio.TimeoutError:
            raise ResponseTimeout(f"no response from the agent within {self.timeout} s (request {rid})") from None

    async def call_response(self, op: str, params: Optional[Mapping[str, Any]] = None) -> Response:
        """Send one request and return its ``Response`` (agent refusals
        included, not raised), reconnecting and resending as ``call`` does."""
        start = time.monotonic()
        delays = (self.reconnect or Reconnect()).delays()
        while True:
            link = await self._ensure_connected()
            try:
                rid, fut = await self._write(link, op, params)
                resp = await self._await(rid, fut)
            except ConnectionClosedError as e:
                if getattr(e, "not_sent", False) and await self._may_retry(start, delays):
                    continue
                raise
            except TradewardError as e:
                # A refusal of the connection itself.
                if e.code in _UNPROCESSED and await self._may_retry(start, delays):
                    continue
                raise
            if not resp.ok and resp.error is not None and resp.error.code in _UNPROCESSED:
                await self._drop(link, f"the agent answered {resp.error.code}", None)
                if await self._may_retry(start, delays):
                    continue
            return resp

    async def _may_retry(self, start: float, delays: Any) -> bool:
        if self.reconnect is None:
            return False
        delay = next(delays)
        give_up = self.reconnect.give_up_after
        if give_up is not None and time.monotonic() - start + delay > give_up:
            return False
        await asyncio.sleep(delay)
        return True

    async def call(self, op: str, params: Optional[Mapping[str, Any]] = None) -> JSONObject:
        """Send one request and return its result; raise ``TradewardError``
        if the agent refuses."""
        return (await self.call_response(op, params)).unwrap()

    async def call_many(
        self, requests: Iterable[Tuple[str, Optional[Mapping[str, Any]]]], window: int = 32
    ) -> List[Response]:
        """Pipeline ``(op, params)`` requests, at most ``window`` in flight,
        and return their responses in request order, failures included."""
        if window < 1:
            raise ValueError("window must be at least 1")
        sem = asyncio.Semaphore(window)

        async def one(op: str, params: Optional[Mapping[str, Any]]) -> Response:
            async with sem:
                return await self.call_response(op, params)

        return list(await asyncio.gather(*(one(op, p) for op, p in requests)))

    async def _run(self, op: "ops.Op[ops.T]") -> "ops.T":
        return op.decode(await self.call(op.op, op.params))

    # -- operations (as Client's) -----------------------------------------------

    def _check_hello(self, info: HelloInfo) -> None:
        if info.protocol_version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"the agent speaks protocol version {info.protocol_version}; this client speaks {PROTOCOL_VERSION}"
            )
        if info.max_frame_bytes >= 16:
            self.max_request_bytes = info.max_frame_bytes

    async def hello(self) -> HelloInfo:
        """As ``Client.hello``."""
        info = await self._run(ops.hello(self.client_name))
        try:
            self._check_hello(info)
        except ProtocolError:
            await self.close()
            raise
        self._said_hello = True
        return info

    async def ping(self) -> float:
        """As ``Client.ping``: the round trip in seconds."""
        start = time.monotonic()
        await self._run(ops.ping())
        return time.monotonic() - start

    async def list_keys(self) -> List[KeyInfo]:
        """As ``Client.list_keys``."""
        return await self._run(ops.list_keys())

    async def sign_message(
        self, key: str, message: bytes, scheme: Optional[str] = None, format: Optional[str] = None
    ) -> Signature:
        """As ``Client.sign_message``."""
        return await self._run(ops.sign_message(key, message, scheme, format))

    async def sign_digest(self, key: str, digest: bytes) -> Signature:
        """As ``Client.sign_digest``."""
        return await self._run(ops.sign_digest(key, digest))

    async def sign_eip191(self, key: str, message: bytes) -> Signature:
        """As ``Client.sign_eip191``."""
        return await self.sign_message(key, message, scheme="eip191")

    async def sign_l1_action(
        self,
        key: str,
        action: Mapping[str, Any],
        *,
        nonce: Optional[int] = None,
        vault_address: Optional[str] = None,
        expires_after: Optional[int] = None,
        is_mainnet: bool,
    ) -> HyperliquidSignedAction:
        """As ``Client.sign_l1_action``."""
        return await self._run(
            ops.sign_l1_action(
                key, action, nonce=nonce, vault_address=vault_address, expires_after=expires_after, is_mainnet=is_mainnet
            )
        )

    async def sign_user_action(self, key: str, action: Mapping[str, Any], *, is_mainnet: bool) -> HyperliquidSignedAction:
        """As ``Client.sign_user_action``."""
        return await self._run(ops.sign_user_action(key, action, is_mainnet=is_mainnet))

    async def rest_sign_request(
        self, key: str, venue: str, method: str, path: str, params: Union[Mapping[str, Any], str, None] = None
    ) -> RestSignedRequest:
        """As ``Client.rest_sign_request``."""
        return await self._run(ops.rest_sign_request(key, venue, method, path, params))

    async def venue_sign_request(
        self,
        key: str,
        venue: str,
        method: str,
        path: str,
        params: Union[Mapping[str, Any], List[Any], None] = None,
    ) -> VenueSignedRequest:
        """As ``Client.venue_sign_request``."""
        return await self._run(ops.venue_sign_request(key, venue, method, path, params))

    async def binance_ws_sign_request(self, key: str, method: str, params: Mapping[str, Any]) -> WsSignedRequest:
        """As ``Client.binance_ws_sign_request``."""
        return await self._run(ops.binance_ws_sign_request(key, method, params))

    async def price_update(self, symbol: str, price: Union[str, int, Decimal]) -> PriceUpdate:
        """As ``Client.price_update``."""
        return await self._run(ops.price_update(symbol, price))

    async def order_report(self, key: str, client_id: Optional[str] = None, oid: Optional[int] = None) -> OrderReport:
        """As ``Client.order_report``."""
        return await self._run(ops.order_report(key, client_id, oid))

    async def order_open(self, key: Optional[str] = None) -> List[CountedOrder]:
        """As ``Client.order_open``."""
        return await self._run(ops.order_open(key))

    async def position_report(self, key: str, symbol: str, size: Union[str, int, Decimal]) -> PositionReport:
        """As ``Client.position_report``."""
        return await self._run(ops.position_report(key, symbol, size))

    async def sign_typed_data(self, key: str, typed_data: Mapping[str, Any]) -> TypedDataSignature:
        """As ``Client.sign_typed_data``."""
        return await self._run(ops.sign_typed_data(key, typed_data))

    async def heartbeat(self, timeout_ms: Optional[int] = None) -> HeartbeatInfo:
        """As ``Client.heartbeat``."""
        return await self._run(ops.heartbeat(timeout_ms))


async def connect(
    path: Union[str, "os.PathLike[str]", None] = None, *, wait: Optional[float] = None, **kwargs: Any
) -> AsyncClient:
    """Open an ``AsyncClient`` (``path`` default ``$TRADEWARD_SOCK``;
    ``wait``: seconds to keep trying while no agent listens)."""
    return await AsyncClient(path, **kwargs).connect(wait=wait)


class AsyncHeartbeater:
    """``Heartbeater`` for asyncio: feeds this identity's dead-man's switch
    every ``interval`` seconds from a task, on a connection of its own, and
    resumes by itself after the agent restarts.

    ``await start()`` sends the first heartbeat (raising if refused) and
    starts the task; ``check()`` raises the error that ended the heartbeats
    (``SwitchTrippedError`` after a trip); ``await stop()`` ends the task
    (the switch stays armed). ``alive`` (sync or async callable) is asked
    before each beat; ``on_beat``, ``on_error`` and ``on_trip`` as for
    ``Heartbeater``.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]", None] = None,
        interval: float = 1.0,
        timeout_ms: Optional[int] = None,
        *,
        alive: Optional[Callable[[], Any]] = None,
        on_beat: Optional[Callable[[HeartbeatInfo], Any]] = None,
        on_error: Optional[Callable[[BaseException], Any]] = None,
        on_trip: Optional[Callable[[SwitchTrippedError], Any]] = None,
    ) -> None:
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not interval > 0:
            raise ValueError("interval must be a positive number of seconds")
        if timeout_ms is not None and interval * 1000 >= timeout_ms:
            raise ValueError(f"interval ({interval} s) must be shorter than timeout_ms ({timeout_ms} ms)")
        if isinstance(path, AsyncClient):
            path = path.path
        self.interval = float(interval)
        self.timeout_ms = timeout_ms
        self._client = AsyncClient(
            path,
            timeout=max(5.0, interval),
            reconnect=Reconnect(initial_delay=0.05, max_delay=0.5, give_up_after=float(interval)),
        )
        self._alive, self._on_beat, self._on_error, self._on_trip = alive, on_beat, on_error, on_trip
        self._task: Optional["asyncio.Task[None]"] = None
        self._error: Optional[ClientError] = None
        self.last: Optional[HeartbeatInfo] = None
        self.beats = 0
        self.skipped = 0
        self.failures = 0

    @property
    def tripped(self) -> bool:
        return isinstance(self._error, SwitchTrippedError)

    @property
    def error(self) -> Optional[ClientError]:
        return self._error

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    async def start(self) -> "AsyncHeartbeater":
        if self._task is not None:
            raise RuntimeError("this AsyncHeartbeater was already started")
        await self._client.connect()
        await self._deliver(await self._client.heartbeat(self.timeout_ms))
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._client.close()

    async def __aenter__(self) -> "AsyncHeartbeater":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _call(self, fn: Optional[Callable[..., Any]], *args: Any) -> Any:
        if fn is None:
            return None
        result = fn(*args)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    async def _deliver(self, info: HeartbeatInfo) -> None:
        self.last = info
        self.beats += 1
        try:
            await self._call(self._on_beat, info)
        except Exception as e:  # noqa: BLE001 - reported; the heartbeats go on
            await self._report(e)

    async def _report(self, e: BaseException) -> None:
        self.failures += 1
        try:
            if self._on_error is not None:
                await self._call(self._on_error, e)
                return
        except Exception:  # noqa: BLE001
            _log.exception("tradeward heartbeat: on_error raised")
        _log.warning("tradeward heartbeat failed (will retry): %s", e)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = max(next_at + self.interval, loop.time())
            if self._alive is not None:
                try:
                    ok = bool(await self._call(self._alive))
                except Exception as e:  # noqa: BLE001 - counts as "not alive"
                    await self._report(e)
                    ok = False
                if not ok:
                    self.skipped += 1
                    continue
            try:
                if not self._client.connected:
                    await self._client.connect(wait=self.interval)
                info = await self._client.heartbeat(self.timeout_ms)
            except SwitchTrippedError as e:
                self._error = e
                _log.error("tradeward dead-man's switch tripped; heartbeats stopped: %s", e.message)
                await self._call(self._on_trip, e)
                return
            except TradewardError as e:
                if e.retryable or e.request_id is None:
                    await self._report(e)
                    continue
                self._error = e
                _log.error("tradeward heartbeats stopped: %s", e)
                await self._call(self._on_error, e)
                return
            except ClientError as e:
                await self._report(e)
                continue
            await self._deliver(info)
