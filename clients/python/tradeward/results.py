"""What the agent's answers decode into: one small frozen dataclass per
result, each with ``from_result`` and the undecoded answer in ``raw``; and
the protocol's hex convention (``to_hex`` / ``from_hex``).

A result that lacks a field or holds bad hex is the agent's fault, not the
caller's: ``decode`` reports it as a ``ProtocolError`` rather than a
``KeyError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar, Union

from .errors import ClientError, ProtocolError, TradewardError

__all__ = [
    "JSONObject",
    "DEFAULT_MAX_REQUEST_BYTES",
    "Response",
    "HelloInfo",
    "KeyInfo",
    "Signature",
    "HyperliquidSignedAction",
    "ScheduleCancel",
    "HeartbeatInfo",
    "RestSignedRequest",
    "PriceUpdate",
    "OrderReport",
    "CountedOrder",
    "VenueSignedRequest",
    "WsSignedRequest",
    "PositionReport",
    "TypedDataSignature",
    "to_hex",
    "from_hex",
    "decode",
]

JSONObject = Dict[str, Any]

#: The agent's default maximum frame size. A larger request makes the agent
#: close the connection, taking every other in-flight request with it, so the
#: client refuses such a request before sending it. ``hello()`` replaces this
#: with the limit the agent actually reports.
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024


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
class VenueSignedRequest:
    """An OKX or Bybit v5 request the agent parsed, judged and signed.

    Send ``method`` to ``host + target`` with exactly these ``headers`` and
    ``body`` (byte for byte; ``None`` for a GET, whose query is in
    ``target``). ``body`` is the agent's canonical JSON: it is what was
    signed and may differ in spacing or field order from what the bot
    sent. ``prehash`` is the signed text, ``raw`` the undecoded result.
    """

    key: str
    venue: str
    method: str
    target: str
    body: Optional[str]
    headers: Dict[str, str]
    timestamp: str
    prehash: str
    signature: str
    raw: JSONObject

    def url(self, host: str) -> str:
        """``host`` + the signed path (and query), e.g. with
        ``https://www.okx.com`` or ``https://api.bybit.com``."""
        return host.rstrip("/") + self.target

    @classmethod
    def from_result(cls, r: JSONObject) -> "VenueSignedRequest":
        venue = _as_str(r["venue"], "venue")
        method = _as_str(r["method"], "method")
        headers = r["headers"]
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise TypeError(f"headers must be an object of strings, got {headers!r}")
        if venue == "okx":
            target = _as_str(r["request_path"], "request_path")
            body = r.get("body") or None
        elif venue == "bybit":
            payload = _as_str(r["payload"], "payload")
            path = _as_str(r["path"], "path")
            if method == "GET":
                target, body = (path + "?" + payload if payload else path), None
            else:
                target, body = path, payload
        else:
            raise ValueError(f"not an OKX or Bybit result: venue {venue!r}")
        if body is not None and not isinstance(body, str):
            raise TypeError(f"body must be a string, got {body!r}")
        return cls(
            key=_as_str(r["key"], "key"),
            venue=venue,
            method=method,
            target=target,
            body=body,
            headers=dict(headers),
            timestamp=str(r["timestamp"]),
            prehash=_as_str(r["prehash"], "prehash"),
            signature=_as_str(r["signature"], "signature"),
            raw=r,
        )


@dataclass(frozen=True)
class WsSignedRequest:
    """A Binance WebSocket API request the agent parsed, judged and signed:
    send ``{"id": ..., "method": method, "params": params}`` on the
    connection. ``params`` carries the agent's ``timestamp`` and the
    ``signature``; ``payload`` is the signed text."""

    key: str
    method: str
    params: Dict[str, Any]
    payload: str
    signature: str
    raw: JSONObject

    def request(self, request_id: Any) -> JSONObject:
        """The WebSocket API request object to send (as JSON)."""
        return {"id": request_id, "method": self.method, "params": dict(self.params)}

    @classmethod
    def from_result(cls, r: JSONObject) -> "WsSignedRequest":
        params = r["params"]
        if not isinstance(params, dict):
            raise TypeError(f"params must be an object, got {params!r}")
        return cls(
            key=_as_str(r["key"], "key"),
            method=_as_str(r["method"], "method"),
            params=dict(params),
            payload=_as_str(r["payload"], "payload"),
            signature=_as_str(r["signature"], "signature"),
            raw=r,
        )


@dataclass(frozen=True)
class CountedOrder:
    """One order the agent counts as open for the caller (``order.open``):
    signed for it, not reported closed, within its TTL."""

    key: str
    symbol: str
    client_id: Optional[str]
    notional: str
    placed_ms: int
    expires_ms: int

    @classmethod
    def from_json(cls, o: JSONObject) -> "CountedOrder":
        cid = o.get("client_id")
        if cid is not None and not isinstance(cid, str):
            raise TypeError(f"client_id must be a string or null, got {cid!r}")
        return cls(
            key=_as_str(o["key"], "key"),
            symbol=_as_str(o["symbol"], "symbol"),
            client_id=cid,
            notional=_as_str(o["notional"], "notional"),
            placed_ms=_as_uint(o["placed_ms"], "placed_ms"),
            expires_ms=_as_uint(o["expires_ms"], "expires_ms"),
        )

    @staticmethod
    def list_from_result(r: JSONObject) -> List["CountedOrder"]:
        orders = r["orders"]
        if not isinstance(orders, list):
            raise TypeError(f"orders must be a list, got {orders!r}")
        return [CountedOrder.from_json(o) for o in orders]


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


_T = TypeVar("_T")


def decode(build: Callable[[JSONObject], _T], obj: Any, what: str) -> _T:
    """Build a result object, turning a malformed answer into a
    ``ProtocolError`` that names the operation."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what}: expected an object, got {obj!r}")
    try:
        return build(obj)
    except (KeyError, TypeError, ValueError) as e:
        raise ProtocolError(f"{what}: malformed result from the agent ({e!r}): {obj!r}") from None
