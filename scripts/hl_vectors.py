#!/usr/bin/env python3
"""Generate Hyperliquid signing test vectors with the official Python SDK.

tradeward builds the bytes it signs for Hyperliquid itself (msgpack of the
action, the action hash, the EIP-712 digest). Its unit tests check those
bytes against what the official SDK (``hyperliquid-python-sdk``) produces
for the same action, so this script drives the SDK exactly as a bot would
(``Exchange.order``, ``bulk_orders``, ``usd_transfer``, ...), captures the
action the SDK would post and the signature it made, and records everything
the Rust side needs to compare:

* ``action``: the action object as posted (JSON, the SDK's key order);
* ``action_json``: the same, compact, as ``json.dumps`` writes it;
* ``nonce``, ``vault``, ``expires_after``, ``is_mainnet``;
* L1 actions: ``msgpack`` (hex of ``msgpack.packb(action)``) and
  ``action_hash``;
* user-signed actions: ``primary_type``;
* ``digest``: the 32-byte EIP-712 digest the key signs;
* ``signature``: ``r``, ``s``, ``v`` as the SDK returns them.

The metadata the SDK resolves names with comes from ``meta.json`` and
``spot_meta.json`` next to the output (the venue's own ``meta`` and
``spotMeta`` response formats), and for the builder-deployed perp dexs
(HIP-3) from ``perp_dexs.json`` (``perpDexs``) and ``meta_<dex>.json``
(``meta`` of one dex), so nothing here touches the network.
Nonces are fixed, and the signing key is a fixed, public test key: never
fund it.

Usage (the SDK lives in a virtualenv)::

    target/sdk-venv/bin/python scripts/hl_vectors.py [tests/fixtures/hyperliquid]

(`scripts/test.sh` creates that virtualenv with the pinned SDK version.)
"""

import json
import os
import sys
import types

import eth_account
import msgpack
from eth_account.messages import encode_typed_data
from eth_utils import keccak

import hyperliquid.exchange as hl_exchange
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils import signing
from hyperliquid.utils.constants import MAINNET_API_URL, TESTNET_API_URL
from hyperliquid.utils.types import Cloid

# A fixed, public test key. Never fund it.
TEST_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
BASE_NONCE = 1_700_000_000_000

VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
BUILDER = "0x8C967E73E7B15087C42A10D344CFF4C96D877F1D"
DEST = "0x5e9ee1089755c3435139848e47e6635505d5a13a"
DEST_CHECKSUMMED = "0x0D1d9635D0640821d15e323ac8AdADfA9c111414"
USDC_TOKEN = "USDC:0x6d1e7cde53ba9467b783cb7c530ce054"
# The builder-deployed perp dexs the fixtures describe, and those the
# exchanges below load (as a bot passes perp_dexs=[...] to Exchange).
DEXS = ["test", "xyz"]
LOADED_DEXS = ["", "xyz"]

# What each user-signed action type is signed as: the SDK's type lists.
USER_SIGNED = {
    "usdSend": ("HyperliquidTransaction:UsdSend", signing.USD_SEND_SIGN_TYPES),
    "spotSend": ("HyperliquidTransaction:SpotSend", signing.SPOT_TRANSFER_SIGN_TYPES),
    "withdraw3": ("HyperliquidTransaction:Withdraw", signing.WITHDRAW_SIGN_TYPES),
    "usdClassTransfer": (
        "HyperliquidTransaction:UsdClassTransfer",
        signing.USD_CLASS_TRANSFER_SIGN_TYPES,
    ),
    "approveAgent": (
        "HyperliquidTransaction:ApproveAgent",
        [
            {"name": "hyperliquidChain", "type": "string"},
            {"name": "agentAddress", "type": "address"},
            {"name": "agentName", "type": "string"},
            {"name": "nonce", "type": "uint64"},
        ],
    ),
    "sendAsset": ("HyperliquidTransaction:SendAsset", signing.SEND_ASSET_SIGN_TYPES),
    "approveBuilderFee": (
        "HyperliquidTransaction:ApproveBuilderFee",
        [
            {"name": "hyperliquidChain", "type": "string"},
            {"name": "maxFeeRate", "type": "string"},
            {"name": "builder", "type": "address"},
            {"name": "nonce", "type": "uint64"},
        ],
    ),
}


