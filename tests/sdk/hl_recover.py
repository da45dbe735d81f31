"""Independent check of the agent's Hyperliquid signatures with the venue's
official Python SDK: for each signed action, the SDK's own hashing plus
eth_account must recover the expected address.

Input: a JSON file with {"address": "0x...", "items": [{action, nonce,
vault_address, expires_after, is_mainnet, signature: {r, s, v}}]}.
Exit status 0 when every item recovers to the address.
"""

import json
import sys

from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action


def main() -> int:
    with open(sys.argv[1]) as f:
        data = json.load(f)
    want = data["address"].lower()
    bad = 0
    for i, item in enumerate(data["items"]):
        got = recover_agent_or_user_from_l1_action(
            item["action"],
            item["signature"],
            item.get("vault_address"),
            item["nonce"],
            item.get("expires_after"),
            item["is_mainnet"],
        )
        if got.lower() != want:
            bad += 1
            print(f"item {i} ({item['action'].get('type')}): recovered {got}, want {want}")
    print(f"{len(data['items']) - bad} of {len(data['items'])} recovered {want} with the official SDK")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
