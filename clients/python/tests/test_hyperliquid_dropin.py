"""The Hyperliquid drop-in under a bot's real conditions, through the
official SDK with its HTTP layer intercepted (``venue_http``; nothing
leaves the machine) against the real agent:

* a bot placing orders in a loop while the agent is killed and restarted
  keeps going with the same ``Exchange``; every body it posted recovers to
  the key's address with the SDK's own code and has an allowed decision
  with the same nonce and digest in the journal (``tradeward journal
  export``);
* a market-making loop under ``max_open_orders`` runs 10,000 orders without
  being denied for orders it closed: the drop-in gives each a cloid and
  reports fills and cancels from the venue's answers;
* cloids, reconciliation from ``openOrders``/``userFills``, opt-in error
  dicts, key rotation and the API-wallet approval.

Needs the SDK (``target/sdk-venv``); skipped, saying so, without it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re
import sys
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import agent_harness  # noqa: E402
import tradeward as tw  # noqa: E402
from test_hyperliquid import ADDRESS, FIXTURES, hl_agent, now_ms, recover_l1  # noqa: E402

try:
    import eth_account
    import hyperliquid.exchange as sdk_exchange
    from hyperliquid.utils import constants as sdk_constants
    from hyperliquid.utils import signing as sdk_signing
    from hyperliquid.utils.types import Cloid

    import tradeward.hyperliquid as thl
    from venue_http import Sent, VenueAdapter, intercept

    SKIP: Optional[str] = None
except ImportError as e:
    SKIP = f"SKIPPED the Hyperliquid drop-in tests: {sys.executable} cannot import the SDK ({e}); use target/sdk-venv"

CLOID = re.compile(r"^0x[0-9a-f]{32}$")
GTC = {"limit": {"tif": "Gtc"}}


class HlVenue:
    """A venue that answers ``/exchange`` and ``/info`` plausibly: orders
    rest (or fill, per ``fill_every``), cancels succeed for resting orders
    and report already-gone ones as errors, ``openOrders`` lists what rests.
    """

    def __init__(self, fill_every: int = 0) -> None:
        self.fill_every = fill_every
        self.oids = itertools.count(1000)
        self.resting: Dict[int, Dict[str, Any]] = {}
        self.fills: List[Dict[str, Any]] = []
        self.posted: List[Dict[str, Any]] = []
        self.placed = 0
        self.lock = threading.Lock()

    def __call__(self, sent: Sent) -> Tuple[int, Any]:
        body = sent.json()
        with self.lock:
            if sent.path == "/info":
                return 200, self.info(body)
            assert sent.path == "/exchange", sent.path
            self.posted.append(body)
            return 200, self.exchange(body["action"])

    def info(self, body: Dict[str, Any]) -> Any:
        if body["type"] == "openOrders":
            return [{"coin": o["coin"], "oid": oid, "cloid": o["cloid"], "side": "B", "sz": o["sz"],
                     "limitPx": o["px"], "timestamp": 0} for oid, o in self.resting.items()]
        if body["type"] == "userFills":
            return list(self.fills)
        raise AssertionError(f"unexpected info request {body}")

    def exchange(self, action: Dict[str, Any]) -> Dict[str, Any]:
        kind = action["type"]
        if kind == "order":
            statuses = []
            for o in action["orders"]:
                oid = next(self.oids)
                self.placed += 1
                if self.fill_every and self.placed % self.fill_every == 0:
                    self.fills.append({"coin": "BTC", "oid": oid, "cloid": o.get("c"), "sz": o["s"], "px": o["p"]})
                    statuses.append({"filled": {"totalSz": o["s"], "avgPx": o["p"], "oid": oid}})
                else:
                    self.resting[oid] = {"coin": "BTC", "cloid": o.get("c"), "sz": o["s"], "px": o["p"]}
                    statuses.append({"resting": {"oid": oid}})
            return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}
        if kind == "cancel":
            statuses = []
            for c in action["cancels"]:
                if self.resting.pop(c["o"], None) is not None:
                    statuses.append("success")
                else:
                    statuses.append({"error": "Order was never placed, already canceled, or filled."})
            return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}
        return {"status": "ok", "response": {"type": "default"}}


def journal_decisions(agent: agent_harness.Agent) -> Dict[int, Dict[str, str]]:
    """Allowed Hyperliquid decisions from ``tradeward journal export``'s
    CSV, by nonce."""
    out = agent.run("journal", "export", "--config", str(agent.config), "--format", "csv")
    rows = csv.DictReader(io.StringIO(out))
    return {
        int(r["nonce"]): r
        for r in rows
        if r["allow"] == "true" and r["op"] == "hyperliquid.sign_l1_action" and r["nonce"]
    }


@unittest.skipIf(SKIP is not None, SKIP or "")
class DropInTestCase(unittest.TestCase):
    agent: agent_harness.Agent
    meta: ClassVar[Dict[str, Any]]
    spot_meta: ClassVar[Dict[str, Any]]
    extra_policy = ""

    @classmethod
    def setUpClass(cls) -> None:
        cls.meta = json.loads((FIXTURES / "meta.json").read_text())
        cls.spot_meta = json.loads((FIXTURES / "spot_meta.json").read_text())

    def setUp(self) -> None:
        self.agent = hl_agent(extra_policy=self.extra_policy, prefix="tw-hd-")
        self.addCleanup(self._stop)
        # The SDK takes each nonce from the clock; keep it strictly increasing.
        clock = itertools.count(now_ms())
        patcher = mock.patch.object(sdk_exchange, "get_timestamp_ms", lambda: next(clock))
        patcher.start()
        self.addCleanup(patcher.stop)
        self.addCleanup(thl.uninstall)

    def _stop(self) -> None:
        try:
            rc = self.agent.stop()
            if rc != 0:
                raise AssertionError(f"agent exited with {rc}:\n{self.agent.log_tail()}")
            self.agent.run("journal", "verify", "--config", str(self.agent.config))
        finally:
            self.agent.cleanup()

    def exchange(self, venue: HlVenue, **kwargs: Any) -> "thl.AgentExchange":
        client = self.agent.client(timeout=10)
        self.addCleanup(client.close)
        ex = thl.agent_exchange(
            client, "main", sdk_constants.MAINNET_API_URL, meta=self.meta, spot_meta=self.spot_meta, **kwargs
        )
        adapter = VenueAdapter(venue)
        intercept(ex.session, adapter)
        intercept(ex.info.session, adapter)
        return ex

    def assert_recovers(self, bodies: List[Dict[str, Any]], address: str = ADDRESS) -> None:
        for body in bodies:
            recovered = sdk_signing.recover_agent_or_user_from_l1_action(
                body["action"], body["signature"], body["vaultAddress"], body["nonce"], body["expiresAfter"], True
            )
            self.assertEqual(recovered.lower(), address.lower(), body)


class RestartLoopTests(DropInTestCase):
    def test_sdk_bot_keeps_placing_orders_across_agent_kills_and_restarts(self) -> None:
        venue = HlVenue(fill_every=2)
        ex = self.exchange(venue, error_dicts=True)
        outcomes: List[str] = []
        restarts_done = threading.Event()
        marks: List[int] = []

        def posted_more_than(n: int) -> None:
            # Waits for the bot's progress, not for a fixed time: on a
            # loaded machine a restart can take seconds.
            until = time.monotonic() + 60
            while len(venue.posted) <= n and time.monotonic() < until:
                time.sleep(0.05)

        def operator() -> None:
            posted_more_than(0)
            marks.append(len(venue.posted))
            self.agent.kill()              # a crash
            time.sleep(0.3)
            self.agent.start()
            posted_more_than(marks[0])
            marks.append(len(venue.posted))
            self.agent.stop()              # an orderly restart
            self.agent.start()
            posted_more_than(marks[1])
            restarts_done.set()

        t = threading.Thread(target=operator)
        t.start()
        deadline = time.monotonic() + 120
        while not restarts_done.is_set() and time.monotonic() < deadline:
            r = ex.order("BTC", True, 0.001, 50000.0, GTC)
            outcomes.append("ok" if r["status"] == "ok" else r["tradeward"]["code"])
        t.join()
        # ...and keeps going afterwards, with the same objects.
        for _ in range(5):
            self.assertEqual(ex.order("BTC", True, 0.001, 50000.0, GTC)["status"], "ok")
        self.assertGreaterEqual(ex.wallet.client.reconnects, 2)
        self.assertGreater(len(venue.posted), marks[1] + 5)
        self.assertGreater(marks[1], marks[0])
        failures = [o for o in outcomes if o != "ok"]
        # A failure is only ever a typed transport outcome, never a hang.
        self.assertTrue(set(failures) <= {"AnswerLostError", "TornFrameError", "AgentUnavailableError"}, failures)
        # Every posted order: the SDK recovers the key's address, and the
        # journal holds an allowed decision with its nonce and digest.
        self.assert_recovers(venue.posted)
        decisions = journal_decisions(self.agent)
        for body in venue.posted:
            digest, _ = recover_l1(body["action"], body["signature"], body["nonce"], None, None, True)
            row = decisions.get(body["nonce"])
            self.assertIsNotNone(row, f"no journal decision for nonce {body['nonce']}")
            assert row is not None
            self.assertEqual(row["payload_sha256"], hashlib.sha256(digest).hexdigest())
            self.assertEqual(row["key"], "main")
            for order in body["action"]["orders"]:
                self.assertRegex(order["c"], CLOID)


class MarketMakingTests(DropInTestCase):
    extra_policy = "\n[policy.keys.main]\nmax_open_orders = 8\n"

    def test_ten_thousand_orders_under_max_open_orders(self) -> None:
        venue = HlVenue(fill_every=4)  # one order in four fills at once
        ex = self.exchange(venue)
        placed = 0
        start = time.monotonic()
        while placed < 10_000:
            quotes = [
                {"coin": "BTC", "is_buy": i % 2 == 0, "sz": 0.001, "limit_px": 49_000.0 + 1000 * (i % 2),
                 "order_type": GTC, "reduce_only": False}
                for i in range(4)
            ]
            r = ex.bulk_orders(quotes)
            self.assertEqual(r["status"], "ok", r)
            placed += 4
            statuses = r["response"]["data"]["statuses"]
            resting = [s["resting"]["oid"] for s in statuses if "resting" in s]
            c = ex.bulk_cancel([{"coin": "BTC", "oid": oid} for oid in resting])
            self.assertEqual(c["status"], "ok", c)
        elapsed = time.monotonic() - start
        orders = ex.orders
        assert orders is not None
        self.assertEqual(orders.open, [])
        self.assertEqual(orders.unreported, [])
        self.assertEqual(orders.reported, 10_000)
        self.assertEqual(venue.placed, 10_000)
        self.assertEqual(venue.resting, {})
        print(f"\n10,000 orders, 2,500 cancels and 10,000 reports in {elapsed:.1f} s", file=sys.stderr)
        # The limit is real: without reports, three quotes of four are too many.
        client = ex.wallet.client
        untracked = thl.agent_exchange(client, "main", sdk_constants.MAINNET_API_URL, meta=self.meta,
                                       spot_meta=self.spot_meta, track_orders=False)
        intercept(untracked.session, VenueAdapter(HlVenue()))
        untracked.bulk_orders([{"coin": "BTC", "is_buy": True, "sz": 0.001, "limit_px": 49_000.0,
                                "order_type": GTC, "reduce_only": False}] * 4)
        untracked.bulk_orders([{"coin": "BTC", "is_buy": True, "sz": 0.001, "limit_px": 49_000.0,
                                "order_type": GTC, "reduce_only": False}] * 4)
        with self.assertRaises(tw.TradewardError) as cm:
            untracked.order("BTC", True, 0.001, 49_000.0, GTC)
        self.assertEqual(cm.exception.code, "policy_denied")
        self.assertEqual(cm.exception.denials[0]["rule"], "max_open_orders")


class DropInFeatureTests(DropInTestCase):
    def test_cloids_are_assigned_and_kept(self) -> None:
        venue = HlVenue()
        ex = self.exchange(venue)
        mine = Cloid.from_str("0x0123456789abcdef0123456789abcdef")
        ex.order("BTC", True, 0.001, 50000.0, GTC)
        ex.order("ETH", False, 0.5, 3000.5, GTC, cloid=mine)
        ex.modify_order(1000, "BTC", True, 0.002, 50001.0, GTC)
        first = venue.posted[0]["action"]["orders"][0]
        self.assertRegex(first["c"], CLOID)
        self.assertEqual(list(first), ["a", "b", "p", "s", "r", "t", "c"])  # where the SDK puts it
        self.assertEqual(venue.posted[1]["action"]["orders"][0]["c"], mine.to_raw())
        self.assertRegex(venue.posted[2]["action"]["modifies"][0]["order"]["c"], CLOID)
        self.assert_recovers(venue.posted)
        orders = ex.orders
        assert orders is not None
        self.assertEqual(len(orders.open), 3)
        # Without assignment the SDK's action goes as it is.
        bare = self.exchange(venue, assign_cloids=False)
        bare.order("BTC", True, 0.001, 50000.0, GTC)
        self.assertNotIn("c", venue.posted[-1]["action"]["orders"][0])

    def test_reconcile_reports_what_the_venue_no_longer_lists(self) -> None:
        venue = HlVenue()
        ex = self.exchange(venue)
        for _ in range(3):
            ex.order("BTC", True, 0.001, 50000.0, GTC)
        orders = ex.orders
        assert orders is not None
        cloids = [b["action"]["orders"][0]["c"] for b in venue.posted]
        # At the venue, behind the bot's back: one cancelled (say, by the
        # venue's scheduleCancel), one filled.
        with venue.lock:
            oids = sorted(venue.resting)
            del venue.resting[oids[0]]
            filled = venue.resting.pop(oids[1])
            venue.fills.append({"coin": "BTC", "oid": oids[1], "cloid": filled["cloid"]})
        result = ex.reconcile()
        self.assertEqual(sorted(result.closed), sorted(cloids[:2]))
        self.assertEqual(result.open, [cloids[2]])
        self.assertEqual(orders.open, [cloids[2]])
        client = ex.wallet.client
        self.assertEqual(client.order_report("main", client_id=cloids[0]).closed, 0)  # already reported
        self.assertEqual(client.order_report("main", client_id=cloids[2]).closed, 1)

    def test_a_restarted_bot_reconciles_what_an_earlier_run_signed(self) -> None:
        venue = HlVenue()
        before = self.exchange(venue)
        for _ in range(2):
            before.order("BTC", True, 0.001, 50000.0, GTC)
        cloids = sorted(b["action"]["orders"][0]["c"] for b in venue.posted)
        client = before.wallet.client
        counted = client.order_open("main")
        self.assertEqual(sorted(o.client_id for o in counted), cloids)
        self.assertTrue(all(o.key == "main" and o.symbol == "BTC" for o in counted))
        # The venue cancels both; the bot restarts (a new exchange that
        # signed nothing itself) and reconciles.
        with venue.lock:
            venue.resting.clear()
        after = self.exchange(venue)
        assert after.orders is not None
        self.assertEqual(after.orders.open, [])
        result = after.reconcile()
        self.assertEqual(sorted(result.closed), cloids)
        self.assertEqual(client.order_open("main"), [])

    def test_error_dicts_are_opt_in(self) -> None:
        venue = HlVenue()
        raising = self.exchange(venue)
        with self.assertRaises(tw.TradewardError) as cm:
            raising.order("BTC", True, 0.001, 50000.5, GTC)  # 6 significant figures
        self.assertEqual(cm.exception.code, "bad_params")
        ex = self.exchange(venue, error_dicts=True)
        r = ex.order("BTC", True, 0.001, 50000.5, GTC)
        self.assertEqual(r["status"], "err")
        self.assertTrue(r["response"].startswith("bad_params: "), r)
        self.assertEqual(r["tradeward"]["code"], "bad_params")
        r = ex.usd_transfer(1.0, "0x5e9ee1089755c3435139848e47e6635505d5a13a")
        self.assertEqual(r["tradeward"]["code"], "policy_denied")
        self.assertEqual(r["tradeward"]["denials"][0]["rule"], "transfer_not_allowed")
        r = ex.multi_sig("0x5e9ee1089755c3435139848e47e6635505d5a13a", {"type": "noop"}, [], now_ms())
        self.assertEqual(r["tradeward"]["code"], "UnsupportedActionError")
        self.assertEqual(venue.posted, [])
        # Successes are the SDK's own answers, untouched.
        self.assertEqual(ex.order("BTC", True, 0.001, 50000.0, GTC)["response"]["type"], "order")

    def test_the_wallet_follows_a_key_rotation(self) -> None:
        venue = HlVenue()
        seen: List[Tuple[str, str]] = []
        ex = self.exchange(venue, on_key_rotated=lambda old, new: seen.append((old, new)))
        ex.order("BTC", True, 0.001, 50000.0, GTC)
        self.agent.run("keys", "rotate", "main")
        new = next(k.address for k in ex.wallet.client.list_keys() if k.alias == "main")
        assert new is not None
        self.assertNotEqual(new, ADDRESS)
        with self.assertLogs("tradeward.hyperliquid", "WARNING") as logs:
            ex.order("BTC", True, 0.001, 50000.0, GTC)
        self.assertIn("rotated", logs.output[0])
        self.assertEqual(seen, [(ADDRESS, new)])
        self.assertEqual(ex.wallet.address, new)
        self.assert_recovers(venue.posted[:1], ADDRESS)
        self.assert_recovers(venue.posted[1:], new)
        ex.order("BTC", True, 0.001, 50000.0, GTC)  # no second warning, no error
        self.assertEqual(len(seen), 1)

    def test_approve_the_token_address_as_an_api_wallet(self) -> None:
        venue = HlVenue()
        ex = self.exchange(venue)
        master = eth_account.Account.create()
        master_ex = sdk_exchange.Exchange(master, sdk_constants.MAINNET_API_URL, meta=self.meta, spot_meta=self.spot_meta)
        intercept(master_ex.session, VenueAdapter(venue))
        response, body = thl.approve_agent_wallet(master, ex.wallet.address, exchange=master_ex, name="tradeward")
        self.assertEqual(response["status"], "ok")
        (posted,) = venue.posted
        self.assertEqual(posted, json.loads(json.dumps(body)))
        action = posted["action"]
        self.assertEqual((action["type"], action["agentAddress"], action["agentName"]), ("approveAgent", ADDRESS, "tradeward"))
        recovered = sdk_signing.recover_user_from_user_signed_action(
            action, posted["signature"], sdk_signing.APPROVE_AGENT_SIGN_TYPES if hasattr(sdk_signing, "APPROVE_AGENT_SIGN_TYPES") else [
                {"name": "hyperliquidChain", "type": "string"},
                {"name": "agentAddress", "type": "address"},
                {"name": "agentName", "type": "string"},
                {"name": "nonce", "type": "uint64"},
            ], "HyperliquidTransaction:ApproveAgent", True,
        )
        self.assertEqual(recovered, master.address)
        with self.assertRaises(ValueError):
            thl.approve_agent_wallet(master, "0x1234", exchange=master_ex)


if __name__ == "__main__":
    unittest.main()
