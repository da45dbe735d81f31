"""Independent check of the agent's OKX, Bybit and Binance WebSocket API
signatures with each venue's official Python SDK (python-okx, pybit,
binance-sdk-spot): the SDK computes the signature from the same secret over
the same request, and it must equal the agent's.

Input: a JSON file {"items": [...]}, each item one signed request:

* {"venue": "binance_ws", "secret", "api_key", "params"}: `params` is the
  signed params object the agent returned (signature included); the SDK's
  websocket_api_signature signs the same parameters (apiKey and timestamp
  included) and must return the same object.
* {"venue": "okx", "secret", "timestamp", "method", "request_path", "body",
  "prehash", "signature"}: okx.utils.pre_hash and okx.utils.signature.
* {"venue": "bybit", "secret", "api_key", "timestamp", "recv_window",
  "payload", "prehash", "signature"} (and "params" for a GET, whose query
  string pybit builds itself): pybit's HTTP manager's _auth.

Exit status 0 when every item matches.
"""

import json
import logging
import sys


def binance_ws(item):
    from binance_common.configuration import ConfigurationWebSocketAPI
    from binance_common.utils import websocket_api_signature

    want = dict(item["params"])
    payload = {k: v for k, v in want.items() if k not in ("signature", "apiKey")}
    config = ConfigurationWebSocketAPI(api_key=item["api_key"], api_secret=item["secret"])
    got = dict(websocket_api_signature(config, payload))
    return got == want, f"SDK {got} != agent {want}"


def okx(item):
    from okx import utils

    prehash = utils.pre_hash(item["timestamp"], item["method"], item["request_path"], item["body"], debug=False)
    if prehash != item["prehash"]:
        return False, f"prehash: SDK {prehash!r} != agent {item['prehash']!r}"
    sig = utils.signature(item["timestamp"], item["method"], item["request_path"], item["body"], item["secret"]).decode()
    return sig == item["signature"], f"signature: SDK {sig} != agent {item['signature']}"


def bybit(item):
    from pybit._http_manager import _V5HTTPManager

    m = _V5HTTPManager(api_key=item["api_key"], api_secret=item["secret"], logging_level=logging.WARNING)
    if "params" in item:
        query = m.prepare_payload("GET", dict(item["params"]))
        if query != item["payload"]:
            return False, f"query: SDK {query!r} != agent {item['payload']!r}"
    prehash = str(item["timestamp"]) + item["api_key"] + str(item["recv_window"]) + item["payload"]
    if prehash != item["prehash"]:
        return False, f"prehash: {prehash!r} != agent {item['prehash']!r}"
    sig = m._auth(item["payload"], item["recv_window"], item["timestamp"])
    return sig == item["signature"], f"signature: SDK {sig} != agent {item['signature']}"


CHECKS = {"binance_ws": binance_ws, "okx": okx, "bybit": bybit}


def main() -> int:
    with open(sys.argv[1]) as f:
        items = json.load(f)["items"]
    bad = 0
    for i, item in enumerate(items):
        ok, why = CHECKS[item["venue"]](item)
        if not ok:
            bad += 1
            print(f"item {i} ({item['venue']}): {why}")
    print(f"{len(items) - bad} of {len(items)} reproduced with the official SDKs")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
