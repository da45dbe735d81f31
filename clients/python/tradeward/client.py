"""The blocking client: a ``Connection`` that reconnects, with a typed helper
for every bot operation.

Reconnecting, precisely:

* A request that was **never written whole** (the connection was already
  down, or the write failed) is sent again on a new connection: the agent
  cannot have acted on it.
* A request the agent answered with ``shutting_down`` (it stopped before
  reading it), or that met ``too_many_connections``, was not processed
  either, and is sent again once an agent accepts the connection.
* A request that was written but whose **answer was lost** raises
  ``AnswerLostError``; the client does not resend it (see that class for
  what the bot knows: no signature reached it, so there is nothing it could
  post). The next request reconnects.
* Connecting is retried with ``Reconnect``'s backoff until
  ``give_up_after``, then ``AgentUnavailableError``. A permanent refusal of
  the connection (``unknown_peer``, ``frame_too_large``) is not retried.
* After a reconnect, a client that had called ``hello()`` says hello again
  first, so an agent upgraded to another protocol version is caught before
  anything is signed.
"""

from __future__ import annotations

import os
import threading
import time
from decimal import Decimal
from typing import Any, List, Mapping, Optional, Union

from . import ops
from .backoff import Reconnect
from .connection import Connection
from .errors import (
    AgentUnavailableError,
    ClientError,
    ConnectionClosedError,
    ProtocolError,
    ResponseTimeout,
    TradewardError,
)
from .framing import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, PERMANENT_REFUSALS, PROTOCOL_VERSION
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
    RestSignedRequest,
    Signature,
    TypedDataSignature,
)

__all__ = ["Client", "connect"]

_UNPROCESSED = frozenset({"shutting_down", "too_many_connections"})


