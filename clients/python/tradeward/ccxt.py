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
endpoints the agent decodes, see docs/rest.md) and ``hyperliquid``.

ccxt signs Hyperliquid actions outside ``sign``, in ``sign_l1_action`` and
``sign_user_signed_action``; ``hyperliquid`` overrides those two. The agent
parses, judges and re-encodes the action, and the class writes the agent's
canonical action back into the dict ccxt is about to post, so ccxt posts
exactly what was signed. ccxt's own builder fee (an ``approveBuilderFee``
on first use and a ``builder`` field on every order, on by default) is
switched off: the agent's policy judges any fee an order pays, and a bot
that wants a builder sets it with the venue SDK under a fee allowance
(docs/policy.md).

::

    from tradeward.ccxt import hyperliquid        # instead of ccxt.hyperliquid

    exchange = hyperliquid({"tradeward": {"agent": agent, "key": "hl"}})
    exchange.create_order("BTC/USDC:USDC", "limit", "buy", 0.001, 65000)

docs/clients.md says more.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union
from urllib.parse import urlsplit

import ccxt as _ccxt

from .binance import AgentSigner, require_signer

from .client import Client
from .errors import ClientError

__all__ = ["binance", "hyperliquid"]

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


# ccxt's user-signed actions by their EIP-712 primary type, and the action
# type the agent parses them as.
_USER_ACTIONS = {
    "HyperliquidTransaction:UsdSend": "usdSend",
    "HyperliquidTransaction:SpotSend": "spotSend",
    "HyperliquidTransaction:Withdraw": "withdraw3",
    "HyperliquidTransaction:UsdClassTransfer": "usdClassTransfer",
    "HyperliquidTransaction:SendAsset": "sendAsset",
    "HyperliquidTransaction:ApproveAgent": "approveAgent",
    "HyperliquidTransaction:ApproveBuilderFee": "approveBuilderFee",
}

# The chain id ccxt signs user actions under (Arbitrum Sepolia's, as the
# venue's own SDK does), as the action's ``signatureChainId``.
_SIGNATURE_CHAIN_ID = "0x66eee"


class hyperliquid(_ccxt.hyperliquid):  # noqa: N801 - ccxt's own naming
    """``ccxt.hyperliquid`` signing in the agent. Give ``"tradeward":
    {"agent": <tradeward.Client>, "key": "<alias>"}`` and no
    ``privateKey``. ``walletAddress`` (the account ccxt queries and trades
    for) defaults to the key's own address; set it to the master account's
    when the key is an API wallet approved for it."""

    def __init__(self, config: Optional[Dict[str, Any]] = None) -> None:
        config = dict(config or {})
        tw = config.pop("tradeward", None)
        if not isinstance(tw, dict):
            raise ValueError('tradeward.ccxt.hyperliquid needs "tradeward": {"agent": ..., "key": ...} in its config')
        if config.get("privateKey") or config.get("secret"):
            raise ValueError("privateKey must not be given: the key is in the agent's token")
        agent, key = tw.get("agent"), tw.get("key")
        if not isinstance(agent, Client) or not isinstance(key, str):
            raise ClientError("tradeward.ccxt.hyperliquid needs agent= (a tradeward Client) and key= (the key's alias)")
        if not config.get("walletAddress"):
            address = next((k.address for k in agent.list_keys() if k.alias == key), None)
            if address is None:
                raise ClientError(f"the agent serves no key {key!r} with an address to this identity")
            config["walletAddress"] = address
        options = dict(config.get("options") or {})
        # No builder: not approved, not attached (see the module's notes).
        options["builderFee"] = False
        options["approvedBuilderFee"] = False
        config["options"] = options
        super().__init__(config)
        self.requiredCredentials = dict(self.requiredCredentials, privateKey=False)
        self.tradeward_agent: Client = agent
        self.tradeward_key: str = key

    def handle_builder_fee_approval(self) -> bool:
        """Never approve ccxt's builder: the agent judges fees."""
        return True

    def _is_mainnet(self) -> bool:
        return not self.safe_bool(self.options, "sandboxMode", False)

    def sign_l1_action(
        self, action: Any, nonce: Any, vaultAdress: Optional[str] = None, expiresAfter: Optional[int] = None
    ) -> Dict[str, Any]:
        signed = self.tradeward_agent.sign_l1_action(
            self.tradeward_key,
            action,
            nonce=int(nonce),
            vault_address=vaultAdress,
            expires_after=expiresAfter,
            is_mainnet=self._is_mainnet(),
        )
        # ccxt posts the dict it passed in: make it the action that was
        # signed (the agent's canonical spelling and key order).
        action.clear()
        action.update(signed.action)
        return dict(signed.signature)

    def sign_user_signed_action(self, messageTypes: Dict[str, Any], message: Dict[str, Any]) -> Dict[str, Any]:
        primary = next(iter(messageTypes), None)
        kind = _USER_ACTIONS.get(str(primary))
        if kind is None:
            raise ClientError(f"tradeward.ccxt.hyperliquid does not sign {primary!r} actions")
        action = {"type": kind, "signatureChainId": _SIGNATURE_CHAIN_ID, **message}
        signed = self.tradeward_agent.sign_user_action(self.tradeward_key, action, is_mainnet=self._is_mainnet())
        # ccxt builds the posted action from ``message`` after signing.
        for name in list(message):
            if name in signed.action:
                message[name] = signed.action[name]
        return dict(signed.signature)
