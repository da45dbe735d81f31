#!/usr/bin/env python3
"""A Binance bot whose API secret stays in the tradeward agent.

It has the agent sign a spot limit order (IOC, with a client order id), a
query for the open orders on the symbol, and a cancel of the order, and
prints each request it would send, one JSON object per line
(``{"method", "url"}``), instead of sending it: nothing here touches the
network. The agent sets ``timestamp`` itself, so send a request within its
``recvWindow``.

    export TRADEWARD_SOCK=/path/to/agent.sock
    python3 clients/python/examples/binance_rest.py --key bn

The key needs a ``[keys.ALIAS.rest]`` table with ``markets = ["spot"]`` and
a read-only entry for ``GET /api/v3/openOrders`` with ``params =
["symbol"]`` (docs/rest.md), and the identity the ``rest.sign_request``
grant. A real bot sends each URL with the header ``X-MBX-APIKEY``: the API
key id, which the agent does not hold.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tradeward import ClientError, RestSignedRequest, connect  # noqa: E402

SPOT_HOST = "https://api.binance.com"


def show(what: str, req: RestSignedRequest) -> None:
    """Print what would be sent: a note on stderr, the request on stdout."""
    print(f"# {what}: {req.method} {req.path} (timestamp {req.timestamp}, recvWindow {req.recv_window_ms})", file=sys.stderr)
    print(json.dumps({"method": req.method, "url": req.url(SPOT_HOST)}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--socket", help="agent socket (default: $TRADEWARD_SOCK)")
    p.add_argument("--key", default="bn", help="key alias in the agent's config")
    p.add_argument("--symbol", default="LTCBTC", help="spot symbol (default LTCBTC)")
    p.add_argument("--price", default="0.1", help="limit price, as a decimal string")
    p.add_argument("--quantity", default="1", help="quantity, as a decimal string")
    args = p.parse_args()
    client_id = "tw-" + secrets.token_hex(8)
    try:
        with connect(args.socket, timeout=10) as agent:
            info = agent.hello()
            print(f"# connected as {info.identity}; may use {', '.join(info.keys)}", file=sys.stderr)

            # Decimals as strings; no timestamp or signature: the agent
            # adds both, and its query string is the one to send.
            order = agent.rest_sign_request(args.key, "binance", "POST", "/api/v3/order", {
                "symbol": args.symbol,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "IOC",
                "quantity": args.quantity,
                "price": args.price,
                "newClientOrderId": client_id,
            })
            show("order", order)

            # A read: signed only because the key's allowlist lists it.
            show("open orders", agent.rest_sign_request(
                args.key, "binance", "GET", "/api/v3/openOrders", {"symbol": args.symbol}))

            show("cancel", agent.rest_sign_request(
                args.key, "binance", "DELETE", "/api/v3/order",
                {"symbol": args.symbol, "origClientOrderId": client_id}))

            # Once the venue says the order is gone (an IOC order is gone at
            # once), tell the agent, so it stops counting it as open.
            closed = agent.order_report(args.key, client_id=client_id)
            print(f"# order.report: {closed.closed} open order(s) closed", file=sys.stderr)
    except ClientError as e:
        sys.exit(f"refused: {e}")


if __name__ == "__main__":
    main()
