"""Tests for the dead-man's switch helpers of clients/python (tradeward.heartbeat):
``Client.heartbeat``, ``SwitchTrippedError`` and ``Heartbeater``.

Run from the repository root:

    python3 -m unittest discover -s clients/python/tests -v

``FakeHeartbeatTests`` put a scripted socket server in place of the agent
(as ``test_client.FakeAgentTests`` do), for what the real agent cannot be
made to do on demand: refuse one heartbeat and accept the next, hang up
between two beats, or trip exactly after the third.

``AgentHeartbeatTests`` run against the real agent (``agent_harness``: the
binary at ``$TRADEWARD_BIN``, a fresh SoftHSM development token per test):
the published Hyperliquid test key of ``tests/fixtures/hyperliquid`` as
``hl`` with ``schedule_cancel_grace_ms`` set, so every heartbeat carries a
signed ``scheduleCancel``, checked with ``refcrypto.py``. The development
config lets the test's uid be both the bot and the operator
(``admin.allow_shared_uid``), so the tests watch the switch through the
admin socket as an operator would.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import agent_harness  # noqa: E402
import refcrypto as ref  # noqa: E402
import tradeward as tw  # noqa: E402
from test_client import frame, ok, read_request  # noqa: E402

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "hyperliquid"
with open(FIXTURES / "vectors.json") as _f:
    FIXTURE = json.load(_f)
TEST_KEY: str = FIXTURE["private_key"]  # published test key; never fund it
ADDRESS: str = FIXTURE["address"]
GRACE_MS = 10_000


def err(rid: Any, code: str, message: str = "refused", retryable: bool = False) -> bytes:
    return frame({"id": rid, "ok": False, "error": {"code": code, "message": message, "retryable": retryable}})


def beat_result(timeout_ms: int = 1000, now: int = 1_795_000_000_000, **extra: Any) -> Dict[str, Any]:
    r: Dict[str, Any] = {
        "identity": "bot",
        "timeout_ms": timeout_ms,
        "deadline_ms": now + timeout_ms,
        "server_time_ms": now,
        "switch": {"state": "armed"},
    }
    r.update(extra)
    return r


def wait_for(what: str, cond: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class FakeServer:
    """Serves connections one after another: ``handler(conn, n)`` serves
    the n-th (from 0) until it returns, then the connection is closed. A
    heartbeat thread holds one connection at a time, so that is enough to
    script reconnections."""

    def __init__(self, handler: Callable[[socket.socket, int], None]) -> None:
        self.dir = tempfile.mkdtemp(prefix="tw-hb-fake-")
        self.path = os.path.join(self.dir, "agent.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.listener.settimeout(0.05)
        self.closing = threading.Event()
        self.requests: List[Dict[str, Any]] = []
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._serve, args=(handler,), daemon=True)
        self.thread.start()

    def read(self, conn: socket.socket) -> Dict[str, Any]:
        r = read_request(conn)
        self.requests.append(r)
        return r

    def _serve(self, handler: Callable[[socket.socket, int], None]) -> None:
        n = 0
        while not self.closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    handler(conn, n)
                except (EOFError, BrokenPipeError, ConnectionResetError, socket.timeout):
                    pass
                except BaseException as e:  # noqa: BLE001 - re-raised in close()
                    self.error = e
                    return
            n += 1

    def close(self) -> None:
        self.closing.set()
        self.thread.join(10)
        self.listener.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.error is not None:
            raise self.error


class FakeHeartbeatTests(unittest.TestCase):
    def server(self, handler: Callable[[socket.socket, int], None]) -> FakeServer:
        s = FakeServer(handler)
        self.addCleanup(s.close)
        return s

    def heartbeater(self, server: FakeServer, **kwargs: Any) -> tw.Heartbeater:
        kwargs.setdefault("interval", 0.02)
        hb = tw.Heartbeater(server.path, **kwargs)
        self.addCleanup(hb.stop, 10)
        return hb

    def test_heartbeat_wire_format_and_result(self) -> None:
        now = 1_795_000_000_000
        r_hex = "0x00" + "11" * 31  # a leading zero byte, dropped in the SDK's spelling
        backup = {
            "venue": "hyperliquid",
            "key": "hl",
            "address": ADDRESS,
            "is_mainnet": True,
            "action": {"type": "scheduleCancel", "time": now + 60_000 + GRACE_MS},
            "nonce": now,
            "signature": {"r": r_hex, "s": "0x" + "22" * 32, "v": 27},
            "decision": 41,
        }

        def handler(conn: socket.socket, n: int) -> None:
            r = srv.read(conn)
            conn.sendall(ok(r["id"], beat_result(60_000, now, schedule_cancel=[backup, {"key": "hl2", "error": "no luck"}])))
            r = srv.read(conn)
            conn.sendall(
                ok(r["id"], beat_result(60_000, now, switch={"state": "paused", "until_ms": now + 5, "reason": "maintenance"}))
            )

        srv = self.server(handler)
        with tw.connect(srv.path, timeout=5) as c:
            info = c.heartbeat(60_000)
            paused = c.heartbeat()
        self.assertEqual(srv.requests[0]["op"], "heartbeat")
        self.assertEqual(srv.requests[0]["params"], {"timeout_ms": 60_000})
        self.assertEqual(srv.requests[1]["params"], {})  # keeps the current timeout
        self.assertEqual((info.identity, info.state, info.timeout_ms), ("bot", "armed", 60_000))
        self.assertEqual(info.remaining_ms, 60_000)
        self.assertIsNone(info.paused_until_ms)
        good, bad = info.schedule_cancel
        self.assertTrue(good.ok)
        self.assertEqual(good.time_ms, now + 60_000 + GRACE_MS)
        self.assertEqual(good.signature["r"], "0x" + "11" * 31)
        self.assertEqual(
            good.exchange_payload(),
            {
                "action": backup["action"],
                "nonce": now,
                "signature": {"r": "0x" + "11" * 31, "s": "0x" + "22" * 32, "v": 27},
                "vaultAddress": None,
                "expiresAfter": None,
            },
        )
        self.assertEqual(good.decision, 41)
        self.assertFalse(bad.ok)
        self.assertEqual((bad.key, bad.error), ("hl2", "no luck"))
        with self.assertRaises(tw.ClientError):
            bad.exchange_payload()
        self.assertEqual((paused.state, paused.paused_until_ms, paused.pause_reason), ("paused", now + 5, "maintenance"))
        self.assertEqual(paused.schedule_cancel, [])

    def test_a_tripped_switch_raises_its_own_error_class(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            r = srv.read(conn)
            conn.sendall(err(r["id"], "switch_tripped", "tripped at 1 ms"))
            r = srv.read(conn)
            conn.sendall(err(r["id"], "forbidden", "not granted"))

        srv = self.server(handler)
        with tw.connect(srv.path, timeout=5) as c:
            with self.assertRaises(tw.SwitchTrippedError) as cm:
                c.heartbeat(1000)
            self.assertIsInstance(cm.exception, tw.TradewardError)
            self.assertEqual(cm.exception.code, "switch_tripped")
            self.assertFalse(cm.exception.retryable)
            with self.assertRaises(tw.TradewardError) as other:
                c.heartbeat(1000)
            self.assertNotIsInstance(other.exception, tw.SwitchTrippedError)

    def test_malformed_heartbeat_result_is_a_protocol_error(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            r = srv.read(conn)
            conn.sendall(ok(r["id"], {"identity": "bot", "timeout_ms": "soon"}))

        srv = self.server(handler)
        with tw.connect(srv.path, timeout=5) as c:
            with self.assertRaises(tw.ProtocolError):
                c.heartbeat(1000)

    def test_beats_until_the_switch_trips_then_stops_and_says_so(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            for _ in range(3):
                r = srv.read(conn)
                conn.sendall(ok(r["id"], beat_result()))
            r = srv.read(conn)
            conn.sendall(err(r["id"], "switch_tripped"))
            time.sleep(0.3)  # nothing more may arrive

        srv = self.server(handler)
        tripped: List[tw.SwitchTrippedError] = []
        beats: List[tw.HeartbeatInfo] = []
        hb = self.heartbeater(srv, timeout_ms=1000, on_trip=tripped.append, on_beat=beats.append)
        with self.assertLogs("tradeward", "ERROR") as logs:
            hb.start()
            self.assertTrue(hb.wait(10), "the heartbeats did not end")
        self.assertIn("switch tripped", logs.output[0])
        self.assertFalse(hb.running)
        self.assertTrue(hb.tripped)
        self.assertEqual(len(tripped), 1)
        self.assertIs(hb.error, tripped[0])
        with self.assertRaises(tw.SwitchTrippedError):
            hb.check()
        self.assertEqual(hb.beats, 3)
        self.assertEqual(len(beats), 3)  # the first from start(), then two from the thread
        self.assertEqual(hb.last, beats[-1])
        time.sleep(0.3)
        self.assertEqual(len(srv.requests), 4)
        self.assertTrue(all(r["params"] == {"timeout_ms": 1000} for r in srv.requests))

    def test_start_raises_when_the_first_heartbeat_is_refused(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            r = srv.read(conn)
            conn.sendall(err(r["id"], "switch_tripped"))

        srv = self.server(handler)
        hb = self.heartbeater(srv, timeout_ms=1000)
        with self.assertRaises(tw.SwitchTrippedError):
            hb.start()
        self.assertFalse(hb.running)
        self.assertEqual(hb.beats, 0)

    def test_a_retryable_refusal_is_reported_and_the_beats_go_on(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            r = srv.read(conn)
            conn.sendall(ok(r["id"], beat_result()))
            r = srv.read(conn)
            conn.sendall(err(r["id"], "journal_unavailable", "disk full", retryable=True))
            while True:
                r = srv.read(conn)
                conn.sendall(ok(r["id"], beat_result()))

        srv = self.server(handler)
        errors: List[BaseException] = []
        hb = self.heartbeater(srv, timeout_ms=1000, on_error=errors.append).start()
        wait_for("beats after the refusal", lambda: hb.beats >= 4)
        self.assertTrue(hb.running)
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], tw.TradewardError)
        self.assertEqual(getattr(errors[0], "code", None), "journal_unavailable")
        hb.check()  # nothing fatal
        hb.stop(10)
        self.assertFalse(hb.running)
        hb.check()  # a stop is not an error
        self.assertIsNone(hb.error)

    def test_a_refusal_a_retry_cannot_fix_ends_the_beats(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            r = srv.read(conn)
            conn.sendall(ok(r["id"], beat_result()))
            r = srv.read(conn)
            conn.sendall(err(r["id"], "bad_params", "timeout_ms 1000 is outside the configured bounds"))
            time.sleep(0.3)

        srv = self.server(handler)
        errors: List[BaseException] = []
        with self.assertLogs("tradeward", "ERROR") as logs:
            hb = self.heartbeater(srv, timeout_ms=1000, on_error=errors.append).start()
            self.assertTrue(hb.wait(10))
        self.assertIn("bad_params", logs.output[0])
        self.assertFalse(hb.tripped)
        self.assertEqual(len(errors), 1)
        with self.assertRaises(tw.TradewardError) as cm:
            hb.check()
        self.assertEqual(cm.exception.code, "bad_params")

    def test_reconnects_after_the_agent_hangs_up(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            if n == 0:
                r = srv.read(conn)
                conn.sendall(ok(r["id"], beat_result()))
                srv.read(conn)  # then hang up without an answer
                return
            while True:
                r = srv.read(conn)
                conn.sendall(ok(r["id"], beat_result()))

        srv = self.server(handler)
        errors: List[BaseException] = []
        hb = self.heartbeater(srv, timeout_ms=1000, on_error=errors.append).start()
        wait_for("beats on a new connection", lambda: hb.beats >= 3)
        self.assertTrue(hb.running)
        self.assertTrue(errors)
        self.assertIsInstance(errors[0], tw.ConnectionClosedError)

    def test_alive_false_skips_beats(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            while True:
                r = srv.read(conn)
                conn.sendall(ok(r["id"], beat_result()))

        srv = self.server(handler)
        alive = threading.Event()
        alive.set()
        hb = self.heartbeater(srv, timeout_ms=1000, alive=alive.is_set).start()
        wait_for("a few beats", lambda: hb.beats >= 3)
        alive.clear()
        time.sleep(0.1)  # a beat under way when the flag dropped may still land
        quiet_from = len(srv.requests)
        wait_for("skipped beats", lambda: hb.skipped >= 5)
        self.assertEqual(len(srv.requests), quiet_from)
        alive.set()
        wait_for("beats again", lambda: len(srv.requests) > quiet_from + 2)

    def test_an_alive_check_that_raises_counts_as_not_alive(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            while True:
                r = srv.read(conn)
                conn.sendall(ok(r["id"], beat_result()))

        def broken() -> bool:
            raise RuntimeError("trading loop state unreadable")

        srv = self.server(handler)
        errors: List[BaseException] = []
        hb = self.heartbeater(srv, timeout_ms=1000, alive=broken, on_error=errors.append).start()
        wait_for("skipped beats", lambda: hb.skipped >= 3)
        self.assertEqual(len(srv.requests), 1)  # only start()'s
        self.assertIsInstance(errors[0], RuntimeError)

    def test_an_on_beat_failure_is_reported_and_the_beats_go_on(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            while True:
                r = srv.read(conn)
                conn.sendall(ok(r["id"], beat_result()))

        def post(info: tw.HeartbeatInfo) -> None:
            raise OSError("venue unreachable")

        srv = self.server(handler)
        errors: List[BaseException] = []
        hb = self.heartbeater(srv, timeout_ms=1000, on_beat=post, on_error=errors.append).start()
        wait_for("beats", lambda: hb.beats >= 3)
        self.assertTrue(hb.running)
        self.assertGreaterEqual(len(errors), 3)
        self.assertTrue(all(isinstance(e, OSError) for e in errors))

    def test_stop_is_prompt_and_the_thread_is_a_daemon(self) -> None:
        def handler(conn: socket.socket, n: int) -> None:
            while True:
                r = srv.read(conn)
                conn.sendall(ok(r["id"], beat_result(60_000)))

        srv = self.server(handler)
        hb = self.heartbeater(srv, interval=10, timeout_ms=60_000).start()
        thread = hb._thread
        assert thread is not None
        self.assertTrue(thread.daemon)
        self.assertTrue(hb.running)
        start = time.monotonic()
        hb.stop(5)
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertFalse(thread.is_alive())
        self.assertTrue(hb.wait(0))
        hb.stop(5)  # again: harmless
        with self.assertRaises(RuntimeError):
            hb.start()

    def test_arguments_are_checked(self) -> None:
        with self.assertRaises(ValueError):
            tw.Heartbeater("/nonexistent.sock", interval=1.0, timeout_ms=1000)  # as long as the timeout
        with self.assertRaises(ValueError):
            tw.Heartbeater("/nonexistent.sock", interval=0, timeout_ms=1000)
        with self.assertRaises(tw.ConnectionClosedError):
            tw.Heartbeater("/nonexistent.sock", interval=0.1, timeout_ms=1000).start()


# --------------------------------------------------------------------------
# Against the real agent
# --------------------------------------------------------------------------

HL_CONFIG = f"""
[keys.hl]
type = "secp256k1"
label = "hl-main"

