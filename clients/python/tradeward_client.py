"""Client for the tradeward signing agent, in one file, standard library only.

A bot holds no keys. It asks the agent, over a Unix socket, to sign; the agent
decides whether it may and answers with a signature or a structured error.
This module speaks that wire protocol (version 1) and nothing more:

* a frame is a 4-byte big-endian length followed by one UTF-8 JSON object;
* a request is ``{"id": n, "op": "...", "params": {...}}`` and its response
  echoes ``id`` with either ``"ok": true, "result": {...}`` or
  ``"ok": false, "error": {"code", "message", "retryable", "retry_after_ms"?}``;
* byte strings travel as hex; the agent accepts an optional ``0x`` and always
  sends one.

The module is a single file with no dependencies on purpose: a bot can vendor
it next to its own code, and nothing outside the standard library ends up on
the path between the bot and its keys.

Example::

    from tradeward_client import connect

    with connect() as agent:                 # socket from $TRADEWARD_SOCK
        sig = agent.sign_eip191("eth", b"hello")
        print(sig.address, sig.signature.hex())

        # A Hyperliquid order: the agent parses, judges and re-encodes it,
        # assigns the nonce and signs; post what it returns.
        signed = agent.sign_l1_action("hl", {
            "type": "order",
            "orders": [{"a": 0, "b": True, "p": "50000", "s": "0.001", "r": False,
                        "t": {"limit": {"tif": "Gtc"}}}],
            "grouping": "na",
        }, is_mainnet=True)
        body = signed.exchange_payload()     # POST to https://api.hyperliquid.xyz/exchange

        # A Binance order: the agent builds and signs the query string.
        req = agent.rest_sign_request("bn", "binance", "POST", "/api/v3/order", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
            "quantity": "0.01", "price": "65000"})
        url = req.url("https://api.binance.com")

Every bot operation has a helper returning a small result object:
``sign_message``, ``sign_digest``, ``sign_eip191``, ``sign_typed_data``,
``sign_l1_action``, ``sign_user_action``, ``rest_sign_request``,
``price_update``, ``order_report``, ``position_report`` and ``heartbeat``;
``call`` sends anything else as it is.

A bot that arms the agent's dead-man's switch keeps it fed from a
background thread, and learns of a trip instead of missing it::

    from tradeward_client import Heartbeater

    hb = Heartbeater(agent, interval=1.0, timeout_ms=5000).start()
    ...
    hb.check()   # in the trading loop: raises SwitchTrippedError once tripped

Several requests may be in flight on one connection (``send`` then ``recv``);
the agent answers them in completion order, not request order, so responses
that arrive for other requests are parked until someone asks for them.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
    Union,
)

__all__ = [
    "PROTOCOL_VERSION",
    "SOCK_ENV",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ClientError",
    "TradewardError",
    "SwitchTrippedError",
    "ProtocolError",
    "ConnectionClosedError",
    "ResponseTimeout",
    "RequestTooLargeError",
    "Response",
    "HelloInfo",
    "KeyInfo",
    "Signature",
    "HyperliquidSignedAction",
    "HeartbeatInfo",
    "ScheduleCancel",
    "RestSignedRequest",
    "PriceUpdate",
    "OrderReport",
    "PositionReport",
    "TypedDataSignature",
    "Client",
    "Heartbeater",
    "connect",
    "to_hex",
    "from_hex",
]

JSONObject = Dict[str, Any]

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

#: The agent's default maximum frame size. A larger request makes the agent
#: close the connection, taking every other in-flight request with it, so the
#: client refuses such a request before sending it. ``hello()`` replaces this
#: with the limit the agent actually reports.
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024

#: Largest response frame the client will accept. Real answers are a few
#: hundred bytes per key; the cap stops a broken or hostile process sitting on
#: the socket path from making the bot allocate unbounded memory.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024

# Error codes after which the agent closes the connection. They arrive with
# `"id": null` because they answer the connection, not a request.
_CLOSING_CODES = frozenset(
    {"unknown_peer", "too_many_connections", "frame_too_large", "shutting_down"}
)

_HEADER = struct.Struct(">I")
_MAX_ID = 2**64 - 1
_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class ClientError(Exception):
    """Base class of every error this module raises, so a bot can catch
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

    def __repr__(self) -> str:
        return (
            f"TradewardError(code={self.code!r}, message={self.message!r}, "
            f"retryable={self.retryable!r}, retry_after_ms={self.retry_after_ms!r}, "
            f"request_id={self.request_id!r}, denials={self.denials!r})"
        )


class SwitchTrippedError(TradewardError):
    """``switch_tripped``: this identity's dead-man's switch has tripped.

    The agent has halted the identity (no new risk is signed for it) and
    refuses its heartbeats until an operator re-arms the switch
    (``tradeward ctl rearm``). A bot cannot re-arm it itself; the right
    reaction is to stop opening positions and alert a human. It is a
    ``TradewardError`` like any other refusal, so existing ``except``
    clauses still catch it.
    """

    CODE = "switch_tripped"


class ProtocolError(ClientError):
    """The peer broke the protocol (malformed frame, oversized response, an
    answer to a request never sent, an incompatible version). The connection
    cannot be trusted afterwards and is closed."""


