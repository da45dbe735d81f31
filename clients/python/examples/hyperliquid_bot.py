#!/usr/bin/env python3
"""A Hyperliquid bot whose key stays in the tradeward agent.

It places an order, cancels it by its client order id and arms the venue's
own dead-man's switch (``scheduleCancel``), each signed by the agent, and
prints the JSON body it would POST to the venue's ``/exchange`` endpoint,
one per line, instead of sending it: nothing here touches the network.

    export TRADEWARD_SOCK=/path/to/agent.sock
    python3 clients/python/examples/hyperliquid_bot.py --key hl-main

With ``--sdk`` the same is done through the official SDK's ``Exchange``
(``pip install hyperliquid-python-sdk``) with the drop-in signer of
``tradeward.hyperliquid``; ``--meta`` and ``--spot-meta`` give it the
venue's asset lists (saved ``meta`` / ``spotMeta`` responses) so that it
does not fetch them.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tradeward import ClientError, HyperliquidSignedAction, connect  # noqa: E402

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"


def show(what: str, body: Dict[str, Any]) -> None:
    """Print what would be posted: a note on stderr, the body on stdout."""
    print(f"# {what}: POST /exchange", file=sys.stderr)
    print(json.dumps(body, separators=(",", ":")), flush=True)


def with_client(args: argparse.Namespace) -> None:
    is_mainnet = not args.testnet
    cloid = "0x" + secrets.token_hex(16)
    with connect(args.socket, timeout=10) as agent:
        info = agent.hello()
        print(f"# connected as {info.identity}; may use {', '.join(info.keys)}", file=sys.stderr)

        order = {
            "type": "order",
            "orders": [
                {
                    "a": args.asset,
                    "b": True,
                    "p": args.price,
                    "s": args.size,
                    "r": False,
                    "t": {"limit": {"tif": "Alo"}},
                    "c": cloid,
                }
            ],
            "grouping": "na",
        }

        def sign(action: Dict[str, Any]) -> HyperliquidSignedAction:
            return agent.sign_l1_action(args.key, action, vault_address=args.vault, is_mainnet=is_mainnet)

        placed = sign(order)
        print(f"# signed by {placed.address}, nonce {placed.nonce} (assigned by the agent)", file=sys.stderr)
        # Post the agent's canonical action, never the dict built above:
        # the signature covers the agent's encoding.
        show("order", placed.exchange_payload())

        cancel = {"type": "cancelByCloid", "cancels": [{"asset": args.asset, "cloid": cloid}]}
        show("cancel", sign(cancel).exchange_payload())

        # The venue cancels everything at this time unless a later
        # scheduleCancel moves it: a heartbeat that outlives this host.
        in_a_minute = int(time.time() * 1000) + 60_000
        show("dead-man's switch", sign({"type": "scheduleCancel", "time": in_a_minute}).exchange_payload())


def with_sdk(args: argparse.Namespace) -> None:
    from hyperliquid.utils.types import Cloid

    from tradeward.hyperliquid import agent_exchange

    if not (args.meta and args.spot_meta):
        sys.exit("--sdk needs --meta and --spot-meta (otherwise the SDK fetches them from the venue)")
    meta = json.loads(Path(args.meta).read_text())
    spot_meta = json.loads(Path(args.spot_meta).read_text())
    with connect(args.socket, timeout=10) as agent:
        exchange = agent_exchange(
            agent,
            args.key,
            TESTNET_URL if args.testnet else MAINNET_URL,
            meta=meta,
            spot_meta=spot_meta,
            vault_address=args.vault,
        )

        def post(path: str, payload: Any = None) -> Any:
            # Print instead of posting; everything else is the SDK's own code.
            show(f"SDK {payload['action']['type']}", payload)
            return {"status": "ok"}

        exchange.post = post
        print(f"# SDK Exchange with wallet {exchange.wallet}", file=sys.stderr)
        cloid = Cloid.from_int(secrets.randbits(128))
        exchange.order(args.coin, True, float(args.size), float(args.price), {"limit": {"tif": "Alo"}}, cloid=cloid)
        exchange.cancel_by_cloid(args.coin, cloid)
        exchange.schedule_cancel(int(time.time() * 1000) + 60_000)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--socket", help="agent socket (default: $TRADEWARD_SOCK)")
    p.add_argument("--key", default="hl-main", help="key alias in the agent's config")
    p.add_argument("--testnet", action="store_true", help="sign for testnet (the key must be configured for it)")
    p.add_argument("--vault", help="trade for this vault or subaccount (must be allowed in the key's config)")
    p.add_argument("--asset", type=int, default=0, help="asset index (default 0)")
    p.add_argument("--coin", default="BTC", help="coin name, for --sdk (default BTC)")
    p.add_argument("--price", default="50000", help="limit price, as a decimal string")
    p.add_argument("--size", default="0.001", help="size, as a decimal string")
    p.add_argument("--sdk", action="store_true", help="go through the official SDK's Exchange")
    p.add_argument("--meta", help="saved `meta` response, for --sdk")
    p.add_argument("--spot-meta", help="saved `spotMeta` response, for --sdk")
    args = p.parse_args()
    try:
        with_sdk(args) if args.sdk else with_client(args)
    except ClientError as e:
        sys.exit(f"refused: {e}")


if __name__ == "__main__":
    main()
