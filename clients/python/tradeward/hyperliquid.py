"""Keep using the official Hyperliquid Python SDK, with the key in tradeward.

A bot written against ``hyperliquid.exchange.Exchange`` keeps its code; only
the construction changes::

    import tradeward
    from tradeward.hyperliquid import agent_exchange
    from hyperliquid.utils import constants

    agent = tradeward.connect()                        # $TRADEWARD_SOCK
    exchange = agent_exchange(agent, "hl-main", constants.MAINNET_API_URL)
    exchange.order("BTC", True, 0.001, 50000.0, {"limit": {"tif": "Gtc"}})

``agent_exchange`` builds an ``AgentExchange``: an ``Exchange`` whose wallet
is an ``AgentWallet``, a stand-in that carries the key's address and nothing
secret. Every ``Exchange`` method still builds its action, nonce and request
body itself; only the signing call goes to the agent, which parses and
judges the action, re-encodes it, signs its own encoding in the token and
returns it. The drop-in checks that the agent's canonical action is exactly
the one the SDK built and is about to post, and raises
``CanonicalMismatchError`` otherwise.

What ``AgentExchange`` adds to the SDK (each documented in
docs/hyperliquid.md#the-drop-in-for-the-official-sdk):

* **Cloids.** Every order the SDK sends without a client order id gets a
  fresh random cloid (``0x`` + 32 hex digits) before it is signed, so the
  agent can be told when it closes (``assign_cloids=False`` turns this
  off).
* **Reports.** The venue's answers to orders, modifies and cancels are read
  as the SDK returns them: filled, cancelled and rejected orders are
  reported closed to the agent (``order.report``), and orders that were
  signed but never posted too. ``exchange.orders`` (an
  ``OpenOrders``) also reconciles with ``openOrders`` / ``userFills``.
* **Key rotation.** When the agent signs with another address than the
  wallet holds (an operator ran ``tradeward keys rotate``), the wallet
  re-reads the key's address from the agent, switches to it, logs a
  warning and calls ``on_key_rotated(old, new)``.
* **Error dicts** (opt-in, ``error_dicts=True``): an agent refusal or a
  transport failure inside an ``Exchange`` method returns
  ``{"status": "err", "response": "<code>: <message>", "tradeward": {...}}``
  as the venue's own errors look, instead of raising.
* ``approve_agent_wallet``: approve the token key's address as an API
  wallet, signed by the master account.

This module imports the SDK; the rest of ``tradeward`` stays standard
library only.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

import hyperliquid.exchange as _sdk_exchange
from hyperliquid.utils import signing as _sdk_signing

from .client import Client
from .errors import AnswerLostError, ClientError, TradewardError
from .hyperliquid_orders import OpenOrders
from .results import HyperliquidSignedAction

__all__ = [
    "AgentWallet",
    "AgentExchange",
    "SignerError",
    "CanonicalMismatchError",
    "UnsupportedActionError",
    "agent_exchange",
    "approve_agent_wallet",
    "error_dict",
    "install",
    "uninstall",
    "installed",
    "SIGNATURE_CHAIN_ID",
]

_log = logging.getLogger("tradeward.hyperliquid")

#: The ``signatureChainId`` the SDK puts into user-signed actions.
SIGNATURE_CHAIN_ID = "0x66eee"

_L1_PARAMS = ["wallet", "action", "active_pool", "nonce", "expires_after", "is_mainnet"]
_USER_PARAMS = ["wallet", "action", "is_mainnet"]

# Functions in hyperliquid.exchange that sign a user-signed action as
# f(wallet, action, is_mainnet). They go to the agent's user-action
# operation, which signs the types it parses and the policy allows and
# refuses the rest (so the refusal is the agent's, and on its journal).
_USER_SIGNERS = frozenset(
    {
        "sign_usd_transfer_action",
        "sign_spot_transfer_action",
        "sign_withdraw_from_bridge_action",
        "sign_usd_class_transfer_action",
        "sign_agent",
        "sign_approve_builder_fee",
        "sign_send_asset_action",
        "sign_token_delegate_action",
        "sign_convert_to_multi_sig_user_action",
        "sign_user_dex_abstraction_action",
        "sign_user_set_abstraction_action",
    }
)

_ORIGINAL_ATTR = "__tradeward_original__"


class SignerError(ClientError):
    """The drop-in signer refused to hand a signature to the SDK."""


class CanonicalMismatchError(SignerError):
    """The agent signed a different encoding of the action (or another
    nonce, vault or expiry) than the SDK built and would post. Posting the
    SDK's body would fail at the venue, so nothing is returned to the SDK.

    ``sdk_action`` and ``signed`` hold both sides. Typical causes: a price or
    size the SDK spelled differently from the canonical form, an upper-case
    cloid, or a key order the SDK changed. Post ``signed.exchange_payload()``
    with your own HTTP code, or build the action so that it is canonical.
    """

    def __init__(self, message: str, sdk_action: Any, signed: HyperliquidSignedAction) -> None:
        super().__init__(message)
        self.sdk_action = sdk_action
        self.signed = signed


class UnsupportedActionError(SignerError):
    """The SDK asked for a kind of signature the agent does not make
    (multi-sig, or a signing function this module does not know)."""


def _canonical_text(value: Any) -> str:
    # Key order matters: the venue hashes the msgpack of the action in the
    # order its keys arrive, so compare the ordered encodings.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _same_address(a: Optional[str], b: Optional[str]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.lower() == b.lower()


class AgentWallet:
    """A stand-in for ``eth_account``'s ``LocalAccount`` that holds no key.

    ``address`` is the key's address (from the agent's ``list_keys`` unless
    given); ``agent_key`` is the key's alias or PKCS#11 URI in the agent.
    ``verify=True`` also recovers every L1 signature with the SDK's own
    ``recover_agent_or_user_from_l1_action`` before handing it over (a few
    milliseconds in pure Python; the canonical comparison alone already
    guarantees the posted body is what was signed).

    ``orders`` is the ``OpenOrders`` that tracks what this wallet signs
    (``None``: no tracking, no cloids assigned). ``on_key_rotated(old,
    new)`` is called when the wallet follows a key rotation.

    The wallet may be shared between threads, as its ``Client`` may.
    """

    def __init__(
        self,
        client: Client,
        key: str,
        *,
        address: Optional[str] = None,
        verify: bool = False,
        orders: Optional[OpenOrders] = None,
        assign_cloids: bool = True,
        on_key_rotated: Optional[Callable[[str, str], None]] = None,
    ) -> None:
        self.client = client
        self.agent_key = key
        self.verify = verify
        self.orders = orders
        self.assign_cloids = assign_cloids and orders is not None
        self.on_key_rotated = on_key_rotated
        self.address: str = address if address is not None else _address_of(client, key)
        self._address_given = address is not None

    def __repr__(self) -> str:
        return f"AgentWallet(key={self.agent_key!r}, address={self.address!r})"

    def sign_message(self, *args: Any, **kwargs: Any) -> Any:
        """Always raises: the key lives in the agent, which signs only the
        actions it parses and judges. Use an ``Exchange`` method (routed by
        ``install()``) or ``Client.sign_l1_action``."""
        raise UnsupportedActionError(
            f"{self!r} cannot sign arbitrary messages: the key stays in the agent, which signs "
            "only Hyperliquid actions it parses (see tradeward.hyperliquid.install)"
        )

    # -- what the routers call ---------------------------------------------------

    def sign_l1_action(
        self,
        action: Dict[str, Any],
        vault_address: Optional[str],
        nonce: int,
        expires_after: Optional[int],
        is_mainnet: bool,
    ) -> Dict[str, Any]:
        """Sign an L1 action the SDK built; return the SDK-shaped signature.
        Orders without a cloid get one first (in the SDK's own dict, which
        is what it posts)."""
        if self.assign_cloids and self.orders is not None:
            self.orders.assign_cloids(action)
        try:
            signed = self.client.sign_l1_action(
                self.agent_key,
                action,
                nonce=nonce,
                vault_address=vault_address,
                expires_after=expires_after,
                is_mainnet=is_mainnet,
            )
        except AnswerLostError:
            # The agent may have signed (and now counts) its orders, but the
            # signature never reached us, so they can never be posted.
            self._not_posted(action)
            raise
        if self.orders is not None:
            self.orders.signed(signed.action, signed.nonce)
        try:
            self._check(action, signed)
            problems: List[str] = []
            if signed.nonce != nonce:
                problems.append(f"nonce {signed.nonce} instead of {nonce}")
            if not _same_address(signed.vault_address, vault_address):
                problems.append(f"vault {signed.vault_address} instead of {vault_address}")
            if signed.expires_after != expires_after:
                problems.append(f"expires_after {signed.expires_after} instead of {expires_after}")
            if problems:
                raise CanonicalMismatchError(
                    "the agent signed a different context than the SDK will post: " + "; ".join(problems),
                    action,
                    signed,
                )
            if self.verify:
                recovered = _sdk_signing.recover_agent_or_user_from_l1_action(
                    action, signed.signature, vault_address, nonce, expires_after, is_mainnet
                )
                if not _same_address(recovered, self.address):
                    raise SignerError(
                        f"the SDK recovers {recovered} from the agent's signature, not {self.address}"
                    )
        except SignerError:
            self._not_posted(signed.action)
            raise
        return dict(signed.signature)

    def _not_posted(self, action: Dict[str, Any]) -> None:
        if self.orders is not None:
            self.orders.not_posted(action)

    def sign_user_action(self, action: Dict[str, Any], is_mainnet: bool) -> Dict[str, Any]:
        """Sign a user-signed action the SDK built; return the SDK-shaped
        signature. Like the SDK's own signing functions, this sets the
        action's ``signatureChainId`` and ``hyperliquidChain`` fields, which
        the SDK then posts with it."""
        action["signatureChainId"] = SIGNATURE_CHAIN_ID
        action["hyperliquidChain"] = "Mainnet" if is_mainnet else "Testnet"
        signed = self.client.sign_user_action(self.agent_key, action, is_mainnet=is_mainnet)
        self._check(action, signed)
        return dict(signed.signature)

    def _check(self, sdk_action: Any, signed: HyperliquidSignedAction) -> None:
        if not _same_address(signed.address, self.address):
            self._follow_rotation(signed)
        sdk_text, agent_text = _canonical_text(sdk_action), _canonical_text(signed.action)
        if sdk_text != agent_text:
            raise CanonicalMismatchError(
                "the agent's canonical action differs from the one the SDK would post, so the "
                "venue would not accept the signature for it; nothing was returned to the SDK.\n"
                f"  SDK:   {sdk_text}\n  agent: {agent_text}",
                sdk_action,
                signed,
            )

    def _follow_rotation(self, signed: HyperliquidSignedAction) -> None:
        """The agent signed with another address: if the agent's key list
        confirms the key now has that address (a rotation), switch to it;
        otherwise refuse."""
        old = self.address
        try:
            current = _address_of(self.client, self.agent_key)
        except SignerError as e:
            raise SignerError(
                f"the agent signed with {signed.address} (key {signed.key!r}), but this wallet stands "
                f"for {old}, and the key's current address cannot be read: {e}"
            ) from e
        if not _same_address(current, signed.address):
            raise SignerError(
                f"the agent signed with {signed.address} (key {signed.key!r}), but this wallet stands "
                f"for {old} and the agent lists the key's address as {current}"
            )
        self.address = current
        _log.warning(
            "tradeward: key %r was rotated: its address changed from %s to %s; the venue accepts "
            "orders from the new address only once the account approves it as an API wallet "
            "(tradeward.hyperliquid.approve_agent_wallet)",
            self.agent_key,
            old,
            current,
        )
        if self.on_key_rotated is not None:
            self.on_key_rotated(old, current)


def _address_of(client: Client, key: str) -> str:
    try:
        keys = client.list_keys()
    except ClientError as e:
        raise SignerError(
            f"cannot learn the address of key {key!r} from the agent ({e}); "
            "pass address=... or grant the identity list_keys"
        ) from e
    for k in keys:
        if key in (k.alias, k.uri):
            if k.type != "secp256k1" or not k.address:
                raise SignerError(f"key {key!r} is a {k.type} key; Hyperliquid needs secp256k1")
            return k.address
    raise SignerError(f"the agent lists no key {key!r} for this identity; pass address=... for a URI")


# Routing the SDK's signing calls
# --------------------------------------------------------------------------

_lock = threading.Lock()
_originals: Dict[str, Callable[..., Any]] = {}


def _parameters(fn: Callable[..., Any]) -> List[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _router(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    params = _parameters(original)
    signature = inspect.signature(original) if params else None

    def bind(wallet: Any, args: Any, kwargs: Any) -> Dict[str, Any]:
        assert signature is not None
        return dict(signature.bind(wallet, *args, **kwargs).arguments)

    if name == "sign_l1_action":

        def route(wallet: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(wallet, AgentWallet):
                return original(wallet, *args, **kwargs)
            a = bind(wallet, args, kwargs)
            return wallet.sign_l1_action(
                a["action"], a["active_pool"], a["nonce"], a["expires_after"], a["is_mainnet"]
            )

    elif name in _USER_SIGNERS and params == _USER_PARAMS:

        def route(wallet: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(wallet, AgentWallet):
                return original(wallet, *args, **kwargs)
            a = bind(wallet, args, kwargs)
            return wallet.sign_user_action(a["action"], a["is_mainnet"])

    else:

        def route(wallet: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(wallet, AgentWallet):
                return original(wallet, *args, **kwargs)
            raise UnsupportedActionError(
                f"the SDK called {name}, which the agent has no operation for; nothing was signed"
            )

    functools.update_wrapper(route, original)
    setattr(route, _ORIGINAL_ATTR, original)
    return route


def install() -> None:
    """Route the SDK's signing calls for ``AgentWallet`` wallets to the agent
    (see the module documentation). Idempotent; thread-safe."""
    with _lock:
        if _originals:
            return
        names = sorted(
            n
            for n, v in vars(_sdk_exchange).items()
            if n.startswith("sign_") and callable(v) and not hasattr(v, _ORIGINAL_ATTR)
        )
        l1 = getattr(_sdk_exchange, "sign_l1_action", None)
        if l1 is None or _parameters(l1) != _L1_PARAMS:
            raise RuntimeError(
                "hyperliquid.exchange.sign_l1_action is missing or has unexpected parameters "
                f"({_parameters(l1) if l1 else None}); this SDK version is not supported"
            )
        for n in names:
            # A user-signed function whose parameters are not the expected
            # ones is routed as unsupported rather than guessed at.
            original = getattr(_sdk_exchange, n)
            _originals[n] = original
            setattr(_sdk_exchange, n, _router(n, original))


def uninstall() -> None:
    """Put the SDK's own signing functions back into ``hyperliquid.exchange``."""
    with _lock:
        for n, original in _originals.items():
            setattr(_sdk_exchange, n, original)
        _originals.clear()