class ConnectionClosedError(ClientError, ConnectionError):
    """The connection is gone: the agent closed it (shutdown, restart, a
    connection-level refusal) or an earlier failure closed it.

    ``pending`` lists the ids of requests that were sent but will never be
    answered on this connection. Whether the agent signed them is unknown,
    so a bot must treat them as possibly signed, not as refused.
    """

    def __init__(self, message: str, pending: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.pending: Tuple[int, ...] = tuple(pending)


class ResponseTimeout(ClientError, TimeoutError):
    """No response arrived within the timeout. The connection stays usable
    (a partly received frame is kept), so the answer can still be collected
    later with ``recv``."""


class RequestTooLargeError(ClientError, ValueError):
    """The request would exceed the agent's frame limit. It was not sent:
    sending it would make the agent drop the whole connection."""


# --------------------------------------------------------------------------
# Hex helpers
# --------------------------------------------------------------------------


def to_hex(data: bytes) -> str:
    """Encode bytes as the protocol does: lowercase hex with ``0x``."""
    return "0x" + bytes(data).hex()


def from_hex(text: str) -> bytes:
    """Decode protocol hex (``0x`` optional). Raises ``ValueError``."""
    if not isinstance(text, str):
        raise ValueError(f"expected a hex string, got {type(text).__name__}")
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    return bytes.fromhex(text)


def _opt_hex(obj: Mapping[str, Any], name: str) -> Optional[bytes]:
    value = obj.get(name)
    return None if value is None else from_hex(value)


def _as_bytes(name: str, value: Any) -> bytes:
    # Refuse str explicitly: silently encoding text would sign something other
    # than what the caller meant (UTF-8? Latin-1? hex?).
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """One decoded response frame, success or failure, as ``recv_response``
    returns it: pipelining code often wants to look at outcomes without
    raising on the first failure."""

    id: Optional[int]
    ok: bool
    result: JSONObject = field(default_factory=dict)
    error: Optional[TradewardError] = None

    def unwrap(self) -> JSONObject:
        """The result, or raise the agent's error."""
        if self.ok:
            return self.result
        assert self.error is not None
        raise self.error


@dataclass(frozen=True)
class HelloInfo:
    """What the agent is and what this connection's identity may do.

    The identity comes from the kernel (the peer's uid/gid), never from
    anything the client says, so ``identity``, ``keys`` and ``ops`` are the
    ground truth for what this process is allowed.
    """

    protocol_version: int
    agent: str
    agent_version: str
    identity: str
    keys: List[str]
    ops: List[str]
    max_frame_bytes: int
    peer: Dict[str, Any]
    raw: JSONObject

    @classmethod
    def from_result(cls, r: JSONObject) -> "HelloInfo":
        return cls(
            protocol_version=int(r["protocol_version"]),
            agent=str(r.get("agent", "")),
            agent_version=str(r.get("agent_version", "")),
            identity=str(r.get("identity", "")),
            keys=list(r.get("keys", [])),
            ops=list(r.get("ops", [])),
            max_frame_bytes=int(r.get("max_frame_bytes", DEFAULT_MAX_REQUEST_BYTES)),
            peer=dict(r.get("peer", {})),
            raw=r,
        )


@dataclass(frozen=True)
class KeyInfo:
    """A key this identity may use, public material only.

    ``public_key`` is the SEC1 uncompressed point for ECDSA keys, 32 bytes for
    Ed25519, and ``None`` for HMAC secrets (which have no public half).
    ``raw_signing`` tells whether the generic ``sign`` operation is enabled
    for the key; trading keys normally have it off.
    """

    alias: str
    type: str
    label: str
    id: bytes
    uri: str
    raw_signing: bool
    local: bool
    public_key: Optional[bytes]
    address: Optional[str]
    public_key_base58: Optional[str]
    raw: JSONObject

    @classmethod
    def from_result(cls, k: JSONObject) -> "KeyInfo":
        return cls(
            alias=str(k["alias"]),
            type=str(k["type"]),
            label=str(k.get("label", "")),
            id=from_hex(k.get("id", "")),
            uri=str(k.get("uri", "")),
            raw_signing=bool(k.get("raw_signing", False)),
            local=bool(k.get("local", False)),
            public_key=_opt_hex(k, "public_key"),
            address=k.get("address"),
            public_key_base58=k.get("public_key_base58"),
            raw=k,
        )


@dataclass(frozen=True)
class Signature:
    """A signature the agent released, already checked by the agent against
    the key's public key (for ECDSA and Ed25519) before it answered.

    ``signature`` is what venues expect for each type: ``r || s || v`` with
    ``v`` in {27, 28} and low ``s`` for secp256k1; ``r || s`` (or DER when
    asked) for P-256; 64 bytes for Ed25519; the 32-byte MAC for HMAC.
    ``digest`` is the 32 bytes actually signed for ECDSA keys, so a caller can
    check that the agent hashed what it meant (Keccak-256 for secp256k1
    messages, SHA-256 for P-256 messages, the EIP-191 hash for ``eip191``).
    """

    key: str
    type: str
    signature: bytes
    digest: Optional[bytes]
    r: Optional[bytes]
    s: Optional[bytes]
    v: Optional[int]
    recovery_id: Optional[int]
    address: Optional[str]
    format: Optional[str]
    raw: JSONObject

    @property
    def hex(self) -> str:
        """The signature as ``0x``-prefixed hex, the form most venues take."""
        return to_hex(self.signature)

    @classmethod
    def from_result(cls, r: JSONObject) -> "Signature":
        v = r.get("v")
        rid = r.get("recovery_id")
        return cls(
            key=str(r.get("key", "")),
            type=str(r.get("type", "")),
            signature=from_hex(r["signature"]),
            digest=_opt_hex(r, "digest"),
            r=_opt_hex(r, "r"),
            s=_opt_hex(r, "s"),
            v=v if isinstance(v, int) else None,
            recovery_id=rid if isinstance(rid, int) else None,
            address=r.get("address"),
            format=r.get("format"),
            raw=r,
        )


@dataclass(frozen=True)
class HyperliquidSignedAction:
    """A Hyperliquid action the agent parsed, judged, re-encoded and signed.

    Post exactly these values to the venue's ``/exchange`` endpoint
    (``exchange_payload()`` builds the body). ``action`` is the agent's
    **canonical** re-encoding of the action it was sent, with the official
    SDK's key order and number spelling: it is what was hashed and signed,
    and it may differ from what the bot sent (``"50000.0"`` becomes
    ``"50000"``, an upper-case cloid becomes lower case). Posting anything
    else makes the venue recover a different signer and reject the request.

    ``signature`` is ``{"r": "0x...", "s": "0x...", "v": 27 | 28}`` in the
    form the SDK's signing functions return (``r`` and ``s`` as ``0x`` hex
    without leading zeros), ready to post. ``nonce`` is the one signed:
    the agent's own when the request gave none. ``vault_address`` is the
    vault the action was signed for (lower-case hex) and ``expires_after``
    its expiry in ms, both ``None`` when not used. ``address`` is the
    key's EIP-55 address, ``digest`` the 32-byte EIP-712 digest the key
    signed, and ``raw`` the undecoded result.
    """

    key: str
    action: Dict[str, Any]
    nonce: int
    signature: Dict[str, Any]
    vault_address: Optional[str]
    expires_after: Optional[int]
    address: Optional[str]
    digest: bytes
    raw: JSONObject

    @property
    def signature_bytes(self) -> bytes:
        """The 65-byte ``r || s || v`` form of the signature."""
        r = int(self.signature["r"], 16).to_bytes(32, "big")
        s = int(self.signature["s"], 16).to_bytes(32, "big")
        return r + s + bytes([self.signature["v"]])

    def exchange_payload(self) -> JSONObject:
        """The JSON body to POST to ``/exchange``, shaped as the official
        SDK posts it: ``action``, ``nonce``, ``signature``,
        ``vaultAddress`` and ``expiresAfter`` (``None`` when unused)."""
        return {
            "action": self.action,
            "nonce": self.nonce,
            "signature": dict(self.signature),
            "vaultAddress": self.vault_address,
            "expiresAfter": self.expires_after,
        }

    @classmethod
    def from_result(cls, r: JSONObject) -> "HyperliquidSignedAction":
        action = r["action"]
        if not isinstance(action, dict):
            raise TypeError("action is not an object")
        signature = _sdk_signature(r["signature"])
        digest = from_hex(r["digest"])
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        return cls(
            key=str(r.get("key", "")),
            action=action,
            nonce=_as_uint(r["nonce"], "nonce"),
            # The SDK writes r and s with eth_utils.to_hex of the integers,
            # i.e. without leading zeros; use the same spelling so a bot
            # switching from the SDK's signer posts identical bodies.
            signature=signature,
            vault_address=r.get("vault_address"),
            expires_after=None if r.get("expires_after") is None else _as_uint(r["expires_after"], "expires_after"),
            address=r.get("address"),
            digest=digest,
            raw=r,
        )


def _sdk_signature(sig: Any) -> Dict[str, Any]:
    """Check a ``{"r", "s", "v"}`` signature object and spell ``r`` and
    ``s`` as the official SDK does (``eth_utils.to_hex`` of the integers,
    without leading zeros)."""
    if not isinstance(sig, dict):
        raise TypeError("signature is not an object")
    v = sig["v"]
    if not isinstance(v, int) or isinstance(v, bool) or v not in (27, 28):
        raise ValueError(f"signature v must be 27 or 28, got {v!r}")
    rb, sb = from_hex(sig["r"]), from_hex(sig["s"])
    if len(rb) != 32 or len(sb) != 32:
        raise ValueError("signature r and s must be 32 bytes each")
    return {"r": hex(int.from_bytes(rb, "big")), "s": hex(int.from_bytes(sb, "big")), "v": v}


@dataclass(frozen=True)
class ScheduleCancel:
    """A signed Hyperliquid ``scheduleCancel`` that came with a heartbeat:
    the exchange-side backup of the dead-man's switch.

    The agent signs one per Hyperliquid key of the identity whose config
    sets ``schedule_cancel_grace_ms``, for the switch's deadline plus that
    grace (at least 5 s ahead). It does nothing until the bot posts it:
    post ``exchange_payload()`` to ``/exchange`` after each heartbeat, and
    if the bot's host dies the venue cancels the account's open orders at
    ``action["time"]``. Each post replaces the previous schedule.

    ``error`` is set (and everything else empty) when the agent could not
    sign one for ``key``; the heartbeat itself still counted.
    ``signature`` uses the SDK's spelling, as ``HyperliquidSignedAction``
    does. ``decision`` is the journal record of the agent's decision.
    """

    key: str
    action: Dict[str, Any]
    nonce: Optional[int]
    signature: Dict[str, Any]
    address: Optional[str]
    is_mainnet: Optional[bool]
    decision: Optional[int]
    error: Optional[str]
    raw: JSONObject

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def time_ms(self) -> Optional[int]:
        """When the venue would cancel (ms since the epoch)."""
        t = self.action.get("time")
        return t if isinstance(t, int) and not isinstance(t, bool) else None

    def exchange_payload(self) -> JSONObject:
        """The JSON body to POST to ``/exchange``. The agent signs these
        for the key's own account, never for a vault."""
        if self.error is not None:
            raise ClientError(f"no scheduleCancel for key {self.key!r}: {self.error}")
        return {
            "action": self.action,
            "nonce": self.nonce,
            "signature": dict(self.signature),
            "vaultAddress": None,
            "expiresAfter": None,
        }

    @classmethod
    def from_result(cls, r: JSONObject) -> "ScheduleCancel":
        if "error" in r:
            return cls(
                key=str(r.get("key", "")),
                action={},
                nonce=None,
                signature={},
                address=None,
                is_mainnet=None,
                decision=None,
                error=str(r["error"]),
                raw=r,
            )
        action = r["action"]
        if not isinstance(action, dict):
            raise TypeError("action is not an object")
        decision = r.get("decision")
        return cls(
            key=str(r.get("key", "")),
            action=action,
            nonce=_as_uint(r["nonce"], "nonce"),
            signature=_sdk_signature(r["signature"]),
            address=r.get("address"),
            is_mainnet=bool(r.get("is_mainnet")),
            decision=decision if isinstance(decision, int) else None,
            error=None,
            raw=r,
        )


@dataclass(frozen=True)
class HeartbeatInfo:
    """The agent's answer to a heartbeat.

    ``deadline_ms`` is when the switch trips if no heartbeat comes first
    (wall clock, ms since the epoch, as the agent's host sees it);
    ``server_time_ms`` is the agent's clock when it answered, so
    ``remaining_ms`` does not depend on this host's clock. ``state`` is
    ``"armed"``, or ``"paused"`` while an operator holds the switch
    (``paused_until_ms``, ``pause_reason``; the deadline then lies after
    the pause). ``schedule_cancel`` holds the exchange-side backups, one per
    Hyperliquid key configured for them (empty otherwise).
    """

    identity: str
    timeout_ms: int
    deadline_ms: int
    server_time_ms: int
    state: str
    paused_until_ms: Optional[int]
    pause_reason: Optional[str]
    schedule_cancel: List[ScheduleCancel]
    raw: JSONObject

    @property
    def remaining_ms(self) -> int:
        return max(0, self.deadline_ms - self.server_time_ms)

    @classmethod
    def from_result(cls, r: JSONObject) -> "HeartbeatInfo":
        switch = r["switch"]
        if not isinstance(switch, dict):
            raise TypeError("switch is not an object")
        backups = r.get("schedule_cancel", [])
        if not isinstance(backups, list):
            raise TypeError("schedule_cancel is not a list")
        until = switch.get("until_ms")
        reason = switch.get("reason")
        return cls(
            identity=str(r.get("identity", "")),
            timeout_ms=_as_uint(r["timeout_ms"], "timeout_ms"),
            deadline_ms=_as_uint(r["deadline_ms"], "deadline_ms"),
            server_time_ms=_as_uint(r["server_time_ms"], "server_time_ms"),
            state=str(switch["state"]),
            paused_until_ms=until if isinstance(until, int) else None,
            pause_reason=reason if isinstance(reason, str) else None,
            schedule_cancel=[ScheduleCancel.from_result(b) for b in backups],
            raw=r,
        )


@dataclass(frozen=True)
class RestSignedRequest:
    """A Binance-style REST request the agent parsed, judged and signed.

    Send it exactly as it is: ``signed_query`` (``query`` plus the
    percent-encoded signature) after ``?`` in the URL, or as the
    ``application/x-www-form-urlencoded`` body of a POST, PUT or DELETE,
    with ``method`` to ``path`` on the market's host and the API key in the
    ``X-MBX-APIKEY`` header. ``query`` is the agent's own canonical text, in
    the venue's parameter order with ``recvWindow`` and the agent's
    ``timestamp`` (ms, the agent host's clock) at the end: it is what was
    signed, and it may differ from what the bot sent. ``signature`` is
    lower-case hex for HMAC keys and standard base64 for Ed25519 keys
    (``type``). ``raw`` is the undecoded result.
    """

    key: str
    type: str
    venue: str
    method: str
    path: str
    query: str
    timestamp: int
    recv_window_ms: int
    signature: str
    signed_query: str
    raw: JSONObject

    def url(self, host: str) -> str:
        """``host`` + ``path`` + ``?`` + ``signed_query``, e.g. with
        ``https://api.binance.com`` for spot paths (``/api/…``) and
        ``https://fapi.binance.com`` for USD-M futures (``/fapi/…``)."""
        return host.rstrip("/") + self.path + "?" + self.signed_query

    @classmethod
    def from_result(cls, r: JSONObject) -> "RestSignedRequest":
        texts: Dict[str, str] = {}
        for name in ("key", "type", "venue", "method", "path", "query", "signature", "signed_query"):
            value = r[name]
            if not isinstance(value, str):
                raise TypeError(f"{name} is not a string")
            texts[name] = value
        return cls(
            timestamp=_as_uint(r["timestamp"], "timestamp"),
            recv_window_ms=_as_uint(r["recv_window_ms"], "recv_window_ms"),
            raw=r,
            **texts,
        )


@dataclass(frozen=True)
class PriceUpdate:
    """A reference price the agent accepted (``price.update``): ``price``
    as the agent read it (a decimal string) and ``at_ms``, the agent's clock
    when it took it. Prices are kept in memory only, and a price older than
    the policy's ``price_max_age_ms`` no longer counts."""

    symbol: str
    price: str
    at_ms: int
    raw: JSONObject

    @classmethod
    def from_result(cls, r: JSONObject) -> "PriceUpdate":
        return cls(
            symbol=_as_str(r["symbol"], "symbol"),
            price=_as_str(r["price"], "price"),
            at_ms=_as_uint(r["at_ms"], "at_ms"),
            raw=r,
        )


@dataclass(frozen=True)
class OrderReport:
    """The agent's answer to ``order.report``: how many orders it counted
    as open on ``key`` the report closed (0 when none matched: orders are
    matched by client id only)."""

    key: str
    closed: int
    raw: JSONObject

    @classmethod
    def from_result(cls, r: JSONObject) -> "OrderReport":
        return cls(key=_as_str(r["key"], "key"), closed=_as_uint(r["closed"], "closed"), raw=r)


@dataclass(frozen=True)
class PositionReport:
    """The position the agent recorded (``position.report``): ``size`` is a
    decimal string, normalised (``"0.01230"`` comes back as ``"0.0123"``),
    above zero for a long, below for a short, ``"0"`` for flat."""

    key: str
    symbol: str
    size: str
    raw: JSONObject

    @classmethod
    def from_result(cls, r: JSONObject) -> "PositionReport":
        return cls(
            key=_as_str(r["key"], "key"),
            symbol=_as_str(r["symbol"], "symbol"),
            size=_as_str(r["size"], "size"),
            raw=r,
        )


@dataclass(frozen=True)
class TypedDataSignature:
    """An EIP-712 signature (``eip712.sign_typed_data``).

    ``digest`` is the 32-byte EIP-712 hash the agent computed from the typed
    data and the key signed; ``signature`` is ``r || s || v`` (65 bytes,
    low ``s``, ``v`` in {27, 28}), the form ``eth_signTypedData_v4`` wallets
    return, already checked by the agent against the key. ``address`` is
    the key's EIP-55 address, the signer a verifier recovers.
    """

    key: str
    digest: bytes
    signature: bytes
    r: bytes
    s: bytes
    v: int
    address: str
    raw: JSONObject

    @property
    def hex(self) -> str:
        """The signature as ``0x``-prefixed hex."""
        return to_hex(self.signature)

    @property
    def recovery_id(self) -> int:
        """0 or 1 (``v - 27``)."""
        return self.v - 27

    @classmethod
    def from_result(cls, r: JSONObject) -> "TypedDataSignature":
        v = r["v"]
        if not isinstance(v, int) or isinstance(v, bool) or v not in (27, 28):
            raise ValueError(f"v must be 27 or 28, got {v!r}")
        digest, signature = from_hex(r["digest"]), from_hex(r["signature"])
        rb, sb = from_hex(r["r"]), from_hex(r["s"])
        if len(digest) != 32 or len(rb) != 32 or len(sb) != 32:
            raise ValueError("digest, r and s must be 32 bytes each")
        if signature != rb + sb + bytes([v]):
            raise ValueError("signature is not r || s || v")
        return cls(
            key=_as_str(r["key"], "key"),
            digest=digest,
            signature=signature,
            r=rb,
            s=sb,
            v=v,
            address=_as_str(r["address"], "address"),
            raw=r,
        )


def _as_uint(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _as_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")
    return value


def _decimal_text(name: str, value: Union[str, int, Decimal]) -> str:
    """A decimal as the agent takes it: a plain string. ``Decimal`` and
    ``int`` are written out without an exponent; a float is refused, since
    it rarely holds the number its literal shows (``0.1``)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{name} must be a decimal string, Decimal or int, not {type(value).__name__}")
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name} must be finite, got {value}")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"{name} must be a decimal string, Decimal or int, not {type(value).__name__}")


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------


class Client:
    """A connection to the agent.

    Safe to share between threads: sends are serialised by one lock and
    reads by another, and a response read by one thread for another thread's
    request is parked until that thread asks for it. Responses that nobody
    collects stay parked, so every ``send`` should eventually be matched by a
    ``recv`` of its id (``call`` and ``call_many`` always do this).

    ``timeout`` bounds each send and each wait for a response (``None``
    waits forever, which a bot should rarely want). ``max_response_bytes``
    caps a response frame. ``max_request_bytes`` is the agent's frame limit;
    ``hello()`` updates it from the agent.
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
        if path is None:
            path = os.environ.get(SOCK_ENV)
            if not path:
                raise ClientError(
                    f"no socket path given and {SOCK_ENV} is not set "
                    "(export it the way ssh tools use SSH_AUTH_SOCK)"
                )
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive or None")
        if max_response_bytes < 16 or max_request_bytes < 16:
            raise ValueError("frame limits must be at least 16 bytes")
        self.path: str = os.fspath(path)
        self._timeout: Optional[float] = timeout
        self.max_response_bytes: int = max_response_bytes
        self.max_request_bytes: int = max_request_bytes
        self.client_name: str = client_name
        self._sock: Optional[socket.socket] = None
        self._closed_reason: Optional[str] = None
        self._next_id = 1
        # Ids sent and not yet handed to the caller; `_parked` holds the
        # answers among them that have arrived but were not asked for yet.
        self._outstanding: Set[int] = set()
        self._parked: Dict[int, Response] = {}
        self._buf = bytearray()
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._state_lock = threading.Lock()

    # -- connection -----------------------------------------------------------

    def connect(self) -> "Client":
        """Open the connection (does nothing if already open). Returns
        ``self`` so that ``Client(path).connect()`` reads naturally.

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
            raise ConnectionClosedError(
                f"no agent socket at {self.path} (is the agent running?)"
            ) from None
        except ConnectionRefusedError:
            sock.close()
            raise ConnectionClosedError(
                f"nothing is listening on {self.path} (stale socket of a stopped agent?)"
            ) from None
        except socket.timeout:
            sock.close()
            raise ResponseTimeout(f"timed out connecting to {self.path}") from None
        except OSError as e:
            sock.close()
            raise ConnectionClosedError(f"cannot connect to {self.path}: {e}") from e
        with self._state_lock:
            # Requests from an earlier connection can never be answered now;
            # answers that already arrived stay collectable.
            self._outstanding = set(self._parked)
            self._buf = bytearray()
            self._closed_reason = None
            self._sock = sock
        return self

    def close(self) -> None:
        """Close the connection. Requests still in flight are abandoned: the
        agent may or may not have signed them."""
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

    def __enter__(self) -> "Client":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _mark_closed(self, reason: str) -> None:
        with self._state_lock:
            sock, self._sock = self._sock, None
            if sock is not None or self._closed_reason is None:
                self._closed_reason = reason
        if sock is not None:
            # shutdown() first: it wakes a thread blocked reading this socket,
            # which a bare close() would leave waiting for its timeout.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _require_sock(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            with self._state_lock:
                unanswered = self._unanswered()
            msg = f"not connected ({self._closed_reason or 'connect() was not called'})"
            if unanswered:
                msg += f"; requests {list(unanswered)} got no answer"
            raise ConnectionClosedError(msg, unanswered)
        return sock

    # -- sending ----------------------------------------------------------------

    def send(self, op: str, params: Optional[Mapping[str, Any]] = None) -> int:
        """Send one request without waiting for its answer; return its id.

        Use with ``recv`` to keep several requests in flight, which hides the
        token's latency when a bot signs many things at once. The agent limits
        how many may be in flight per connection (64 by default) and refuses
        the excess with the retryable ``too_many_in_flight``.
        """
        if not isinstance(op, str) or not op:
            raise ValueError("op must be a non-empty string")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise TypeError("params must be a mapping")
        with self._send_lock:
            sock = self._require_sock()
            request_id = self._next_id
            body = json.dumps(
                {"id": request_id, "op": op, "params": dict(params)},
                separators=(",", ":"),
                ensure_ascii=False,
                allow_nan=False,
            ).encode("utf-8")
            if len(body) > self.max_request_bytes:
                raise RequestTooLargeError(
                    f"request of {len(body)} bytes exceeds the agent's limit of "
                    f"{self.max_request_bytes} bytes; not sent"
                )
            self._next_id = 1 if request_id >= _MAX_ID else request_id + 1
            with self._state_lock:
                self._outstanding.add(request_id)
            try:
                sock.sendall(_HEADER.pack(len(body)) + body, _SEND_FLAGS)
            except socket.timeout:
                # Part of the frame may be on the wire: the stream can no
                # longer be trusted to be in sync, so it must go.
                with self._state_lock:
                    self._outstanding.discard(request_id)
                self._mark_closed("a send timed out part-way through a frame")
                raise ResponseTimeout(
                    f"timed out sending request {request_id} ({op}); connection closed"
                ) from None
            except OSError as e:
                # The frame did not get through whole, so the agent cannot
                # have acted on this request; the others are another matter.
                with self._state_lock:
                    self._outstanding.discard(request_id)
                raise self._closed_by_agent(f"while sending request {request_id} ({op})", e) from e
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
        with self._state_lock:
            unanswered = self._unanswered()
        if reason is not None:
            self._mark_closed(f"the agent refused the connection: {reason}")
            return reason
        msg = f"the agent closed the connection {when} ({err.__class__.__name__}: {err})"
        if unanswered:
            msg += f"; requests {list(unanswered)} got no answer and may or may not have been signed"
        self._mark_closed(msg)
        return ConnectionClosedError(msg, unanswered)

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
                self._buf += chunk
        except OSError:
            pass
        reason: Optional[TradewardError] = None
        while True:
            try:
                resp = self._parse_buffered()
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

    def recv_response(self, request_id: Optional[int] = None) -> Response:
        """Like ``recv`` but returns the ``Response`` instead of raising for an
        agent error. Without ``request_id``, returns whichever outstanding
        answer is available first (parked ones before reading more), which is
        how a bot drains a pipeline in completion order."""
        with self._state_lock:
            if request_id is not None and request_id not in self._outstanding:
                raise ValueError(f"request {request_id} is not awaiting an answer")
            if request_id is None and not self._outstanding:
                raise ValueError("no request is awaiting an answer")
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with self._recv_lock:
            while True:
                # Check the parking lot on every turn: another thread may
                # have read this answer while we waited for the lock.
                with self._state_lock:
                    if request_id is None and self._parked:
                        request_id_ready: Optional[int] = min(self._parked)
                    elif request_id is not None and request_id in self._parked:
                        request_id_ready = request_id
                    else:
                        request_id_ready = None
                    if request_id_ready is not None:
                        self._outstanding.discard(request_id_ready)
                        return self._parked.pop(request_id_ready)
                resp = self._read_response(deadline)
                if resp.id is None:
                    raise self._connection_error(resp)
                with self._state_lock:
                    known = resp.id in self._outstanding
                    if known:
                        self._parked[resp.id] = resp
                if not known:
                    msg = f"the agent answered request {resp.id}, which is not awaiting an answer"
                    self._mark_closed(msg)
                    raise ProtocolError(msg)

    def _connection_error(self, resp: Response) -> TradewardError:
        """An error with a null id answers the connection, not a request.
        Some of them (``unknown_peer``, ``too_many_connections``,
        ``frame_too_large``) mean the agent is closing it."""
        err = resp.error
        if err is None:
            self._mark_closed("the agent sent a success response without an id")
            return TradewardError("protocol", "success response without an id")
        if err.code in _CLOSING_CODES:
            self._mark_closed(f"the agent refused the connection: {err}")
        return err

    def _read_response(self, deadline: Optional[float]) -> Response:
        while True:
            resp = self._parse_buffered()
            if resp is not None:
                return resp
            self._fill(deadline)

    def _parse_buffered(self) -> Optional[Response]:
        """Decode one complete frame from the buffer, if there is one.

        Bytes accumulate in the buffer across reads, so a timeout in the
        middle of a frame loses nothing and the stream stays in sync."""
        if len(self._buf) < 4:
            return None
        (n,) = _HEADER.unpack_from(self._buf)
        if n > self.max_response_bytes:
            self._mark_closed(f"the agent sent an oversized frame ({n} bytes)")
            raise ProtocolError(
                f"response frame of {n} bytes exceeds max_response_bytes "
                f"({self.max_response_bytes}); connection closed"
            )
        if len(self._buf) < 4 + n:
            return None
        payload = bytes(self._buf[4 : 4 + n])
        del self._buf[: 4 + n]
        try:
            obj = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self._mark_closed("the agent sent a frame that is not UTF-8 JSON")
            raise ProtocolError(f"the agent sent a frame that is not UTF-8 JSON: {e}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
            self._mark_closed("the agent sent a malformed response")
            raise ProtocolError(f"malformed response from the agent: {payload[:200]!r}")
        rid = obj.get("id")
        if rid is not None and (not isinstance(rid, int) or isinstance(rid, bool)):
            self._mark_closed("the agent sent a response with a malformed id")
            raise ProtocolError(f"response id must be an integer or null, got {rid!r}")
        if obj["ok"]:
            result = obj.get("result")
            if not isinstance(result, dict):
                self._mark_closed("the agent sent a success response without a result object")
                raise ProtocolError(f"success response without a result object: {payload[:200]!r}")
            return Response(id=rid, ok=True, result=result)
        return Response(id=rid, ok=False, error=TradewardError.from_json(obj.get("error"), rid))

    def _fill(self, deadline: Optional[float]) -> None:
        """Read more bytes into the buffer, waiting until ``deadline``."""
        sock = self._require_sock()
        if deadline is not None:
            wait = deadline - time.monotonic()
            # Wait with poll rather than by changing the socket's timeout,
            # which a concurrent send in another thread relies on.
            if wait <= 0 or not _wait_readable(sock, wait):
                with self._state_lock:
                    unanswered = self._unanswered()
                raise ResponseTimeout(
                    f"no response from the agent within {self.timeout} s "
                    f"(still waiting for requests {list(unanswered)})"
                )
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return  # the deadline check on the next turn decides
        except OSError as e:
            raise self._eof_error(f"{e.__class__.__name__}: {e}") from e
        if not chunk:
            raise self._eof_error(None)
        self._buf += chunk

    def _eof_error(self, detail: Optional[str]) -> ConnectionClosedError:
        with self._state_lock:
            unanswered = self._unanswered()
            closed_here = self._sock is None and self._closed_reason is not None
        if closed_here:
            # Another thread closed it (close(), or a failure it saw first).
            msg = f"connection closed: {self._closed_reason}"
        else:
            torn = " in the middle of a frame" if self._buf else ""
            msg = f"the agent closed the connection{torn}"
            if detail:
                msg += f" ({detail})"
        if unanswered:
            msg += f"; requests {list(unanswered)} got no answer and may or may not have been signed"
        self._mark_closed(msg)
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
                except (ClientError, ValueError):
                    break
            raise
        return [done[i] for i in ids]

    # -- operations -------------------------------------------------------------

    def hello(self) -> HelloInfo:
        """Check the protocol version and learn what this identity may do.

        Call it first: an incompatible agent is detected before anything is
        signed, and the agent's real frame limit replaces the default.
        """
        info = _decode(HelloInfo.from_result, self.call("hello", {"client": self.client_name}), "hello")
        if info.protocol_version != PROTOCOL_VERSION:
            self._mark_closed("incompatible protocol version")
            raise ProtocolError(
                f"the agent speaks protocol version {info.protocol_version}; "
                f"this client speaks {PROTOCOL_VERSION}"
            )
        if info.max_frame_bytes >= 16:
            self.max_request_bytes = info.max_frame_bytes
        return info

    def ping(self) -> float:
        """Liveness check that touches only the socket, not the token.
        Returns the round trip in seconds, handy for a bot's health metrics."""
        start = time.monotonic()
        result = self.call("ping")
        if result.get("pong") is not True:
            raise ProtocolError(f"unexpected ping result {result!r}")
        return time.monotonic() - start

    def list_keys(self) -> List[KeyInfo]:
        """The keys this identity may use, with their public halves. Keys
        granted to other identities are not shown at all."""
        keys = self.call("list_keys").get("keys")
        if not isinstance(keys, list):
            raise ProtocolError("list_keys result has no key list")
        return [_decode(KeyInfo.from_result, k, "list_keys") for k in keys]

    def sign_message(
        self,
        key: str,
        message: bytes,
        scheme: Optional[str] = None,
        format: Optional[str] = None,
    ) -> Signature:
        """Sign ``message`` with the key named ``key`` (an alias from the
        agent's config, or a PKCS#11 URI).

        The agent hashes the message itself, so the bot never hands over an
        opaque hash: Keccak-256 for secp256k1 (or the EIP-191 hash with
        ``scheme="eip191"``), SHA-256 for P-256; Ed25519 and HMAC sign the
        message as is. ``format="der"`` asks for a DER P-256 signature. Only
        keys with ``raw_signing`` enabled accept this operation.
        """
        params: Dict[str, Any] = {"key": key, "message": to_hex(_as_bytes("message", message))}
        if scheme is not None:
            params["scheme"] = scheme
        if format is not None:
            params["format"] = format
        return _decode(Signature.from_result, self.call("sign", params), "sign")

    def sign_digest(self, key: str, digest: bytes) -> Signature:
        """Sign a precomputed 32-byte digest with an ECDSA key. The length is
        left for the agent to judge (it answers ``bad_params``), so this
        client never disagrees with the agent about what is acceptable.
        Ed25519 and HMAC keys sign messages only."""
        params = {"key": key, "digest": to_hex(_as_bytes("digest", digest))}
        return _decode(Signature.from_result, self.call("sign", params), "sign")

    def sign_eip191(self, key: str, message: bytes) -> Signature:
        """Ethereum ``personal_sign`` (EIP-191 version 0x45) with a secp256k1
        key; the result recovers to the key's address with standard tools such
        as ``eth_account.Account.recover_message``."""
        return self.sign_message(key, message, scheme="eip191")

    # -- Hyperliquid -------------------------------------------------------------

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
        ``updateLeverage``, ``updateIsolatedMargin``, ``scheduleCancel``):
        the action object exactly as the venue's ``/exchange`` endpoint takes
        it, prices and sizes as decimal strings.

        The agent parses the action strictly, judges it, re-encodes it and
        signs what it built; post the result's ``action``, not your own
        (see ``HyperliquidSignedAction``). A refusal by the risk policy is
        ``policy_denied`` with the reasons in ``TradewardError.denials``.
        Without ``nonce`` the agent
        assigns one (milliseconds, strictly increasing per key); a nonce
        given must be unused with this key and inside the venue's window.
        ``vault_address`` trades for a vault or subaccount the key's config
        allows; ``expires_after`` (ms) makes the venue reject the action
        after that time. ``is_mainnet`` must match the network the key is
        configured for. Needs the ``hyperliquid.sign_l1_action`` grant.
        """
        params: Dict[str, Any] = {"key": key, "action": _action_dict(action), "is_mainnet": is_mainnet}
        if nonce is not None:
            params["nonce"] = nonce
        if vault_address is not None:
            params["vault_address"] = vault_address
        if expires_after is not None:
            params["expires_after"] = expires_after
        op = "hyperliquid.sign_l1_action"
        return _decode(HyperliquidSignedAction.from_result, self.call(op, params), op)

    def sign_user_action(
        self,
        key: str,
        action: Mapping[str, Any],
        *,
        is_mainnet: bool,
    ) -> HyperliquidSignedAction:
        """Have the agent sign a Hyperliquid user-signed action (``usdSend``,
        ``spotSend``, ``withdraw3``, ``usdClassTransfer``, ``approveAgent``,
        ``approveBuilderFee``). Its nonce is the action's own ``time`` or
        ``nonce`` field; ``signatureChainId`` and ``hyperliquidChain`` are
        filled in when absent, as the SDK does.

        Transfers and approvals move funds or hand out rights, so the agent
        signs one only when the key's policy has an allowance naming its
        destination (or grantee); otherwise it is refused with
        ``policy_denied``, the rule in ``TradewardError.denials``. Needs the
        ``hyperliquid.sign_user_action`` grant.
        """
        params = {"key": key, "action": _action_dict(action), "is_mainnet": is_mainnet}
        op = "hyperliquid.sign_user_action"
        return _decode(HyperliquidSignedAction.from_result, self.call(op, params), op)

    # -- Binance-style REST ------------------------------------------------------

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
        strings: ``{"quantity": "0.01"}``) or as a query string
        (``"symbol=BTCUSDT&side=BUY"``), or ``None`` for none. Leave out
        ``timestamp`` and ``signature``: the agent sets the one and makes
        the other. Order endpoints are judged by the policy (refusals are
        ``policy_denied`` with ``TradewardError.denials``), transfers need
        an allowance naming their destination, and any other endpoint must
        be a ``GET`` on the key's read-only allowlist. Send the result's
        ``signed_query`` unchanged (see ``RestSignedRequest``). Needs the
        ``rest.sign_request`` grant; see docs/rest.md.
        """
        p: Dict[str, Any] = {"key": key, "venue": venue, "method": method, "path": path}
        if params is not None:
            if isinstance(params, str):
                p["params"] = params
            elif isinstance(params, Mapping):
                p["params"] = dict(params)
            else:
                raise TypeError(f"params must be a mapping or a query string, not {type(params).__name__}")
        op = "rest.sign_request"
        return _decode(RestSignedRequest.from_result, self.call(op, p), op)

    # -- prices and reports ------------------------------------------------------

    def price_update(self, symbol: str, price: Union[str, int, Decimal]) -> PriceUpdate:
        """Feed the reference price of ``symbol`` (the venue's symbol, as
        the policy names it) for the policy's price bands and for pricing
        orders that flatten positions at a trip. ``price`` is a decimal
        string (or ``Decimal``/``int``; floats are refused), above zero.
        The agent keeps prices in memory only: after it restarts, feed them
        again. Needs the ``price.update`` grant (the price-feed role).
        """
        params = {"symbol": symbol, "price": _decimal_text("price", price)}
        return _decode(PriceUpdate.from_result, self.call("price.update", params), "price.update")

    def order_report(self, key: str, client_id: Optional[str] = None, oid: Optional[int] = None) -> OrderReport:
        """Tell the agent an order on ``key`` is closed at the venue (filled
        or cancelled), so it stops counting as open. Give exactly one of
        ``client_id`` (the client order id it was placed with, e.g. a
        Hyperliquid cloid ``"0x…"`` or a Binance ``newClientOrderId``) or
        ``oid`` (the venue's order id); the agent judges the combination
        (``bad_params``). The agent never learns venue order ids, so only a
        ``client_id`` report closes anything. Needs the ``order.report``
        grant.
        """
        params: Dict[str, Any] = {"key": key}
        if client_id is not None:
            params["client_id"] = client_id
        if oid is not None:
            params["oid"] = oid
        return _decode(OrderReport.from_result, self.call("order.report", params), "order.report")

    def position_report(self, key: str, symbol: str, size: Union[str, int, Decimal]) -> PositionReport:
        """Report this identity's position in a Hyperliquid perpetual on
        ``key``: ``size`` a plain decimal (string, ``Decimal`` or ``int``),
        above zero long, below zero short, ``"0"`` flat. The last report per
        key and symbol counts. With ``deadman.flatten_on_trip``, a trip hands
        the operator's command signed reduce-only orders that close it; a
        report never changes what the bot may sign. Spot pairs and keys
        without a Hyperliquid table are refused (``bad_params``). Needs the
        ``position.report`` grant.
        """
        params = {"key": key, "symbol": symbol, "size": _decimal_text("size", size)}
        return _decode(PositionReport.from_result, self.call("position.report", params), "position.report")

    # -- EIP-712 typed data ------------------------------------------------------

    def sign_typed_data(self, key: str, typed_data: Mapping[str, Any]) -> TypedDataSignature:
        """Sign EIP-712 typed data, given in the ``eth_signTypedData_v4``
        shape ``{"types", "primaryType", "domain", "message"}``, with a
        secp256k1 key whose config lists the domain
        (``[[keys.ALIAS.eip712.domains]]``). The agent parses it strictly and
        computes the digest itself. Refused: a domain not on the key's list
        or Hyperliquid's own (``forbidden``), arrays, signed integers and
        domains with a salt (``bad_params``), and any request while a halt
        covers the identity or key (``policy_denied``). Integers may be JSON
        numbers or, when large, decimal or ``0x`` hex strings. Needs the
        ``eip712.sign_typed_data`` grant; see docs/protocol.md.
        """
        if not isinstance(typed_data, Mapping):
            raise TypeError(f"typed_data must be a mapping, not {type(typed_data).__name__}")
        params = {"key": key, "typed_data": dict(typed_data)}
        op = "eip712.sign_typed_data"
        return _decode(TypedDataSignature.from_result, self.call(op, params), op)

    # -- dead-man's switch ---------------------------------------------------------

    def heartbeat(self, timeout_ms: Optional[int] = None) -> HeartbeatInfo:
        """Arm this identity's dead-man's switch, or push its deadline to
        now + ``timeout_ms``. The first heartbeat must give ``timeout_ms``
        (it arms the switch); later ones may leave it out to keep the
        current timeout. The agent bounds it (``deadman.min_timeout_ms`` to
        ``max_timeout_ms``, 1 s to 1 h by default; ``bad_params`` outside).

        If no heartbeat arrives before the deadline, the agent halts the
        identity and hands the operator's on-trip command signed cancels;
        after that every heartbeat raises ``SwitchTrippedError`` until an
        operator re-arms the switch. There is no way to disarm it: a bot
        that stops on purpose trips its switch unless an operator pauses it
        first. ``Heartbeater`` sends heartbeats from a background thread.
        Needs the ``heartbeat`` grant.
        """
        params: Dict[str, Any] = {}
        if timeout_ms is not None:
            params["timeout_ms"] = timeout_ms
        return _decode(HeartbeatInfo.from_result, self.call("heartbeat", params), "heartbeat")


_T = TypeVar("_T")


def _decode(build: Callable[[JSONObject], _T], obj: Any, what: str) -> _T:
    # A result that lacks a field or holds bad hex is the agent's fault, not
    # the caller's: report it as a protocol error rather than a KeyError.
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what}: expected an object, got {obj!r}")
    try:
        return build(obj)
    except (KeyError, TypeError, ValueError) as e:
        raise ProtocolError(f"{what}: malformed result from the agent ({e!r}): {obj!r}") from None


