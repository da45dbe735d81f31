"""Binance drop-ins: keep the bot's Binance library, sign in the agent.

One module per library, each importing only its own library:

* ``tradeward.binance.connector``: ``Spot`` and ``UMFutures`` for
  binance-connector (deprecated, still everywhere);
* ``tradeward.binance.python_binance``: ``Client`` for python-binance;
* ``tradeward.binance.sdk``: ``ConfigurationRestAPI`` for Binance's official
  ``binance-sdk-spot``.

Each sends the library's signed requests through ``rest.sign_request``: the
agent builds the query string itself, sets ``timestamp``, judges the order
against the policy and signs with the API key in the token; the library then
sends exactly the agent's ``signed_query``, with its own HTTP session, error
handling and response parsing. Unsigned (market data) requests are the
library's own, untouched.

**Numbers.** These libraries accept floats and write them with ``str()``,
which gives the shortest decimal that reads back as the same float
(``0.1`` → ``"0.1"``) but switches to an exponent for small and large
values (``1e-05``), which Binance and the agent refuse. ``params`` here
converts each float to that same shortest decimal written out in full
(``0.00001``), ``Decimal`` without an exponent, integers to their digits,
booleans to ``true``/``false`` (as the venue spells them), enums to their
values; strings pass unchanged. Everything reaches the agent as the text the
venue would read, so a float means exactly what the library would have
sent, and the agent's own refusal of JSON numbers (inexact) never applies.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from ..client import Client
from ..errors import ClientError
from ..results import RestSignedRequest

__all__ = ["decimal_text", "params", "AgentSigner", "VENUE"]

VENUE = "binance"

# Set by the agent, never by the bot or its library.
_AGENT_SET = frozenset({"timestamp", "signature"})


def decimal_text(value: float) -> str:
    """A float as the decimal ``str(value)`` denotes, without an exponent:
    ``0.001`` → ``"0.001"``, ``1e-05`` → ``"0.00001"``, ``50000.0`` →
    ``"50000.0"``. Refuses NaN and infinities."""
    d = Decimal(repr(value))
    if not d.is_finite():
        raise ValueError(f"{value!r} is not a number Binance takes")
    return format(d, "f")


def _value(name: str, v: Any) -> Any:
    if isinstance(v, enum.Enum):
        v = v.value
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return decimal_text(v)
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError(f"{name}: {v} is not a number Binance takes")
        return format(v, "f")
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return [_value(name, x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _value(f"{name}.{k}", x) for k, x in v.items()}
    raise TypeError(f"{name}: cannot send a {type(v).__name__} to Binance")


def params(items: Iterable[Tuple[str, Any]]) -> Dict[str, Any]:
    """The parameters the agent is sent: ``None`` values dropped (as the
    libraries drop them), ``timestamp`` and ``signature`` left out (the
    agent sets the one and makes the other), values converted as described
    in the module documentation."""
    out: Dict[str, Any] = {}
    for k, v in items:
        if v is None or k in _AGENT_SET:
            continue
        out[k] = _value(k, v)
    return out


class AgentSigner:
    """What every Binance drop-in holds: the bot's ``Client`` and the API
    key's alias in the agent."""

    def __init__(self, agent: Client, key: str) -> None:
        if not isinstance(agent, Client):
            raise TypeError(f"agent must be a tradeward Client, not {type(agent).__name__}")
        self.agent = agent
        self.key = key

    def sign(self, method: str, path: str, items: Iterable[Tuple[str, Any]]) -> RestSignedRequest:
        """Have the agent sign ``method path`` with these parameters."""
        return self.agent.rest_sign_request(self.key, VENUE, method.upper(), path, params(items))


def require_signer(agent: Optional[Client], key: Optional[str]) -> AgentSigner:
    if agent is None or key is None:
        raise ClientError("a tradeward drop-in needs agent= (a tradeward Client) and key= (the API key's alias)")
    return AgentSigner(agent, key)