def eip712_digest(full_message):
    """The digest eth_account signs for typed data: keccak(0x19 ‖ 0x01 ‖ domain ‖ struct)."""
    signable = encode_typed_data(full_message=full_message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


class Recorder:
    def __init__(self, out_dir):
        with open(os.path.join(out_dir, "meta.json")) as f:
            self.meta = json.load(f)
        with open(os.path.join(out_dir, "spot_meta.json")) as f:
            self.spot_meta = json.load(f)
        with open(os.path.join(out_dir, "perp_dexs.json")) as f:
            perp_dexs = json.load(f)
        dex_meta = {}
        for dex in DEXS:
            with open(os.path.join(out_dir, f"meta_{dex}.json")) as f:
                dex_meta[dex] = json.load(f)
        # What the SDK's Info would fetch for perp_dexs=[...].
        Info.perp_dexs = lambda _self: perp_dexs
        Info.meta = lambda _self, dex="": dex_meta[dex]
        self.wallet = eth_account.Account.from_key(TEST_KEY)
        self.vectors = []
        self.nonce = BASE_NONCE
        self.names = set()

    def exchange(self, is_mainnet, vault=None, expires_after=None):
        ex = Exchange(
            self.wallet,
            base_url=MAINNET_API_URL if is_mainnet else TESTNET_API_URL,
            meta=self.meta,
            spot_meta=self.spot_meta,
            vault_address=vault,
            perp_dexs=LOADED_DEXS,
        )
        ex.set_expires_after(expires_after)
        ex._post_action = lambda action, signature, nonce: {
            "action": action,
            "signature": signature,
            "nonce": nonce,
        }
        return ex

    def next_nonce(self):
        self.nonce += 1017
        nonce = self.nonce
        hl_exchange.get_timestamp_ms = lambda: nonce
        return nonce

    def l1(self, name, call, is_mainnet=True, vault=None, expires_after=None):
        """Run an Exchange method that signs an L1 action and record it."""
        self.next_nonce()
        ex = self.exchange(is_mainnet, vault, expires_after)
        posted = call(ex)
        self.record_l1(name, posted, is_mainnet, vault, expires_after)

    def l1_raw(self, name, action, is_mainnet=True, vault=None, expires_after=None):
        """Sign an action the SDK has no method for (e.g. a single ``modify``)
        with the SDK's own ``sign_l1_action``. ``action`` may be a function
        of the nonce (for an action that carries it)."""
        nonce = self.next_nonce()
        if callable(action):
            action = action(nonce)
        signature = signing.sign_l1_action(self.wallet, action, vault, nonce, expires_after, is_mainnet)
        posted = {"action": action, "signature": signature, "nonce": nonce}
        self.record_l1(name, posted, is_mainnet, vault, expires_after)

    def record_l1(self, name, posted, is_mainnet, vault, expires_after):
        action, nonce = posted["action"], posted["nonce"]
        packed = msgpack.packb(action)
        ahash = signing.action_hash(action, vault, nonce, expires_after)
        digest = eip712_digest(signing.l1_payload(signing.construct_phantom_agent(ahash, is_mainnet)))
        self.check(posted["signature"], digest)
        # The SDK's own recovery agrees with the key.
        recovered = signing.recover_agent_or_user_from_l1_action(
            action, posted["signature"], vault, nonce, expires_after, is_mainnet
        )
        assert recovered == self.wallet.address, (name, recovered)
        self.add(
            {
                "name": name,
                "kind": "l1",
                "action": action,
                "action_json": json.dumps(action, separators=(",", ":")),
                "nonce": nonce,
                "vault": vault,
                "expires_after": expires_after,
                "is_mainnet": is_mainnet,
                "msgpack": packed.hex(),
                "action_hash": ahash.hex(),
                "digest": digest.hex(),
                "signature": posted["signature"],
            }
        )

    def user(self, name, call, is_mainnet=True, vault=None):
        """Run an Exchange method that signs a user-signed action and record it."""
        nonce = self.next_nonce()
        ex = self.exchange(is_mainnet, vault)
        posted = call(ex)
        action = posted["action"]
        primary_type, sign_types = USER_SIGNED[action["type"]]
        message = dict(action)
        # approve_agent signs an absent name as "" and then drops the field.
        if action["type"] == "approveAgent":
            message.setdefault("agentName", "")
        digest = eip712_digest(signing.user_signed_payload(primary_type, sign_types, message))
        self.check(posted["signature"], digest)
        self.add(
            {
                "name": name,
                "kind": "user",
                "action": action,
                "action_json": json.dumps(action, separators=(",", ":")),
                "nonce": nonce,
                "vault": None,
                "expires_after": None,
                "is_mainnet": is_mainnet,
                "primary_type": primary_type,
                "digest": digest.hex(),
                "signature": posted["signature"],
            }
        )

    def check(self, signature, digest):
        vrs = (signature["v"], int(signature["r"], 16), int(signature["s"], 16))
        assert eth_account.Account._recover_hash(digest, vrs=vrs) == self.wallet.address

    def add(self, vector):
        assert vector["name"] not in self.names, vector["name"]
        self.names.add(vector["name"])
        self.vectors.append(vector)


def generate(rec):
    gtc = {"limit": {"tif": "Gtc"}}
    alo = {"limit": {"tif": "Alo"}}
    ioc = {"limit": {"tif": "Ioc"}}

    def order(coin, is_buy, sz, px, order_type, reduce_only=False, cloid=None):
        o = {
            "coin": coin,
            "is_buy": is_buy,
            "sz": sz,
            "limit_px": px,
            "order_type": order_type,
            "reduce_only": reduce_only,
        }
        if cloid is not None:
            o["cloid"] = Cloid.from_str(cloid)
        return o

    # --- orders --------------------------------------------------------
    rec.l1("order_btc_gtc_mainnet", lambda ex: ex.order("BTC", True, 0.001, 50000.0, gtc))
    rec.l1(
        "order_eth_alo_reduce_testnet",
        lambda ex: ex.order("ETH", False, 0.5, 3000.5, alo, reduce_only=True),
        is_mainnet=False,
    )
    rec.l1(
        "order_sol_ioc_cloid_vault",
        lambda ex: ex.order("SOL", True, 1.25, 145.37, ioc, cloid=Cloid.from_int(0x1234)),
        vault=VAULT,
    )
    rec.l1(
        "order_btc_trigger_market_tp",
        lambda ex: ex.order(
            "BTC",
            False,
            0.01,
            69000.0,
            {"trigger": {"triggerPx": 70000.0, "isMarket": True, "tpsl": "tp"}},
            reduce_only=True,
        ),
    )
    rec.l1(
        "order_eth_trigger_limit_sl_testnet_expires",
        lambda ex: ex.order(
            "ETH",
            False,
            0.1234,
            2450.5,
            {"trigger": {"triggerPx": 2500.0, "isMarket": False, "tpsl": "sl"}},
            reduce_only=True,
        ),
        is_mainnet=False,
        expires_after=BASE_NONCE + 60_000,
    )
    rec.l1(
        "order_normal_tpsl_group",
        lambda ex: ex.bulk_orders(
            [
                order("BTC", True, 0.002, 60000.0, gtc, cloid="0x000000000000000000000000000000aa"),
                order(
                    "BTC",
                    False,
                    0.002,
                    66000.0,
                    {"trigger": {"triggerPx": 65000.0, "isMarket": True, "tpsl": "tp"}},
                    reduce_only=True,
                ),
                order(
                    "BTC",
                    False,
                    0.002,
                    55000.0,
                    {"trigger": {"triggerPx": 56000.0, "isMarket": True, "tpsl": "sl"}},
                    reduce_only=True,
                ),
            ],
            grouping="normalTpsl",
        ),
    )
    rec.l1(
        "order_position_tpsl_group_vault_testnet",
        lambda ex: ex.bulk_orders(
            [
                order(
                    "ETH",
                    True,
                    1.0,
                    2000.0,
                    {"trigger": {"triggerPx": 2100.0, "isMarket": False, "tpsl": "tp"}},
                    reduce_only=True,
                ),
                order(
                    "ETH",
                    True,
                    1.0,
                    3900.0,
                    {"trigger": {"triggerPx": 3800.0, "isMarket": True, "tpsl": "sl"}},
                    reduce_only=True,
                ),
            ],
            grouping="positionTpsl",
        ),
        is_mainnet=False,
        vault=VAULT,
    )
    rec.l1(
        "order_builder_fee",
        lambda ex: ex.order("ETH", True, 0.05, 3100.1, ioc, builder={"b": BUILDER, "f": 10}),
    )
    rec.l1(
        "order_builder_cloid_expires_vault",
        lambda ex: ex.order(
            "SOL",
            False,
            12.0,
            151.0,
            gtc,
            cloid=Cloid.from_str("0xdeadbeefdeadbeefdeadbeefdeadbeef"),
            builder={"b": BUILDER, "f": 1},
        ),
        vault=VAULT,
        expires_after=BASE_NONCE + 3_600_000,
    )
    rec.l1("order_spot_purr", lambda ex: ex.order("PURR/USDC", True, 100.0, 0.2, gtc))
    rec.l1(
        "order_spot_hype_testnet",
        lambda ex: ex.order("HYPE/USDC", False, 1.5, 25.123, alo),
        is_mainnet=False,
    )
    rec.l1("order_kpepe_small_price", lambda ex: ex.order("kPEPE", True, 1000.0, 0.012345, gtc))
    rec.l1("order_btc_integer_price_many_digits", lambda ex: ex.order("BTC", True, 0.12345, 123456.0, gtc))
    rec.l1(
        "order_bulk_mixed_assets",
        lambda ex: ex.bulk_orders(
            [
                order("ATOM", True, 10.5, 8.1234, alo),
                order("kPEPE", False, 25000.0, 0.0125, alo),
                order("@1", True, 3.25, 0.012345, gtc),
            ]
        ),
    )

    # --- cancels -------------------------------------------------------
    rec.l1("cancel_single", lambda ex: ex.cancel("BTC", 123456789))
    rec.l1(
        "cancel_bulk_vault_testnet",
        lambda ex: ex.bulk_cancel([{"coin": "ETH", "oid": 1}, {"coin": "PURR/USDC", "oid": 2**40 + 7}]),
        is_mainnet=False,
        vault=VAULT,
    )
    rec.l1(
        "cancel_expires",
        lambda ex: ex.cancel("SOL", 77),
        expires_after=BASE_NONCE + 5_000,
    )
    rec.l1(
        "cancel_by_cloid",
        lambda ex: ex.cancel_by_cloid("BTC", Cloid.from_int(42)),
    )
    rec.l1(
        "cancel_by_cloid_bulk_vault_testnet",
        lambda ex: ex.bulk_cancel_by_cloid(
            [
                {"coin": "ETH", "cloid": Cloid.from_str("0x0123456789abcdef0123456789abcdef")},
                {"coin": "HYPE/USDC", "cloid": Cloid.from_int(7)},
            ]
        ),
        is_mainnet=False,
        vault=VAULT,
    )

    # --- modify / batchModify -------------------------------------------
    # The SDK has no method for the single "modify" action; build it with
    # the SDK's own wire helper and sign it with sign_l1_action.
    rec.l1_raw(
        "modify_single",
        {
            "type": "modify",
            "oid": 987654321,
            "order": signing.order_request_to_order_wire(order("ETH", True, 0.75, 2999.9, gtc), 1),
        },
    )
    rec.l1_raw(
        "modify_single_cloid_testnet_vault",
        {
            "type": "modify",
            "oid": Cloid.from_int(99).to_raw(),
            "order": signing.order_request_to_order_wire(
                order("BTC", False, 0.5, 61000.0, alo, cloid="0x00000000000000000000000000000063"), 0
            ),
        },
        is_mainnet=False,
        vault=VAULT,
    )
    rec.l1(
        "modify_via_sdk",
        lambda ex: ex.modify_order(555, "SOL", False, 3.5, 160.25, alo, reduce_only=True),
    )
    rec.l1(
        "batch_modify",
        lambda ex: ex.bulk_modify_orders_new(
            [
                {"oid": 1001, "order": order("BTC", True, 0.01, 58000.0, gtc)},
                {
                    "oid": Cloid.from_int(0xABC),
                    "order": order(
                        "ETH",
                        False,
                        0.2,
                        2400.0,
                        {"trigger": {"triggerPx": 2420.0, "isMarket": True, "tpsl": "sl"}},
                        reduce_only=True,
                        cloid="0x00000000000000000000000000000abc",
                    ),
                },
            ]
        ),
        expires_after=BASE_NONCE + 10_000,
    )

    # --- leverage / margin / schedule cancel -------------------------------
    rec.l1("update_leverage_cross", lambda ex: ex.update_leverage(10, "BTC"))
    rec.l1(
        "update_leverage_isolated_vault_testnet",
        lambda ex: ex.update_leverage(3, "XYZ", is_cross=False),
        is_mainnet=False,
        vault=VAULT,
    )
    rec.l1("update_isolated_margin_add", lambda ex: ex.update_isolated_margin(100.5, "ETH"))
    rec.l1(
        "update_isolated_margin_remove_expires",
        lambda ex: ex.update_isolated_margin(-5.0, "SOL"),
        expires_after=BASE_NONCE + 20_000,
    )
    rec.l1("schedule_cancel_time", lambda ex: ex.schedule_cancel(BASE_NONCE + 300_000))
    rec.l1("schedule_cancel_clear", lambda ex: ex.schedule_cancel(None))
    rec.l1(
        "schedule_cancel_time_vault_expires_testnet",
        lambda ex: ex.schedule_cancel(BASE_NONCE + 600_000),
        is_mainnet=False,
        vault=VAULT,
        expires_after=BASE_NONCE + 30_000,
    )
    rec.l1(
        "schedule_cancel_clear_testnet",
        lambda ex: ex.schedule_cancel(None),
        is_mainnet=False,
    )

    # --- user-signed ---------------------------------------------------
    rec.user("usd_send_mainnet", lambda ex: ex.usd_transfer(1.0, DEST))
    rec.user("usd_send_testnet_checksummed", lambda ex: ex.usd_transfer(12.5, DEST_CHECKSUMMED), is_mainnet=False)
    rec.user(
        "spot_send",
        lambda ex: ex.spot_transfer(0.25, DEST, "PURR:0xc1fb593aeffbeb02f85e0308e9956a90"),
    )
    rec.user(
        "spot_send_testnet",
        lambda ex: ex.spot_transfer(3.0, DEST_CHECKSUMMED, "HYPE:0x0d01dc56dcaaca66ad901c959b4011ec"),
        is_mainnet=False,
    )
    rec.user("withdraw", lambda ex: ex.withdraw_from_bridge(2.5, DEST))
    rec.user("withdraw_testnet", lambda ex: ex.withdraw_from_bridge(100.0, DEST_CHECKSUMMED), is_mainnet=False)
    rec.user("usd_class_transfer_to_perp", lambda ex: ex.usd_class_transfer(7.5, True))
    rec.user(
        "usd_class_transfer_subaccount_to_spot_testnet",
        lambda ex: ex.usd_class_transfer(1.25, False),
        is_mainnet=False,
        vault=VAULT,
    )
    rec.user("approve_agent_named", lambda ex: ex.approve_agent("bot-1")[0])
    rec.user("approve_agent_unnamed_testnet", lambda ex: ex.approve_agent()[0], is_mainnet=False)
    rec.user("approve_builder_fee", lambda ex: ex.approve_builder_fee(BUILDER, "0.001%"))
    rec.user(
        "approve_builder_fee_testnet",
        lambda ex: ex.approve_builder_fee(BUILDER.lower(), "0.01%"),
        is_mainnet=False,
    )

    # --- builder-deployed perp dexs (HIP-3): asset 100000 + 10000 x dex + i --
    rec.l1("order_hip3_xyz", lambda ex: ex.order("xyz:XYZ100", True, 0.5, 25000.0, gtc))
    rec.l1(
        "order_hip3_bulk_with_main_vault_testnet",
        lambda ex: ex.bulk_orders(
            [
                order("xyz:AAPL", False, 1.25, 231.45, alo, cloid="0x0000000000000000000000000000a001"),
                order("BTC", True, 0.001, 60000.0, ioc),
                order("xyz:GOLD", True, 2.5, 3350.5, {"trigger": {"triggerPx": 3300.0, "isMarket": True, "tpsl": "sl"}}),
            ]
        ),
        is_mainnet=False,
        vault=VAULT,
    )
    rec.l1("cancel_hip3", lambda ex: ex.cancel("xyz:AAPL", 424242))
    rec.l1("update_leverage_hip3_isolated", lambda ex: ex.update_leverage(5, "xyz:XYZ100", is_cross=False))
    rec.l1("update_isolated_margin_hip3", lambda ex: ex.update_isolated_margin(25.0, "xyz:GOLD"))
    rec.l1(
        "order_frontend_market",
        lambda ex: ex.order("ETH", True, 0.1, 3200.0, {"limit": {"tif": "FrontendMarket"}}),
    )

    # --- noop (nonce invalidation) -------------------------------------
    rec.l1("noop", lambda ex: ex.noop(rec.nonce))
    rec.l1(
        "noop_vault_expires_testnet",
        lambda ex: ex.noop(rec.nonce),
        is_mainnet=False,
        vault=VAULT,
        expires_after=BASE_NONCE + 40_000,
    )

    # --- sendAsset / agentSendAsset --------------------------------------
    rec.user("send_asset_to_dex", lambda ex: ex.send_asset(DEST, "", "xyz", USDC_TOKEN, 2.5))
    rec.user(
        "send_asset_subaccount_to_spot_testnet",
        lambda ex: ex.send_asset(DEST_CHECKSUMMED, "xyz", "spot", USDC_TOKEN, 10.0),
        is_mainnet=False,
        vault=VAULT,
    )
    # The Python SDK has no method for agentSendAsset (the TypeScript SDK
    # has): the action in the venue's field order, signed with the SDK's
    # own sign_l1_action.
    rec.l1_raw(
        "agent_send_asset",
        lambda nonce: {
            "type": "agentSendAsset",
            "destination": DEST,
            "sourceDex": "",
            "destinationDex": "xyz",
            "token": USDC_TOKEN,
            "amount": "1.5",
            "fromSubAccount": "",
            "nonce": nonce,
        },
    )
    rec.l1_raw(
        "agent_send_asset_subaccount_testnet",
        lambda nonce: {
            "type": "agentSendAsset",
            "destination": DEST,
            "sourceDex": "xyz",
            "destinationDex": "",
            "token": USDC_TOKEN,
            "amount": "0.25",
            "fromSubAccount": VAULT,
            "nonce": nonce,
        },
        is_mainnet=False,
        expires_after=BASE_NONCE + 50_000,
    )
    # Order priority: the SDK's PriorityGrouping, a fee of p / 1e8.
    rec.l1(
        "order_priority_ioc",
        lambda ex: ex.bulk_orders([order("ETH", True, 0.05, 3100.1, ioc)], grouping={"p": 1000}),
    )


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "fixtures", "hyperliquid")
    # approve_agent makes a random agent key; make it deterministic.
    hl_exchange.secrets = types.SimpleNamespace(token_hex=lambda n: "42" * n)
    rec = Recorder(out_dir)
    generate(rec)
    doc = {
        "comment": "Generated by scripts/hl_vectors.py with hyperliquid-python-sdk; do not edit by hand.",
        "sdk_version": sdk_version(),
        "private_key": TEST_KEY,
        "address": rec.wallet.address,
        "vectors": rec.vectors,
    }
    path = os.path.join(out_dir, "vectors.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(rec.vectors)} vectors to {path}")


def sdk_version():
    try:
        from importlib.metadata import version

        return version("hyperliquid-python-sdk")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


if __name__ == "__main__":
    main()
