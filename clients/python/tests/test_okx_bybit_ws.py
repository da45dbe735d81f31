"""The client's OKX, Bybit and Binance WebSocket API helpers against the
real agent: ``Client.venue_sign_request`` (OKX and Bybit v5) and
``Client.binance_ws_sign_request``, each signature recomputed with the
standard library's ``hmac`` from the venue's documented prehash, and the
asyncio client the same. Standard library only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import agent_harness  # noqa: E402
import tradeward as tw  # noqa: E402
import tradeward.aio as twa  # noqa: E402

OKX_SECRET = b"22582BD0CFF14C41EDBF1AB98506286D"
OKX_KEY = "42d0b2f1-5e7b-4d2e-9c2c-1f0e0d3a7b11"
OKX_PASSPHRASE = "Tw-pass-01!"
BYBIT_SECRET = b"Bb7s1cr3tKeyForTheTestsOnlyxxxx9"
BYBIT_KEY = "XXXXXXXXXXbybitkey"
BN_SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
BN_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"


def mac(secret: bytes, text: str) -> bytes:
    return hmac.new(secret, text.encode(), hashlib.sha256).digest()


class VenueHelperTests(unittest.TestCase):
    agent: agent_harness.Agent

    @classmethod
    def setUpClass(cls) -> None:
        agent = agent_harness.Agent(prefix="tw-venues-")
        try:
            agent.import_key("hmac", "okx", OKX_SECRET)
            agent.import_key("hmac", "bb", BYBIT_SECRET)
            agent.import_key("hmac", "bn", BN_SECRET)
            passphrase = agent.tmp / "okx.passphrase"
            passphrase.write_text(OKX_PASSPHRASE + "\n")
            os.chmod(passphrase, 0o600)
            extra = f"""
[keys.okx]
type = "hmac"
label = "okx"

[keys.okx.okx]
api_key = "{OKX_KEY}"
passphrase_file = {json.dumps(str(passphrase))}

[keys.okx.okx.instruments."BTC-USDT-SWAP"]
symbol = "BTC-PERP"
contract_size = "0.01"

[keys.bb]
type = "hmac"
label = "bb"

[keys.bb.bybit]
api_key = "{BYBIT_KEY}"

[[keys.bb.bybit.instruments]]
category = "linear"
symbol = "BTCUSDT"
policy_symbol = "BTC-PERP"

[keys.bn]
type = "hmac"
label = "bn"

[keys.bn.rest]
venue = "binance"
markets = ["spot"]

[policy.key_defaults.symbols."*"]

[policy.keys.bb]
max_order_notional = "1000"
"""
            agent.configure(["okx", "bb", "bn"], ["list_keys", "rest.sign_request"], extra)
            agent.start()
        except BaseException:
            agent.cleanup()
            raise
        cls.agent = agent

    @classmethod
    def tearDownClass(cls) -> None:
        cls.agent.cleanup()

    def test_okx_order_signed_as_okx_defines_it(self) -> None:
        with self.agent.client() as c:
            r = c.venue_sign_request("okx", "okx", "POST", "/api/v5/trade/order", {
                "instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit",
                "sz": "2", "px": "50000.1", "clOrdId": "b1"})
        self.assertEqual((r.venue, r.method, r.target), ("okx", "POST", "/api/v5/trade/order"))
        assert r.body is not None
        self.assertEqual(json.loads(r.body)["clOrdId"], "b1")
        expected = base64.b64encode(mac(OKX_SECRET, r.timestamp + "POST" + r.target + r.body)).decode()
        self.assertEqual(r.headers["OK-ACCESS-SIGN"], expected)
        self.assertEqual(r.headers["OK-ACCESS-KEY"], OKX_KEY)
        self.assertEqual(r.headers["OK-ACCESS-PASSPHRASE"], OKX_PASSPHRASE)
        self.assertEqual(r.url("https://www.okx.com/"), "https://www.okx.com/api/v5/trade/order")

    def test_bybit_order_and_refusal(self) -> None:
        with self.agent.client() as c:
            r = c.venue_sign_request("bb", "bybit", "POST", "/v5/order/create", {
                "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                "qty": "0.01", "price": "30000", "timeInForce": "GTC", "orderLinkId": "a-1"})
            assert r.body is not None
            h = r.headers
            prehash = h["X-BAPI-TIMESTAMP"] + BYBIT_KEY + h["X-BAPI-RECV-WINDOW"] + r.body
            self.assertEqual(r.prehash, prehash)
            self.assertEqual(h["X-BAPI-SIGN"], mac(BYBIT_SECRET, prehash).hex())
            with self.assertRaises(tw.TradewardError) as cm:
                c.venue_sign_request("bb", "bybit", "POST", "/v5/order/create", {
                    "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                    "qty": "1", "price": "30000", "timeInForce": "GTC"})
            self.assertEqual(cm.exception.code, "policy_denied")
            with self.assertRaises(ValueError):
                c.venue_sign_request("bb", "kraken", "POST", "/x", {})

    def test_binance_websocket_request_and_logon_refused(self) -> None:
        with self.agent.client() as c:
            r = c.binance_ws_sign_request("bn", "order.place", {
                "apiKey": BN_KEY, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                "timeInForce": "GTC", "quantity": "0.001", "price": "65000"})
            self.assertEqual(r.params["signature"], mac(BN_SECRET, r.payload).hex())
            self.assertIn("timestamp", r.params)
            req = r.request(7)
            self.assertEqual((req["id"], req["method"]), (7, "order.place"))
            with self.assertRaises(tw.TradewardError) as cm:
                c.binance_ws_sign_request("bn", "session.logon", {"apiKey": BN_KEY})
            self.assertIn(cm.exception.code, ("bad_params", "forbidden"))

    def test_asyncio_client_signs_the_same(self) -> None:
        async def run() -> tw.VenueSignedRequest:
            c = await twa.connect(self.agent.sock)
            try:
                return await c.venue_sign_request("okx", "okx", "POST", "/api/v5/trade/cancel-order",
                                                  {"instId": "BTC-USDT-SWAP", "clOrdId": "b1"})
            finally:
                await c.close()

        r = asyncio.run(run())
        assert r.body is not None
        expected = base64.b64encode(mac(OKX_SECRET, r.timestamp + "POST" + r.target + r.body)).decode()
        self.assertEqual(r.signature, expected)


if __name__ == "__main__":
    unittest.main()
