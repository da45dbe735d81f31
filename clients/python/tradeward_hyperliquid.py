"""Compatibility shim: the drop-in signer is now ``tradeward.hyperliquid``.

``import tradeward_hyperliquid`` keeps working for bots written against the
single-file drop-in; new code imports ``tradeward.hyperliquid``.
"""

from tradeward.hyperliquid import *  # noqa: F401,F403
from tradeward.hyperliquid import __all__  # noqa: F401
