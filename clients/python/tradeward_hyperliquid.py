"""Keep using the official Hyperliquid Python SDK, with the key in tradeward.

A bot written against ``hyperliquid.exchange.Exchange`` keeps its code; only
the wallet changes::

    from tradeward_client import connect
    from tradeward_hyperliquid import agent_exchange
    from hyperliquid.utils import constants

    agent = connect()                                  # $TRADEWARD_SOCK
    exchange = agent_exchange(agent, "hl-main", constants.MAINNET_API_URL)
    exchange.order("BTC", True, 0.001, 50000.0, {"limit": {"tif": "Gtc"}})

``agent_exchange`` builds an ordinary ``Exchange`` whose wallet is an
``AgentWallet``: a stand-in that carries the key's address and nothing
secret. Every ``Exchange`` method still builds its action, nonce and request
body itself; only the signing call goes to the agent, which parses and
judges the action, re-encodes it, signs its own encoding in the token and
returns it. This module then checks that the agent's canonical action is
exactly the one the SDK built and is about to post (same keys, same order,
same values) and that the nonce, vault and expiry match; if anything
differs it raises ``CanonicalMismatchError`` instead of letting the SDK post
a body the signature does not cover.

How the signing calls are routed
--------------------------------

``Exchange`` does not sign through its wallet object; its methods call
module-level functions that ``hyperliquid/exchange.py`` imports by name from
``hyperliquid.utils.signing`` (``sign_l1_action``, ``sign_usd_transfer_action``,
``sign_agent``, ...). So ``install()`` replaces exactly those names, and
only in the ``hyperliquid.exchange`` module's namespace (never in
``hyperliquid.utils.signing``), with routers that look at the wallet they
are given:

* an ``AgentWallet`` goes to the agent (``sign_l1_action`` to
  ``hyperliquid.sign_l1_action``; the user-signed functions to
  ``hyperliquid.sign_user_action``), or is refused with
  ``UnsupportedActionError`` where the agent has no operation for the call
  (multi-sig, and any signing function this module does not know);
* any other wallet goes to the SDK's original function, unchanged, so other
  ``Exchange`` objects in the same process keep signing as before.

``install()`` is idempotent and refuses (``RuntimeError``) an SDK whose
``sign_l1_action`` does not have the expected parameters; a user-signed
function whose parameters differ from ``(wallet, action, is_mainnet)`` is
routed as unsupported rather than guessed at. ``uninstall()`` puts the
originals back. Should some code path still reach the wallet itself,
``AgentWallet.sign_message`` raises: the stand-in cannot sign anything.

The agent decides: actions it does not parse (``setReferrer``,
``vaultTransfer``, ``spotDeploy``, ...) come back as ``TradewardError``
(``bad_params``), orders, transfers and approvals its policy does not allow
as ``policy_denied`` (transfers and approvals are allowed only to
destinations the policy names), and nothing is posted. All errors derive
from ``tradeward_client.ClientError``.

This module imports the SDK; ``tradeward_client`` itself stays standard
library only.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
from typing import Any, Callable, Dict, List, Optional

import hyperliquid.exchange as _sdk_exchange
from hyperliquid.utils import signing as _sdk_signing

from tradeward_client import Client, ClientError, HyperliquidSignedAction

__all__ = [
    "AgentWallet",
    "SignerError",
    "CanonicalMismatchError",
    "UnsupportedActionError",
    "agent_exchange",
    "install",
    "uninstall",
    "installed",
    "SIGNATURE_CHAIN_ID",
]

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
    ``verify=True`` also recovers every signature with the SDK's own
    ``recover_agent_or_user_from_l1_action`` before handing it over (a few
    milliseconds in pure Python; the canonical comparison alone already
    guarantees the posted body is what was signed).

    The wallet may be shared between threads, as its ``Client`` may.
    """

    def __init__(
        self,
        client: Client,
        key: str,
        *,
        address: Optional[str] = None,
        verify: bool = False,
    ) -> None:
        self.client = client
        self.agent_key = key
        self.verify = verify
        self.address: str = address if address is not None else _address_of(client, key)

    def __repr__(self) -> str:
        return f"AgentWallet(key={self.agent_key!r}, address={self.address!r})"

    def sign_message(self, *args: Any, **kwargs: Any) -> Any:
        """Always raises: the key lives in the agent, which signs only the
        actions it parses and judges. Use an ``Exchange`` method (routed by
        ``install()``) or ``Client.sign_l1_action``."""
        raise UnsupportedActionError(
            f"{self!r} cannot sign arbitrary messages: the key stays in the agent, which signs "
            "only Hyperliquid actions it parses (see tradeward_hyperliquid.install)"
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
        """Sign an L1 action the SDK built; return the SDK-shaped signature."""
        signed = self.client.sign_l1_action(
            self.agent_key,
            action,
            nonce=nonce,
            vault_address=vault_address,
            expires_after=expires_after,
            is_mainnet=is_mainnet,
        )
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
        return dict(signed.signature)

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
            raise SignerError(
                f"the agent signed with {signed.address} (key {signed.key!r}), "
                f"but this wallet stands for {self.address}"
            )
        sdk_text, agent_text = _canonical_text(sdk_action), _canonical_text(signed.action)
        if sdk_text != agent_text:
            raise CanonicalMismatchError(
                "the agent's canonical action differs from the one the SDK would post, so the "
                "venue would not accept the signature for it; nothing was returned to the SDK.\n"
                f"  SDK:   {sdk_text}\n  agent: {agent_text}",
                sdk_action,
                signed,
            )


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


# --------------------------------------------------------------------------
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


def agent_exchange(
    client: Client,
    key: str,
    base_url: Optional[str] = None,
    *,
    address: Optional[str] = None,
    verify: bool = False,
    **exchange_kwargs: Any,
) -> "_sdk_exchange.Exchange":
    """An SDK ``Exchange`` that signs with ``key`` in the agent.

    ``base_url`` and ``exchange_kwargs`` (``meta``, ``spot_meta``,
    ``vault_address``, ``account_address``, ``perp_dexs``, ``timeout``) are
    passed to ``Exchange`` unchanged; as with the SDK alone, giving ``meta``
    and ``spot_meta`` saves the start-up requests to the venue. The network
    (``base_url``) and any ``vault_address`` must be ones the agent's config
    allows for the key, or every signing call is refused with
    ``forbidden``. Calls ``install()``.
    """
    install()
    wallet = AgentWallet(client, key, address=address, verify=verify)
    return _sdk_exchange.Exchange(wallet, base_url, **exchange_kwargs)
