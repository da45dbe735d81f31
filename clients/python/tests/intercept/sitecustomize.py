"""Loaded by Python at start-up when this folder is on PYTHONPATH (the docs
and package tests put it there): every ``requests.Session`` gets a transport
adapter that answers like the venues instead of reaching the network, and
records each request as a JSON line in ``$TRADEWARD_TEST_HTTP_LOG``. The code
under test (a doc's example, run as written) is not changed at all.
Hyperliquid ``/info`` answers come from ``$TRADEWARD_TEST_HL_FIXTURES``.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any, Dict, Tuple
from urllib.parse import parse_qsl, urlsplit

try:
    import requests
    from requests.adapters import BaseAdapter
    from requests.structures import CaseInsensitiveDict
except ImportError:  # a venv without requests: nothing to intercept
    requests = None  # type: ignore[assignment]

_oids = itertools.count(5000)


def _hl_info(body: Dict[str, Any]) -> Any:
    fixtures = os.environ["TRADEWARD_TEST_HL_FIXTURES"]
    kind = body.get("type")
    if kind in ("meta", "spotMeta"):
        with open(os.path.join(fixtures, "meta.json" if kind == "meta" else "spot_meta.json")) as f:
            return json.load(f)
    if kind in ("openOrders", "frontendOpenOrders", "userFills"):
        return []
    if kind == "allMids":
        return {"BTC": "50000", "ETH": "3000"}
    raise AssertionError(f"unexpected Hyperliquid info request {body}")


def _hl_exchange(action: Dict[str, Any]) -> Any:
    if action.get("type") == "order":
        statuses = [{"resting": {"oid": next(_oids)}} for _ in action["orders"]]
        return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}
    if action.get("type") in ("cancel", "cancelByCloid"):
        return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"] * len(action["cancels"])}}}
    return {"status": "ok", "response": {"type": "default"}}


def _answer(method: str, url: str, body: bytes) -> Tuple[int, Any]:
    parts = urlsplit(url)
    if "hyperliquid" in parts.netloc:
        data = json.loads(body or b"{}")
        return 200, _hl_info(data) if parts.path == "/info" else _hl_exchange(data["action"])
    if "binance" in parts.netloc:
        p = dict(parse_qsl(parts.query))
        if method == "POST" and parts.path.endswith("/order"):
            return 200, {"symbol": p.get("symbol"), "orderId": next(_oids), "status": "NEW",
                         "clientOrderId": p.get("newClientOrderId", ""), "price": p.get("price"),
                         "origQty": p.get("quantity")}
        if method == "DELETE":
            return 200, {"symbol": p.get("symbol"), "status": "CANCELED"}
        return 200, {}
    raise AssertionError(f"a test tried to reach {url}")


if requests is not None:

    class _VenueAdapter(BaseAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            status, payload = _answer(str(request.method), str(request.url), body)
            log = os.environ.get("TRADEWARD_TEST_HTTP_LOG")
            if log:
                with open(log, "a") as f:
                    f.write(json.dumps({"method": request.method, "url": request.url,
                                        "headers": dict(request.headers), "body": body.decode()}) + "\n")
            resp = requests.Response()
            resp.status_code = status
            resp.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
            resp._content = json.dumps(payload).encode()
            resp.url = request.url
            resp.request = request
            resp.encoding = "utf-8"
            return resp

        def close(self) -> None:
            pass

    _init = requests.Session.__init__

    def _session_init(self: Any, *args: Any, **kwargs: Any) -> None:
        _init(self, *args, **kwargs)
        self.mount("https://", _VenueAdapter())
        self.mount("http://", _VenueAdapter())

    requests.Session.__init__ = _session_init  # type: ignore[method-assign]