def _action_dict(action: Mapping[str, Any]) -> Dict[str, Any]:
    # json.dumps takes dicts, not any Mapping. Key order is kept, though
    # the agent does not depend on it: it re-encodes the action anyway.
    if not isinstance(action, Mapping):
        raise TypeError(f"action must be a mapping, not {type(action).__name__}")
    return dict(action)


def _wait_readable(sock: socket.socket, seconds: float) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(max(0, int(seconds * 1000) + 1)))
    readable, _, _ = select.select([sock], [], [], seconds)
    return bool(readable)


def connect(path: Union[str, "os.PathLike[str]", None] = None, **kwargs: Any) -> Client:
    """Open a connection to the agent at ``path`` (default: ``$TRADEWARD_SOCK``).
    Keyword arguments are those of ``Client``."""
    return Client(path, **kwargs).connect()


# --------------------------------------------------------------------------
# Heartbeats from a background thread
# --------------------------------------------------------------------------

_log = logging.getLogger("tradeward_client")


class Heartbeater:
    """Feeds this identity's dead-man's switch every ``interval`` seconds
    from a daemon thread, on a connection of its own.

    ``agent`` is a ``Client`` (only its socket path and timeout are used:
    the heartbeats never share, block or close the bot's own connection) or
    a socket path (``None``: ``$TRADEWARD_SOCK``). ``timeout_ms`` is sent
    with every heartbeat; ``None`` keeps the switch's current timeout, which
    only works once the switch is armed. ``interval`` must be shorter than
    the timeout; a third of it or less leaves room for a slow beat or two.

    ``start()`` sends the first heartbeat in the caller's thread, so a
    refusal (not granted, bounds, an already tripped switch) raises there,
    and then starts the thread. From then on:

    * a tripped switch (``SwitchTrippedError``) ends the thread: it is
      passed to ``on_trip`` and raised by ``check()``, and ``tripped``
      becomes true. Heartbeats cannot un-trip it; an operator must re-arm.
    * any other refusal that a retry will not fix (``forbidden``,
      ``bad_params``, ...) ends the thread the same way, through
      ``on_error`` and ``check()``.
    * retryable refusals (``journal_unavailable``, ...) and transport
      trouble (the agent restarting, a timeout) go to ``on_error`` and the
      next beat tries again, reconnecting if needed.

    Nothing fails silently: the error that ends the heartbeats is logged
    (logger ``tradeward_client``), passed to its handler and kept for
    ``check()``; passing errors go to ``on_error``, or to the log without
    one. Call ``check()`` from the trading loop so a trip stops the trading.

    A thread that only proves the process is alive can keep a switch fed
    while the trading loop is stuck. ``alive`` guards against that: a
    callable asked before every beat; when it returns false (or raises),
    the beat is skipped, and if that lasts past the timeout the switch
    trips, as it should.

    ``on_beat`` gets each ``HeartbeatInfo``, e.g. to post its
    ``schedule_cancel`` backups to the venue. Callbacks run on the
    heartbeat thread (``on_beat`` for the first beat runs inside
    ``start()``); an exception from ``on_beat`` goes to ``on_error`` and
    does not stop the heartbeats.

    ``stop()`` ends the thread and closes its connection. It does not
    disarm the switch (the agent has no way to): a bot that stops
    heartbeating trips after its timeout unless an operator pauses it.
    """

    def __init__(
        self,
        agent: Union[Client, str, "os.PathLike[str]", None] = None,
        interval: float = 1.0,
        timeout_ms: Optional[int] = None,
        *,
        alive: Optional[Callable[[], bool]] = None,
        on_beat: Optional[Callable[[HeartbeatInfo], None]] = None,
        on_error: Optional[Callable[[BaseException], None]] = None,
        on_trip: Optional[Callable[[SwitchTrippedError], None]] = None,
        name: str = "tradeward-heartbeat",
    ) -> None:
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not interval > 0:
            raise ValueError("interval must be a positive number of seconds")
        if timeout_ms is not None and interval * 1000 >= timeout_ms:
            raise ValueError(
                f"interval ({interval} s) must be shorter than timeout_ms ({timeout_ms} ms), "
                "or the switch trips between two heartbeats"
            )
        if isinstance(agent, Client):
            path: Union[str, "os.PathLike[str]", None] = agent.path
            call_timeout = agent.timeout
        else:
            path = agent
            call_timeout = None
        # Long enough for a slow fsync, short enough that a hung call is
        # noticed well within a timeout of a few intervals.
        if call_timeout is None or call_timeout > max(5.0, interval):
            call_timeout = max(5.0, interval)
        self._client = Client(path, timeout=call_timeout, client_name=name)
        self.interval = float(interval)
        self.timeout_ms = timeout_ms
        self._alive = alive
        self._on_beat = on_beat
        self._on_error = on_error
        self._on_trip = on_trip
        self._name = name
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[ClientError] = None
        self._last: Optional[HeartbeatInfo] = None
        self._beats = 0
        self._skipped = 0

    # -- state ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the thread is still sending heartbeats."""
        t = self._thread
        return t is not None and t.is_alive() and not self._done.is_set()

    @property
    def tripped(self) -> bool:
        """Whether the agent reported this identity's switch tripped."""
        return isinstance(self._error, SwitchTrippedError)

    @property
    def error(self) -> Optional[ClientError]:
        """The error that ended the heartbeats, if one did."""
        return self._error

    @property
    def last(self) -> Optional[HeartbeatInfo]:
        """The agent's answer to the latest successful heartbeat."""
        return self._last

    @property
    def beats(self) -> int:
        """Heartbeats the agent accepted."""
        return self._beats

    @property
    def skipped(self) -> int:
        """Beats skipped because ``alive`` said no."""
        return self._skipped

    def check(self) -> None:
        """Raise the error that ended the heartbeats (``SwitchTrippedError``
        after a trip); return quietly while they run or after ``stop()``."""
        err = self._error
        if err is not None:
            raise err

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the heartbeats end (an error, or ``stop()``);
        whether they did within ``timeout`` seconds."""
        return self._done.wait(timeout)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> "Heartbeater":
        """Send the first heartbeat now (raising if the agent refuses it),
        then keep beating from a daemon thread. Returns ``self``."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("this Heartbeater was already started")
            try:
                self._client.connect()
                info = self._client.heartbeat(self.timeout_ms)
            except BaseException:
                self._client.close()
                raise
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._deliver(info)
            self._thread.start()
        return self

    def stop(self, timeout: Optional[float] = None) -> None:
        """End the heartbeats and close their connection; waits up to
        ``timeout`` seconds (``None``: as long as it takes) for the thread.
        Safe to call more than once, and from a callback."""
        self._stop.set()
        # Closing wakes a beat that is waiting for the agent.
        self._client.close()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        if t is None:
            self._done.set()

    def __enter__(self) -> "Heartbeater":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            next_at = time.monotonic() + self.interval
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                # A late beat is not made up for with a burst.
                next_at = max(next_at + self.interval, time.monotonic())
                if not self._beat():
                    return
        finally:
            self._client.close()
            self._done.set()

    def _beat(self) -> bool:
        """One beat; false once the heartbeats must end."""
        if self._alive is not None:
            try:
                ok = bool(self._alive())
            except Exception as e:  # noqa: BLE001 - reported, and counts as "not alive"
                self._report(e)
                ok = False
            if not ok:
                self._skipped += 1
                return True
        if self._stop.is_set():
            return False
        try:
            self._client.connect()
            info = self._client.heartbeat(self.timeout_ms)
        except SwitchTrippedError as e:
            self._finish(e)
            return False
        except TradewardError as e:
            if self._stop.is_set():
                return False
            if e.retryable or e.request_id is None:
                # Retryable, or a refusal of the whole connection (which
                # the client has closed): try again at the next beat.
                self._report(e)
                return True
            self._finish(e)
            return False
        except ClientError as e:
            if self._stop.is_set():
                return False
            if isinstance(e, ResponseTimeout):
                # Drop the connection rather than leave an answer nobody
                # will collect; the next beat reconnects.
                self._client.close()
            self._report(e)
            return True
        self._deliver(info)
        return True

    def _deliver(self, info: HeartbeatInfo) -> None:
        self._last = info
        self._beats += 1
        if self._on_beat is not None:
            try:
                self._on_beat(info)
            except Exception as e:  # noqa: BLE001 - reported; the heartbeats go on
                self._report(e)

    def _report(self, e: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(e)
                return
            except Exception:  # noqa: BLE001 - a broken handler must not stop the beats
                _log.exception("tradeward heartbeat: on_error raised")
        _log.warning("tradeward heartbeat failed (will retry): %s", e)

    def _finish(self, e: ClientError) -> None:
        self._error = e
        handler: Optional[Callable[[Any], None]]
        if isinstance(e, SwitchTrippedError):
            handler = self._on_trip
            _log.error("tradeward dead-man's switch tripped; heartbeats stopped: %s", e.message)
        else:
            handler = self._on_error
            _log.error("tradeward heartbeats stopped: %s", e)
        if handler is not None:
            try:
                handler(e)
            except Exception:  # noqa: BLE001 - the error stays available to check()
                _log.exception("tradeward heartbeat: handler raised")