def installed() -> bool:
    """Whether the signing calls are currently routed."""
    with _lock:
        return bool(_originals)



# The venue's answer to these is read for open-order reports.
_REPORTED_ACTIONS = frozenset({"order", "batchModify", "cancel", "cancelByCloid"})


def error_dict(e: ClientError) -> Dict[str, Any]:
    """An error in the shape of the venue's own refusals, as the SDK returns
    them: ``{"status": "err", "response": "<code>: <message>"}``, plus
    ``"tradeward"``: the agent's structured error (``code``, ``message``,
    ``retryable``, ``retry_after_ms``, ``denials``), or ``{"code":
    "<exception class>", "message": ...}`` for client-side failures."""
    if isinstance(e, TradewardError):
        detail = e.to_dict()
    else:
        detail = {"code": type(e).__name__, "message": str(e), "retryable": isinstance(e, ConnectionError)}
    return {"status": "err", "response": f"{detail['code']}: {detail['message']}", "tradeward": detail}


class AgentExchange(_sdk_exchange.Exchange):
    """The SDK's ``Exchange``, signing through the agent, assigning cloids,
    reporting closed orders and (opt-in) returning refusals as error dicts.
    Build it with ``agent_exchange``."""

    def __init__(
        self,
        wallet: AgentWallet,
        base_url: Optional[str] = None,
        *,
        error_dicts: bool = False,
        **exchange_kwargs: Any,
    ) -> None:
        super().__init__(wallet, base_url, **exchange_kwargs)  # type: ignore[arg-type]
        self.error_dicts = error_dicts

    @property
    def orders(self) -> Optional[OpenOrders]:
        """The ``OpenOrders`` of this exchange's wallet."""
        wallet: AgentWallet = self.wallet  # type: ignore[assignment]
        return wallet.orders

    def _post_action(self, action: Any, signature: Any, nonce: Any) -> Any:
        response = super()._post_action(action, signature, nonce)
        orders = self.orders
        if orders is not None and isinstance(action, dict) and action.get("type") in _REPORTED_ACTIONS:
            orders.handle_response(action, response)
        return response

    def reconcile(self, user: Optional[str] = None) -> Any:
        """Fetch ``openOrders`` and ``userFills`` for ``user`` (default: the
        account, ``account_address`` or the vault or the wallet) through the
        SDK's ``Info`` and report closed what is no longer open. Returns
        ``OpenOrders.reconcile``'s ``Reconciled``."""
        orders = self.orders
        if orders is None:
            raise SignerError("this exchange does not track orders (orders=None)")
        address = user or self.vault_address or self.account_address or self.wallet.address
        import time as _time

        as_of = int(_time.time() * 1000)
        open_orders = self.info.open_orders(address)
        fills = self.info.user_fills(address)
        return orders.reconcile(open_orders, fills, as_of_ms=as_of)


