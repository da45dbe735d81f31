"""Tests for the client's REST, report, price and EIP-712 helpers:
``rest_sign_request``, ``price_update``, ``order_report``,
``position_report`` and ``sign_typed_data``.

Run from the repository root:

    python3 -m unittest discover -s clients/python/tests -v

``AgentTests`` run against the real agent (``agent_harness``: the binary at
``$TRADEWARD_BIN``, one fresh SoftHSM development token for the module).
Its keys:

* ``bn``: an HMAC key holding the secret the venue's documentation uses in
  its signing example, for spot orders, with ``GET /api/v3/openOrders`` on
  its read-only allowlist; MACs are recomputed here with ``hmac``;
* ``bnfut``: an Ed25519 key generated on the token, for USD-M futures;
  signatures are checked with ``refcrypto.py``;
* ``mail``: the secp256k1 key of the EIP-712 specification's example
  (``keccak256("cow")``, the "Cow" of its "Ether Mail"), allowed to sign
  typed data for the example's domain only;
* ``hl``: the published Hyperliquid test key of
  ``tests/fixtures/hyperliquid``, with the fixture's perpetual and spot
  metadata, for position reports;
* ``plain``: a secp256k1 key with no venue table.

The policy allows every symbol, except that ``bn`` may trade only LTCBTC
and BTCUSDT, the latter at most 0.5 a time. The development config lets
the test's uid also be the operator (``admin.allow_shared_uid``), so one
test halts a key through the admin socket. With a python that can import
``eth_account`` (``target/sdk-venv``), typed-data signatures are also
recovered from the typed data itself by that library.

``WireTests`` put a scripted socket server in place of the agent, to pin
what the helpers send and how they read malformed answers.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.parse
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import agent_harness  # noqa: E402
import refcrypto as ref  # noqa: E402
import tradeward as tw  # noqa: E402
from test_client import FakeAgent, ok, read_request  # noqa: E402

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "hyperliquid"
EXAMPLE = HERE.parent / "examples" / "binance_rest.py"
with open(FIXTURES / "vectors.json") as _f:
    HL_KEY: str = json.load(_f)["private_key"]  # published test key; never fund it

# The venue documentation's example secret (public; never use it for real).
BINANCE_SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"

# The EIP-712 specification's example: the key is keccak256("cow"), its
# address the "from" wallet of the mail, and the digest is published there.
COW_KEY = "0x" + ref.keccak256(b"cow").hex()
COW_ADDRESS = "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"
MAIL_DIGEST = "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
MAIL: Dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Ether Mail",
        "version": "1",
        "chainId": 1,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {
        "from": {"name": "Cow", "wallet": COW_ADDRESS},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}

KEYS_CONFIG = f"""
[keys.bn]
type = "hmac"
label = "bn"

[keys.bn.rest]
venue = "binance"
markets = ["spot"]

[[keys.bn.rest.read_only]]
method = "GET"
path = "/api/v3/openOrders"
params = ["symbol"]

[keys.bnfut]
type = "ed25519"
label = "bnfut"

[keys.bnfut.rest]
venue = "binance"
markets = ["usdm"]
recv_window_ms = 3000

[keys.mail]
type = "secp256k1"
label = "mail"

[[keys.mail.eip712.domains]]
name = "Ether Mail"
version = "1"
chain_id = 1
verifying_contract = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"

[keys.hl]
type = "secp256k1"
label = "hl"

[keys.hl.hyperliquid]
network = "mainnet"
meta = {json.dumps(str(FIXTURES / "meta.json"))}
spot_meta = {json.dumps(str(FIXTURES / "spot_meta.json"))}

[keys.plain]
type = "secp256k1"
label = "plain"

[policy.key_defaults.symbols."*"]

[policy.keys.bn.symbols.LTCBTC]

