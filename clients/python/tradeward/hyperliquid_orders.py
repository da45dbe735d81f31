"""Open-order bookkeeping for Hyperliquid bots: the agent counts every
opening order it signs as open until the bot reports it closed (by client
order id, the cloid) or its TTL runs out. ``OpenOrders`` keeps that count
honest from what the bot already sees:

* ``signed(action, nonce)``: orders the agent signed (their cloids);
* ``handle_response(action, response)``: the venue's answer to a posted
  ``order``, ``batchModify``, ``cancel`` or ``cancelByCloid``: an order
  that filled, was cancelled or was rejected is reported closed; a resting
  one is remembered with its venue order id (``oid``), so a later cancel by
  oid can be reported by its cloid;
* ``not_posted(action)``: a signed action that was never posted (the
  drop-in refused it after signing, or the signature never reached the
  bot): its orders can never be open, so they are reported closed;
* ``reconcile(open_orders, fills)``: from the ``openOrders`` (or
  ``frontendOpenOrders``) and ``userFills`` info responses the bot fetches
  anyway: every order signed before the snapshot that the venue no longer
  lists as open is reported closed.

Reports that fail (the agent restarting) are kept and sent again with the
next call. Standard library only; ``tradeward.hyperliquid`` wires it into
the official SDK.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set

from .client import Client
from .errors import ClientError

__all__ = ["OpenOrders", "TrackedOrder", "Reconciled", "new_cloid"]

_log = logging.getLogger("tradeward.hyperliquid")


def new_cloid() -> str:
    """A fresh client order id in the venue's form: ``0x`` and 32 lower-case
    hex digits (128 random bits, so two never collide)."""
    return "0x" + secrets.token_hex(16)


@dataclass
class TrackedOrder:
    """An order this process had signed: ``cloid``, the asset index ``asset``,
    the venue's ``oid`` once known, and when it was signed (the action's
    nonce, ms)."""

    cloid: str
    asset: Optional[int]
    signed_at_ms: int
    oid: Optional[int] = None


@dataclass
class Reconciled:
    """What ``reconcile`` did: cloids it reported ``closed`` and the ones the
    venue still lists as ``open``."""

    closed: List[str] = field(default_factory=list)
    open: List[str] = field(default_factory=list)


def _order_wires(action: Mapping[str, Any]) -> List[Dict[str, Any]]:
    kind = action.get("type")
    if kind == "order":
        return [o for o in action.get("orders", []) if isinstance(o, dict)]
    if kind == "batchModify":
        return [m["order"] for m in action.get("modifies", []) if isinstance(m, dict) and isinstance(m.get("order"), dict)]
    return []


def _statuses(response: Any) -> Optional[List[Any]]:
    """The per-entry statuses of an ``{"status": "ok", "response": {"type":
    ..., "data": {"statuses": [...]}}}`` answer, or ``None``."""
    if not isinstance(response, Mapping) or response.get("status") != "ok":
        return None
    inner = response.get("response")
    if not isinstance(inner, Mapping):
        return None
    data = inner.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("statuses"), list):
        return None
    statuses: List[Any] = data["statuses"]
    return statuses


class OpenOrders:
    """The orders of one key that this process signed and the agent counts
    as open, and the reports that close them.

    ``client`` is the bot's ``Client`` (the identity needs the
    ``order.report`` grant); ``key`` the key's alias. Thread-safe.
    """

    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.key = key
        self._lock = threading.Lock()
        self._orders: Dict[str, TrackedOrder] = {}
        self._by_oid: Dict[int, str] = {}
        self._unreported: Set[str] = set()
        #: Cloids reported closed so far (a count, for metrics and tests).
        self.reported = 0

    # -- what the bot signs and posts ----------------------------------------

    def assign_cloids(self, action: Dict[str, Any]) -> List[str]:
        """Give every order of an ``order`` or ``batchModify`` action that has
        no ``c`` a fresh cloid, in place (appended last, where the SDK puts
        it, so the agent's canonical encoding stays the SDK's). Returns the
        cloids assigned."""
        assigned = []
        for wire in _order_wires(action):
            if wire.get("c") is None:
                wire.pop("c", None)
                wire["c"] = new_cloid()
                assigned.append(wire["c"])
        return assigned

    def signed(self, action: Mapping[str, Any], nonce: int) -> None:
        """The agent signed ``action``: track its orders' cloids."""
        with self._lock:
            for wire in _order_wires(action):
                cloid = wire.get("c")
                if isinstance(cloid, str):
                    asset = wire.get("a")
                    self._orders[cloid.lower()] = TrackedOrder(
                        cloid.lower(), asset if isinstance(asset, int) else None, nonce
                    )

    def not_posted(self, action: Mapping[str, Any]) -> List[str]:
        """A signed ``action`` that will never be posted: its orders are
        reported closed. Returns their cloids."""
        cloids = [w["c"].lower() for w in _order_wires(action) if isinstance(w.get("c"), str)]
        self._close(cloids)
        return cloids

    def handle_response(self, action: Mapping[str, Any], response: Any) -> List[str]:
        """Read the venue's answer to a posted ``action`` and report what it
        closed. Returns the cloids reported closed."""
        kind = action.get("type")
        closed: List[str] = []
        statuses = _statuses(response)
        if kind in ("order", "batchModify"):
            wires = _order_wires(action)
            if isinstance(response, Mapping) and response.get("status") == "err":
                # Refused as a whole: none of its orders was placed.
                closed = [w["c"].lower() for w in wires if isinstance(w.get("c"), str)]
            elif statuses is not None:
                for i, wire in enumerate(wires):
                    cloid = wire.get("c")
                    status = statuses[i] if i < len(statuses) else None
                    if not isinstance(cloid, str):
                        continue
                    cloid = cloid.lower()
                    if isinstance(status, Mapping) and "resting" in status:
                        self._learn_oid(cloid, status["resting"])
                    elif isinstance(status, Mapping) and ("filled" in status or "error" in status):
                        closed.append(cloid)
                    # Anything else (a trigger waiting, an unknown answer)
                    # stays open: the count errs on the safe side.
                if kind == "batchModify":
                    closed += self._replaced(action, statuses)
        elif kind in ("cancel", "cancelByCloid") and statuses is not None:
            # "success", or an error saying the order was already gone
            # (cancelled, filled, never placed): either way not open.
            for i, entry in enumerate(action.get("cancels", [])):
                if i >= len(statuses) or not isinstance(entry, Mapping):
                    continue
                cloid = self._cloid_of(entry.get("o") if kind == "cancel" else entry.get("cloid"))
                if cloid is not None:
                    closed.append(cloid)
        self._close(closed)
        return closed

    def _replaced(self, action: Mapping[str, Any], statuses: Sequence[Any]) -> List[str]:
        # A modify that took replaced the order it names; the agent still
        # counts the old version until it is reported.
        out = []
        for i, m in enumerate(action.get("modifies", [])):
            status = statuses[i] if i < len(statuses) else None
            if not isinstance(m, Mapping) or not isinstance(status, Mapping) or "error" in status:
                continue
            old = self._cloid_of(m.get("oid"))
            new = m.get("order", {}).get("c")
            if old is not None and (not isinstance(new, str) or new.lower() != old):
                out.append(old)
        return out

    def _learn_oid(self, cloid: str, resting: Any) -> None:
        oid = resting.get("oid") if isinstance(resting, Mapping) else None
        if isinstance(oid, int):
            with self._lock:
                order = self._orders.get(cloid)
                if order is not None:
                    order.oid = oid
                self._by_oid[oid] = cloid

    def _cloid_of(self, ref: Any) -> Optional[str]:
        if isinstance(ref, str) and ref.startswith("0x"):
            return ref.lower()
        if isinstance(ref, int):
            with self._lock:
                return self._by_oid.get(ref)
        return None

    # -- reconciling with the venue -------------------------------------------

    def reconcile(
        self,
        open_orders: Iterable[Mapping[str, Any]],
        fills: Iterable[Mapping[str, Any]] = (),
        *,
        as_of_ms: Optional[int] = None,
    ) -> Reconciled:
        """Report closed every order the venue no longer lists as open.

        ``open_orders`` is the ``openOrders`` or ``frontendOpenOrders`` info
        response for the account (``Info.open_orders(address)``), fetched
        at ``as_of_ms`` (default: now, so fetch it just before calling);
        orders signed after that are left alone, as the snapshot cannot
        show them yet. ``fills`` (the ``userFills`` response) adds the
        cloids of filled orders this process did not sign itself (say,
        before a restart): those not open are reported closed too, which
        closes nothing the agent does not count. The orders the agent
        itself counts as open on this key (``order.open``) are candidates
        too, so orders a previous run of the bot signed and the venue has
        since cancelled are reported as well.
        """
        as_of = int(time.time() * 1000) if as_of_ms is None else as_of_ms
        open_cloids: Set[str] = set()
        open_oids: Set[int] = set()
        for o in open_orders:
            if isinstance(o.get("cloid"), str):
                open_cloids.add(o["cloid"].lower())
            if isinstance(o.get("oid"), int):
                open_oids.add(o["oid"])
        result = Reconciled()
        with self._lock:
            candidates = {
                c: t for c, t in self._orders.items() if t.signed_at_ms <= as_of
            }
            for oid, cloid in self._by_oid.items():
                if oid in open_oids:
                    open_cloids.add(cloid)
        for counted in self.client.order_open(self.key):
            cloid = counted.client_id
            if (
                isinstance(cloid, str)
                and counted.placed_ms <= as_of
                and cloid.lower() not in candidates
            ):
                candidates[cloid.lower()] = TrackedOrder(cloid.lower(), None, counted.placed_ms)
        for f in fills:
            cloid = f.get("cloid")
            if isinstance(cloid, str) and cloid.lower() not in candidates:
                candidates[cloid.lower()] = TrackedOrder(cloid.lower(), None, 0)
        for cloid, order in sorted(candidates.items()):
            if cloid in open_cloids or (order.oid is not None and order.oid in open_oids):
                result.open.append(cloid)
            else:
                result.closed.append(cloid)
        self._close(result.closed)
        return result

    # -- reporting ------------------------------------------------------------

    @property
    def open(self) -> List[str]:
        """Cloids signed by this process and not reported closed."""
        with self._lock:
            return sorted(self._orders)

    @property
    def unreported(self) -> List[str]:
        """Cloids known closed whose report has not reached the agent yet
        (it was unreachable); sent again with the next report."""
        with self._lock:
            return sorted(self._unreported)

    def flush(self) -> None:
        """Send the reports that failed earlier."""
        self._close([])

    def _close(self, cloids: Iterable[str]) -> None:
        with self._lock:
            for c in cloids:
                order = self._orders.pop(c, None)
                if order is not None and order.oid is not None:
                    self._by_oid.pop(order.oid, None)
                self._unreported.add(c)
            todo = sorted(self._unreported)
        if not todo:
            return
        # Pipelined: one round trip's latency for the whole batch.
        try:
            responses = self.client.call_many(
                [("order.report", {"key": self.key, "client_id": c}) for c in todo]
            )
        except ClientError as e:
            _log.warning("tradeward: could not report %d orders closed (will retry): %s", len(todo), e)
            return
        for c, resp in zip(todo, responses):
            if not resp.ok and resp.error is not None and resp.error.retryable:
                _log.warning("tradeward: could not report order %s closed (will retry): %s", c, resp.error)
                continue
            if not resp.ok:
                # A refusal a retry cannot fix (no order.report grant, an
                # unknown key): the order counts until its TTL.
                _log.warning("tradeward: the agent refused the report of order %s: %s", c, resp.error)
            with self._lock:
                self._unreported.discard(c)
                self.reported += 1
