"""Bots that survive real operations: the agent restarted (orderly or
killed) under a blocking client, an asyncio client and a heartbeat thread.

Against the real agent on a real SoftHSM token (``$TRADEWARD_BIN``); the
Hyperliquid key and policy are those of ``test_hyperliquid.py``, so every
signature is checked with ``refcrypto.py``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import unittest
from pathlib import Path
from typing import Any, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import agent_harness  # noqa: E402
import tradeward as tw  # noqa: E402
from tradeward import aio  # noqa: E402
from test_hyperliquid import ADDRESS, hl_agent, order_action, recover_l1  # noqa: E402


class RestartTestCase(unittest.TestCase):
    agent: agent_harness.Agent

    def setUp(self) -> None:
        self.agent = hl_agent(extra_ops=("heartbeat",), prefix="tw-rs-")
        self.addCleanup(self._stop_agent)

    def _stop_agent(self) -> None:
        try:
            rc = self.agent.stop()
            if rc != 0:
                raise AssertionError(f"agent exited with {rc}:\n{self.agent.log_tail()}")
            self.agent.run("journal", "verify", "--config", str(self.agent.config))
        finally:
            self.agent.cleanup()

    def check_signed(self, signed: tw.HyperliquidSignedAction) -> None:
        _, addr = recover_l1(signed.action, signed.signature, signed.nonce, None, None, True)
        self.assertEqual(addr, ADDRESS)


class BlockingClientRestartTests(RestartTestCase):
    def test_calls_continue_across_orderly_and_killed_restarts(self) -> None:
        c = self.agent.client(timeout=10)
        self.addCleanup(c.close)
        c.hello()
        self.check_signed(c.sign_l1_action("main", order_action(), is_mainnet=True))
        for stop in (self.agent.stop, self.agent.kill):
            stop()
            # The agent is gone: the next call waits for it (backoff)
            # instead of failing, and goes through once it is back.
            threading.Timer(0.5, self.agent.start).start()
            start = time.monotonic()
            signed = c.sign_l1_action("main", order_action(), is_mainnet=True)
            self.check_signed(signed)
            self.assertLess(time.monotonic() - start, 30)
        self.assertEqual(c.reconnects, 2)
        # The nonces the agent assigned kept increasing across both restarts.
        self.assertTrue(c.connected)

    def test_agent_gone_for_longer_than_the_policy_allows(self) -> None:
        c = tw.connect(self.agent.sock, timeout=5, reconnect=tw.Reconnect(give_up_after=0.5))
        self.addCleanup(c.close)
        c.ping()
        self.agent.stop()
        start = time.monotonic()
        with self.assertRaises(tw.AgentUnavailableError) as cm:
            c.ping()
        self.assertLess(time.monotonic() - start, 3)
        self.assertGreater(cm.exception.attempts, 1)
        self.agent.start()
        self.assertGreater(c.ping(), 0)  # the next call reconnects

    def test_answers_lost_to_a_kill_are_typed_and_nothing_hangs(self) -> None:
        c = self.agent.client(timeout=10)
        self.addCleanup(c.close)
        ids = [c.send("hyperliquid.sign_l1_action", {"key": "main", "action": order_action(), "is_mainnet": True})
               for _ in range(40)]
        self.agent.kill()
        outcomes: List[str] = []
        for rid in ids:
            try:
                result = c.recv(rid)
                outcomes.append("signed")
                self.assertEqual(result["address"], ADDRESS)
            except tw.AnswerLostError as e:
                outcomes.append("lost")
                self.assertEqual((e.request_id, e.op), (rid, "hyperliquid.sign_l1_action"))
                self.assertIn("no signature reached this process", str(e))
        self.assertIn("lost", outcomes)  # a kill takes the requests still in flight with it
        self.agent.start()
        self.check_signed(c.sign_l1_action("main", order_action(), is_mainnet=True))


class HeartbeatRestartTests(RestartTestCase):
    def test_heartbeats_resume_after_a_restart(self) -> None:
        errors: List[BaseException] = []
        hb = tw.Heartbeater(self.agent.sock, interval=0.2, timeout_ms=20_000, on_error=errors.append)
        hb.start()
        self.addCleanup(hb.stop)
        deadline = time.monotonic() + 10
        while hb.beats < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = hb.beats
        self.agent.stop()
        time.sleep(0.6)  # a few beats fail while it is down
        self.agent.start()
        deadline = time.monotonic() + 20
        while hb.beats < before + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(hb.beats, before + 3, f"heartbeats did not resume: {errors}")
        self.assertTrue(hb.running)
        self.assertFalse(hb.tripped)
        self.assertGreaterEqual(hb.reconnects, 1)
        self.assertTrue(errors, "the outage went unreported")
        self.assertTrue(all(isinstance(e, tw.ClientError) for e in errors), errors)
        hb.check()
        # The switch the agent rebuilt from its journal is the one being fed.
        assert hb.last is not None
        self.assertEqual(hb.last.state, "armed")
        self.assertEqual(hb.last.timeout_ms, 20_000)


class AsyncClientTests(RestartTestCase):
    def test_async_client_signs_pipelines_and_survives_a_restart(self) -> None:
        async def main() -> None:
            async with await aio.connect(self.agent.sock, timeout=10) as agent:
                info = await agent.hello()
                self.assertIn("hyperliquid.sign_l1_action", info.ops)
                keys = {k.alias: k for k in await agent.list_keys()}
                self.assertEqual(keys["main"].address, ADDRESS)
                signed = await asyncio.gather(
                    *(agent.sign_l1_action("main", order_action(), is_mainnet=True) for _ in range(20))
                )
                nonces = [s.nonce for s in signed]
                self.assertEqual(len(set(nonces)), 20)
                for s in signed:
                    self.check_signed(s)
                with self.assertRaises(tw.TradewardError) as cm:
                    await agent.sign_l1_action("plain", order_action(), is_mainnet=True)
                self.assertEqual(cm.exception.code, "forbidden")
                # Restarted under it: the next call reconnects and says hello again.
                self.agent.stop()
                loop = asyncio.get_running_loop()
                loop.call_later(0.3, self.agent.start)
                after = await agent.sign_l1_action("main", order_action(), is_mainnet=True)
                self.check_signed(after)
                self.assertGreater(after.nonce, max(nonces))
                self.assertEqual(agent.reconnects, 1)
                # Killed with requests in flight: each is signed or typed lost.
                pending = [asyncio.ensure_future(agent.sign_l1_action("main", order_action(), is_mainnet=True))
                           for _ in range(30)]
                await asyncio.sleep(0)
                self.agent.kill()
                results = await asyncio.gather(*pending, return_exceptions=True)
                for r in results:
                    if isinstance(r, BaseException):
                        self.assertIsInstance(r, tw.AnswerLostError)
                    else:
                        self.check_signed(r)
                self.agent.start()
                self.check_signed(await agent.sign_l1_action("main", order_action(), is_mainnet=True))

        asyncio.run(main())

    def test_async_heartbeater_resumes(self) -> None:
        async def main() -> None:
            errors: List[BaseException] = []
            hb = aio.AsyncHeartbeater(self.agent.sock, interval=0.2, timeout_ms=20_000, on_error=errors.append)
            await hb.start()
            try:
                await asyncio.sleep(0.5)
                before = hb.beats
                self.agent.stop()
                await asyncio.sleep(0.5)
                await asyncio.get_running_loop().run_in_executor(None, self.agent.start)
                for _ in range(100):
                    if hb.beats >= before + 3:
                        break
                    await asyncio.sleep(0.1)
                self.assertGreaterEqual(hb.beats, before + 3)
                self.assertGreater(hb.failures, 0)
                self.assertTrue(errors and all(isinstance(e, tw.ClientError) for e in errors), errors)
                hb.check()
            finally:
                await hb.stop()

        asyncio.run(main())

    def test_async_agent_gone_at_start(self) -> None:
        self.agent.stop()

        async def main() -> None:
            with self.assertRaises(tw.AgentUnavailableError):
                await aio.connect(self.agent.sock)
            start = time.monotonic()
            with self.assertRaises(tw.AgentUnavailableError) as cm:
                await aio.connect(self.agent.sock, wait=0.4)
            self.assertLess(time.monotonic() - start, 2)
            self.assertGreater(cm.exception.attempts, 1)

        asyncio.run(main())
        self.agent.start()


if __name__ == "__main__":
    unittest.main()