def _error_dict_wrapper(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: AgentExchange, *args: Any, **kwargs: Any) -> Any:
        if not self.error_dicts:
            return method(self, *args, **kwargs)
        try:
            return method(self, *args, **kwargs)
        except ClientError as e:
            return error_dict(e)

    return wrapper


# Every public action method of the SDK's Exchange gets the opt-in error
# dicts (the set is read from the installed SDK, so new methods are covered).
for _name, _method in list(vars(_sdk_exchange.Exchange).items()):
    if not _name.startswith("_") and callable(_method) and _name != "set_expires_after":
        setattr(AgentExchange, _name, _error_dict_wrapper(_name, _method))


def agent_exchange(
    client: Client,
    key: str,
    base_url: Optional[str] = None,
    *,
    address: Optional[str] = None,
    verify: bool = False,
    track_orders: bool = True,
    assign_cloids: bool = True,
    error_dicts: bool = False,
    on_key_rotated: Optional[Callable[[str, str], None]] = None,
    **exchange_kwargs: Any,
) -> AgentExchange:
    """An SDK ``Exchange`` (an ``AgentExchange``) that signs with ``key`` in
    the agent.

    ``base_url`` and ``exchange_kwargs`` (``meta``, ``spot_meta``,
    ``vault_address``, ``account_address``, ``perp_dexs``, ``timeout``) are
    passed to ``Exchange`` unchanged; as with the SDK alone, giving ``meta``
    and ``spot_meta`` saves the start-up requests to the venue. The network
    (``base_url``) and any ``vault_address`` must be ones the agent's config
    allows for the key, or every signing call is refused with
    ``forbidden``.

    ``track_orders`` (default on) tracks and reports the orders it signs
    (the identity needs the ``order.report`` grant); ``assign_cloids``
    gives cloid-less orders a cloid; ``error_dicts`` returns refusals as
    ``{"status": "err", ...}`` instead of raising; ``on_key_rotated(old,
    new)`` is told when the key's address changes. Calls ``install()``.
    """
    install()
    orders = OpenOrders(client, key) if track_orders else None
    wallet = AgentWallet(
        client,
        key,
        address=address,
        verify=verify,
        orders=orders,
        assign_cloids=assign_cloids,
        on_key_rotated=on_key_rotated,
    )
    return AgentExchange(wallet, base_url, error_dicts=error_dicts, **exchange_kwargs)


