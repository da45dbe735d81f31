"""Hyperliquid signing through the real agent, from Python.

Run from the repository root:

    python3 -m unittest discover -s clients/python/tests -v
    target/sdk-venv/bin/python -m unittest discover -s clients/python/tests -v

The agent gets a fresh SoftHSM token with the published test key of
``tests/fixtures/hyperliquid/vectors.json`` imported twice: ``main``
configured for mainnet and ``test`` for testnet, both with the fixture's
asset metadata (the main perp dex, spot and the builder-deployed dex
``xyz``) and allowed to act for the vault the vectors use; ``plain`` is a
secp256k1 key without a Hyperliquid table. The identity is granted
``list_keys`` and both Hyperliquid operations. The policy allows every
symbol, caps the testnet key's orders at 1 000 000 of notional, and allows
two transfers from ``main`` to ``ALLOWED_DEST``: USDC by ``usdSend``, and
the USDC token by ``sendAsset``.

``HyperliquidClientTests`` need only the standard library: every signature
is checked with ``refcrypto.py`` (its own msgpack, action hash, EIP-712
digest and recovery, pinned to the SDK-generated vectors by
``HyperliquidReferenceTests``).

``SdkDropInTests`` drive the official SDK's own ``Exchange`` methods with the
drop-in signer of ``tradeward.hyperliquid``, offline (the SDK's ``post`` is
replaced by a recorder), and check with the SDK's own recovery that the
agent's signatures recover the key's address. They need the SDK, which is
not in the standard library: with a python that cannot import it they are
skipped, and the reason is printed.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
import unittest
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple
from unittest import mock

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import agent_harness  # noqa: E402
import refcrypto as ref  # noqa: E402
import tradeward as tw  # noqa: E402
from test_client import FakeAgent, ok, read_request  # noqa: E402

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "hyperliquid"
EXAMPLE = HERE.parent / "examples" / "hyperliquid_bot.py"
with open(FIXTURES / "vectors.json") as _f:
    FIXTURE = json.load(_f)
VECTORS: List[Dict[str, Any]] = FIXTURE["vectors"]
L1_VECTORS = [v for v in VECTORS if v["kind"] == "l1"]
# agentSendAsset carries its own (long past) nonce and needs an allowance:
# the agent refuses these vectors as they are.
L1_SIGNABLE_VECTORS = [v for v in L1_VECTORS if v["action"]["type"] != "agentSendAsset"]
USER_VECTORS = [v for v in VECTORS if v["kind"] == "user"]
TEST_KEY: str = FIXTURE["private_key"]  # published test key; never fund it
ADDRESS: str = FIXTURE["address"]
(VAULT,) = {v["vault"] for v in VECTORS if v["vault"]}
OTHER_VAULT = "0x0000000000000000000000000000000000000001"
DEST = "0x5e9ee1089755c3435139848e47e6635505d5a13a"
SDK_HEX = re.compile(r"^0x(0|[1-9a-f][0-9a-f]{0,63})$")
# The one destination the mainnet key may send USDC to (10 at a time).
ALLOWED_DEST = "0x1111111111111111111111111111111111111111"
USDC_TOKEN = "USDC:0x6d1e7cde53ba9467b783cb7c530ce054"
# Every symbol and any leverage the venue allows; a notional cap on the
# testnet key (to see a structured denial); the test vectors' builder at up
# to 1 bp on both keys, an order priority up to 0.1 bp on the mainnet key;
# one transfer allowance.
BUILDER = "0x8c967e73e7b15087c42a10d344cff4c96d877f1d"
POLICY = f"""
[policy.key_defaults]
max_leverage = 100

[policy.key_defaults.symbols."*"]

[policy.keys.test]
max_order_notional = "1000000"

[[policy.keys.test.fees]]
kind = "builder"
payee = "{BUILDER}"
max_rate = "0.0001"

[[policy.keys.main.fees]]
kind = "builder"
payee = "{BUILDER}"
max_rate = "0.0001"

[[policy.keys.main.fees]]
kind = "priority"
payee = "burn"
max_rate = "0.00001"

[[policy.keys.main.transfers]]
destination = "{ALLOWED_DEST}"
asset = "USDC"
max_amount = "10"
max_per_day = "100"

