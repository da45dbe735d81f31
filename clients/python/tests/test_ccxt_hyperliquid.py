"""``tradeward.ccxt.hyperliquid``: ccxt's own Hyperliquid class, its HTTP
layer intercepted (``venue_http``; nothing leaves the machine), signing in
the real agent. Every body ccxt posts recovers to the key's address with
the venue's official SDK (code we did not write); the posted action is
the one the agent signed; ccxt's builder fee is neither approved nor
attached; refusals reach the bot as the agent's typed errors.

Needs ccxt and the SDK (``target/clients-venv``); skipped, saying so,
without them.
"""

from __future__ import annotations

import json
import sys
import threading
import unittest
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import tradeward as tw  # noqa: E402
from test_hyperliquid import ADDRESS, FIXTURES, hl_agent  # noqa: E402

try:
    import ccxt  # noqa: F401
    from hyperliquid.utils import signing as sdk_signing

    from tradeward import ccxt as tw_ccxt
    from venue_http import Sent, VenueAdapter, intercept

    SKIP: Optional[str] = None
except ImportError as e:
    SKIP = (f"SKIPPED the ccxt Hyperliquid drop-in tests: {sys.executable} cannot import ccxt and the "
            f"Hyperliquid SDK ({e}); use target/clients-venv (scripts/test.sh makes it)")


class CcxtVenue:
    """Answers ccxt's market-data request from the agent's own metadata
    fixture and records what it posts to ``/exchange``."""

    def __init__(self) -> None:
        meta = json.loads((FIXTURES / "meta.json").read_text())
        ctx = {"funding": "0.0000125", "openInterest": "100", "prevDayPx": "50000", "dayNtlVlm": "1000000",
               "premium": "0", "oraclePx": "50000", "markPx": "50000", "midPx": "50000", "impactPxs": None}
        self.meta_and_ctxs = [meta, [dict(ctx) for _ in meta["universe"]]]
        self.spot_meta = json.loads((FIXTURES / "spot_meta.json").read_text())
        self.posted: List[Dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, sent: Sent) -> Tuple[int, Any]:
        body = sent.json()
        with self.lock:
            if sent.path == "/info":
                if body["type"] == "metaAndAssetCtxs":
                    return 200, self.meta_and_ctxs
                if body["type"] == "spotMeta":
                    return 200, self.spot_meta
                raise AssertionError(f"unexpected info request {body}")
            assert sent.path == "/exchange", sent.path
            self.posted.append(body)
            kind = body["action"]["type"]
            if kind == "order":
                statuses = [{"resting": {"oid": 4242}} for _ in body["action"]["orders"]]
                return 200, {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}
            if kind == "cancel":
                return 200, {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}
            return 200, {"status": "ok", "response": {"type": "default"}}


@unittest.skipIf(SKIP is not None, SKIP or "")
class CcxtHyperliquidTests(unittest.TestCase):
    def setUp(self) -> None:
        self.agent = hl_agent(prefix="tw-ccxt-", extra_policy='\n[policy.keys.main]\nmax_order_notional = "100"\n')
        self.addCleanup(self._stop)
        self.client = self.agent.client(timeout=10)
        self.addCleanup(self.client.close)
        self.venue = CcxtVenue()
        self.exchange = tw_ccxt.hyperliquid(
            {"tradeward": {"agent": self.client, "key": "main"}, "options": {"fetchMarkets": {"types": ["swap"]}}}
        )
        intercept(self.exchange.session, VenueAdapter(self.venue))

    def _stop(self) -> None:
        try:
            self.assertEqual(self.agent.stop(), 0, self.agent.log_tail())
            self.agent.run("journal", "verify", "--config", str(self.agent.config))
        finally:
            self.agent.cleanup()

    def recovered(self, body: Dict[str, Any]) -> str:
        return str(sdk_signing.recover_agent_or_user_from_l1_action(
            body["action"], body["signature"], body.get("vaultAddress"), body["nonce"], body.get("expiresAfter"), True
        ))

    def test_orders_and_cancels_are_signed_by_the_agent_as_ccxt_posts_them(self) -> None:
        self.assertEqual(self.exchange.walletAddress.lower(), ADDRESS.lower())
        order = self.exchange.create_order("BTC/USDC:USDC", "limit", "buy", 0.001, 50000)
        self.assertEqual(order["id"], "4242")
        self.exchange.cancel_order("4242", "BTC/USDC:USDC")
        self.assertEqual([b["action"]["type"] for b in self.venue.posted], ["order", "cancel"])
        for body in self.venue.posted:
            self.assertEqual(self.recovered(body).lower(), ADDRESS.lower(), body)
        placed = self.venue.posted[0]["action"]
        # The agent's canonical action is what went out, with no builder.
        self.assertNotIn("builder", placed)
        self.assertEqual(placed["orders"][0]["a"], 0)
        self.assertEqual(placed["orders"][0]["s"], "0.001")

    def test_refusals_reach_the_bot_typed_and_nothing_is_posted(self) -> None:
        with self.assertRaises(tw.TradewardError) as cm:
            self.exchange.create_order("BTC/USDC:USDC", "limit", "buy", 0.01, 50000)  # 500 > max_order_notional
        self.assertEqual(cm.exception.code, "policy_denied")
        self.assertEqual(cm.exception.denials[0]["rule"], "max_order_notional")
        with self.assertRaises(tw.TradewardError) as cm:
            self.exchange.withdraw("USDC", 5, "0x5e9ee1089755c3435139848e47e6635505d5a13a")
        self.assertEqual(cm.exception.code, "policy_denied")
        self.assertEqual(self.venue.posted, [])

    def test_a_private_key_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            tw_ccxt.hyperliquid({"privateKey": "0x" + "11" * 32, "tradeward": {"agent": self.client, "key": "main"}})


if __name__ == "__main__":
    unittest.main()
