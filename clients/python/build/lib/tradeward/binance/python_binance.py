"""python-binance's ``Client``, signing in the agent.

::

    import tradeward
    from tradeward.binance.python_binance import Client   # instead of binance.client.Client

    agent = tradeward.connect()
    client = Client(API_KEY, agent=agent, key="bn")       # no api_secret: it is in the token
    client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT",
                        timeInForce="GTC", quantity=0.001, price="65000")

Every request the library signs (``signed=True``: orders, account, futures)
goes to the agent, which builds and signs the query string; the library
sends the agent's ``signed_query`` with its own session and answer handling
(``BinanceAPIException`` for the venue's refusals). The ``recvWindow`` is
the key's ``recv_window_ms`` in the agent's config unless a call passes
one; the library's own default (``REQUEST_RECVWINDOW``) is not sent, since
the operator bounds it (``max_recv_window_ms``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from binance.client import Client as _Client

from ..client import Client as AgentClient
from . import require_signer

__all__ = ["Client"]


class Client(_Client):
    """``binance.client.Client`` with the API secret in the token: pass
    ``agent=`` and ``key=`` instead of ``api_secret`` / ``private_key``."""

    def __init__(self, api_key: Optional[str] = None, *args: Any, agent: AgentClient, key: str, **kwargs: Any) -> None:
        if args or kwargs.get("api_secret") is not None or kwargs.get("private_key") is not None:
            raise ValueError("api_secret and private_key must not be given: the key is in the agent's token")
        self._tradeward = require_signer(agent, key)
        super().__init__(api_key, None, **kwargs)

    def _request(self, method: str, uri: str, signed: bool, force_params: bool = False, **kwargs: Any) -> Any:
        if not signed:
            return super()._request(method, uri, signed, force_params, **kwargs)
        data: Dict[str, Any] = dict(kwargs.pop("data", None) or {})
        headers: Dict[str, str] = {}
        extra = data.pop("headers", None)
        if isinstance(extra, dict):
            headers.update(extra)
        requests_params = data.pop("requests_params", None)
        signed_req = self._tradeward.sign(method, urlsplit(uri).path, data.items())
        options: Dict[str, Any] = {"timeout": self.REQUEST_TIMEOUT}
        if self._requests_params:
            options.update(self._requests_params)
        if isinstance(requests_params, dict):
            options.update(requests_params)
        self.response = getattr(self.session, method)(
            uri + "?" + signed_req.signed_query, headers=headers, **options
        )
        return self._handle_response(self.response)
