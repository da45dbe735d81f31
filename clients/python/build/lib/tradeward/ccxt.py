"""ccxt exchange classes whose request signing asks the agent.

ccxt builds every request in one overridable method, ``sign(path, api,
method, params, headers, body)``. The classes here override it for the
private APIs: the agent builds and signs the query string with the API key
in the token, and ccxt sends the result with its own HTTP code and error
mapping. Public (market data) requests are ccxt's own.

::

    import tradeward
    from tradeward.ccxt import binance            # instead of ccxt.binance

    agent = tradeward.connect()
    exchange = binance({"apiKey": API_KEY, "tradeward": {"agent": agent, "key": "bn"}})
    exchange.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                 "timeInForce": "GTC", "quantity": "0.001", "price": "65000"})

Supported: ``binance`` (spot ``private`` and USD-M ``fapiPrivate`` APIs: the
endpoints the agent decodes, see docs/rest.md). Hyperliquid through ccxt is
not supported: ccxt signs Hyperliquid actions outside ``sign`` and adds a
builder fee of its own to orders by default; use ``tradeward.hyperliquid``
with the official SDK instead.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union
from urllib.parse import urlsplit

import ccxt as _ccxt

from .binance import AgentSigner, require_signer

__all__ = ["binance"]

# The binance APIs whose requests the agent signs (the spot and USD-M
# futures order endpoints, transfers, and read-only endpoints the key's
# allowlist names).
_AGENT_SIGNED = frozenset({"private", "fapiPrivate", "fapiPrivateV2", "fapiPrivateV3", "sapi", "sapiV2", "sapiV3"})


class binance(_ccxt.binance):  # noqa: N801 - ccxt's own naming
    """``ccxt.binance`` signing in the agent. Give ``"tradeward": {"agent":
    <tradeward.Client>, "key": "<alias>"}`` in the config, and ``apiKey``
    (sent in the ``X-MBX-APIKEY`` header) but no ``secret``."""

    def __init__(self, config: Optional[Dict[str, Any]] = None) -> None:
        config = dict(config or {})
        tw = config.pop("tradeward", None)
        if not isinstance(tw, dict):
            raise ValueError('tradeward.ccxt.binance needs "tradeward": {"agent": ..., "key": ...} in its config')
        if config.get("secret") or config.get("privateKey"):
            raise ValueError("secret must not be given: the key is in the agent's token")
        super().__init__(config)
        self.tradeward: AgentSigner = require_signer(tw.get("agent"), tw.get("key"))

    def sign(
        self,
        path: str,
        api: Union[str, List[str]] = "public",
        method: str = "GET",
        params: Optional[Dict[str, Any]] = None,
        headers: Any = None,
        body: Any = None,
    ) -> Dict[str, Any]:
        params = dict(params or {})
        api_name = api[0] if isinstance(api, list) else api
        if api_name not in _AGENT_SIGNED or (api_name == "sapi" and path == "system/status"):
            return super().sign(path, api, method, params, headers, body)  # type: ignore[no-any-return]
        base = self.safe_string(self.urls["api"], api_name)
        url = base + "/" + path
        request = self.handle_client_order_id(params, api_name, path, method)
        # ccxt's default recvWindow option is not sent: the key's
        # recv_window_ms in the agent's config applies unless a call passes
        # recvWindow itself (bounded by max_recv_window_ms).
        signed = self.tradeward.sign(method, urlsplit(url).path, request.items())
        return {
            "url": url + "?" + signed.signed_query,
            "method": method,
            "body": None,
            "headers": {"X-MBX-APIKEY": self.apiKey},
        }
