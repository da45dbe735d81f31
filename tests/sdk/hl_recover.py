"""Independent check of the agent's Hyperliquid signatures with the venue's
official Python SDK: for each signed action, the SDK's own hashing plus
eth_account must recover the expected address.

Input: a JSON file with {"address": "0x...", "items": [{action, nonce,
vault_address, expires_after, is_mainnet, signature: {r, s, v}}]}. An item
with "kind": "user" is a user-signed action, recovered with the SDK's
recover_user_from_user_signed_action and the SDK's own type list for the
action's type; any other item is an L1 action.
Exit status 0 when every item recovers to the address.
"""

import json
import sys

from hyperliquid.utils import signing
from hyperliquid.utils.signing import (
    recover_agent_or_user_from_l1_action,
    recover_user_from_user_signed_action,
)

# The SDK's EIP-712 type lists and primary types, by action type.
USER_SIGNED = {
    "usdSend": (signing.USD_SEND_SIGN_TYPES, "HyperliquidTransaction:UsdSend"),
    "spotSend": (signing.SPOT_TRANSFER_SIGN_TYPES, "HyperliquidTransaction:SpotSend"),
    "withdraw3": (signing.WITHDRAW_SIGN_TYPES, "HyperliquidTransaction:Withdraw"),
    "usdClassTransfer": (signing.USD_CLASS_TRANSFER_SIGN_TYPES, "HyperliquidTransaction:UsdClassTransfer"),
    "sendAsset": (signing.SEND_ASSET_SIGN_TYPES, "HyperliquidTransaction:SendAsset"),
}


def recover(item):
    action = item["action"]
    if item.get("kind") == "user":
        types, primary = USER_SIGNED[action["type"]]
        return recover_user_from_user_signed_action(
            dict(action), item["signature"], types, primary, item["is_mainnet"]
        )
    return recover_agent_or_user_from_l1_action(
        action,
        item["signature"],
        item.get("vault_address"),
        item["nonce"],
        item.get("expires_after"),
        item["is_mainnet"],
    )


def main() -> int:
    with open(sys.argv[1]) as f:
        data = json.load(f)
    want = data["address"].lower()
    bad = 0
    for i, item in enumerate(data["items"]):
        got = recover(item)
        if got.lower() != want:
            bad += 1
            print(f"item {i} ({item['action'].get('type')}): recovered {got}, want {want}")
    print(f"{len(data['items']) - bad} of {len(data['items'])} recovered {want} with the official SDK")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
