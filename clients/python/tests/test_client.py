"""Tests for the client core of clients/python (the tradeward package).

Run from the repository root:

    python3 -m unittest discover -s clients/python/tests -v

``AgentTests`` run against the real agent: the binary at ``$TRADEWARD_BIN``
(default ``target/debug/tradeward``; these tests build nothing) gets a fresh
SoftHSM development token in a temporary folder, one key of each type, and a
config written here; the agent runs as a subprocess for the whole class and
must stop cleanly on SIGTERM. Signatures are checked with the small
standard-library reference code in ``refcrypto.py``, itself pinned by
known-answer tests in ``ReferenceCryptoTests``.

``FakeAgentTests`` put a scripted socket server in place of the agent, for
what the real one cannot be made to do on demand: answer out of order, stall
mid-frame, hang up, or send garbage.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import refcrypto as ref  # noqa: E402
import tradeward as tw  # noqa: E402

ETH_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SECP256K1_HALF_N = ref.SECP256K1.n // 2


def agent_binary() -> Path:
    env = os.environ.get("TRADEWARD_BIN")
    return Path(env).resolve() if env else REPO_ROOT / "target" / "debug" / "tradeward"


def b58decode(text: str) -> bytes:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for ch in text:
        n = n * 58 + alphabet.index(ch)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


# --------------------------------------------------------------------------
# Reference crypto: known answers, so the checks below can be trusted
# --------------------------------------------------------------------------


class ReferenceCryptoTests(unittest.TestCase):
    def test_keccak_known_answers(self) -> None:
        self.assertEqual(
            ref.keccak256(b"").hex(),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
        )
        self.assertEqual(
            ref.eip191_digest(b"hello").hex(),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750",
        )

    def test_sponge_matches_hashlib_sha3_across_block_boundaries(self) -> None:
        data = bytes(range(256)) * 3
        for n in (0, 1, 135, 136, 137, 271, 272, 273, 700):
            self.assertEqual(ref.sponge256(data[:n], 0x06), hashlib.sha3_256(data[:n]).digest(), n)

    def test_eth_address_of_private_key_one(self) -> None:
        gx, gy = ref.SECP256K1.g
        pub = b"\x04" + gx.to_bytes(32, "big") + gy.to_bytes(32, "big")
        self.assertEqual(ref.eth_address(pub), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")

    def test_ed25519_rfc8032_vector_1(self) -> None:
        seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        pub = ref.ed25519_public_key(seed)
        self.assertEqual(pub.hex(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        sig = bytes.fromhex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
            "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )
        self.assertTrue(ref.ed25519_verify(pub, b"", sig))
        self.assertFalse(ref.ed25519_verify(pub, b"\x00", sig))

    def test_ecdsa_round_trip_with_textbook_signer(self) -> None:
        for curve in (ref.SECP256K1, ref.P256):
            d, k = 0x1234567890ABCDEF, 0xFEDCBA0987654321
            q = curve.mul(d, curve.g)
            assert q is not None
            pub = b"\x04" + q[0].to_bytes(32, "big") + q[1].to_bytes(32, "big")
            digest = hashlib.sha256(b"reference").digest()
            rpt = curve.mul(k, curve.g)
            assert rpt is not None
            r = rpt[0] % curve.n
            s = pow(k, -1, curve.n) * (int.from_bytes(digest, "big") + r * d) % curve.n
            self.assertTrue(curve.verify(pub, digest, r, s), curve.name)
            self.assertFalse(curve.verify(pub, digest, r, (s + 1) % curve.n), curve.name)
            self.assertIn(pub, (curve.recover(digest, r, s, 0), curve.recover(digest, r, s, 1)))


# --------------------------------------------------------------------------
# Against the real agent
# --------------------------------------------------------------------------

# alias -> (type, token label, raw_signing, granted to the test identity)
KEYS: Dict[str, Tuple[str, str, bool, bool]] = {
    "eth": ("secp256k1", "test-secp256k1", True, True),
    "nist": ("p256", "test-p256", True, True),
    "ed": ("ed25519", "test-ed25519", True, True),
    "mac": ("hmac", "test-hmac-generated", True, True),
    "api": ("hmac", "test-hmac-imported", True, True),
    "locked": ("secp256k1", "test-no-raw-signing", False, True),
    "hidden": ("ed25519", "test-not-granted", True, False),
}
IMPORTED = {"api"}
GRANTED = sorted(alias for alias, spec in KEYS.items() if spec[3])


class AgentTests(unittest.TestCase):
    tmp: ClassVar[Path]
    sock: ClassVar[str]
    proc: ClassVar[Optional["subprocess.Popen[bytes]"]]
    log_path: ClassVar[Path]
    generated: ClassVar[Dict[str, Dict[str, Any]]]
    hmac_secret: ClassVar[bytes]

    @classmethod
    def setUpClass(cls) -> None:
        binary = agent_binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError(
                f"agent binary {binary} not found: run `cargo build` first or set TRADEWARD_BIN"
            )
        cls.proc = None
        cls.tmp = Path(tempfile.mkdtemp(prefix="tw-test-"))
        try:
            cls._provision(binary)
            cls._start_agent(binary)
        except BaseException:
            cls._stop_agent(check=False)
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def _env(cls) -> Dict[str, str]:
        env = dict(os.environ)
        env["TRADEWARD_CONFIG"] = str(cls.tmp / "tradeward.toml")
        env["TRADEWARD_LOG"] = "info"
        env.pop("TRADEWARD_SOCK", None)
        return env

    @classmethod
    def _run(cls, binary: Path, *args: str, stdin: Optional[bytes] = None) -> str:
        proc = subprocess.run(
            [str(binary), *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            env=cls._env(),
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"`tradeward {' '.join(args)}` exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace').strip()}"
            )
        return proc.stdout.decode()

    @classmethod
    def _provision(cls, binary: Path) -> None:
        cls._run(binary, "token", "init-dev", "--dir", str(cls.tmp), "--force")
        config = cls.tmp / "tradeward.toml"
        cls.sock = str(cls.tmp / "run" / "agent.sock")
        if len(cls.sock.encode()) > 100:
            raise RuntimeError(f"socket path too long for AF_UNIX: {cls.sock} (set TMPDIR shorter)")
        # An exchange API secret looks like this: printable, 64 characters.
        # Imported with the default text encoding, its bytes are the key.
        cls.hmac_secret = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(64)).encode()
        cls.generated = {}
        for alias, (ktype, label, _, _) in KEYS.items():
            if alias in IMPORTED:
                out = cls._run(
                    binary, "keys", "import", "--type", ktype, "--label", label, "--json",
                    stdin=cls.hmac_secret + b"\n",
                )
            else:
                out = cls._run(binary, "keys", "generate", "--type", ktype, "--label", label, "--json")
            cls.generated[alias] = json.loads(out)
        text = config.read_text()
        if text.count("keys = []") != 1:
            raise RuntimeError(f"unexpected starter config from init-dev:\n{text}")
        granted = ", ".join(f'"{a}"' for a in GRANTED)
        text = text.replace("keys = []", f"keys = [{granted}]")
        for alias, (ktype, label, raw, _) in KEYS.items():
            text += (
                f'\n[keys.{alias}]\ntype = "{ktype}"\nlabel = "{label}"\n'
                f"raw_signing = {'true' if raw else 'false'}\n"
            )
        config.write_text(text)
        config.chmod(0o600)

    @classmethod
    def _start_agent(cls, binary: Path) -> None:
        cls.log_path = cls.tmp / "agent.log"
        with open(cls.log_path, "wb") as log:
            cls.proc = subprocess.Popen(
                [str(binary), "agent", "--config", str(cls.tmp / "tradeward.toml")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cls._env(),
            )
        deadline = time.monotonic() + 60
        while True:
            if cls.proc.poll() is not None:
                raise RuntimeError(
                    f"agent exited with {cls.proc.returncode} during start-up:\n{cls._log_tail()}"
                )
            if os.path.exists(cls.sock):
                try:
                    with tw.connect(cls.sock, timeout=5) as c:
                        c.ping()
                    return
                except tw.ClientError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"agent socket did not appear within 60 s:\n{cls._log_tail()}")
            time.sleep(0.05)

    @classmethod
    def _log_tail(cls) -> str:
        try:
            return "\n".join(cls.log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no agent log)"

    @classmethod
    def _stop_agent(cls, check: bool) -> List[str]:
        problems: List[str] = []
        proc = cls.proc
        if proc is None:
            return problems
        cls.proc = None
        # A connection left open over the shutdown: the client must report
        # the agent's departure as a closed connection, not hang or crash.
        idle: Optional[tw.Client] = None
        if check and proc.poll() is None:
            try:
                idle = tw.connect(cls.sock, timeout=10)
                idle.ping()
            except tw.ClientError as e:
                problems.append(f"could not open a connection before shutdown: {e!r}")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            problems.append("agent did not exit within 30 s of SIGTERM")
            rc = None
        if check:
            if rc != 0:
                problems.append(f"agent exited with status {rc} after SIGTERM")
            if os.path.exists(cls.sock):
                problems.append(f"agent left its socket behind at {cls.sock}")
            if idle is not None:
                try:
                    idle.ping()
                    problems.append("ping succeeded on a connection to a stopped agent")
                except tw.ConnectionClosedError:
                    pass
                except Exception as e:  # noqa: BLE001 - reported below
                    problems.append(f"after shutdown, ping raised {e!r} instead of ConnectionClosedError")
                finally:
                    idle.close()
            if problems:
                problems.append("agent log:\n" + cls._log_tail())
        return problems

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            problems = cls._stop_agent(check=True)
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("agent shutdown: " + "; ".join(problems))

    # -- helpers --------------------------------------------------------------

    def client(self, **kwargs: Any) -> tw.Client:
        kwargs.setdefault("timeout", 30)
        c = tw.connect(self.sock, **kwargs)
        self.addCleanup(c.close)
        return c

    def public_key(self, alias: str) -> bytes:
        return tw.from_hex(self.generated[alias]["public_key"])

    def assert_agent_error(self, code: str, fn: Callable[[], Any]) -> tw.TradewardError:
        with self.assertRaises(tw.TradewardError) as cm:
            fn()
        self.assertEqual(cm.exception.code, code, cm.exception.message)
        self.assertFalse(cm.exception.retryable)
        self.assertIsInstance(cm.exception.request_id, int)
        self.assertTrue(cm.exception.message)
        return cm.exception

    def check_secp256k1(self, sig: tw.Signature, digest: bytes) -> None:
        pub = self.public_key("eth")
        self.assertEqual(sig.type, "secp256k1")
        self.assertEqual(len(sig.signature), 65)
        self.assertEqual(sig.digest, digest)
        assert sig.r is not None and sig.s is not None and sig.v is not None
        self.assertIn(sig.v, (27, 28))
        self.assertEqual(sig.v, 27 + (sig.recovery_id or 0))
        self.assertEqual(sig.signature, sig.r + sig.s + bytes([sig.v]))
        r, s = int.from_bytes(sig.r, "big"), int.from_bytes(sig.s, "big")
        self.assertLessEqual(s, SECP256K1_HALF_N, "s must be in the low half of the order")
        self.assertTrue(ref.SECP256K1.verify(pub, digest, r, s))
        self.assertEqual(ref.SECP256K1.recover(digest, r, s, sig.v - 27), pub)
        self.assertEqual(sig.address, self.generated["eth"]["address"])

    # -- hello / ping / list_keys --------------------------------------------

    def test_hello(self) -> None:
        c = self.client()
        info = c.hello()
        self.assertEqual(info.protocol_version, 1)
        self.assertEqual(info.agent, "tradeward")
        self.assertTrue(info.agent_version)
        self.assertEqual(info.identity, "developer")
        self.assertEqual(sorted(info.keys), GRANTED)
        self.assertNotIn("hidden", info.keys)
        self.assertEqual(set(info.ops), {"hello", "ping", "list_keys", "sign", "heartbeat"})
        self.assertEqual(info.peer["uid"], os.getuid())
        self.assertEqual(info.peer["pid"], os.getpid())
        self.assertEqual(info.max_frame_bytes, 1024 * 1024)
        self.assertEqual(c.max_request_bytes, info.max_frame_bytes)

    def test_ping(self) -> None:
        c = self.client()
        rtt = c.ping()
        self.assertGreaterEqual(rtt, 0.0)
        self.assertLess(rtt, 5.0)
        self.assertEqual(c.call("ping", {}), {"pong": True})

    def test_list_keys(self) -> None:
        keys = {k.alias: k for k in self.client().list_keys()}
        self.assertEqual(sorted(keys), GRANTED)
        for alias, k in keys.items():
            ktype, label, raw, _ = KEYS[alias]
            gen = self.generated[alias]
            self.assertEqual(k.type, ktype, alias)
            self.assertEqual(k.label, label, alias)
            self.assertEqual(k.raw_signing, raw, alias)
            self.assertEqual(k.id, bytes.fromhex(gen["id"]), alias)
            self.assertEqual(k.local, alias not in IMPORTED, alias)
            self.assertTrue(k.uri.startswith("pkcs11:"), k.uri)
            self.assertIn("object=" + label, k.uri)
        for alias in ("eth", "locked"):
            k = keys[alias]
            assert k.public_key is not None and k.address is not None
            self.assertEqual(len(k.public_key), 65)
            self.assertEqual(k.public_key[0], 4)
            self.assertRegex(k.address, ETH_ADDRESS)
            # Independent EIP-55 derivation from the public key.
            self.assertEqual(k.address, ref.eth_address(k.public_key))
            self.assertEqual(k.public_key, self.public_key(alias))
        nist = keys["nist"]
        assert nist.public_key is not None
        self.assertEqual(len(nist.public_key), 65)
        ref.P256.decode_point(nist.public_key)  # raises if not on the curve
        self.assertIsNone(nist.address)
        ed = keys["ed"]
        assert ed.public_key is not None and ed.public_key_base58 is not None
        self.assertEqual(len(ed.public_key), 32)
        self.assertEqual(b58decode(ed.public_key_base58), ed.public_key)
        for alias in ("mac", "api"):
            self.assertIsNone(keys[alias].public_key)
            self.assertIsNone(keys[alias].address)

    # -- signing, one test per key type ----------------------------------------

    def test_sign_secp256k1_eip191(self) -> None:
        msg = b"tradeward test message \x00\xff"
        sig = self.client().sign_eip191("eth", msg)
        self.check_secp256k1(sig, ref.eip191_digest(msg))

    def test_sign_secp256k1_message_is_keccak_hashed(self) -> None:
        msg = bytes(range(200))
        sig = self.client().sign_message("eth", msg)
        self.check_secp256k1(sig, ref.keccak256(msg))

    def test_sign_secp256k1_digest(self) -> None:
        digest = hashlib.sha256(b"a digest").digest()
        sig = self.client().sign_digest("eth", digest)
        self.check_secp256k1(sig, digest)

    def test_secp256k1_s_is_always_low(self) -> None:
        # A token returns a high s about half the time; twenty low ones in a
        # row by chance has odds of one in a million.
        digests = [hashlib.sha256(b"low-s %d" % i).digest() for i in range(20)]
        c = self.client()
        responses = c.call_many(("sign", {"key": "eth", "digest": tw.to_hex(d)}) for d in digests)
        for d, resp in zip(digests, responses):
            self.check_secp256k1(tw.Signature.from_result(resp.unwrap()), d)

    def test_sign_p256_raw(self) -> None:
        msg = b"p256 message"
        sig = self.client().sign_message("nist", msg)
        self.assertEqual(sig.type, "p256")
        self.assertEqual(sig.format, "raw")
        self.assertEqual(len(sig.signature), 64)
        digest = hashlib.sha256(msg).digest()
        self.assertEqual(sig.digest, digest)
        r, s = int.from_bytes(sig.signature[:32], "big"), int.from_bytes(sig.signature[32:], "big")
        pub = self.public_key("nist")
        self.assertTrue(ref.P256.verify(pub, digest, r, s))
        self.assertFalse(ref.P256.verify(pub, hashlib.sha256(msg + b"!").digest(), r, s))

    def test_sign_p256_der(self) -> None:
        msg = b"p256 message, DER please"
        sig = self.client().sign_message("nist", msg, format="der")
        self.assertEqual(sig.format, "der")
        r, s = ref.der_to_rs(sig.signature)
        self.assertTrue(ref.P256.verify(self.public_key("nist"), hashlib.sha256(msg).digest(), r, s))

    def test_sign_p256_digest(self) -> None:
        digest = hashlib.sha256(b"prehashed").digest()
        sig = self.client().sign_digest("nist", digest)
        self.assertEqual(sig.digest, digest)
        r, s = int.from_bytes(sig.signature[:32], "big"), int.from_bytes(sig.signature[32:], "big")
        self.assertTrue(ref.P256.verify(self.public_key("nist"), digest, r, s))

    def test_sign_ed25519(self) -> None:
        c = self.client()
        pub = self.public_key("ed")
        for msg in (b"", b"ed25519 message", os.urandom(10_000)):
            sig = c.sign_message("ed", msg)
            self.assertEqual(sig.type, "ed25519")
            self.assertEqual(len(sig.signature), 64)
            self.assertIsNone(sig.digest)
            self.assertTrue(ref.ed25519_verify(pub, msg, sig.signature), len(msg))
            self.assertFalse(ref.ed25519_verify(pub, msg + b"x", sig.signature))

    def test_sign_hmac_imported_secret(self) -> None:
        c = self.client()
        for msg in (b"", b"symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&timestamp=1700000000000"):
            sig = c.sign_message("api", msg)
            self.assertEqual(sig.type, "hmac")
            expected = hmac.new(self.hmac_secret, msg, hashlib.sha256).digest()
            self.assertTrue(hmac.compare_digest(sig.signature, expected), msg)

    def test_sign_hmac_generated_key(self) -> None:
        # Its secret never left the token, so only its behaviour can be checked.
        c = self.client()
        a = c.sign_message("mac", b"one").signature
        self.assertEqual(len(a), 32)
        self.assertEqual(c.sign_message("mac", b"one").signature, a)
        self.assertNotEqual(c.sign_message("mac", b"two").signature, a)
        self.assertNotEqual(c.sign_message("api", b"one").signature, a)

    def test_sign_by_pkcs11_uri(self) -> None:
        c = self.client()
        uri = next(k.uri for k in c.list_keys() if k.alias == "ed")
        sig = c.sign_message(uri, b"by uri")
        self.assertEqual(sig.key, "ed")
        self.assertTrue(ref.ed25519_verify(self.public_key("ed"), b"by uri", sig.signature))

    def test_hex_without_prefix_is_accepted(self) -> None:
        result = self.client().call("sign", {"key": "api", "message": b"abc".hex()})
        expected = hmac.new(self.hmac_secret, b"abc", hashlib.sha256).digest()
        self.assertEqual(tw.from_hex(result["signature"]), expected)
        self.assertTrue(result["signature"].startswith("0x"))

    # -- pipelining -------------------------------------------------------------

    def test_pipelining_50_requests(self) -> None:
        c = self.client()
        expected: Dict[int, bytes] = {}
        ed_ids: Dict[int, bytes] = {}
        ping_ids: List[int] = []
        for i in range(50):
            msg = b"pipelined %d" % i
            if i % 5 == 4:
                ping_ids.append(c.send("ping"))
            elif i % 5 == 3:
                ed_ids[c.send("sign", {"key": "ed", "message": tw.to_hex(msg)})] = msg
            else:
                rid = c.send("sign", {"key": "api", "message": tw.to_hex(msg)})
                expected[rid] = hmac.new(self.hmac_secret, msg, hashlib.sha256).digest()
        self.assertEqual(len(c.pending), 50)
        # Collect newest first: everything that arrives before it is parked.
        for rid in sorted(expected, reverse=True):
            result = c.recv(rid)
            self.assertEqual(tw.from_hex(result["signature"]), expected[rid], rid)
        for rid, msg in ed_ids.items():
            sig = tw.from_hex(c.recv(rid)["signature"])
            self.assertTrue(ref.ed25519_verify(self.public_key("ed"), msg, sig))
        for rid in ping_ids:
            self.assertEqual(c.recv(rid), {"pong": True})
        self.assertEqual(c.pending, ())
        with self.assertRaises(ValueError):
            c.recv(ping_ids[0])  # already collected

    def test_pipelining_in_completion_order(self) -> None:
        c = self.client()
        sent = {c.send("sign", {"key": "mac", "message": tw.to_hex(b"%d" % i)}) for i in range(50)}
        got = set()
        for _ in range(50):
            resp = c.recv_response()
            self.assertTrue(resp.ok, resp.error)
            got.add(resp.id)
        self.assertEqual(got, sent)

    def test_call_many_stays_under_the_in_flight_limit(self) -> None:
        # 150 requests is more than the agent's 64-per-connection limit; the
        # window keeps every one of them acceptable.
        c = self.client()
        msgs = [b"batch %d" % i for i in range(150)]
        responses = c.call_many((("sign", {"key": "api", "message": tw.to_hex(m)}) for m in msgs), window=32)
        for m, resp in zip(msgs, responses):
            self.assertEqual(
                tw.from_hex(resp.unwrap()["signature"]),
                hmac.new(self.hmac_secret, m, hashlib.sha256).digest(),
            )

    def test_call_many_reports_failures_in_place(self) -> None:
        c = self.client()
        responses = c.call_many([("ping", None), ("sign", {"key": "nope", "message": "00"}), ("ping", {})])
        self.assertEqual([r.ok for r in responses], [True, False, True])
        assert responses[1].error is not None
        self.assertEqual(responses[1].error.code, "unknown_key")

    def test_one_client_shared_by_threads(self) -> None:
        c = self.client()
        failures: List[str] = []

        def worker(n: int) -> None:
            for i in range(20):
                msg = b"thread %d call %d" % (n, i)
                try:
                    got = c.sign_message("api", msg).signature
                except Exception as e:  # noqa: BLE001 - collected and asserted below
                    failures.append(repr(e))
                    return
                if got != hmac.new(self.hmac_secret, msg, hashlib.sha256).digest():
                    failures.append(f"thread {n} call {i}: wrong MAC")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(failures, [])
        self.assertEqual(c.pending, ())

    # -- errors -----------------------------------------------------------------

    def test_unknown_key(self) -> None:
        c = self.client()
        self.assert_agent_error("unknown_key", lambda: c.sign_message("no-such-key", b"x"))
        # A key the agent holds but this identity was not granted looks the
        # same as one that does not exist.
        self.assert_agent_error("unknown_key", lambda: c.sign_message("hidden", b"x"))
        self.assert_agent_error(
            "unknown_key", lambda: c.sign_message("pkcs11:object=test-not-granted", b"x")
        )

    def test_raw_signing_disabled(self) -> None:
        c = self.client()
        self.assert_agent_error("raw_signing_disabled", lambda: c.sign_message("locked", b"x"))
        self.assert_agent_error("raw_signing_disabled", lambda: c.sign_digest("locked", bytes(32)))
        self.assert_agent_error("raw_signing_disabled", lambda: c.sign_eip191("locked", b"x"))

    def test_bad_hex(self) -> None:
        c = self.client()
        for bad in ("0xzz", "0xabc", "hello", "0x 00"):
            self.assert_agent_error("bad_params", lambda: c.call("sign", {"key": "eth", "message": bad}))
        self.assert_agent_error("bad_params", lambda: c.call("sign", {"key": "eth", "digest": "0x" + "g" * 64}))

    def test_unknown_op(self) -> None:
        c = self.client()
        err = self.assert_agent_error("unknown_op", lambda: c.call("withdraw_everything", {}))
        self.assertIn("withdraw_everything", err.message)

    def test_digest_of_wrong_length(self) -> None:
        c = self.client()
        for n in (0, 20, 31, 33, 64):
            self.assert_agent_error("bad_params", lambda: c.sign_digest("eth", bytes(n)))
        self.assert_agent_error("bad_params", lambda: c.sign_digest("nist", bytes(31)))

    def test_digest_refused_for_message_only_keys(self) -> None:
        c = self.client()
        self.assert_agent_error("bad_params", lambda: c.sign_digest("ed", bytes(32)))
        self.assert_agent_error("bad_params", lambda: c.sign_digest("api", bytes(32)))

    def test_other_bad_params(self) -> None:
        c = self.client()
        cases: List[Dict[str, Any]] = [
            {"key": "eth", "message": "00", "digest": "00" * 32},  # both
            {"key": "eth"},  # neither
            {"message": "00"},  # no key
            {"key": "eth", "message": "00", "extra": 1},  # unknown parameter
            {"key": "eth", "message": 5},  # wrong type
            {"key": "nist", "message": "00", "scheme": "eip191"},  # eip191 on P-256
            {"key": "eth", "message": "00", "scheme": "eip712"},  # unknown scheme
            {"key": "eth", "digest": "00" * 32, "scheme": "eip191"},  # scheme on a digest
            {"key": "ed", "message": "00", "format": "der"},  # DER on Ed25519
            {"key": "nist", "message": "00", "format": "pem"},  # unknown format
        ]
        for params in cases:
            self.assert_agent_error("bad_params", lambda: c.call("sign", params))
        self.assert_agent_error("bad_params", lambda: c.call("ping", {"x": 1}))

    def test_connection_survives_refusals(self) -> None:
        c = self.client()
        for _ in range(3):
            with self.assertRaises(tw.TradewardError):
                c.call("nope")
            with self.assertRaises(tw.TradewardError):
                c.sign_message("locked", b"x")
        c.ping()
        self.assertEqual(c.pending, ())

    def test_client_refuses_text_where_bytes_are_meant(self) -> None:
        c = self.client()
        with self.assertRaises(TypeError):
            c.sign_message("eth", "text")  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            c.sign_digest("eth", "00" * 32)  # type: ignore[arg-type]

    def test_oversized_request_is_refused_before_sending(self) -> None:
        c = self.client()
        c.hello()
        with self.assertRaises(tw.RequestTooLargeError):
            c.sign_message("ed", bytes(600 * 1024))  # 1.2 MB of hex > 1 MiB
        c.ping()  # nothing was sent, so the connection is intact

    def test_unmapped_peer_is_refused(self) -> None:
        # A second agent on the same token whose only identity is some other
        # uid: this process is then an unknown peer, refused for the whole
        # connection with an error that carries no request id.
        config = (self.tmp / "tradeward.toml").read_text()
        other_run = self.tmp / "run-other"
        config = config.replace(str(self.tmp / "run" / "agent.sock"), str(other_run / "agent.sock"))
        # Its own journal too: the running agent holds the first one's lock.
        journal = str(self.tmp / "journal")
        self.assertEqual(config.count(f'dir = "{journal}"'), 1, config)
        config = config.replace(f'dir = "{journal}"', f'dir = "{journal}-other"')
        config = re.sub(r"(?m)^uids = \[\d+\]$", f"uids = [{os.getuid() + 4242}]", config)
        self.assertIn(f"uids = [{os.getuid() + 4242}]", config)
        other_config = self.tmp / "other.toml"
        other_config.write_text(config)
        other_config.chmod(0o600)
        sock = str(other_run / "agent.sock")
        with open(self.tmp / "other.log", "wb") as log:
            proc = subprocess.Popen(
                [str(agent_binary()), "agent", "--config", str(other_config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self._env(),
            )
        try:
            deadline = time.monotonic() + 60
            while not os.path.exists(sock):
                self.assertIsNone(proc.poll(), "second agent exited during start-up")
                self.assertLess(time.monotonic(), deadline, "second agent did not start")
                time.sleep(0.05)
            c = tw.connect(sock, timeout=10)
            self.addCleanup(c.close)
            with self.assertRaises(tw.TradewardError) as cm:
                c.hello()
            self.assertEqual(cm.exception.code, "unknown_peer")
            self.assertIsNone(cm.exception.request_id)
            self.assertFalse(c.connected)
            with self.assertRaises(tw.ConnectionClosedError):
                c.ping()
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)
        self.assertFalse(os.path.exists(sock))

    def test_agent_closes_on_oversized_frame(self) -> None:
        # A client that does not know the agent's limit sends too much: the
        # agent answers frame_too_large for the connection and hangs up.
        c = self.client(max_request_bytes=8 * 1024 * 1024)
        with self.assertRaises(tw.TradewardError) as cm:
            c.sign_message("ed", bytes(600 * 1024))
        self.assertEqual(cm.exception.code, "frame_too_large")
        self.assertIsNone(cm.exception.request_id)
        self.assertFalse(c.connected)
        with self.assertRaises(tw.ConnectionClosedError) as closed:
            c.ping()
        self.assertIn("frame_too_large", str(closed.exception))
        # Reconnecting the same client works.
        c.connect()
        c.ping()


# --------------------------------------------------------------------------
# Against a scripted fake agent
# --------------------------------------------------------------------------


def read_request(conn: socket.socket) -> Dict[str, Any]:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    (n,) = struct.unpack(">I", exactly(4))
    obj = json.loads(exactly(n))
    assert isinstance(obj, dict)
    return obj


def frame(obj: Any) -> bytes:
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body


def ok(rid: Any, result: Dict[str, Any]) -> bytes:
    return frame({"id": rid, "ok": True, "result": result})


class FakeAgent:
    """Accepts one connection and runs ``script`` on it in a thread."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.dir = tempfile.mkdtemp(prefix="tw-fake-")
        self.path = os.path.join(self.dir, "agent.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.error: Optional[BaseException] = None
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self.thread.start()

    def _serve(self, script: Callable[[socket.socket], None]) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(10)
                script(conn)
        except BaseException as e:  # noqa: BLE001 - re-raised in close()
            self.error = e

    def close(self) -> None:
        self.release.set()
        self.thread.join(10)
        self.listener.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.error is not None and not isinstance(self.error, (EOFError, BrokenPipeError, ConnectionResetError)):
            raise self.error


class FakeAgentTests(unittest.TestCase):
    def fake(self, script: Callable[[socket.socket], None]) -> FakeAgent:
        agent = FakeAgent(script)
        self.addCleanup(agent.close)
        return agent

    def client(self, agent: FakeAgent, **kwargs: Any) -> tw.Client:
        kwargs.setdefault("timeout", 5)
        c = tw.connect(agent.path, **kwargs)
        self.addCleanup(c.close)
        return c

    def test_out_of_order_answers_are_matched_by_id(self) -> None:
        def script(conn: socket.socket) -> None:
            reqs = [read_request(conn) for _ in range(3)]
            for r in reversed(reqs):
                conn.sendall(ok(r["id"], {"echo": r["params"]["n"]}))

        c = self.client(self.fake(script))
        ids = [c.send("echo", {"n": n}) for n in range(3)]
        self.assertEqual(c.recv(ids[0]), {"echo": 0})  # arrives last
        self.assertEqual(c.pending, ())  # the other two were parked
        self.assertEqual(c.recv(ids[2]), {"echo": 2})
        self.assertEqual(c.recv(ids[1]), {"echo": 1})

    def test_frames_split_into_single_bytes(self) -> None:
        def script(conn: socket.socket) -> None:
            r = read_request(conn)
            for b in ok(r["id"], {"pong": True}):
                conn.sendall(bytes([b]))

        self.assertEqual(self.client(self.fake(script)).call("ping"), {"pong": True})

    def test_timeout_mid_frame_keeps_the_stream_in_sync(self) -> None:
        agent: Optional[FakeAgent] = None

        def script(conn: socket.socket) -> None:
            r = read_request(conn)
            data = ok(r["id"], {"late": True})
            conn.sendall(data[:7])
            assert agent is not None
            agent.release.wait(10)
            conn.sendall(data[7:])
            r2 = read_request(conn)
            conn.sendall(ok(r2["id"], {"next": True}))

        agent = self.fake(script)
        c = self.client(agent, timeout=0.2)
        rid = c.send("slow")
        start = time.monotonic()
        with self.assertRaises(tw.ResponseTimeout):
            c.recv(rid)
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertTrue(c.connected)
        agent.release.set()
        c.timeout = 5
        self.assertEqual(c.recv(rid), {"late": True})
        self.assertEqual(c.call("again"), {"next": True})

    def test_agent_hangs_up_with_requests_in_flight(self) -> None:
        def script(conn: socket.socket) -> None:
            first, _second = read_request(conn), read_request(conn)
            conn.sendall(ok(first["id"], {"n": 1}))

        c = self.client(self.fake(script), reconnect=tw.NO_RECONNECT)
        a, b = c.send("one"), c.send("two")
        self.assertEqual(c.recv(a), {"n": 1})
        with self.assertRaises(tw.AnswerLostError) as cm:
            c.recv(b)
        self.assertEqual(cm.exception.pending, (b,))
        self.assertEqual((cm.exception.request_id, cm.exception.op), (b, "two"))
        self.assertIn("may or may not have been signed", str(cm.exception))
        self.assertFalse(c.connected)
        # Without a reconnect policy the client stays down.
        with self.assertRaises(tw.ConnectionClosedError):
            c.send("three")

    def test_close_from_another_thread_wakes_a_waiting_reader(self) -> None:
        agent: Optional[FakeAgent] = None

        def script(conn: socket.socket) -> None:
            read_request(conn)
            assert agent is not None
            agent.release.wait(10)

        agent = self.fake(script)
        c = self.client(agent, timeout=10)
        rid = c.send("never answered")
        threading.Timer(0.2, c.close).start()
        start = time.monotonic()
        with self.assertRaises(tw.ConnectionClosedError) as cm:
            c.recv(rid)
        self.assertLess(time.monotonic() - start, 3.0)
        self.assertIn("client closed", str(cm.exception))
        self.assertEqual(cm.exception.pending, (rid,))

    def test_hang_up_mid_frame(self) -> None:
        def script(conn: socket.socket) -> None:
            r = read_request(conn)
            conn.sendall(ok(r["id"], {"x": 1})[:10])

        c = self.client(self.fake(script))
        with self.assertRaises(tw.TornFrameError) as cm:
            c.call("x")
        self.assertIn("middle of a frame", str(cm.exception))
        self.assertEqual((cm.exception.received, cm.exception.expected), (10, len(ok(1, {"x": 1}))))

    def test_connection_level_refusal(self) -> None:
        def script(conn: socket.socket) -> None:
            read_request(conn)
            conn.sendall(
                frame(
                    {
                        "id": None,
                        "ok": False,
                        "error": {"code": "unknown_peer", "message": "uid 1234 is not mapped", "retryable": False},
                    }
                )
            )

        c = self.client(self.fake(script))
        with self.assertRaises(tw.TradewardError) as cm:
            c.call("hello")
        self.assertEqual(cm.exception.code, "unknown_peer")
        self.assertIsNone(cm.exception.request_id)
        self.assertFalse(c.connected)
        with self.assertRaises(tw.ConnectionClosedError) as closed:
            c.ping()
        self.assertIn("unknown_peer", str(closed.exception))

    def test_retryable_error_fields(self) -> None:
        def script(conn: socket.socket) -> None:
            r = read_request(conn)
            conn.sendall(
                frame(
                    {
                        "id": r["id"],
                        "ok": False,
                        "error": {
                            "code": "too_many_in_flight",
                            "message": "slow down",
                            "retryable": True,
                            "retry_after_ms": 10,
                        },
                    }
                )
            )

        c = self.client(self.fake(script))
        with self.assertRaises(tw.TradewardError) as cm:
            c.ping()
        e = cm.exception
        self.assertEqual((e.code, e.message, e.retryable, e.retry_after_ms), ("too_many_in_flight", "slow down", True, 10))
        self.assertTrue(c.connected)

    def test_oversized_response_is_refused(self) -> None:
        def script(conn: socket.socket) -> None:
            read_request(conn)
            conn.sendall(struct.pack(">I", 64 * 1024 * 1024) + b"{")

        c = self.client(self.fake(script), max_response_bytes=1024 * 1024)
        with self.assertRaises(tw.ProtocolError):
            c.ping()
        self.assertFalse(c.connected)

    def test_malformed_responses(self) -> None:
        bad_frames = [
            frame(b"\xff\xfe not utf-8"),
            frame(b"{not json"),
            frame([1, 2]),
            frame({"id": 1, "result": {}}),  # no ok
            frame({"id": "1", "ok": True, "result": {}}),  # id not an integer
            frame({"id": 1, "ok": True, "result": "x"}),  # result not an object
        ]
        for data in bad_frames:
            def script(conn: socket.socket, data: bytes = data) -> None:
                read_request(conn)
                conn.sendall(data)

            c = self.client(self.fake(script))
            with self.assertRaises(tw.ProtocolError, msg=repr(data)):
                c.ping()
            self.assertFalse(c.connected)

    def test_answer_for_an_unknown_id(self) -> None:
        def script(conn: socket.socket) -> None:
            read_request(conn)
            conn.sendall(frame({"id": 999, "ok": True, "result": {}}))

        c = self.client(self.fake(script))
        with self.assertRaises(tw.UnexpectedResponseError) as cm:
            c.ping()
        self.assertEqual(cm.exception.response_id, 999)
        self.assertIsInstance(cm.exception, tw.ProtocolError)
        self.assertFalse(c.connected)

    def test_malformed_result_fields(self) -> None:
        def script(conn: socket.socket) -> None:
            r = read_request(conn)
            conn.sendall(ok(r["id"], {"key": "k", "type": "ed25519", "signature": "0xnothex"}))

        c = self.client(self.fake(script))
        with self.assertRaises(tw.ProtocolError):
            c.sign_message("k", b"x")

    def test_incompatible_protocol_version(self) -> None:
        def script(conn: socket.socket) -> None:
            r = read_request(conn)
            conn.sendall(ok(r["id"], {"protocol_version": 2, "identity": "x", "keys": [], "ops": []}))

        c = self.client(self.fake(script))
        with self.assertRaises(tw.ProtocolError) as cm:
            c.hello()
        self.assertIn("version 2", str(cm.exception))

    def test_wire_format_of_requests(self) -> None:
        seen: List[Dict[str, Any]] = []

        def script(conn: socket.socket) -> None:
            for _ in range(3):
                r = read_request(conn)
                seen.append(r)
                conn.sendall(ok(r["id"], {"key": "k", "type": "hmac", "signature": "0x00"}))

        c = self.client(self.fake(script))
        c.sign_message("k", b"\x01\xab")
        c.sign_eip191("k", b"")
        c.sign_digest("k", b"\xff" * 32)
        self.assertEqual(seen[0], {"id": 1, "op": "sign", "params": {"key": "k", "message": "0x01ab"}})
        self.assertEqual(seen[1]["params"], {"key": "k", "message": "0x", "scheme": "eip191"})
        self.assertEqual(seen[2]["params"], {"key": "k", "digest": "0x" + "ff" * 32})
        self.assertEqual([r["id"] for r in seen], [1, 2, 3])

    def test_socket_path_from_environment(self) -> None:
        def script(conn: socket.socket) -> None:
            r = read_request(conn)
            conn.sendall(ok(r["id"], {"pong": True}))

        agent = self.fake(script)
        old = os.environ.get(tw.SOCK_ENV)
        os.environ[tw.SOCK_ENV] = agent.path
        try:
            with tw.connect() as c:
                c.ping()
            del os.environ[tw.SOCK_ENV]
            with self.assertRaises(tw.ClientError) as cm:
                tw.Client()
            self.assertIn(tw.SOCK_ENV, str(cm.exception))
        finally:
            if old is None:
                os.environ.pop(tw.SOCK_ENV, None)
            else:
                os.environ[tw.SOCK_ENV] = old

    def test_no_agent(self) -> None:
        d = tempfile.mkdtemp(prefix="tw-none-")
        self.addCleanup(shutil.rmtree, d, True)
        with self.assertRaises(tw.AgentUnavailableError) as cm:
            tw.connect(os.path.join(d, "agent.sock"))
        self.assertIn("is the agent running", str(cm.exception))
        self.assertIsInstance(cm.exception, tw.ConnectionClosedError)
        # Waiting for an agent that never comes ends, with the attempts counted.
        start = time.monotonic()
        with self.assertRaises(tw.AgentUnavailableError) as waited:
            tw.connect(os.path.join(d, "agent.sock"), wait=0.5)
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertGreater(waited.exception.attempts, 1)
        # A socket file whose agent is gone.
        stale = os.path.join(d, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        with self.assertRaises(tw.ConnectionClosedError):
            tw.connect(stale)

    def test_recv_of_unknown_id(self) -> None:
        def script(conn: socket.socket) -> None:
            r = read_request(conn)
            conn.sendall(ok(r["id"], {}))

        c = self.client(self.fake(script))
        with self.assertRaises(ValueError):
            c.recv(42)
        with self.assertRaises(ValueError):
            c.recv_response()
        c.call("x")


if __name__ == "__main__":
    unittest.main()
