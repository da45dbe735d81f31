"""Intercepting a venue library's HTTP layer in tests: a ``requests``
transport adapter that answers from a Python function instead of the
network. The library's own code builds, encodes and sends each request; only
the socket is replaced, so the tests see exactly the bytes it would send.
Needs ``requests`` (every venue library tested here depends on it).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


@dataclass
class Sent:
    """One request as the library sent it."""

    method: str
    url: str
    headers: Dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> str:
        return urlsplit(self.url).query

    def json(self) -> Any:
        return json.loads(self.body)

    def params(self) -> List[Tuple[str, str]]:
        """Query string and form body, decoded, in order."""
        out = parse_qsl(self.query, keep_blank_values=True)
        ctype = self.headers.get("Content-Type", "")
        if self.body and "x-www-form-urlencoded" in ctype:
            out += parse_qsl(self.body.decode(), keep_blank_values=True)
        return out


Answer = Callable[[Sent], Tuple[int, Any]]


class VenueAdapter(BaseAdapter):
    """Answers every request with ``answer(sent) -> (status, json body)`` and
    records it in ``sent``. Refuses to let anything reach the network."""

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer
        self.sent: List[Sent] = []
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        sent = Sent(str(request.method), str(request.url), dict(request.headers), bytes(body))
        with self._lock:
            self.sent.append(sent)
        status, payload = self.answer(sent)
        resp = requests.Response()
        resp.status_code = status
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        resp._content = json.dumps(payload).encode()
        resp.url = sent.url
        resp.request = request
        resp.encoding = "utf-8"
        return resp

    def close(self) -> None:
        pass


def intercept(session: requests.Session, adapter: VenueAdapter) -> VenueAdapter:
    """Route all of ``session``'s http(s) traffic to ``adapter``."""
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return adapter
