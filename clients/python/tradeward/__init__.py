"""Client for the tradeward signing agent.

A bot holds no keys. It asks the agent, over a Unix socket, to sign; the agent
decides whether it may and answers with a signature or a structured error::

    import tradeward

    with tradeward.connect() as agent:       # socket from $TRADEWARD_SOCK
        signed = agent.sign_l1_action("hl-main", {
            "type": "order",
            "orders": [{"a": 0, "b": True, "p": "50000", "s": "0.001", "r": False,
                        "t": {"limit": {"tif": "Gtc"}}}],
            "grouping": "na",
        }, is_mainnet=True)
        body = signed.exchange_payload()     # POST to https://api.hyperliquid.xyz/exchange

The core (this package without its drop-ins) is standard library only.
Modules, one concept each:

* ``tradeward.client``: ``Client`` / ``connect``, blocking, reconnecting;
* ``tradeward.aio``: ``AsyncClient`` / ``aio.connect``, the same for asyncio;
* ``tradeward.heartbeat``: ``Heartbeater`` (``aio.AsyncHeartbeater``);
* ``tradeward.errors``, ``tradeward.results``: what calls raise and return;
* ``tradeward.connection``, ``tradeward.framing``, ``tradeward.backoff``:
  the transport underneath;
* ``tradeward.hyperliquid_orders``: open-order tracking, reports and
  reconciliation for Hyperliquid bots (standard library);
* drop-ins, each importing its venue library: ``tradeward.hyperliquid``
  (hyperliquid-python-sdk), ``tradeward.binance`` (binance-sdk-spot,
  binance-connector, python-binance), ``tradeward.ccxt`` (ccxt).
"""

from .backoff import NO_RECONNECT, Reconnect
from .client import Client, connect
from .connection import Connection
from .errors import (
    AgentUnavailableError,
    AnswerLostError,
    ClientError,
    ConnectionClosedError,
    ProtocolError,
    RequestTooLargeError,
    ResponseTimeout,
    SwitchTrippedError,
    TornFrameError,
    TradewardError,
    UnexpectedResponseError,
)
from .framing import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, PROTOCOL_VERSION, SOCK_ENV
from .heartbeat import Heartbeater
from .results import (
    DEFAULT_MAX_REQUEST_BYTES,
    HeartbeatInfo,
    HelloInfo,
    HyperliquidSignedAction,
    KeyInfo,
    CountedOrder,
    VenueSignedRequest,
    WsSignedRequest,
    OrderReport,
    PositionReport,
    PriceUpdate,
    Response,
    RestSignedRequest,
    ScheduleCancel,
    Signature,
    TypedDataSignature,
    from_hex,
    to_hex,
)

__version__ = "0.2.0"

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
    "UnexpectedResponseError",
    "ConnectionClosedError",
    "AnswerLostError",
    "TornFrameError",
    "AgentUnavailableError",
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
    "CountedOrder",
    "VenueSignedRequest",
    "WsSignedRequest",
    "PositionReport",
    "TypedDataSignature",
    "Reconnect",
    "NO_RECONNECT",
    "Connection",
    "Client",
    "Heartbeater",
    "connect",
    "to_hex",
    "from_hex",
]
