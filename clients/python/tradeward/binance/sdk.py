"""Binance's official ``binance-sdk-spot``, signing in the agent.

::

    import tradeward
    from binance_sdk_spot.spot import Spot
    from tradeward.binance.sdk import ConfigurationRestAPI   # instead of binance_sdk_spot.spot's

    agent = tradeward.connect()
    spot = Spot(config_rest_api=ConfigurationRestAPI(api_key=API_KEY, agent=agent, key="bn"))
    spot.rest_api.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT",
                            time_in_force="GTC", quantity=0.001, price=65000.0)

The SDK signs inside ``binance_common.utils.send_request``, which each of its
API modules imports by name. ``install()`` (called by the configuration)
replaces that name in the ``binance_sdk_spot.rest_api`` modules with a
router: a signed request made with this module's configuration goes to the
agent, which builds and signs the query string, and the SDK's own
``send_request`` then sends exactly the agent's parameters (as an unsigned
request: the signature is already in them), with its own retries, errors
and response models. Anything else goes to the original, unchanged.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import Any, Callable, Dict, Optional
from urllib.parse import parse_qsl, urlencode

import binance_common.utils as _common
import binance_sdk_spot.rest_api as _rest_api
from binance_common.configuration import ConfigurationRestAPI as _ConfigurationRestAPI

from ..client import Client
from ..errors import ClientError
from . import AgentSigner, require_signer

__all__ = ["ConfigurationRestAPI", "install", "uninstall"]

_lock = threading.Lock()
_patched: Dict[Any, Callable[..., Any]] = {}


class ConfigurationRestAPI(_ConfigurationRestAPI):
    """The SDK's REST configuration with the API secret in the token: pass
    ``agent=`` and ``key=`` instead of ``api_secret`` / ``private_key``."""

    def __init__(self, *args: Any, agent: Client, key: str, **kwargs: Any) -> None:
        if kwargs.get("api_secret") is not None or kwargs.get("private_key") is not None:
            raise ValueError("api_secret and private_key must not be given: the key is in the agent's token")
        super().__init__(*args, **kwargs)
        self.tradeward: AgentSigner = require_signer(agent, key)
        install()


def _router(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_request(
        session: Any,
        configuration: Any,
        method: str,
        path: str,
        payload: Optional[dict] = None,
        body: Optional[dict] = None,
        time_unit: Optional[str] = None,
        response_model: Any = None,
        is_signed: bool = False,
        signer: Any = None,
    ) -> Any:
        if not is_signed or not isinstance(configuration, ConfigurationRestAPI):
            return original(session, configuration, method, path, payload, body, time_unit, response_model, is_signed, signer)
        merged = dict(_common.clean_none_value(payload or {}))
        merged.update(_common.clean_none_value(body or {}))
        items = [(_common.snake_to_camel(k), v) for k, v in merged.items()]
        signed = configuration.tradeward.sign(method, path, items)
        pairs = parse_qsl(signed.signed_query, keep_blank_values=True, strict_parsing=True)
        # The SDK will write these pairs with urlencode: make sure that gives
        # back the agent's text byte for byte, or the signature would not match.
        if urlencode(pairs) != signed.signed_query:
            raise ClientError(
                f"the SDK would not send the agent's query string unchanged: {signed.signed_query!r}"
            )
        return original(session, configuration, method, path, dict(pairs), None, time_unit, response_model, False, None)

    setattr(send_request, "__tradeward_original__", original)
    return send_request


def install() -> None:
    """Route the SDK's signed requests made with ``ConfigurationRestAPI`` to
    the agent. Idempotent."""
    with _lock:
        if _patched:
            return
        for info in pkgutil.walk_packages(_rest_api.__path__, _rest_api.__name__ + "."):
            module = importlib.import_module(info.name)
            fn = getattr(module, "send_request", None)
            if fn is _common.send_request:
                _patched[module] = fn
                setattr(module, "send_request", _router(fn))
        if not _patched:
            raise RuntimeError("binance_sdk_spot.rest_api has no module using send_request: unsupported SDK version")


def uninstall() -> None:
    """Put the SDK's own ``send_request`` back."""
    with _lock:
        for module, fn in _patched.items():
            setattr(module, "send_request", fn)
        _patched.clear()
