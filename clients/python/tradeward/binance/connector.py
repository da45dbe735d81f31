"""binance-connector's ``Spot`` and ``UMFutures``, signing in the agent.

::

    import tradeward
    from tradeward.binance.connector import Spot      # instead of binance.spot.Spot

    agent = tradeward.connect()
    client = Spot(api_key=API_KEY, agent=agent, key="bn")  # no api_secret: it is in the token
    client.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT",
                     timeInForce="GTC", quantity=0.001, price=65000.0)

Every method of the library works as before. Its signed requests
(``sign_request``, ``limited_encoded_sign_request``) go to the agent, which
builds and signs the query string; the library sends the agent's
``signed_query`` with its own session and error handling (``ClientError`` /
``ServerError`` for the venue's refusals; the agent's are
``tradeward.TradewardError``).
"""

from __future__ import annotations

from typing import Any, Optional

from binance.spot import Spot as _Spot

try:  # USD-M futures come in a package of their own, binance-futures-connector
    from binance.um_futures import UMFutures as _UMFutures
except ImportError:  # pragma: no cover - depends on what the bot installed
    _UMFutures = None

from ..client import Client
from . import AgentSigner, require_signer

__all__ = ["Spot", "UMFutures"]


class _AgentSigned:
    """The two signing entry points of binance-connector's ``API``."""

    _tradeward: AgentSigner

    def sign_request(self, http_method: str, url_path: str, payload: Optional[dict] = None, special: bool = False) -> Any:
        signed = self._tradeward.sign(http_method, url_path, (payload or {}).items())
        return self.send_request(http_method, url_path + "?" + signed.signed_query)  # type: ignore[attr-defined]

    def limited_encoded_sign_request(self, http_method: str, url_path: str, payload: Optional[dict] = None) -> Any:
        return self.sign_request(http_method, url_path, payload)


class Spot(_AgentSigned, _Spot):
    """``binance.spot.Spot`` with the API secret in the token: pass
    ``agent=`` (a ``tradeward.Client``) and ``key=`` (the key's alias)
    instead of ``api_secret`` / ``private_key``; every other argument is
    the library's."""

    def __init__(self, api_key: Optional[str] = None, *, agent: Client, key: str, **kwargs: Any) -> None:
        for secret in ("api_secret", "private_key"):
            if kwargs.get(secret) is not None:
                raise ValueError(f"{secret} must not be given: the key is in the agent's token")
        super().__init__(api_key=api_key, **kwargs)
        self._tradeward = require_signer(agent, key)


class UMFutures(_AgentSigned, _UMFutures or object):  # type: ignore[misc]
    """``binance.um_futures.UMFutures`` (package binance-futures-connector)
    with the key in the token (see ``Spot``): ``key`` is the API key, as in
    the library; ``agent_key`` the token key's alias."""

    def __init__(self, key: Optional[str] = None, *, agent: Client, agent_key: str, **kwargs: Any) -> None:
        # UMFutures names the API key "key"; the token key's alias is agent_key.
        if _UMFutures is None:
            raise ImportError("UMFutures needs binance-futures-connector (pip install binance-futures-connector)")
        for secret in ("secret", "private_key"):
            if kwargs.get(secret) is not None:
                raise ValueError(f"{secret} must not be given: the key is in the agent's token")
        super().__init__(key=key, **kwargs)
        self._tradeward = require_signer(agent, agent_key)