def approve_agent_wallet(
    master: Any,
    agent_address: str,
    base_url: Optional[str] = None,
    *,
    name: Optional[str] = None,
    exchange: Optional[Any] = None,
) -> Tuple[Any, Dict[str, Any]]:
    """Approve ``agent_address`` (the token key's address, e.g.
    ``AgentWallet.address`` or ``tradeward keys list``) as an API wallet of
    the account ``master``, an ``eth_account`` ``LocalAccount`` of the
    account's own key (held only for this call, on a machine the operator
    trusts: never the bot's host).

    This is the SDK's ``approve_agent`` with one difference: the SDK
    generates a new key on the host, this approves the one in the token.
    ``name`` makes it a named API wallet (the venue keeps one unnamed and a
    few named ones per account; approving another under the same name
    replaces it). Returns ``(venue response, posted body)``. ``exchange``
    (an ``Exchange`` of ``master``) may be given to reuse its HTTP session.
    """
    from hyperliquid.utils.constants import MAINNET_API_URL

    if not isinstance(agent_address, str) or len(agent_address) != 42 or not agent_address.startswith("0x"):
        raise ValueError(f"agent_address must be a 0x-prefixed 20-byte address, got {agent_address!r}")
    ex = exchange or _sdk_exchange.Exchange(master, base_url, meta={"universe": []}, spot_meta={"universe": [], "tokens": []})
    nonce = _sdk_exchange.get_timestamp_ms()
    action = {"type": "approveAgent", "agentAddress": agent_address, "agentName": name or "", "nonce": nonce}
    is_mainnet = ex.base_url == MAINNET_API_URL
    signature = _sdk_signing.sign_agent(master, action, is_mainnet)
    if name is None:
        del action["agentName"]
    body = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None}
    return ex.post("/exchange", body), body