[[policy.keys.main.transfers]]
destination = "{ALLOWED_DEST}"
asset = "{USDC_TOKEN}"
max_amount = "10"
max_per_day = "100"
kinds = ["sendAsset"]
"""

try:
    import hyperliquid.exchange as sdk_exchange
    from hyperliquid.utils import constants as sdk_constants
    from hyperliquid.utils import signing as sdk_signing
    from hyperliquid.utils.types import Cloid

    import tradeward.hyperliquid as thl

    SDK_SKIP_REASON: Optional[str] = None
except ImportError as e:  # the SDK is not part of the standard library
    SDK_SKIP_REASON = (
        f"SKIPPED the official-SDK drop-in tests: {sys.executable} cannot import the Hyperliquid "
        f"SDK ({e}); run them with target/sdk-venv/bin/python (see clients/python/README.md)"
    )


def vector(name: str) -> Dict[str, Any]:
    return next(v for v in VECTORS if v["name"] == name)


def now_ms() -> int:
    return int(time.time() * 1000)


def order_action(p: str = "50000", s: str = "0.001", asset: int = 0) -> Dict[str, Any]:
    return {
        "type": "order",
        "orders": [{"a": asset, "b": True, "p": p, "s": s, "r": False, "t": {"limit": {"tif": "Gtc"}}}],
        "grouping": "na",
    }


def recover_l1(
    action: Dict[str, Any],
    signature: Dict[str, Any],
    nonce: int,
    vault: Optional[str],
    expires_after: Optional[int],
    is_mainnet: bool,
) -> Tuple[bytes, str]:
    """Independently hash the posted action and recover its signer:
    (digest, EIP-55 address)."""
    digest = ref.hyperliquid_l1_digest(
        ref.hyperliquid_action_hash(ref.msgpack_encode(action), nonce, vault, expires_after), is_mainnet
    )
    pub = ref.SECP256K1.recover(digest, int(signature["r"], 16), int(signature["s"], 16), signature["v"] - 27)
    return digest, ref.eth_address(pub)


# --------------------------------------------------------------------------
# The agent, shared by the classes of this module
# --------------------------------------------------------------------------

_agent: Optional[agent_harness.Agent] = None


def hl_agent(extra_ops: Tuple[str, ...] = (), extra_policy: str = "", prefix: str = "tw-hl-") -> agent_harness.Agent:
    """The agent of this module's tests (see the module docstring), with
    ``extra_ops`` granted and ``extra_policy`` appended to the policy."""
    agent = agent_harness.Agent(prefix=prefix)
    try:
        for label in ("hl-main", "hl-test"):
            info = agent.import_key("secp256k1", label, TEST_KEY.encode())
            assert info["address"] == ADDRESS, info
        agent.generate_key("secp256k1", "plain")
        extra = ""
        for alias, label, network in (("main", "hl-main", "mainnet"), ("test", "hl-test", "testnet")):
            extra += (
                f'\n[keys.{alias}]\ntype = "secp256k1"\nlabel = "{label}"\n'
                f'\n[keys.{alias}.hyperliquid]\nnetwork = "{network}"\nvaults = ["{VAULT}"]\n'
                f"meta = {json.dumps(str(FIXTURES / 'meta.json'))}\n"
                f"spot_meta = {json.dumps(str(FIXTURES / 'spot_meta.json'))}\n"
                f"perp_dexs = {json.dumps(str(FIXTURES / 'perp_dexs.json'))}\n"
                f"dex_meta = {{ xyz = {json.dumps(str(FIXTURES / 'meta_xyz.json'))} }}\n"
            )
        extra += '\n[keys.plain]\ntype = "secp256k1"\nlabel = "plain"\n'
        agent.configure(
            ["main", "test", "plain"],
            ["list_keys", "hyperliquid.sign_l1_action", "hyperliquid.sign_user_action", "order.report", *extra_ops],
            extra + POLICY + extra_policy,
        )
        agent.start()
    except BaseException:
        agent.cleanup()
        raise
    return agent


def setUpModule() -> None:
    global _agent
    if SDK_SKIP_REASON is not None:
        print("\n" + SDK_SKIP_REASON, file=sys.stderr)
    _agent = hl_agent()


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
# The reference code, pinned to the SDK's vectors
# --------------------------------------------------------------------------


class HyperliquidReferenceTests(unittest.TestCase):
    def test_msgpack_hash_and_digest_match_the_sdk_vectors(self) -> None:
        self.assertGreaterEqual(len(L1_VECTORS), 30)
        for v in L1_VECTORS:
            action = json.loads(v["action_json"])
            self.assertEqual(ref.msgpack_encode(action).hex(), v["msgpack"], v["name"])
            h = ref.hyperliquid_action_hash(bytes.fromhex(v["msgpack"]), v["nonce"], v["vault"], v["expires_after"])
            self.assertEqual(h.hex(), v["action_hash"], v["name"])
            self.assertEqual(ref.hyperliquid_l1_digest(h, v["is_mainnet"]).hex(), v["digest"], v["name"])

    def test_user_signed_digests_match_the_sdk_vectors(self) -> None:
        self.assertEqual(len({v["action"]["type"] for v in USER_VECTORS}), 7)
        for v in USER_VECTORS:
            self.assertEqual(ref.hyperliquid_user_digest(json.loads(v["action_json"])).hex(), v["digest"], v["name"])

    def test_sdk_vector_signatures_recover_the_test_address(self) -> None:
        for v in L1_VECTORS[:3]:
            action = json.loads(v["action_json"])
            digest, addr = recover_l1(action, v["signature"], v["nonce"], v["vault"], v["expires_after"], v["is_mainnet"])
            self.assertEqual(digest.hex(), v["digest"])
            self.assertEqual(addr, ADDRESS)

    def test_msgpack_integer_and_string_sizes(self) -> None:
        cases = [
            (0, "00"), (127, "7f"), (128, "cc80"), (256, "cd0100"), (2**16, "ce00010000"),
            (2**32, "cf0000000100000000"), (-1, "ff"), (-32, "e0"), (-33, "d0df"),
            (-129, "d1ff7f"), (-(2**31), "d280000000"), ("", "a0"), ("x" * 32, "d920" + "78" * 32),
        ]
        for value, want in cases:
            self.assertEqual(ref.msgpack_encode(value).hex(), want, value)


# --------------------------------------------------------------------------
# The standard-library client against the real agent
# --------------------------------------------------------------------------


class HyperliquidClientTests(AgentTestCase):
    def check_signed(
        self,
        r: tw.HyperliquidSignedAction,
        is_mainnet: bool,
        vault: Optional[str] = None,
        expires_after: Optional[int] = None,
    ) -> None:
        """The result is complete and its signature covers exactly the
        canonical action, nonce, vault and expiry it reports."""
        self.assertEqual(r.address, ADDRESS)
        self.assertEqual(r.vault_address, vault)
        self.assertEqual(r.expires_after, expires_after)
        sig = r.signature
        self.assertEqual(set(sig), {"r", "s", "v"})
        self.assertIn(sig["v"], (27, 28))
        self.assertRegex(sig["r"], SDK_HEX)
        self.assertRegex(sig["s"], SDK_HEX)
        self.assertLessEqual(int(sig["s"], 16), ref.SECP256K1.n // 2, "s must be low")
        self.assertEqual(len(r.signature_bytes), 65)
        digest, addr = recover_l1(r.action, sig, r.nonce, vault, expires_after, is_mainnet)
        self.assertEqual(r.digest, digest)
        self.assertEqual(addr, ADDRESS)
        body = r.exchange_payload()
        self.assertEqual(
            body,
            {"action": r.action, "nonce": r.nonce, "signature": sig, "vaultAddress": vault, "expiresAfter": expires_after},
        )
        json.dumps(body, allow_nan=False)  # postable as is

    def sign_vector(self, c: tw.Client, v: Dict[str, Any], nonce: Optional[int] = None) -> tw.HyperliquidSignedAction:
        return c.sign_l1_action(
            "main" if v["is_mainnet"] else "test",
            v["action"],
            nonce=nonce,
            vault_address=v["vault"],
            expires_after=v["expires_after"],
            is_mainnet=v["is_mainnet"],
        )

    def test_hello_lists_the_hyperliquid_operations(self) -> None:
        info = self.client().hello()
        self.assertEqual(sorted(info.keys), ["main", "plain", "test"])
        self.assertIn("hyperliquid.sign_l1_action", info.ops)
        self.assertIn("hyperliquid.sign_user_action", info.ops)
        self.assertNotIn("sign", info.ops)

    def test_every_l1_action_type_of_the_sdk_vectors(self) -> None:
        c = self.client()
        last = {"main": 0, "test": 0}
        types = set()
        for v in L1_SIGNABLE_VECTORS:
            r = self.sign_vector(c, v)
            # The canonical action is what the SDK built, key order included.
            self.assertEqual(json.dumps(r.action, separators=(",", ":")), v["action_json"], v["name"])
            self.assertEqual(ref.msgpack_encode(r.action).hex(), v["msgpack"], v["name"])
            # Agent-assigned nonces strictly increase, per key.
            self.assertGreater(r.nonce, last[r.key], v["name"])
            last[r.key] = r.nonce
            self.assertEqual(r.key, "main" if v["is_mainnet"] else "test")
            self.check_signed(r, v["is_mainnet"], v["vault"], v["expires_after"])
            types.add(r.action["type"])
        self.assertEqual(
            types,
            {"order", "cancel", "cancelByCloid", "modify", "batchModify", "updateLeverage",
             "updateIsolatedMargin", "scheduleCancel", "noop"},
        )

    def test_assigned_nonce_is_the_time_in_ms_or_later(self) -> None:
        # The current time, unless a nonce used before is later (then one
        # more than that); no test here pushes the mainnet key's nonces
        # ahead of the clock. The agent's clock is the system clock at its
        # start plus the monotonic time since, so it may lag this process's
        # reading of the system clock by a millisecond or two.
        before = now_ms()
        r = self.client().sign_l1_action("main", order_action(), is_mainnet=True)
        self.assertGreaterEqual(r.nonce, before - 1000)
        self.assertLess(r.nonce, now_ms() + 10_000)

    def test_canonical_re_encoding(self) -> None:
        sent = {
            "grouping": "na",
            "builder": {"f": 10, "b": "0x8C967E73E7B15087C42A10D344CFF4C96D877F1D"},
            "orders": [
                {"t": {"limit": {"tif": "Alo"}}, "s": "1.50", "r": False, "p": "3000.10",
                 "c": "0xABCDEF0123456789ABCDEF0123456789", "b": False, "a": 1}
            ],
            "type": "order",
        }
        r = self.client().sign_l1_action("main", sent, is_mainnet=True)
        self.assertEqual(
            json.dumps(r.action, separators=(",", ":")),
            '{"type":"order","orders":[{"a":1,"b":false,"p":"3000.1","s":"1.5","r":false,'
            '"t":{"limit":{"tif":"Alo"}},"c":"0xabcdef0123456789abcdef0123456789"}],"grouping":"na",'
            '"builder":{"b":"0x8c967e73e7b15087c42a10d344cff4c96d877f1d","f":10}}',
        )
        self.check_signed(r, True)
        # What was sent would hash differently: posting it would fail.
        self.assertNotEqual(ref.msgpack_encode(sent), ref.msgpack_encode(r.action))

    def test_vault_and_expiry(self) -> None:
        c = self.client()
        expires = now_ms() + 60_000
        action = {"type": "cancel", "cancels": [{"a": 4, "o": 123456789}]}
        r = c.sign_l1_action("test", action, vault_address=VAULT, expires_after=expires, is_mainnet=False)
        self.check_signed(r, False, VAULT, expires)
        # An all-caps spelling of an allowed vault is the same vault; the
        # result gives it in lower case, as it was hashed.
        upper = "0x" + VAULT[2:].upper()
        r = c.sign_l1_action("main", action, vault_address=upper, is_mainnet=True)
        self.check_signed(r, True, VAULT)

    def test_supplied_nonce(self) -> None:
        c = self.client()
        n = now_ms() - 5_000
        r = c.sign_l1_action("main", order_action(), nonce=n, is_mainnet=True)
        self.assertEqual(r.nonce, n)
        self.check_signed(r, True)

    def test_wrong_network(self) -> None:
        c = self.client()
        self.assert_agent_error(
            "forbidden", lambda: c.sign_l1_action("main", order_action(), is_mainnet=False), "mainnet only"
        )
        self.assert_agent_error(
            "forbidden", lambda: c.sign_l1_action("test", order_action(), is_mainnet=True), "testnet only"
        )
        v = vector("usd_send_mainnet")
        self.assert_agent_error("forbidden", lambda: c.sign_user_action("main", v["action"], is_mainnet=False))

    def test_vault_not_allowed(self) -> None:
        c = self.client()
        self.assert_agent_error(
            "forbidden",
            lambda: c.sign_l1_action("main", order_action(), vault_address=OTHER_VAULT, is_mainnet=True),
            OTHER_VAULT,
            "keys.main.hyperliquid.vaults",
        )

    def test_key_without_a_hyperliquid_table(self) -> None:
        c = self.client()
        self.assert_agent_error(
            "forbidden", lambda: c.sign_l1_action("plain", order_action(), is_mainnet=True), "[keys.plain.hyperliquid]"
        )
        self.assert_agent_error("unknown_key", lambda: c.sign_l1_action("nope", order_action(), is_mainnet=True))

    def test_reused_nonce(self) -> None:
        c = self.client()
        n = now_ms()
        c.sign_l1_action("main", order_action(), nonce=n, is_mainnet=True)
        e = self.assert_agent_error(
            "bad_params", lambda: c.sign_l1_action("main", order_action(), nonce=n, is_mainnet=True), "already used"
        )
        self.assertIn(str(n), e.message)
        # Nonces are per key: the testnet key has not used it.
        c.sign_l1_action("test", order_action(), nonce=n, is_mainnet=False)
        # An agent-assigned nonce never collides with a supplied one.
        ahead = now_ms() + 1_000
        c.sign_l1_action("test", order_action(), nonce=ahead, is_mainnet=False)
        self.assertGreater(c.sign_l1_action("test", order_action(), is_mainnet=False).nonce, ahead)

    def test_nonce_outside_the_venue_window(self) -> None:
        c = self.client()
        day = 24 * 3600 * 1000
        for n in (now_ms() - 3 * day, now_ms() + 2 * day, 1):
            self.assert_agent_error(
                "bad_params", lambda: c.sign_l1_action("main", order_action(), nonce=n, is_mainnet=True), "window"
            )

    def test_bad_numbers(self) -> None:
        c = self.client()
        cases = [
            ({"p": "NaN"}, "orders[0].p"),
            ({"p": "-1"}, "must not have a sign"),
            ({"p": "1e3"}, "must not use an exponent"),
            ({"p": "0"}, "greater than zero"),
            ({"p": "050000"}, "leading zeros"),
            ({"p": ".5"}, "orders[0].p"),
            ({"p": " 50000"}, "whitespace"),
            ({"p": "50000.5"}, "significant figures"),
            ({"s": "0.0000001"}, "szDecimals of BTC"),
            ({"s": "0"}, "orders[0].s"),
            ({"p": 50000}, "expected a string"),
            ({"p": 50000.0}, "expected a string"),
            ({"a": 9999}, "unknown asset index 9999"),
            ({"a": 3}, "MATIC is delisted"),
        ]
        for change, why in cases:
            action = order_action()
            action["orders"][0].update(change)
            self.assert_agent_error(
                "bad_params", lambda: c.sign_l1_action("main", action, is_mainnet=True), why
            )

    def test_other_malformed_actions(self) -> None:
        c = self.client()
        lev = {"type": "updateLeverage", "asset": 0, "isCross": True, "leverage": 50}
        extra = order_action()
        extra["orders"][0]["x"] = 1
        cases: List[Tuple[Dict[str, Any], str]] = [
            ({"type": "launch"}, "unknown action type"),
            ({"type": "setReferrer", "code": "X"}, "unknown action type"),
            (extra, "orders[0].x: unknown field"),
            ({"type": "cancel", "cancels": []}, "must not be empty"),
            (lev, "maximum leverage of BTC (40)"),
            ({"type": "updateIsolatedMargin", "asset": 10000, "isBuy": True, "ntli": 5}, "perps only"),
            ({"type": "scheduleCancel", "time": None}, "time"),
        ]
        for action, why in cases:
            self.assert_agent_error("bad_params", lambda: c.sign_l1_action("main", action, is_mainnet=True), why)
        # The operation's own parameters.
        self.assert_agent_error(
            "bad_params", lambda: c.sign_l1_action("main", order_action(), nonce=-1, is_mainnet=True), "nonce"
        )
        self.assert_agent_error(
            "bad_params",
            lambda: c.sign_l1_action("main", order_action(), is_mainnet="yes"),  # type: ignore[arg-type]
            "is_mainnet",
        )
        with self.assertRaises(TypeError):
            c.sign_l1_action("main", [order_action()], is_mainnet=True)  # type: ignore[arg-type]

    def test_the_wrong_operation_for_the_action(self) -> None:
        c = self.client()
        self.assert_agent_error(
            "bad_params", lambda: c.sign_user_action("main", order_action(), is_mainnet=True), "sign_l1_action"
        )
        v = vector("usd_send_mainnet")
        self.assert_agent_error(
            "bad_params", lambda: c.sign_l1_action("main", v["action"], is_mainnet=True), "sign_user_action"
        )

    def test_user_signed_actions_without_an_allowance_are_denied(self) -> None:
        # None of the vectors' destinations or grantees is allowed.
        c = self.client()
        seen = set()
        for v in USER_VECTORS:
            action = dict(v["action"])
            key = "main" if v["is_mainnet"] else "test"
            # A fresh nonce, so that the denial is the policy's, not the window's.
            action["time" if "time" in action else "nonce"] = now_ms()
            e = self.assert_agent_error(
                "policy_denied", lambda: c.sign_user_action(key, action, is_mainnet=v["is_mainnet"])
            )
            rule = "approval_not_allowed" if action["type"].startswith("approve") else "transfer_not_allowed"
            self.assertEqual([d["rule"] for d in e.denials], [rule], e)
            self.assertEqual(e.denials[0]["scope"], {"key": key})
            seen.add(action["type"])
        self.assertEqual(
            seen,
            {"usdSend", "spotSend", "withdraw3", "usdClassTransfer", "approveAgent", "approveBuilderFee", "sendAsset"},
        )

    def test_a_transfer_the_policy_allows_is_signed(self) -> None:
        c = self.client()
        action = {"type": "usdSend", "destination": ALLOWED_DEST, "amount": "2.50", "time": now_ms()}
        r = c.sign_user_action("main", action, is_mainnet=True)
        # Filled in as the SDK fills them; the amount is signed as written.
        self.assertEqual(
            r.action,
            {"destination": ALLOWED_DEST, "amount": "2.50", "time": action["time"], "type": "usdSend",
             "signatureChainId": "0x66eee", "hyperliquidChain": "Mainnet"},
        )
        self.assertEqual(r.nonce, action["time"])
        self.assertEqual((r.vault_address, r.expires_after, r.address), (None, None, ADDRESS))
        digest = ref.hyperliquid_user_digest(r.action)
        self.assertEqual(r.digest, digest)
        sig = r.signature
        pub = ref.SECP256K1.recover(digest, int(sig["r"], 16), int(sig["s"], 16), sig["v"] - 27)
        self.assertEqual(ref.eth_address(pub), ADDRESS)
        # Its nonce is used now, like any other.
        self.assert_agent_error("bad_params", lambda: c.sign_user_action("main", action, is_mainnet=True), "already used")
        # Above the allowance's amount, to another destination, on the key
        # without allowances.
        big = dict(action, amount="10.01", time=now_ms() + 1)
        e = self.assert_agent_error("policy_denied", lambda: c.sign_user_action("main", big, is_mainnet=True))
        self.assertEqual(e.denials[0]["rule"], "transfer_amount")
        self.assertEqual((e.denials[0]["limit"], e.denials[0]["observed"]), ("10", "10.01"))
        other = dict(action, destination=DEST, time=now_ms() + 2)
        e = self.assert_agent_error("policy_denied", lambda: c.sign_user_action("main", other, is_mainnet=True))
        self.assertEqual(e.denials[0]["rule"], "transfer_not_allowed")
        self.assertEqual(e.denials[0]["subject"], DEST)
        e = self.assert_agent_error(
            "policy_denied", lambda: c.sign_user_action("test", dict(action, time=now_ms() + 3), is_mainnet=False)
        )
        self.assertEqual(e.denials[0]["rule"], "transfer_not_allowed")

    def test_policy_denial_of_an_order_is_structured(self) -> None:
        c = self.client()
        big = order_action(p="50000", s="30")  # 1 500 000 of notional; the test key allows 1 000 000
        e = self.assert_agent_error(
            "policy_denied", lambda: c.sign_l1_action("test", big, is_mainnet=False), "max_order_notional"
        )
        (d,) = e.denials
        self.assertEqual(d["rule"], "max_order_notional")
        self.assertEqual(d["scope"], {"key": "test"})
        self.assertEqual((d["limit"], d["observed"]), ("1000000", "1500000"))
        # A denied request uses no nonce.
        n = now_ms() - 1_000
        self.assert_agent_error("policy_denied", lambda: c.sign_l1_action("test", big, nonce=n, is_mainnet=False))
        self.assertEqual(c.sign_l1_action("test", order_action(), nonce=n, is_mainnet=False).nonce, n)

    def test_pipelined_signing_assigns_distinct_increasing_nonces(self) -> None:
        c = self.client()
        reqs = [
            ("hyperliquid.sign_l1_action",
             {"key": "main", "action": {"type": "cancel", "cancels": [{"a": 0, "o": i}]}, "is_mainnet": True})
            for i in range(20)
        ]
        results = [tw.HyperliquidSignedAction.from_result(r.unwrap()) for r in c.call_many(reqs)]
        nonces = [r.nonce for r in results]
        self.assertEqual(len(set(nonces)), 20)
        for r in results[:3]:
            self.check_signed(r, True)

    def test_assigned_nonces_keep_increasing_across_a_restart(self) -> None:
        c = self.agent.client()
        ahead = now_ms() + 120_000
        c.sign_l1_action("test", order_action(), nonce=ahead, is_mainnet=False)
        c.close()
        self.assertEqual(self.agent.stop(), 0, self.agent.log_tail())
        self.agent.start()
        c = self.client()
        after = c.sign_l1_action("test", order_action(), is_mainnet=False)
        self.assertGreater(after.nonce, ahead)
        self.assert_agent_error(
            "bad_params", lambda: c.sign_l1_action("test", order_action(), nonce=ahead, is_mainnet=False), "already used"
        )

    def test_example_bot(self) -> None:
        env = dict(os.environ, TRADEWARD_SOCK=self.agent.sock)
        out = subprocess.run(
            [sys.executable, str(EXAMPLE), "--key", "main"],
            capture_output=True, env=env, timeout=60, text=True,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        bodies = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        self.assertGreaterEqual(len(bodies), 2, out.stdout)
        for body in bodies:
            _, addr = recover_l1(
                body["action"], body["signature"], body["nonce"], body["vaultAddress"], body["expiresAfter"], True
            )
            self.assertEqual(addr, ADDRESS, body)


class HyperliquidWireTests(unittest.TestCase):
    """What the client sends and how it reads answers, with a scripted agent."""

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

    @staticmethod
    def result(**changes: Any) -> Dict[str, Any]:
        r: Dict[str, Any] = {
            "key": "k",
            "action": {"type": "cancel", "cancels": [{"a": 0, "o": 1}]},
            "nonce": 1700000000000,
            "signature": {"r": "0x00" + "ab" * 31, "s": "0x0000" + "cd" * 30, "v": 27},
            "digest": "0x" + "11" * 32,
            "address": ADDRESS,
        }
        r.update(changes)
        return r

    def test_requests_carry_only_the_given_parameters(self) -> None:
        c, seen = self.serve([self.result()] * 3)
        action = {"type": "cancel", "cancels": [{"a": 0, "o": 1}]}
        c.sign_l1_action("k", action, is_mainnet=True)
        c.sign_l1_action("k", action, nonce=5, vault_address=VAULT, expires_after=6, is_mainnet=False)
        c.sign_user_action("k", {"type": "usdSend"}, is_mainnet=True)
        self.assertEqual(seen[0]["op"], "hyperliquid.sign_l1_action")
        self.assertEqual(seen[0]["params"], {"key": "k", "action": action, "is_mainnet": True})
        self.assertEqual(
            seen[1]["params"],
            {"key": "k", "action": action, "is_mainnet": False, "nonce": 5, "vault_address": VAULT, "expires_after": 6},
        )
        self.assertEqual(seen[2]["op"], "hyperliquid.sign_user_action")
        self.assertEqual(seen[2]["params"], {"key": "k", "action": {"type": "usdSend"}, "is_mainnet": True})

    def test_signature_is_spelt_as_the_sdk_spells_it(self) -> None:
        c, _ = self.serve([self.result(vault_address=VAULT, expires_after=7)])
        r = c.sign_l1_action("k", {"type": "cancel"}, is_mainnet=True)
        self.assertEqual(r.signature, {"r": "0x" + "ab" * 31, "s": "0x" + "cd" * 30, "v": 27})
        self.assertEqual(r.signature_bytes, bytes.fromhex("00" + "ab" * 31 + "0000" + "cd" * 30 + "1b"))
        self.assertEqual(r.digest, b"\x11" * 32)
        self.assertEqual((r.vault_address, r.expires_after, r.nonce), (VAULT, 7, 1700000000000))
        self.assertEqual(r.exchange_payload()["vaultAddress"], VAULT)
        self.assertEqual(r.exchange_payload()["expiresAfter"], 7)

    def test_malformed_results_are_protocol_errors(self) -> None:
        bad = [
            self.result(signature={"r": "0x01", "s": "0x" + "cd" * 32, "v": 27}),
            self.result(signature={"r": "0x" + "ab" * 32, "s": "0x" + "cd" * 32, "v": 29}),
            self.result(signature={"r": "0x" + "ab" * 32, "s": "0x" + "cd" * 32, "v": True}),
            self.result(nonce=-1),
            self.result(nonce="1"),
            self.result(action=[1]),
            self.result(digest="0x11"),
        ]
        for answer in bad:
            c, _ = self.serve([answer])
            with self.assertRaises(tw.ProtocolError, msg=repr(answer)):
                c.sign_l1_action("k", {"type": "cancel"}, is_mainnet=True)


# --------------------------------------------------------------------------
# The drop-in signer for the official SDK
# --------------------------------------------------------------------------


@unittest.skipIf(SDK_SKIP_REASON is not None, SDK_SKIP_REASON or "")
class SdkDropInTests(AgentTestCase):
    meta: ClassVar[Dict[str, Any]]
    spot_meta: ClassVar[Dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        with open(FIXTURES / "meta.json") as f:
            cls.meta = json.load(f)
        with open(FIXTURES / "spot_meta.json") as f:
            cls.spot_meta = json.load(f)

    @classmethod
    def tearDownClass(cls) -> None:
        thl.uninstall()

    def setUp(self) -> None:
        # Exchange methods take their nonce from the clock; two calls in the
        # same millisecond would share one, and the agent would refuse the
        # second (as the venue would). Make the clock strictly increasing.
        clock = itertools.count(now_ms())
        patcher = mock.patch.object(sdk_exchange, "get_timestamp_ms", lambda: next(clock))
        patcher.start()
        self.addCleanup(patcher.stop)
        self.posted: List[Dict[str, Any]] = []

    def exchange(self, key: str = "main", *, mainnet: bool = True, verify: bool = True, **kwargs: Any) -> Any:
        """An SDK Exchange signing with ``key`` in the agent, with its HTTP
        post replaced by a recorder: nothing leaves the machine."""
        ex = thl.agent_exchange(
            self.client(),
            key,
            sdk_constants.MAINNET_API_URL if mainnet else sdk_constants.TESTNET_API_URL,
            meta=self.meta,
            spot_meta=self.spot_meta,
            verify=verify,
            **kwargs,
        )

        def post(path: str, payload: Any = None) -> Any:
            self.assertEqual(path, "/exchange")
            self.posted.append(json.loads(json.dumps(payload)))  # exactly what would go on the wire
            return {"status": "ok", "response": {"type": "default"}}

        ex.post = post
        return ex

    def assert_posted_recover(self, n: int, is_mainnet: bool) -> None:
        self.assertEqual(len(self.posted), n)
        for body in self.posted:
            recovered = sdk_signing.recover_agent_or_user_from_l1_action(
                body["action"], body["signature"], body["vaultAddress"], body["nonce"], body["expiresAfter"], is_mainnet
            )
            self.assertEqual(recovered, ADDRESS, body)
            for part in ("r", "s"):
                self.assertRegex(body["signature"][part], SDK_HEX)

    def test_the_wallet_is_a_stand_in(self) -> None:
        ex = self.exchange()
        self.assertIsInstance(ex.wallet, thl.AgentWallet)
        self.assertEqual(ex.wallet.address, ADDRESS)
        self.assertFalse(hasattr(ex.wallet, "key"))
        with self.assertRaises(thl.UnsupportedActionError):
            ex.wallet.sign_message(b"anything")
        # The SDK's own signing module is not patched: called directly with
        # the stand-in, it reaches sign_message and fails.
        with self.assertRaises(thl.UnsupportedActionError):
            sdk_signing.sign_l1_action(ex.wallet, order_action(), None, now_ms(), None, True)

    def test_sdk_orders_modifies_cancels_and_more_recover_the_key_address(self) -> None:
        ex = self.exchange()
        gtc = {"limit": {"tif": "Gtc"}}
        self.assertEqual(ex.order("BTC", True, 0.001, 50000.0, gtc)["status"], "ok")
        ex.order("ETH", False, 0.5, 3000.5, {"limit": {"tif": "Alo"}}, reduce_only=True, cloid=Cloid.from_int(7))
        ex.order("BTC", False, 0.01, 69000.0, {"trigger": {"triggerPx": 70000.0, "isMarket": True, "tpsl": "tp"}},
                 reduce_only=True)
        ex.order("PURR/USDC", True, 100.0, 0.2, gtc)
        ex.order("ETH", True, 0.05, 3100.1, {"limit": {"tif": "Ioc"}}, builder={"b": "0x8C967E73E7B15087C42A10D344CFF4C96D877F1D", "f": 10})
        ex.bulk_orders(
            [
                {"coin": "SOL", "is_buy": True, "sz": 1.25, "limit_px": 145.37, "order_type": gtc, "reduce_only": False},
                {"coin": "kPEPE", "is_buy": False, "sz": 25000.0, "limit_px": 0.0125, "order_type": gtc, "reduce_only": False},
            ]
        )
        ex.market_open("ETH", True, 0.1, px=3000.0)
        ex.modify_order(987654321, "ETH", True, 0.75, 2999.9, gtc)
        ex.modify_order(Cloid.from_int(99), "BTC", False, 0.5, 61000.0, gtc, cloid=Cloid.from_int(99))
        ex.cancel("BTC", 123456789)
        ex.cancel_by_cloid("ETH", Cloid.from_int(7))
        ex.bulk_cancel([{"coin": "ETH", "oid": 1}, {"coin": "PURR/USDC", "oid": 2}])
        ex.update_leverage(10, "BTC", is_cross=False)
        ex.update_isolated_margin(12.5, "ETH")
        ex.schedule_cancel(now_ms() + 60_000)
        ex.schedule_cancel(None)
        self.assert_posted_recover(16, True)
        self.assertEqual(
            [b["action"]["type"] for b in self.posted],
            ["order"] * 7 + ["batchModify"] * 2 + ["cancel", "cancelByCloid", "cancel", "updateLeverage",
                                                   "updateIsolatedMargin", "scheduleCancel", "scheduleCancel"],
        )
        nonces = [b["nonce"] for b in self.posted]
        self.assertEqual(nonces, sorted(set(nonces)))

    def test_testnet_vault_and_expiry(self) -> None:
        ex = self.exchange("test", mainnet=False, vault_address=VAULT)
        expires = now_ms() + 60_000
        ex.set_expires_after(expires)
        ex.order("ETH", True, 1.0, 2000.0, {"limit": {"tif": "Gtc"}})
        ex.cancel("ETH", 5)
        self.assert_posted_recover(2, False)
        for body in self.posted:
            self.assertEqual(body["vaultAddress"], VAULT)
            self.assertEqual(body["expiresAfter"], expires)

    def test_refusals_post_nothing(self) -> None:
        ex = self.exchange()
        gtc = {"limit": {"tif": "Gtc"}}
        for call in (
            lambda: ex.usd_transfer(1.0, DEST),
            lambda: ex.spot_transfer(1.0, DEST, "PURR:0xc1fb593aeffbeb02f85e0308e9956a90"),
            lambda: ex.withdraw_from_bridge(1.0, DEST),
            lambda: ex.usd_class_transfer(1.0, True),
            lambda: ex.approve_agent("bot"),
            lambda: ex.approve_builder_fee(DEST, "0.001%"),
        ):
            e = self.assert_agent_error("policy_denied", call)
            self.assertIn(e.denials[0]["rule"], ("transfer_not_allowed", "approval_not_allowed"), e)
        for call in (
            lambda: ex.set_referrer("FRIEND"),
            lambda: ex.vault_usd_transfer(VAULT, True, 1_000_000),
            lambda: ex.send_asset(DEST, "", "spot", "USDC", 1.0),
            lambda: ex.order("BTC", True, 0.001, 50000.5, gtc),  # 6 significant figures
        ):
            self.assert_agent_error("bad_params", call)
        with self.assertRaises(thl.UnsupportedActionError):
            ex.multi_sig(DEST, {"type": "noop"}, [], now_ms())
        self.assert_agent_error("forbidden", lambda: self.exchange(mainnet=False).order("BTC", True, 0.001, 50000.0, gtc))
        self.assert_agent_error(
            "forbidden", lambda: self.exchange(vault_address=OTHER_VAULT).order("BTC", True, 0.001, 50000.0, gtc)
        )
        self.assertEqual(self.posted, [])

    def test_sdk_transfer_the_policy_allows_recovers_the_key_address(self) -> None:
        ex = self.exchange()
        ex.usd_transfer(2.5, ALLOWED_DEST)
        (body,) = self.posted
        self.assertEqual(
            body["action"],
            {"destination": ALLOWED_DEST, "amount": "2.5", "time": body["nonce"], "type": "usdSend",
             "signatureChainId": "0x66eee", "hyperliquidChain": "Mainnet"},
        )
        recovered = sdk_signing.recover_user_from_user_signed_action(
            dict(body["action"]), body["signature"], sdk_signing.USD_SEND_SIGN_TYPES,
            "HyperliquidTransaction:UsdSend", True,
        )
        self.assertEqual(recovered, ADDRESS)

    def test_sdk_noop_builder_dex_orders_and_send_asset_recover_the_key_address(self) -> None:
        from hyperliquid.info import Info

        # For perp_dexs=[...] the SDK's Info fetches perpDexs and each dex's
        # meta: serve the fixtures instead of the network.
        with open(FIXTURES / "perp_dexs.json") as f:
            dexs = json.load(f)
        with open(FIXTURES / "meta_xyz.json") as f:
            xyz = json.load(f)
        with mock.patch.object(Info, "perp_dexs", lambda _self: dexs), mock.patch.object(
            Info, "meta", lambda _self, dex="": xyz
        ):
            ex = self.exchange(perp_dexs=["", "xyz"])
        ex.order("xyz:XYZ100", True, 0.5, 25000.0, {"limit": {"tif": "Gtc"}})
        ex.update_leverage(5, "xyz:XYZ100", is_cross=False)
        ex.cancel("xyz:AAPL", 42)
        ex.noop(now_ms() + 600_000)
        self.assert_posted_recover(4, True)
        self.assertEqual(self.posted[0]["action"]["orders"][0]["a"], 120_000)
        self.assertEqual(self.posted[2]["action"]["cancels"][0]["a"], 120_001)
        self.assertEqual(self.posted[3]["action"], {"type": "noop"})
        ex.send_asset(ALLOWED_DEST, "", "xyz", USDC_TOKEN, 2.5)
        body = self.posted[-1]
        self.assertEqual(body["action"]["type"], "sendAsset")
        self.assertIsNone(body["vaultAddress"])
        recovered = sdk_signing.recover_user_from_user_signed_action(
            dict(body["action"]), body["signature"], sdk_signing.SEND_ASSET_SIGN_TYPES,
            "HyperliquidTransaction:SendAsset", True,
        )
        self.assertEqual(recovered, ADDRESS)
        # Beyond the allowance, to another destination, to a dex the key's
        # metadata does not list: refused, nothing posted.
        e = self.assert_agent_error("policy_denied", lambda: ex.send_asset(ALLOWED_DEST, "", "xyz", USDC_TOKEN, 10.5))
        self.assertEqual(e.denials[0]["rule"], "transfer_amount")
        e = self.assert_agent_error("policy_denied", lambda: ex.send_asset(DEST, "xyz", "", USDC_TOKEN, 1.0))
        self.assertEqual(e.denials[0]["rule"], "transfer_not_allowed")
        self.assert_agent_error("bad_params", lambda: ex.send_asset(ALLOWED_DEST, "", "test", USDC_TOKEN, 1.0), "destinationDex")
        self.assertEqual(len(self.posted), 5)

    def test_sdk_action_that_is_not_canonical_is_refused(self) -> None:
        ex = self.exchange()
        upper = Cloid.from_str("0xABCDEF0123456789ABCDEF0123456789")
        with self.assertRaises(thl.CanonicalMismatchError) as cm:
            ex.order("BTC", True, 0.001, 50000.0, {"limit": {"tif": "Gtc"}}, cloid=upper)
        e = cm.exception
        self.assertIsInstance(e, tw.ClientError)
        self.assertEqual(e.sdk_action["orders"][0]["c"], "0xABCDEF0123456789ABCDEF0123456789")
        self.assertEqual(e.signed.action["orders"][0]["c"], "0xabcdef0123456789abcdef0123456789")
        self.assertEqual(self.posted, [])

    def test_a_reused_sdk_nonce_is_refused_before_signing(self) -> None:
        ex = self.exchange()
        fixed = now_ms() - 777
        with mock.patch.object(sdk_exchange, "get_timestamp_ms", lambda: fixed):
            ex.cancel("BTC", 1)
            self.assert_agent_error("bad_params", lambda: ex.cancel("BTC", 2), "already used")
        self.assertEqual(len(self.posted), 1)

    def test_other_wallets_still_sign_locally(self) -> None:
        import eth_account
        from hyperliquid.exchange import Exchange

        thl.install()
        local = eth_account.Account.from_key(TEST_KEY)
        ex = Exchange(local, sdk_constants.MAINNET_API_URL, meta=self.meta, spot_meta=self.spot_meta)
        bodies: List[Dict[str, Any]] = []

        def post(path: str, payload: Any = None) -> Any:
            bodies.append(payload)
            return {"status": "ok"}

        ex.post = post
        ex.order("BTC", True, 0.001, 50000.0, {"limit": {"tif": "Gtc"}})
        (body,) = bodies
        expected = sdk_signing.sign_l1_action(local, body["action"], None, body["nonce"], None, True)
        self.assertEqual(body["signature"], expected)

    def test_install_is_idempotent_and_uninstall_restores(self) -> None:
        thl.install()
        routed = sdk_exchange.sign_l1_action
        thl.install()
        self.assertIs(sdk_exchange.sign_l1_action, routed)
        self.assertTrue(thl.installed())
        self.assertIsNot(routed, sdk_signing.sign_l1_action)
        thl.uninstall()
        self.assertFalse(thl.installed())
        self.assertIs(sdk_exchange.sign_l1_action, sdk_signing.sign_l1_action)
        self.assertIs(sdk_exchange.sign_agent, sdk_signing.sign_agent)
        thl.install()
        self.assertIsNot(sdk_exchange.sign_l1_action, sdk_signing.sign_l1_action)

    def test_example_bot_with_the_sdk(self) -> None:
        env = dict(os.environ, TRADEWARD_SOCK=self.agent.sock)
        out = subprocess.run(
            [sys.executable, str(EXAMPLE), "--key", "test", "--testnet", "--sdk",
             "--meta", str(FIXTURES / "meta.json"), "--spot-meta", str(FIXTURES / "spot_meta.json")],
            capture_output=True, env=env, timeout=60, text=True,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        bodies = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        self.assertGreaterEqual(len(bodies), 2, out.stdout)
        for body in bodies:
            recovered = sdk_signing.recover_agent_or_user_from_l1_action(
                body["action"], body["signature"], body["vaultAddress"], body["nonce"], body["expiresAfter"], False
            )
            self.assertEqual(recovered, ADDRESS)


@unittest.skipIf(SDK_SKIP_REASON is not None, SDK_SKIP_REASON or "")
class SdkDropInCheckTests(unittest.TestCase):
    """The drop-in's checks of what the agent returns, with a scripted agent:
    the real one cannot be made to return something other than what it
    signed."""

    def setUp(self) -> None:
        thl.install()
        self.addCleanup(thl.uninstall)
        self.posted: List[Dict[str, Any]] = []

    def fake_exchange(self, answer: Callable[[Dict[str, Any]], Dict[str, Any]]) -> Any:
        def script(conn: Any) -> None:
            req = read_request(conn)
            conn.sendall(ok(req["id"], answer(req["params"])))

        agent = FakeAgent(script)
        self.addCleanup(agent.close)
        c = tw.connect(agent.path, timeout=5)
        self.addCleanup(c.close)
        # The scripted agent answers with the vectors' actions as they are:
        # no cloid assigned, nothing to report.
        ex = thl.agent_exchange(
            c, "main", sdk_constants.MAINNET_API_URL, address=ADDRESS, track_orders=False,
            meta={"universe": [{"name": "BTC", "szDecimals": 5}]}, spot_meta={"universe": [], "tokens": []},
        )

        def post(path: str, payload: Any = None) -> Any:
            self.posted.append(payload)
            return {"status": "ok"}

        ex.post = post
        return ex

    @staticmethod
    def agent_result(v: Dict[str, Any], **changes: Any) -> Dict[str, Any]:
        sig = v["signature"]
        result = {
            "key": "main",
            "action": json.loads(v["action_json"]),
            "nonce": v["nonce"],
            # The agent pads r and s to 32 bytes.
            "signature": {"r": "0x%064x" % int(sig["r"], 16), "s": "0x%064x" % int(sig["s"], 16), "v": sig["v"]},
            "digest": "0x" + v["digest"],
            "address": ADDRESS,
        }
        result.update(changes)
        return result

    def test_user_signed_action_is_posted_as_signed(self) -> None:
        v = vector("usd_send_mainnet")
        seen: List[Dict[str, Any]] = []

        def answer(params: Dict[str, Any]) -> Dict[str, Any]:
            seen.append(params)
            return self.agent_result(v)

        ex = self.fake_exchange(answer)
        with mock.patch.object(sdk_exchange, "get_timestamp_ms", lambda: v["nonce"]):
            ex.usd_transfer(1.0, DEST)
        self.assertEqual(seen[0]["action"], v["action"])
        self.assertIs(seen[0]["is_mainnet"], True)
        (body,) = self.posted
        self.assertEqual(json.dumps(body["action"], separators=(",", ":")), v["action_json"])
        self.assertEqual(body["signature"], v["signature"])  # the SDK's own spelling
        recovered = sdk_signing.recover_user_from_user_signed_action(
            body["action"], body["signature"], sdk_signing.USD_SEND_SIGN_TYPES, "HyperliquidTransaction:UsdSend", True
        )
        self.assertEqual(recovered, ADDRESS)

    def test_a_different_canonical_action_is_refused(self) -> None:
        v = vector("usd_send_mainnet")
        action = json.loads(v["action_json"])
        action["amount"] = "1"
        ex = self.fake_exchange(lambda params: self.agent_result(v, action=action))
        with mock.patch.object(sdk_exchange, "get_timestamp_ms", lambda: v["nonce"]):
            with self.assertRaises(thl.CanonicalMismatchError):
                ex.usd_transfer(1.0, DEST)
        self.assertEqual(self.posted, [])

    def test_a_different_nonce_vault_or_expiry_is_refused(self) -> None:
        v = vector("order_btc_gtc_mainnet")
        changes: List[Dict[str, Any]] = [
            {"nonce": v["nonce"] + 1}, {"vault_address": VAULT}, {"expires_after": v["nonce"] + 5}
        ]
        for change in changes:

            def answer(params: Dict[str, Any], change: Dict[str, Any] = change) -> Dict[str, Any]:
                return self.agent_result(v, **change)

            ex = self.fake_exchange(answer)
            with mock.patch.object(sdk_exchange, "get_timestamp_ms", lambda: v["nonce"]):
                with self.assertRaises(thl.CanonicalMismatchError, msg=repr(change)):
                    ex.order("BTC", True, 0.001, 50000.0, {"limit": {"tif": "Gtc"}})
        self.assertEqual(self.posted, [])

    def test_a_signature_by_another_key_is_refused(self) -> None:
        v = vector("order_btc_gtc_mainnet")
        other = "0x0000000000000000000000000000000000000002"
        ex = self.fake_exchange(lambda params: self.agent_result(v, address=other))
        with mock.patch.object(sdk_exchange, "get_timestamp_ms", lambda: v["nonce"]):
            with self.assertRaises(thl.SignerError) as cm:
                ex.order("BTC", True, 0.001, 50000.0, {"limit": {"tif": "Gtc"}})
        self.assertIn(other, str(cm.exception))
        self.assertEqual(self.posted, [])

    def test_verify_catches_a_signature_that_does_not_recover(self) -> None:
        v = vector("order_btc_gtc_mainnet")
        wrong = vector("cancel_single")["signature"]
        ex = self.fake_exchange(
            lambda params: self.agent_result(v, signature={"r": wrong["r"], "s": wrong["s"], "v": wrong["v"]})
        )
        ex.wallet.verify = True
        with mock.patch.object(sdk_exchange, "get_timestamp_ms", lambda: v["nonce"]):
            with self.assertRaises(thl.SignerError) as cm:
                ex.order("BTC", True, 0.001, 50000.0, {"limit": {"tif": "Gtc"}})
        self.assertIn("recovers", str(cm.exception))
        self.assertEqual(self.posted, [])


if __name__ == "__main__":
    unittest.main()