[policy.keys.bn.symbols.BTCUSDT]
max_size = "0.5"
"""

OPS = [
    "list_keys",
    "rest.sign_request",
    "price.update",
    "order.report",
    "position.report",
    "eip712.sign_typed_data",
]

LTC_ORDER = {
    "symbol": "LTCBTC",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "1",
    "price": "0.1",
}
# The documentation's query for that order, up to the timestamp the agent sets.
LTC_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp="

try:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    ETH_ACCOUNT: Optional[Tuple[Any, Any]] = (Account, encode_typed_data)
except ImportError:  # not in the standard library; target/sdk-venv has it
    ETH_ACCOUNT = None


# The agent's clock is the system clock at its start plus the monotonic time
# since, so it may lag this process's reading of the system clock a little.
CLOCK_SLACK_MS = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# The agent, shared by the tests of this module
# --------------------------------------------------------------------------

_agent: Optional[agent_harness.Agent] = None


def setUpModule() -> None:
    global _agent
    agent = agent_harness.Agent(prefix="tw-ops-")
    try:
        agent.import_key("hmac", "bn", BINANCE_SECRET)
        agent.generate_key("ed25519", "bnfut")
        info = agent.import_key("secp256k1", "mail", COW_KEY.encode())
        assert info["address"] == COW_ADDRESS, info
        agent.import_key("secp256k1", "hl", HL_KEY.encode())
        agent.generate_key("secp256k1", "plain")
        agent.configure(["bn", "bnfut", "mail", "hl", "plain"], OPS, KEYS_CONFIG)
        agent.start()
    except BaseException:
        agent.cleanup()
        raise
    _agent = agent


def tearDownModule() -> None:
    global _agent
    agent, _agent = _agent, None
    if agent is None:
        return
    try:
        rc = agent.stop()
        if rc != 0:
            raise AssertionError(f"agent exited with {rc} after SIGTERM:\n{agent.log_tail()}")
        agent.run("journal", "verify", "--config", str(agent.config))
    finally:
        agent.cleanup()


class AgentTestCase(unittest.TestCase):
    @property
    def agent(self) -> agent_harness.Agent:
        assert _agent is not None
        return _agent

    def client(self) -> tw.Client:
        c = self.agent.client()
        self.addCleanup(c.close)
        return c

    def operator(self, op: str, params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        with tw.connect(str(self.agent.tmp / "run" / "admin.sock"), timeout=30) as admin:
            return admin.call(op, params)

    def assert_agent_error(self, code: str, fn: Callable[[], Any], *fragments: str) -> tw.TradewardError:
        with self.assertRaises(tw.TradewardError) as cm:
            fn()
        e = cm.exception
        self.assertEqual(e.code, code, e.message)
        self.assertFalse(e.retryable, e)
        for f in fragments:
            self.assertIn(f, e.message)
        return e


# --------------------------------------------------------------------------
# rest.sign_request
# --------------------------------------------------------------------------


class RestTests(AgentTestCase):
    def check_hmac(self, r: tw.RestSignedRequest) -> None:
        """The MAC is HMAC-SHA256 of exactly ``query`` under the secret, and
        ``signed_query`` is the query with it appended."""
        want = hmac.new(BINANCE_SECRET, r.query.encode(), hashlib.sha256).hexdigest()
        self.assertEqual(r.signature, want)
        self.assertEqual(r.signed_query, f"{r.query}&signature={want}")
        self.assertTrue(r.query.endswith(f"&recvWindow={r.recv_window_ms}&timestamp={r.timestamp}"))

    def test_the_documentation_example_order(self) -> None:
        before = now_ms()
        r = self.client().rest_sign_request("bn", "binance", "POST", "/api/v3/order", LTC_ORDER)
        self.assertEqual((r.key, r.type, r.venue, r.method, r.path), ("bn", "hmac", "binance", "POST", "/api/v3/order"))
        self.assertEqual(r.query, LTC_QUERY + str(r.timestamp))
        self.assertGreaterEqual(r.timestamp, before - CLOCK_SLACK_MS)
        self.assertLessEqual(r.timestamp, now_ms() + CLOCK_SLACK_MS)
        self.assertEqual(r.recv_window_ms, 5000)
        self.check_hmac(r)
        self.assertEqual(r.url("https://api.binance.com/"), "https://api.binance.com/api/v3/order?" + r.signed_query)
        self.assertEqual(r.raw["query"], r.query)

    def test_a_query_string_in_any_order_gives_the_canonical_query(self) -> None:
        c = self.client()
        r = c.rest_sign_request(
            "bn", "binance", "POST", "/api/v3/order",
            "price=0.1&quantity=1&timeInForce=GTC&type=LIMIT&side=BUY&symbol=LTCBTC&recvWindow=2000",
        )
        self.assertEqual(r.query, LTC_QUERY.replace("5000", "2000") + str(r.timestamp))
        self.assertEqual(r.recv_window_ms, 2000)
        self.check_hmac(r)

    def test_an_ed25519_futures_order(self) -> None:
        c = self.client()
        (pub,) = [k.public_key for k in c.list_keys() if k.alias == "bnfut"]
        assert pub is not None
        r = c.rest_sign_request("bnfut", "binance", "POST", "/fapi/v1/order", {
            "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTX",
            "quantity": "0.010", "price": "72000", "reduceOnly": True, "newClientOrderId": "q-1",
        })
        self.assertEqual(r.type, "ed25519")
        self.assertEqual(
            r.query,
            "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTX&quantity=0.01&reduceOnly=true&price=72000"
            f"&newClientOrderId=q-1&recvWindow=3000&timestamp={r.timestamp}",
        )
        # Standard base64, percent-encoded in signed_query.
        sig = base64.b64decode(r.signature, validate=True)
        self.assertTrue(ref.ed25519_verify(pub, r.query.encode(), sig))
        self.assertEqual(r.signed_query, r.query + "&signature=" + urllib.parse.quote(r.signature, safe=""))

    def test_reads_only_from_the_allowlist(self) -> None:
        c = self.client()
        r = c.rest_sign_request("bn", "binance", "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
        self.assertEqual(r.query, f"symbol=BTCUSDT&recvWindow=5000&timestamp={r.timestamp}")
        self.check_hmac(r)
        self.assert_agent_error(
            "forbidden", lambda: c.rest_sign_request("bn", "binance", "GET", "/api/v3/account"), "read-only allowlist"
        )

    def test_refusals(self) -> None:
        c = self.client()
        self.assert_agent_error(
            "bad_params",
            lambda: c.rest_sign_request("bn", "binance", "POST", "/api/v3/order", dict(LTC_ORDER, timestamp="1")),
            "timestamp",
        )
        self.assert_agent_error(
            "bad_params",
            lambda: c.rest_sign_request("bn", "binance", "POST", "/api/v3/order", dict(LTC_ORDER, price="1e-1")),
            "price",
        )
        # The key is for spot only; the other key has no rest table at all.
        self.assert_agent_error(
            "forbidden",
            lambda: c.rest_sign_request("bn", "binance", "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": 1}),
        )
        self.assert_agent_error(
            "forbidden", lambda: c.rest_sign_request("plain", "binance", "GET", "/api/v3/openOrders"), "no [keys.plain.rest]"
        )
        e = self.assert_agent_error(
            "policy_denied",
            lambda: c.rest_sign_request("bn", "binance", "POST", "/api/v3/order", dict(LTC_ORDER, symbol="BTCUSDT", quantity="2")),
        )
        self.assertEqual([d["rule"] for d in e.denials], ["max_order_size"])
        self.assertEqual(e.denials[0]["subject"], "BTCUSDT")
        with self.assertRaises(TypeError):
            c.rest_sign_request("bn", "binance", "GET", "/api/v3/openOrders", ["symbol"])  # type: ignore[arg-type]

    def test_order_report_closes_what_the_agent_counts_open(self) -> None:
        c = self.client()
        cid = f"tw-{now_ms()}"
        c.rest_sign_request("bn", "binance", "POST", "/api/v3/order", dict(LTC_ORDER, newClientOrderId=cid))
        first = c.order_report("bn", client_id=cid)
        self.assertEqual((first.key, first.closed), ("bn", 1))
        self.assertEqual(c.order_report("bn", client_id=cid).closed, 0)
        # The agent never learns venue order ids: an oid report closes nothing.
        self.assertEqual(c.order_report("bn", oid=12345).closed, 0)
        for kwargs in ({}, {"client_id": cid, "oid": 1}):
            self.assert_agent_error("bad_params", lambda: c.order_report("bn", **kwargs), "exactly one")
        self.assert_agent_error("unknown_key", lambda: c.order_report("nope", client_id=cid))

    def test_example_script(self) -> None:
        env = dict(os.environ, TRADEWARD_SOCK=self.agent.sock)
        out = subprocess.run(
            [sys.executable, str(EXAMPLE), "--key", "bn"], capture_output=True, env=env, timeout=60, text=True
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        sent = [json.loads(line) for line in out.stdout.splitlines()]
        self.assertEqual([s["method"] for s in sent], ["POST", "GET", "DELETE"])
        for s in sent:
            url = urllib.parse.urlsplit(s["url"])
            self.assertEqual(url.netloc, "api.binance.com")
            query, _, mac = url.query.rpartition("&signature=")
            self.assertEqual(mac, hmac.new(BINANCE_SECRET, query.encode(), hashlib.sha256).hexdigest())
        self.assertIn("1 open order(s) closed", out.stderr)


# --------------------------------------------------------------------------
# price.update and position.report
# --------------------------------------------------------------------------


class PriceAndPositionTests(AgentTestCase):
    def test_price_update(self) -> None:
        c = self.client()
        before = now_ms()
        p = c.price_update("BTC", "65432.10")
        self.assertEqual((p.symbol, p.price), ("BTC", "65432.10"))
        self.assertGreaterEqual(p.at_ms, before - CLOCK_SLACK_MS)
        self.assertLessEqual(p.at_ms, now_ms() + CLOCK_SLACK_MS)
        self.assertEqual(c.price_update("ETH", Decimal("3.5E+3")).price, "3500")
        self.assertEqual(c.price_update("SOL", 150).price, "150")
        for bad in ("0", "-1", "abc"):
            self.assert_agent_error("bad_params", lambda: c.price_update("BTC", bad))
        with self.assertRaises(TypeError):
            c.price_update("BTC", 65000.5)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            c.price_update("BTC", Decimal("NaN"))

    def test_position_report(self) -> None:
        c = self.client()
        r = c.position_report("hl", "BTC", "0.01230")
        self.assertEqual((r.key, r.symbol, r.size), ("hl", "BTC", "0.0123"))
        self.assertEqual(c.position_report("hl", "ETH", Decimal("-0.50")).size, "-0.5")
        self.assertEqual(c.position_report("hl", "ETH", 0).size, "0")  # flat: forgotten
        self.assert_agent_error("bad_params", lambda: c.position_report("hl", "PURR/USDC", "1"), "spot pair")
        self.assert_agent_error("bad_params", lambda: c.position_report("bn", "BTCUSDT", "1"), "not a Hyperliquid key")
        self.assert_agent_error("bad_params", lambda: c.position_report("hl", "NOPE", "1"), "unknown Hyperliquid symbol")
        self.assert_agent_error("bad_params", lambda: c.position_report("hl", "BTC", "1e3"), "plain decimal")
        self.assert_agent_error("unknown_key", lambda: c.position_report("nope", "BTC", "1"))
        with self.assertRaises(TypeError):
            c.position_report("hl", "BTC", 0.1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# eip712.sign_typed_data
# --------------------------------------------------------------------------


def mail(**changes: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    td = copy.deepcopy(MAIL)
    for change in changes.values():
        change(td)
    return td


class TypedDataTests(AgentTestCase):
    def check(self, sig: tw.TypedDataSignature, td: Dict[str, Any]) -> None:
        """The digest is the specification's, and the signature recovers to
        the key's address (and, with eth_account, from the typed data)."""
        self.assertEqual(sig.key, "mail")
        self.assertEqual(sig.digest.hex(), MAIL_DIGEST)
        self.assertEqual(sig.address, COW_ADDRESS)
        self.assertEqual(sig.signature, sig.r + sig.s + bytes([sig.v]))
        self.assertLessEqual(int.from_bytes(sig.s, "big"), ref.SECP256K1.n // 2, "s must be low")
        pub = ref.SECP256K1.recover(sig.digest, int.from_bytes(sig.r, "big"), int.from_bytes(sig.s, "big"), sig.recovery_id)
        self.assertEqual(ref.eth_address(pub), COW_ADDRESS)
        if ETH_ACCOUNT is not None:
            account, encode = ETH_ACCOUNT
            self.assertEqual(account.recover_message(encode(full_message=td), signature=sig.signature), COW_ADDRESS)

    def test_the_specification_example(self) -> None:
        c = self.client()
        self.check(c.sign_typed_data("mail", MAIL), MAIL)

    def test_integers_may_be_strings(self) -> None:
        c = self.client()
        for chain in ("1", "0x01"):
            td = mail(chain=lambda t: t["domain"].__setitem__("chainId", chain))
            sig = c.sign_typed_data("mail", td)
            self.assertEqual(sig.digest.hex(), MAIL_DIGEST, chain)

    def test_refusals(self) -> None:
        c = self.client()
        cases: List[Tuple[str, str, Dict[str, Any], str]] = [
            ("mail", "forbidden", mail(c=lambda t: t["domain"].__setitem__("chainId", 5)), "not in this key's eip712.domains"),
            ("mail", "forbidden", mail(c=lambda t: t["domain"].__setitem__("name", "Exchange")), "Hyperliquid"),
            ("mail", "forbidden", mail(
                a=lambda t: t["types"].__setitem__("Agent", [{"name": "source", "type": "string"}]),
                b=lambda t: t.__setitem__("primaryType", "Agent"),
                c=lambda t: t.__setitem__("message", {"source": "a"}),
            ), "Hyperliquid payload"),
            ("plain", "forbidden", MAIL, "not enabled for typed data"),
            ("mail", "bad_params", mail(c=lambda t: t["types"]["Mail"][2].__setitem__("type", "string[]")), "array"),
            ("mail", "bad_params", mail(c=lambda t: t["types"]["Person"][0].__setitem__("type", "int256")), "signed integers"),
            ("mail", "bad_params", mail(c=lambda t: t["domain"].__setitem__("salt", "0x" + "00" * 32)), "salt"),
            ("mail", "bad_params", mail(c=lambda t: t["message"].__setitem__("cc", "Alice")), "not a member"),
        ]
        for key, code, td, fragment in cases:
            with self.subTest(fragment=fragment):
                self.assert_agent_error(code, lambda: c.sign_typed_data(key, td), fragment)
        self.assert_agent_error("unknown_key", lambda: c.sign_typed_data("nope", MAIL))
        with self.assertRaises(TypeError):
            c.sign_typed_data("mail", [MAIL])  # type: ignore[arg-type]

    def test_a_halt_stops_typed_data_too(self) -> None:
        c = self.client()
        self.operator("halt", {"scope": "key", "name": "mail", "reason": "testing"})
        try:
            self.assert_agent_error("policy_denied", lambda: c.sign_typed_data("mail", MAIL), "halted", "testing")
        finally:
            self.operator("resume", {"scope": "key", "name": "mail"})
        self.check(c.sign_typed_data("mail", MAIL), MAIL)


# --------------------------------------------------------------------------
# Against a scripted fake agent
# --------------------------------------------------------------------------


class WireTests(unittest.TestCase):
    def serve(self, answers: List[Dict[str, Any]]) -> Tuple[tw.Client, List[Dict[str, Any]]]:
        seen: List[Dict[str, Any]] = []

        def script(conn: Any) -> None:
            for answer in answers:
                req = read_request(conn)
                seen.append(req)
                conn.sendall(ok(req["id"], answer))

        agent = FakeAgent(script)
        self.addCleanup(agent.close)
        c = tw.connect(agent.path, timeout=5)
        self.addCleanup(c.close)
        return c, seen

    REST = {
        "key": "bn", "type": "hmac", "venue": "binance", "method": "GET", "path": "/api/v3/openOrders",
        "query": "recvWindow=5000&timestamp=7", "timestamp": 7, "recv_window_ms": 5000,
        "signature": "ab", "signed_query": "recvWindow=5000&timestamp=7&signature=ab",
    }
    TYPED = {
        "key": "mail", "digest": "0x" + "11" * 32, "signature": "0x" + "22" * 32 + "33" * 32 + "1c",
        "r": "0x" + "22" * 32, "s": "0x" + "33" * 32, "v": 28, "address": COW_ADDRESS,
    }

    def test_requests_carry_only_the_given_parameters(self) -> None:
        answers = [self.REST] * 3 + [
            {"symbol": "BTC", "price": "1.5", "at_ms": 9},
            {"key": "bn", "closed": 0},
            {"key": "bn", "closed": 0},
            {"key": "hl", "symbol": "BTC", "size": "-0.5"},
            self.TYPED,
        ]
        c, seen = self.serve(answers)
        c.rest_sign_request("bn", "binance", "GET", "/api/v3/openOrders")
        c.rest_sign_request("bn", "binance", "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
        c.rest_sign_request("bn", "binance", "GET", "/api/v3/openOrders", "symbol=BTCUSDT")
        c.price_update("BTC", Decimal("1.50"))
        c.order_report("bn", client_id="x")
        c.order_report("bn", oid=5)
        c.position_report("hl", "BTC", Decimal("-5E-1"))
        c.sign_typed_data("mail", MAIL)
        self.assertEqual([r["op"] for r in seen], ["rest.sign_request"] * 3 + [
            "price.update", "order.report", "order.report", "position.report", "eip712.sign_typed_data",
        ])
        base = {"key": "bn", "venue": "binance", "method": "GET", "path": "/api/v3/openOrders"}
        self.assertEqual(seen[0]["params"], base)
        self.assertEqual(seen[1]["params"], dict(base, params={"symbol": "BTCUSDT"}))
        self.assertEqual(seen[2]["params"], dict(base, params="symbol=BTCUSDT"))
        self.assertEqual(seen[3]["params"], {"symbol": "BTC", "price": "1.50"})
        self.assertEqual(seen[4]["params"], {"key": "bn", "client_id": "x"})
        self.assertEqual(seen[5]["params"], {"key": "bn", "oid": 5})
        self.assertEqual(seen[6]["params"], {"key": "hl", "symbol": "BTC", "size": "-0.5"})
        self.assertEqual(seen[7]["params"], {"key": "mail", "typed_data": MAIL})

    def test_results_are_decoded(self) -> None:
        c, _ = self.serve([self.REST, self.TYPED])
        r = c.rest_sign_request("bn", "binance", "GET", "/api/v3/openOrders")
        self.assertEqual((r.timestamp, r.recv_window_ms, r.signature), (7, 5000, "ab"))
        self.assertEqual(r.url("https://h"), "https://h/api/v3/openOrders?recvWindow=5000&timestamp=7&signature=ab")
        t = c.sign_typed_data("mail", MAIL)
        self.assertEqual((t.v, t.recovery_id, t.digest), (28, 1, b"\x11" * 32))
        self.assertEqual(t.hex, self.TYPED["signature"])

    def test_malformed_results_are_protocol_errors(self) -> None:
        cases: List[Tuple[Dict[str, Any], Callable[[tw.Client], Any]]] = [
            (dict(self.REST, timestamp="7"), lambda c: c.rest_sign_request("k", "binance", "GET", "/p")),
            (dict(self.REST, signed_query=None), lambda c: c.rest_sign_request("k", "binance", "GET", "/p")),
            ({"symbol": "BTC", "price": 1.5, "at_ms": 9}, lambda c: c.price_update("BTC", "1.5")),
            ({"key": "bn", "closed": -1}, lambda c: c.order_report("bn", client_id="x")),
            ({"key": "hl", "symbol": "BTC"}, lambda c: c.position_report("hl", "BTC", "1")),
            (dict(self.TYPED, v=29), lambda c: c.sign_typed_data("mail", MAIL)),
            (dict(self.TYPED, digest="0x11"), lambda c: c.sign_typed_data("mail", MAIL)),
            (dict(self.TYPED, signature="0x" + "44" * 65), lambda c: c.sign_typed_data("mail", MAIL)),
        ]
        for answer, fn in cases:
            c, _ = self.serve([answer])
            with self.assertRaises(tw.ProtocolError, msg=repr(answer)):
                fn(c)


if __name__ == "__main__":
    unittest.main()
