"""Compatibility shim: the client is now the ``tradeward`` package.

``import tradeward_client`` keeps working for bots written against the
single-file client (it re-exports ``tradeward``'s public names); new code
imports ``tradeward``. This shim will stay as long as protocol version 1
does. See clients/python/README.md.
"""

from tradeward import *  # noqa: F401,F403
from tradeward import __all__, __version__  # noqa: F401