[keys.hl.hyperliquid]
network = "mainnet"
meta = {json.dumps(str(FIXTURES / "meta.json"))}
schedule_cancel_grace_ms = {GRACE_MS}
"""


class AgentHeartbeatTests(unittest.TestCase):
    agent: agent_harness.Agent

    def setUp(self) -> None:
        # One agent per test: the first heartbeat arms the switch for good,
        # and one test trips it.
        agent = agent_harness.Agent(prefix="tw-hb-")
        try:
            info = agent.import_key("secp256k1", "hl-main", TEST_KEY.encode())
            self.assertEqual(info["address"], ADDRESS)
            agent.configure(["hl"], ["list_keys", "heartbeat"], HL_CONFIG)
            agent.start()
        except BaseException:
            agent.cleanup()
            raise
        self.agent = agent
        self.addCleanup(self._stop_agent)

    def _stop_agent(self) -> None:
        try:
            rc = self.agent.stop()
            if rc != 0:
                raise AssertionError(f"agent exited with {rc} after SIGTERM:\n{self.agent.log_tail()}")
            self.agent.run("journal", "verify", "--config", str(self.agent.config))
        finally:
            self.agent.cleanup()

    def bot(self) -> tw.Client:
        c = self.agent.client()
        self.addCleanup(c.close)
        return c

    def operator(self, op: str, params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        with tw.connect(str(self.agent.tmp / "run" / "admin.sock"), timeout=30) as admin:
            return admin.call(op, params)

    def switch(self) -> Dict[str, Any]:
        s: Dict[str, Any] = self.operator("status")["identities"]["developer"]["switch"]
        return s

    def test_heartbeat_arms_and_carries_a_signed_schedule_cancel(self) -> None:
        c = self.bot()
        self.assertEqual(self.switch(), {"state": "disarmed"})
        for bad, fragment in ((None, "must give timeout_ms"), (10, "outside the configured bounds")):
            with self.assertRaises(tw.TradewardError) as cm:
                c.heartbeat(bad)
            self.assertEqual(cm.exception.code, "bad_params")
            self.assertIn(fragment, cm.exception.message)
        info = c.heartbeat(30_000)
        self.assertEqual((info.identity, info.state, info.timeout_ms), ("developer", "armed", 30_000))
        self.assertEqual(info.deadline_ms, info.server_time_ms + 30_000)
        self.assertEqual(self.switch()["deadline_ms"], info.deadline_ms)
        (backup,) = info.schedule_cancel
        self.assertTrue(backup.ok, backup.error)
        self.assertEqual((backup.key, backup.address, backup.is_mainnet), ("hl", ADDRESS, True))
        self.assertEqual(backup.action, {"type": "scheduleCancel", "time": info.deadline_ms + GRACE_MS})
        # Signed for the key's own account (no vault, no expiry): recover it.
        body = backup.exchange_payload()
        assert backup.nonce is not None
        digest = ref.hyperliquid_l1_digest(
            ref.hyperliquid_action_hash(ref.msgpack_encode(body["action"]), backup.nonce, None, None), True
        )
        sig = body["signature"]
        pub = ref.SECP256K1.recover(digest, int(sig["r"], 16), int(sig["s"], 16), sig["v"] - 27)
        self.assertEqual(ref.eth_address(pub), ADDRESS)
        # Later heartbeats may keep the timeout.
        again = c.heartbeat()
        self.assertEqual(again.timeout_ms, 30_000)
        self.assertGreaterEqual(again.deadline_ms, info.deadline_ms)
        # The operator ops are not the bot's.
        with self.assertRaises(tw.TradewardError) as cm:
            c.call("rearm", {"identity": "developer"})
        self.assertEqual(cm.exception.code, "forbidden")

    def test_heartbeater_keeps_the_switch_fed_and_reports_the_trip(self) -> None:
        c = self.bot()
        alive = threading.Event()
        alive.set()
        tripped = threading.Event()
        trips: List[tw.SwitchTrippedError] = []
        beats: List[tw.HeartbeatInfo] = []

        def on_trip(e: tw.SwitchTrippedError) -> None:
            trips.append(e)
            tripped.set()

        hb = tw.Heartbeater(c, interval=0.1, timeout_ms=1000, alive=alive.is_set, on_trip=on_trip, on_beat=beats.append)
        self.addCleanup(hb.stop, 10)
        hb.start()
        time.sleep(2.5)  # well past the timeout: only the heartbeats keep it armed
        sw = self.switch()
        self.assertEqual(sw["state"], "armed", sw)
        self.assertGreaterEqual(hb.beats, 10)
        self.assertTrue(all(b.schedule_cancel and b.schedule_cancel[0].ok for b in beats))
        c.ping()  # the bot's own connection is untouched

        # The trading loop hangs: the beats stop, the switch trips.
        alive.clear()
        wait_for("the trip", lambda: self.switch()["state"] == "tripped")
        self.assertTrue(hb.running)  # still asking alive()
        hb.check()
        # The loop recovers, but the switch stays tripped: the thread says so and ends.
        with self.assertLogs("tradeward", "ERROR"):
            alive.set()
            self.assertTrue(tripped.wait(10), "on_trip was not called")
            self.assertTrue(hb.wait(10))
        self.assertTrue(hb.tripped)
        with self.assertRaises(tw.SwitchTrippedError):
            hb.check()
        self.assertEqual(trips[0].code, "switch_tripped")
        self.assertEqual(self.operator("status")["identities"]["developer"]["halted"], True)
        with self.assertRaises(tw.SwitchTrippedError):
            tw.Heartbeater(c, interval=0.1, timeout_ms=1000).start()

        # Only an operator re-arms it; then heartbeats work again.
        self.operator("rearm", {"identity": "developer", "timeout_ms": 60_000})
        again = tw.Heartbeater(self.agent.sock, interval=0.1).start()
        try:
            self.assertEqual(again.last.timeout_ms if again.last else None, 60_000)
        finally:
            again.stop(10)
        self.assertEqual(self.switch()["state"], "armed")


if __name__ == "__main__":
    unittest.main()
