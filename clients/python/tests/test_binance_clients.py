"""The Binance and ccxt drop-ins, each driven through its venue library's
own methods with the library's HTTP layer intercepted (``venue_http``;
nothing leaves the machine), against the real agent:

* binance-connector ``Spot`` and binance-futures-connector ``UMFutures``,
  python-binance ``Client``, binance-sdk-spot's ``Spot`` with
  ``tradeward.binance.sdk.ConfigurationRestAPI``, and ``tradeward.ccxt.binance``;
* every signed request the library sent is checked with code we did not
  write: HMAC-SHA256 recomputed with ``hmac`` over the query as sent, with
  the venue documentation's example secret (imported into the token);
  Ed25519 verified with ``cryptography`` against the token key's public key;
* floats the bot passes arrive as exact decimal strings, without exponents.

Needs the libraries (``target/clients-venv``, made by scripts/test.sh);
skipped, saying so, without them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
import unittest
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, unquote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import agent_harness  # noqa: E402
import tradeward as tw  # noqa: E402

try:
    import ccxt  # noqa: F401
    import binance.client  # noqa: F401  (python-binance)
    import binance.spot  # noqa: F401  (binance-connector)
    import binance.um_futures  # noqa: F401  (binance-futures-connector)
    import binance_sdk_spot.spot  # noqa: F401
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from tradeward.binance import connector, python_binance, sdk
    from tradeward import ccxt as tw_ccxt
    from venue_http import Sent, VenueAdapter, intercept

    SKIP: Optional[str] = None
except ImportError as e:
    SKIP = (f"SKIPPED the Binance and ccxt drop-in tests: {sys.executable} cannot import the venue "
            f"libraries ({e}); use target/clients-venv (scripts/test.sh makes it)")

SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
CONFIG = """
[keys.bn]
type = "hmac"
label = "bn"

[keys.bn.rest]
venue = "binance"
markets = ["spot"]

[keys.bnfut]
type = "ed25519"
label = "bnfut"

[keys.bnfut.rest]
venue = "binance"
markets = ["usdm"]

