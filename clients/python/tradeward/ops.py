"""The bot operations as data: for each, the op name, its parameters and how
its result decodes. ``Client`` and ``aio.AsyncClient`` both send these, so
the two clients build the same requests and return the same objects.

Every builder checks what the client can check without guessing (bytes are
bytes, decimals are not floats) and leaves the rest to the agent, so the
client never disagrees with the agent about what is acceptable.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, TypeVar, Union

from .errors import ProtocolError
from .results import (
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
    _decimal_text,
    decode,
    to_hex,
)

__all__ = ["Op"]

T = TypeVar("T")


@dataclass(frozen=True)
class Op(Generic[T]):
    """One request: ``op`` with ``params``; ``decode`` turns its result into
    the helper's return value."""

    op: str
    params: Dict[str, Any]
    decode: Callable[[JSONObject], T]


def _as_bytes(name: str, value: Any) -> bytes:
    # Refuse str explicitly: silently encoding text would sign something other
    # than what the caller meant (UTF-8? Latin-1? hex?).
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


def _action_dict(action: Mapping[str, Any]) -> Dict[str, Any]:
    # json.dumps takes dicts, not any Mapping. Key order is kept, though
    # the agent does not depend on it: it re-encodes the action anyway.
    if not isinstance(action, Mapping):
        raise TypeError(f"action must be a mapping, not {type(action).__name__}")
    return dict(action)


def _typed(build: Callable[[JSONObject], T], what: str) -> Callable[[JSONObject], T]:
    return lambda result: decode(build, result, what)


def hello(client_name: str) -> Op[HelloInfo]:
    return Op("hello", {"client": client_name}, _typed(HelloInfo.from_result, "hello"))


def ping() -> Op[JSONObject]:
    def check(result: JSONObject) -> JSONObject:
        if result.get("pong") is not True:
            raise ProtocolError(f"unexpected ping result {result!r}")
        return result

    return Op("ping", {}, check)


def list_keys() -> Op[List[KeyInfo]]:
    def build(result: JSONObject) -> List[KeyInfo]:
        keys = result.get("keys")
        if not isinstance(keys, list):
            raise ProtocolError("list_keys result has no key list")
        return [decode(KeyInfo.from_result, k, "list_keys") for k in keys]

    return Op("list_keys", {}, build)


def sign_message(key: str, message: bytes, scheme: Optional[str] = None, format: Optional[str] = None) -> Op[Signature]:
    params: Dict[str, Any] = {"key": key, "message": to_hex(_as_bytes("message", message))}
    if scheme is not None:
        params["scheme"] = scheme
    if format is not None:
        params["format"] = format
    return Op("sign", params, _typed(Signature.from_result, "sign"))


def sign_digest(key: str, digest: bytes) -> Op[Signature]:
    params = {"key": key, "digest": to_hex(_as_bytes("digest", digest))}
    return Op("sign", params, _typed(Signature.from_result, "sign"))


def sign_l1_action(
    key: str,
    action: Mapping[str, Any],
    *,
    nonce: Optional[int],
    vault_address: Optional[str],
    expires_after: Optional[int],
    is_mainnet: bool,
) -> Op[HyperliquidSignedAction]:
    params: Dict[str, Any] = {"key": key, "action": _action_dict(action), "is_mainnet": is_mainnet}
    if nonce is not None:
        params["nonce"] = nonce
    if vault_address is not None:
        params["vault_address"] = vault_address
    if expires_after is not None:
        params["expires_after"] = expires_after
    op = "hyperliquid.sign_l1_action"
    return Op(op, params, _typed(HyperliquidSignedAction.from_result, op))


def sign_user_action(key: str, action: Mapping[str, Any], *, is_mainnet: bool) -> Op[HyperliquidSignedAction]:
    params = {"key": key, "action": _action_dict(action), "is_mainnet": is_mainnet}
    op = "hyperliquid.sign_user_action"
    return Op(op, params, _typed(HyperliquidSignedAction.from_result, op))


def rest_sign_request(
    key: str, venue: str, method: str, path: str, params: Union[Mapping[str, Any], str, None] = None
) -> Op[RestSignedRequest]:
    p: Dict[str, Any] = {"key": key, "venue": venue, "method": method, "path": path}
    if params is not None:
        if isinstance(params, str):
            p["params"] = params
        elif isinstance(params, Mapping):
            p["params"] = dict(params)
        else:
            raise TypeError(f"params must be a mapping or a query string, not {type(params).__name__}")
    op = "rest.sign_request"
    return Op(op, p, _typed(RestSignedRequest.from_result, op))


def venue_sign_request(
    key: str, venue: str, method: str, path: str, params: Union[Mapping[str, Any], List[Any], None] = None
) -> Op[VenueSignedRequest]:
    if venue not in ("okx", "bybit"):
        raise ValueError(f"venue must be 'okx' or 'bybit' (Binance: rest_sign_request), not {venue!r}")
    p: Dict[str, Any] = {"key": key, "venue": venue, "method": method, "path": path}
    if params is not None:
        if not isinstance(params, (Mapping, list)):
            raise TypeError(f"params must be a mapping (or a list for a batch), not {type(params).__name__}")
        p["params"] = dict(params) if isinstance(params, Mapping) else list(params)
    op = "rest.sign_request"
    return Op(op, p, _typed(VenueSignedRequest.from_result, op))


def binance_ws_sign_request(key: str, method: str, params: Mapping[str, Any]) -> Op[WsSignedRequest]:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping, not {type(params).__name__}")
    p = {"key": key, "venue": "binance", "transport": "ws", "method": method, "params": dict(params)}
    op = "rest.sign_request"
    return Op(op, p, _typed(WsSignedRequest.from_result, op))


def price_update(symbol: str, price: Union[str, int, Decimal]) -> Op[PriceUpdate]:
    params = {"symbol": symbol, "price": _decimal_text("price", price)}
    return Op("price.update", params, _typed(PriceUpdate.from_result, "price.update"))


def order_report(key: str, client_id: Optional[str] = None, oid: Optional[int] = None) -> Op[OrderReport]:
    params: Dict[str, Any] = {"key": key}
    if client_id is not None:
        params["client_id"] = client_id
    if oid is not None:
        params["oid"] = oid
    return Op("order.report", params, _typed(OrderReport.from_result, "order.report"))


def order_open(key: Optional[str] = None) -> Op[List[CountedOrder]]:
    params: Dict[str, Any] = {} if key is None else {"key": key}
    return Op("order.open", params, _typed(CountedOrder.list_from_result, "order.open"))


def position_report(key: str, symbol: str, size: Union[str, int, Decimal]) -> Op[PositionReport]:
    params = {"key": key, "symbol": symbol, "size": _decimal_text("size", size)}
    return Op("position.report", params, _typed(PositionReport.from_result, "position.report"))


def sign_typed_data(key: str, typed_data: Mapping[str, Any]) -> Op[TypedDataSignature]:
    if not isinstance(typed_data, Mapping):
        raise TypeError(f"typed_data must be a mapping, not {type(typed_data).__name__}")
    params = {"key": key, "typed_data": dict(typed_data)}
    op = "eip712.sign_typed_data"
    return Op(op, params, _typed(TypedDataSignature.from_result, op))


def heartbeat(timeout_ms: Optional[int] = None) -> Op[HeartbeatInfo]:
    params: Dict[str, Any] = {}
    if timeout_ms is not None:
        params["timeout_ms"] = timeout_ms
    return Op("heartbeat", params, _typed(HeartbeatInfo.from_result, "heartbeat"))