class Client(Connection):
    """A connection to the agent that reconnects, with a method per
    operation. Safe to share between threads.

    ``reconnect`` is the ``Reconnect`` policy (``None``: never reconnect by
    itself; a dropped connection then raises ``ConnectionClosedError`` until
    ``connect()`` is called). ``timeout`` bounds connecting, each send and
    each wait for an answer (35 s by default, just above the agent's own
    30 s signing timeout); the reconnect policy bounds the time spent
    getting a connection. So no call blocks for longer than roughly
    ``give_up_after + timeout`` (``timeout=None`` lifts that bound).
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]", None] = None,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        client_name: str = "tradeward-python",
        reconnect: Optional[Reconnect] = Reconnect(),
    ) -> None:
        super().__init__(
            path,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            max_request_bytes=max_request_bytes,
            client_name=client_name,
        )
        self.reconnect = reconnect
        self.reconnects = 0
        self._refusal: Optional[TradewardError] = None
        self._said_hello = False
        self._connect_lock = threading.RLock()
        self._ever_connected = False

    # -- connecting -------------------------------------------------------------

    def connect(self, wait: Optional[float] = None) -> "Client":
        """Open the connection if it is not open. Without ``wait``, one
        attempt (``AgentUnavailableError`` if no agent listens); with
        ``wait`` seconds, keep trying with the reconnect policy's backoff
        that long, for a bot that may start before its agent.

        An explicit ``connect()`` also forgets an earlier permanent refusal.
        """
        with self._connect_lock:
            self._refusal = None
            if wait is None:
                super().connect()
            else:
                self._connect_with_backoff(wait)
            self._ever_connected = True
            return self

    def _refused(self, reason: TradewardError) -> None:
        if reason.code in PERMANENT_REFUSALS:
            self._refusal = reason

    def _connect_with_backoff(self, give_up_after: Optional[float]) -> None:
        policy = self.reconnect or Reconnect()
        start = time.monotonic()
        attempts = 0
        last: Optional[BaseException] = None
        for delay in policy.delays():
            attempts += 1
            try:
                Connection.connect(self)
                return
            except (AgentUnavailableError, ResponseTimeout) as e:
                last = e
            elapsed = time.monotonic() - start
            if give_up_after is not None and elapsed + delay > give_up_after:
                break
            time.sleep(delay)
        raise AgentUnavailableError(
            f"no agent at {self.path} after {attempts} attempts in {time.monotonic() - start:.1f} s ({last})",
            attempts,
        )

    def _ensure_connected(self) -> None:
        if self.connected:
            return
        with self._connect_lock:
            if self.connected:
                return
            if self._refusal is not None:
                raise ConnectionClosedError(
                    f"not connected: the agent refused this connection ({self._refusal}); "
                    "a new connection would be refused too. Fix the cause, then call connect()"
                )
            if self.reconnect is None or not self._ever_connected:
                raise self._not_connected()
            self._connect_with_backoff(self.reconnect.give_up_after)
            self.reconnects += 1
            if self._said_hello:
                self._hello_on(self)

    # -- sending ----------------------------------------------------------------

    def send(self, op: str, params: Optional[Mapping[str, Any]] = None) -> int:
        """Send one request without waiting for its answer; return its id.
        Reconnects first if the connection is down, and sends again on a new
        connection when the write fails (a request not written whole was
        never seen by the agent). See ``Connection.send``."""
        start = time.monotonic()
        delays = (self.reconnect or Reconnect()).delays()
        while True:
            self._ensure_connected()
            try:
                return Connection.send(self, op, params)
            except ClientError as e:
                if not getattr(e, "not_sent", False) or self.reconnect is None or isinstance(e, ResponseTimeout):
                    raise
                if isinstance(e, TradewardError) and e.code in PERMANENT_REFUSALS:
                    raise
                give_up = self.reconnect.give_up_after
                delay = next(delays)
                if give_up is not None and time.monotonic() - start + delay > give_up:
                    raise
                time.sleep(delay)

    def call(self, op: str, params: Optional[Mapping[str, Any]] = None) -> JSONObject:
        """Send one request and wait for its result; raise ``TradewardError``
        if the agent refuses. A request the agent did not process because it
        was shutting down or at its connection limit is sent again once an
        agent accepts (within the reconnect policy's time)."""
        start = time.monotonic()
        delays = (self.reconnect or Reconnect()).delays()
        while True:
            rid = self.send(op, params)
            try:
                resp = self.recv_response(rid)
            except TradewardError as e:
                # A refusal of the connection itself (null id).
                if not self._retry_unprocessed(e, start, delays):
                    raise
                continue
            if resp.ok or resp.error is None:
                return resp.result
            if not self._retry_unprocessed(resp.error, start, delays):
                raise resp.error

    def _retry_unprocessed(self, e: TradewardError, start: float, delays: Any) -> bool:
        if self.reconnect is None or e.code not in _UNPROCESSED:
            return False
        self._mark_closed(f"the agent answered {e.code}")
        give_up = self.reconnect.give_up_after
        delay = next(delays)
        if give_up is not None and time.monotonic() - start + delay > give_up:
            return False
        time.sleep(delay)
        return True

    def _run(self, op: "ops.Op[ops.T]") -> "ops.T":
        return op.decode(self.call(op.op, op.params))

    # -- operations -------------------------------------------------------------

    def hello(self) -> HelloInfo:
        """Check the protocol version and learn what this identity may do.

        Call it first: an incompatible agent is detected before anything is
        signed, and the agent's real frame limit replaces the default. After
        a reconnect, the client says hello again by itself.
        """
        info = self._run(ops.hello(self.client_name))
        self._check_hello(info)
        self._said_hello = True
        return info

    def _hello_on(self, conn: Connection) -> None:
        op = ops.hello(self.client_name)
        self._check_hello(op.decode(Connection.call(conn, op.op, op.params)))

    def _check_hello(self, info: HelloInfo) -> None:
        if info.protocol_version != PROTOCOL_VERSION:
            self._mark_closed("incompatible protocol version")
            raise ProtocolError(
                f"the agent speaks protocol version {info.protocol_version}; "
                f"this client speaks {PROTOCOL_VERSION}"
            )
        if info.max_frame_bytes >= 16:
            self.max_request_bytes = info.max_frame_bytes

    def ping(self) -> float:
        """Liveness check that touches only the socket, not the token.
        Returns the round trip in seconds, handy for a bot's health metrics."""
        start = time.monotonic()
        self._run(ops.ping())
        return time.monotonic() - start

    def list_keys(self) -> List[KeyInfo]:
        """The keys this identity may use, with their public halves. Keys
        granted to other identities are not shown at all."""
        return self._run(ops.list_keys())

    def sign_message(
        self, key: str, message: bytes, scheme: Optional[str] = None, format: Optional[str] = None
    ) -> Signature:
        """Sign ``message`` with the key named ``key`` (an alias from the
        agent's config, or a PKCS#11 URI).

        The agent hashes the message itself, so the bot never hands over an
        opaque hash: Keccak-256 for secp256k1 (or the EIP-191 hash with
        ``scheme="eip191"``), SHA-256 for P-256; Ed25519 and HMAC sign the
        message as is. ``format="der"`` asks for a DER P-256 signature. Only
        keys with ``raw_signing`` enabled accept this operation.
        """
        return self._run(ops.sign_message(key, message, scheme, format))

    def sign_digest(self, key: str, digest: bytes) -> Signature:
        """Sign a precomputed 32-byte digest with an ECDSA key. The length is
        left for the agent to judge (``bad_params``). Ed25519 and HMAC keys
        sign messages only."""
        return self._run(ops.sign_digest(key, digest))

    def sign_eip191(self, key: str, message: bytes) -> Signature:
        """Ethereum ``personal_sign`` (EIP-191 version 0x45) with a secp256k1
        key; the result recovers to the key's address with standard tools such
        as ``eth_account.Account.recover_message``."""
        return self.sign_message(key, message, scheme="eip191")

    def sign_l1_action(
        self,
        key: str,
        action: Mapping[str, Any],
        *,
        nonce: Optional[int] = None,
        vault_address: Optional[str] = None,
        expires_after: Optional[int] = None,
        is_mainnet: bool,
    ) -> HyperliquidSignedAction:
        """Have the agent sign a Hyperliquid L1 action (``order``,
        ``cancel``, ``cancelByCloid``, ``modify``, ``batchModify``,
        ``updateLeverage``, ``updateIsolatedMargin``, ``scheduleCancel``,
        ``noop``): the action object exactly as the venue's ``/exchange``
        endpoint takes it, prices and sizes as decimal strings.

        The agent parses the action strictly, judges it, re-encodes it and
        signs what it built; post the result's ``action``, not your own
        (see ``HyperliquidSignedAction``). A refusal by the risk policy is
        ``policy_denied`` with the reasons in ``TradewardError.denials``.
        Without ``nonce`` the agent assigns one (milliseconds, strictly
        increasing per key); a nonce given must be unused with this key and
        inside the venue's window. ``vault_address`` trades for a vault or
        subaccount the key's config allows; ``expires_after`` (ms) makes the
        venue reject the action after that time. ``is_mainnet`` must match
        the network the key is configured for. Needs the
        ``hyperliquid.sign_l1_action`` grant.
        """
        return self._run(
            ops.sign_l1_action(
                key, action, nonce=nonce, vault_address=vault_address, expires_after=expires_after, is_mainnet=is_mainnet
            )
        )

    def sign_user_action(self, key: str, action: Mapping[str, Any], *, is_mainnet: bool) -> HyperliquidSignedAction:
        """Have the agent sign a Hyperliquid user-signed action (``usdSend``,
        ``spotSend``, ``withdraw3``, ``usdClassTransfer``, ``approveAgent``,
        ``approveBuilderFee``, ``sendAsset``). Its nonce is the action's own
        ``time`` or ``nonce`` field; ``signatureChainId`` and
        ``hyperliquidChain`` are filled in when absent, as the SDK does.

        Transfers and approvals move funds or hand out rights, so the agent
        signs one only when the key's policy has an allowance naming its
        destination (or grantee); otherwise ``policy_denied``. Needs the
        ``hyperliquid.sign_user_action`` grant.
        """
        return self._run(ops.sign_user_action(key, action, is_mainnet=is_mainnet))

    def rest_sign_request(
        self,
        key: str,
        venue: str,
        method: str,
        path: str,
        params: Union[Mapping[str, Any], str, None] = None,
    ) -> RestSignedRequest:
        """Have the agent sign a Binance-style REST request with an HMAC or
        Ed25519 API key (``venue`` ``"binance"``, ``method`` in upper case,
        ``path`` without host or query, e.g. ``"/api/v3/order"``).

        ``params`` are the endpoint's parameters, as a mapping (decimals as
        strings: ``{"quantity": "0.01"}``) or as a query string, or ``None``.
        Leave out ``timestamp`` and ``signature``: the agent sets the one and
        makes the other. Send the result's ``signed_query`` unchanged (see
        ``RestSignedRequest``). Needs the ``rest.sign_request`` grant; see
        docs/rest.md.
        """
        return self._run(ops.rest_sign_request(key, venue, method, path, params))

    def venue_sign_request(
        self,
        key: str,
        venue: str,
        method: str,
        path: str,
        params: Union[Mapping[str, Any], List[Any], None] = None,
    ) -> VenueSignedRequest:
        """Have the agent sign an OKX or Bybit v5 request (``venue``
        ``"okx"`` or ``"bybit"``, ``method`` ``"POST"`` or ``"GET"``,
        ``path`` e.g. ``"/api/v5/trade/order"`` or ``"/v5/order/create"``).
        ``params`` is the JSON body of a POST (a list for a batch endpoint
        of OKX) or the query parameters of a GET, decimals as strings. Send
        the result as ``VenueSignedRequest`` says. Needs the
        ``rest.sign_request`` grant; see docs/okx.md and docs/bybit.md."""
        return self._run(ops.venue_sign_request(key, venue, method, path, params))

    def binance_ws_sign_request(self, key: str, method: str, params: Mapping[str, Any]) -> WsSignedRequest:
        """Have the agent sign a Binance WebSocket API request
        (``order.place``, ``order.cancel``, ``order.cancelReplace``,
        ``openOrders.cancelAll``); ``params`` include ``apiKey`` and no
        ``timestamp`` or ``signature``. ``session.logon`` is refused: a
        logged-on session would carry unsigned orders no rule has seen
        (docs/rest.md). Needs the ``rest.sign_request`` grant."""
        return self._run(ops.binance_ws_sign_request(key, method, params))

    def price_update(self, symbol: str, price: Union[str, int, Decimal]) -> PriceUpdate:
        """Feed the reference price of ``symbol`` (the venue's symbol, as the
        policy names it). ``price`` is a decimal string (or ``Decimal`` /
        ``int``; floats are refused), above zero. Prices live in the agent's
        memory only: after it restarts, feed them again. Needs the
        ``price.update`` grant (the price-feed role)."""
        return self._run(ops.price_update(symbol, price))

    def order_report(self, key: str, client_id: Optional[str] = None, oid: Optional[int] = None) -> OrderReport:
        """Tell the agent an order on ``key`` is closed at the venue (filled
        or cancelled), so it stops counting as open. Give exactly one of
        ``client_id`` (e.g. a Hyperliquid cloid ``"0x…"`` or a Binance
        ``newClientOrderId``) or ``oid``; the agent never learns venue order
        ids, so only a ``client_id`` report closes anything. Idempotent.
        Needs the ``order.report`` grant."""
        return self._run(ops.order_report(key, client_id, oid))

    def order_open(self, key: Optional[str] = None) -> List[CountedOrder]:
        """The orders the agent counts as open for this identity (on
        ``key``, or on all its keys): what a restarted bot reconciles with
        the venue. Needs the ``order.report`` grant."""
        return self._run(ops.order_open(key))

    def position_report(self, key: str, symbol: str, size: Union[str, int, Decimal]) -> PositionReport:
        """Report this identity's position in a Hyperliquid perpetual on
        ``key`` (``size`` above zero long, below zero short, ``"0"`` flat),
        for ``deadman.flatten_on_trip``. Needs the ``position.report``
        grant."""
        return self._run(ops.position_report(key, symbol, size))

    def sign_typed_data(self, key: str, typed_data: Mapping[str, Any]) -> TypedDataSignature:
        """Sign EIP-712 typed data (``{"types", "primaryType", "domain",
        "message"}``) with a secp256k1 key whose config lists the domain. The
        agent computes the digest itself. Needs the
        ``eip712.sign_typed_data`` grant; see docs/protocol.md."""
        return self._run(ops.sign_typed_data(key, typed_data))

    def heartbeat(self, timeout_ms: Optional[int] = None) -> HeartbeatInfo:
        """Arm this identity's dead-man's switch, or push its deadline to now
        + ``timeout_ms``. The first heartbeat must give ``timeout_ms``; later
        ones may leave it out. After a trip every heartbeat raises
        ``SwitchTrippedError`` until an operator re-arms the switch.
        ``Heartbeater`` sends heartbeats from a background thread. Needs the
        ``heartbeat`` grant."""
        return self._run(ops.heartbeat(timeout_ms))


def connect(
    path: Union[str, "os.PathLike[str]", None] = None, *, wait: Optional[float] = None, **kwargs: Any
) -> Client:
    """Open a connection to the agent at ``path`` (default:
    ``$TRADEWARD_SOCK``). ``wait``: seconds to keep trying while no agent
    listens (default: one attempt). Other keyword arguments are those of
    ``Client``."""
    return Client(path, **kwargs).connect(wait=wait)