[policy.keys.bn.symbols.BTCUSDT]
max_size = "1"
[policy.keys.bn.symbols.SHIBUSDT]
[policy.keys.bnfut.symbols.BTCUSDT]
max_size = "1"
"""

_agent: Optional[agent_harness.Agent] = None
_ed_public: bytes = b""


def setUpModule() -> None:
    global _agent, _ed_public
    if SKIP is not None:
        print("\n" + SKIP, file=sys.stderr)
        return
    agent = agent_harness.Agent(prefix="tw-bn-")
    try:
        agent.import_key("hmac", "bn", SECRET)
        info = agent.generate_key("ed25519", "bnfut")
        agent.configure(["bn", "bnfut"], ["list_keys", "rest.sign_request"], CONFIG)
        agent.start()
        with agent.client() as c:
            _ed_public = next(k.public_key for k in c.list_keys() if k.alias == "bnfut") or b""
        assert len(_ed_public) == 32, info
    except BaseException:
        agent.cleanup()
        raise
    _agent = agent


def tearDownModule() -> None:
    global _agent
    agent, _agent = _agent, None
    if agent is not None:
        try:
            agent.stop()
            agent.run("journal", "verify", "--config", str(agent.config))
        finally:
            agent.cleanup()


def answer(sent: "Sent") -> Tuple[int, Any]:
    """Plausible venue answers: an order echoes itself as NEW."""
    p = dict(parse_qsl(sent.query))
    if "/order" in sent.path and sent.method == "POST":
        return 200, {"symbol": p.get("symbol"), "orderId": 28, "clientOrderId": p.get("newClientOrderId", "x"),
                     "transactTime": int(p.get("timestamp", "0")), "price": p.get("price", "0"),
                     "origQty": p.get("quantity", "0"), "executedQty": "0", "status": "NEW",
                     "timeInForce": p.get("timeInForce", "GTC"), "type": p.get("type"), "side": p.get("side")}
    if "/order" in sent.path and sent.method == "DELETE":
        return 200, {"symbol": p.get("symbol"), "orderId": 28, "status": "CANCELED"}
    return 200, {}


@unittest.skipIf(SKIP is not None, SKIP or "")
class BinanceDropInTests(unittest.TestCase):
    def setUp(self) -> None:
        assert _agent is not None
        self.agent = _agent.client(timeout=10)
        self.addCleanup(self.agent.close)
        self.venue = VenueAdapter(answer)

    def signed_requests(self) -> List["Sent"]:
        return [s for s in self.venue.sent if "signature=" in s.query]

    def check_hmac(self, sent: "Sent") -> Dict[str, str]:
        """The MAC over the query as sent, recomputed here; the parameters."""
        query, _, sig = sent.query.rpartition("&signature=")
        self.assertEqual(hmac.new(SECRET, query.encode(), hashlib.sha256).hexdigest(), sig, sent.url)
        self.assertEqual(sent.headers.get("X-MBX-APIKEY"), API_KEY)
        self.assertEqual(sent.body, b"")  # everything signed is in the URL
        return dict(parse_qsl(query, strict_parsing=True))

    def check_ed25519(self, sent: "Sent") -> Dict[str, str]:
        query, _, sig = sent.query.rpartition("&signature=")
        Ed25519PublicKey.from_public_bytes(_ed_public).verify(base64.b64decode(unquote(sig)), query.encode())
        return dict(parse_qsl(query, strict_parsing=True))

    def test_binance_connector_spot(self) -> None:
        client = connector.Spot(api_key=API_KEY, agent=self.agent, key="bn")
        intercept(client.session, self.venue)
        r = client.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                             quantity=0.001, price=65000.5, newClientOrderId="bot-1")
        self.assertEqual(r["status"], "NEW")
        client.new_order(symbol="SHIBUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=1e6, price=1e-05)
        client.cancel_order(symbol="BTCUSDT", origClientOrderId="bot-1")
        first, second, cancel = self.signed_requests()
        p = self.check_hmac(first)
        self.assertEqual(p["quantity"], "0.001")
        self.assertEqual(p["price"], "65000.5")
        self.assertEqual(list(p)[:6], ["symbol", "side", "type", "timeInForce", "quantity", "price"])
        self.assertIn("timestamp", p)
        p = self.check_hmac(second)
        self.assertEqual((p["quantity"], p["price"]), ("1000000", "0.00001"))  # no exponent
        self.assertEqual(self.check_hmac(cancel)["origClientOrderId"], "bot-1")
        self.assertEqual(cancel.method, "DELETE")
        # A refusal is the agent's, typed; nothing reaches the venue.
        with self.assertRaises(tw.TradewardError) as cm:
            client.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=5.0, price=65000.0)
        self.assertEqual(cm.exception.code, "policy_denied")
        self.assertEqual(len(self.signed_requests()), 3)
        with self.assertRaises(ValueError):
            connector.Spot(api_key=API_KEY, api_secret="x", agent=self.agent, key="bn")

    def test_binance_futures_connector_umfutures(self) -> None:
        client = connector.UMFutures(key=API_KEY, agent=self.agent, agent_key="bnfut")
        intercept(client.session, self.venue)
        client.new_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTX",
                         quantity=0.002, price=70000.1, reduceOnly=True)
        (sent,) = self.signed_requests()
        self.assertEqual(sent.path, "/fapi/v1/order")
        p = self.check_ed25519(sent)
        self.assertEqual((p["quantity"], p["price"], p["reduceOnly"]), ("0.002", "70000.1", "true"))

    def test_python_binance_client(self) -> None:
        client = python_binance.Client(API_KEY, agent=self.agent, key="bn", ping=False)
        intercept(client.session, self.venue)
        r = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                quantity=0.0005, price=64999.99)
        self.assertEqual(r["status"], "NEW")
        client.cancel_order(symbol="BTCUSDT", orderId=28)
        order, cancel = self.signed_requests()
        p = self.check_hmac(order)
        self.assertEqual((p["quantity"], p["price"]), ("0.0005", "64999.99"))
        self.assertRegex(p["newClientOrderId"], r"^[.A-Z:/a-z0-9_-]{1,36}$")  # the library's own id
        self.assertEqual(self.check_hmac(cancel)["orderId"], "28")
        with self.assertRaises(tw.TradewardError) as cm:
            client.create_order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=1, price="10")
        self.assertEqual(cm.exception.code, "policy_denied", cm.exception)
        self.assertEqual(cm.exception.denials[0]["rule"], "symbol_not_allowed", cm.exception)

    def test_binance_sdk_spot(self) -> None:
        from binance_sdk_spot.spot import Spot
        from binance_sdk_spot.rest_api.models import NewOrderSideEnum, NewOrderTypeEnum, NewOrderTimeInForceEnum

        config = sdk.ConfigurationRestAPI(api_key=API_KEY, agent=self.agent, key="bn")
        spot = Spot(config_rest_api=config)
        intercept(spot.rest_api._session, self.venue)
        r = spot.rest_api.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                    time_in_force=NewOrderTimeInForceEnum.GTC, quantity=0.001, price=65000.0,
                                    new_client_order_id="sdk-1")
        self.assertEqual(r.data().status, "NEW")
        (sent,) = self.signed_requests()
        p = self.check_hmac(sent)
        self.assertEqual((p["quantity"], p["price"], p["newClientOrderId"]), ("0.001", "65000", "sdk-1"))
        self.assertEqual(p["timeInForce"], "GTC")

    def test_ccxt_binance(self) -> None:
        exchange = tw_ccxt.binance({"apiKey": API_KEY, "tradeward": {"agent": self.agent, "key": "bn"}})
        intercept(exchange.session, self.venue)
        exchange.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                     "quantity": "0.001", "price": "65000", "newClientOrderId": "ccxt-1"})
        exchange.private_delete_order({"symbol": "BTCUSDT", "origClientOrderId": "ccxt-1"})
        order, cancel = self.signed_requests()
        self.assertEqual((order.method, order.path), ("POST", "/api/v3/order"))
        p = self.check_hmac(order)
        self.assertEqual(p["newClientOrderId"], "ccxt-1")
        self.check_hmac(cancel)
        with self.assertRaises(ValueError):
            tw_ccxt.binance({"apiKey": API_KEY, "secret": "x", "tradeward": {"agent": self.agent, "key": "bn"}})


if __name__ == "__main__":
    unittest.main()
