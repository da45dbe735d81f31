#!/usr/bin/env python3
"""Soak test: hours of mixed load against the real agent, with restarts and
dead-man trips, ending with journal verification and state checks.

On a fresh development token (in a temporary folder) the driver starts the
agent and four bot identities, each a separate process under its own uid
(which is why it needs root, as the security tests do):

  mm       Hyperliquid orders with client ids (allowed), orders the policy
           denies (unlisted symbol, oversize, outside the price band),
           cancels, order.report, price.update, heartbeats (15 s timeout)
  signer   raw `sign` with secp256k1 (Keccak, EIP-191, digest), P-256 (raw
           and DER), Ed25519 and HMAC keys from two connections, plus
           requests refused on purpose (a key without raw signing, an
           unknown key); heartbeats (30 s timeout)
  feed     price.update for BTC and ETH twice a second
  tripbot  Hyperliquid orders and cancels with a 3 s heartbeat; every
           cycle it goes quiet until its switch trips, then waits for the
           operator

The driver is the operator: it polls `status`, lets the on-trip hook (a
small script that stores the trip document it receives) run, re-arms every
tripped switch with `tradeward ctl rearm`, and restarts the agent every few
minutes, with SIGTERM and every third time with SIGKILL.

Every signature a bot receives is recorded (identity, request id, key,
payload hash, nonce, signature). At the end the driver stops the bots,
pauses the heartbeating bots' switches, lets the trip bot trip a last time,
halts one key, takes `status`, stops the agent and checks:

  * `tradeward journal verify` passes;
  * every signature a bot received has its allowed decision and its
    signature record in the journal (a missing signature record is
    tolerated only for a decision of a run that ended in SIGKILL and that
    `journal export` lists as allowed_without_outcome, as docs/journal.md
    documents; a missing decision is always a failure);
  * allowed / denied / signature / heartbeat counts per identity and op in
    `journal export` agree with what the bots saw (the journal may hold
    more only for requests whose answers a restart cut off);
  * trips, re-arms, starts, clean stops and SIGKILL notes match what the
    driver did; every hook document names a trip record of its identity,
    lists exactly the open client ids the journal implies, and carries
    signatures the journal holds;
  * nonces per key strictly increase across all restarts;
  * state rebuilt at one more start matches: `status` (switches, halts,
    open orders, open notional, notional of the last 24 h) equals the
    status before the stop, and open orders and notional equal a replay of
    the journal by this script.

Prints a summary, writes JSON (--json), exits 1 on any failure.

Usage: soak.py --bin target/release/tradeward [--duration 1h] [--restart-every 180]
"""

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIR = ROOT / "clients" / "python"
sys.path.insert(0, str(CLIENT_DIR))

from tradeward_client import Client, ClientError, TradewardError  # noqa: E402

BASE_UID = 64100
NOGROUP = 65534
BOTS = {"mm": BASE_UID + 1, "signer": BASE_UID + 2, "feed": BASE_UID + 3, "tripbot": BASE_UID + 4}
BTC, ETH = 0, 1  # asset indices in tests/fixtures/hyperliquid/meta.json
TRIP_TIMEOUT_MS = 3000


def parse_duration(s):
    m = re.fullmatch(r"(\d+)(s|m|h)?", s.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {s!r} (try 300, 5m, 1h)")
    return int(m.group(1)) * {"s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def unhex(s):
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def der_to_raw(der):
    """ECDSA DER SEQUENCE{r, s} -> 64-byte r || s."""
    assert der[0] == 0x30
    i = 2
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\x00")
        out += v.rjust(32, b"\x00")
        i += 2 + n
    return out


# ---------------------------------------------------------------------------
# Bots (worker processes, one per identity, running under the bot's uid)
# ---------------------------------------------------------------------------


class Bot:
    """One connection with retries: connection errors are counted and
    tolerated (the agent restarts under us), refusals are returned."""

    def __init__(self, sock, name, out, lock, stop):
        self.sock, self.name, self.out, self.lock, self.stop = sock, name, out, lock, stop
        self.client = None
        self.counts = {}  # op -> {"allowed", "denied", "lost", "retryable"}
        self.failures = []
        self.conn_errors = 0

    def emit(self, obj):
        with self.lock:
            self.out.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.out.flush()

    def fail(self, msg):
        self.emit({"t": "fail", "bot": self.name, "msg": msg})

    def count(self, op, what):
        c = self.counts.setdefault(op, {"allowed": 0, "denied": 0, "lost": 0, "retryable": 0})
        c[what] += 1

    def ensure(self):
        while self.client is None and not self.stop.is_set():
            try:
                c = Client(self.sock, timeout=30.0, client_name=f"soak-{self.name}").connect()
                c.hello()
                self.client = c
                self.on_connect()
            except ClientError:
                self.conn_errors += 1
                self.drop()
                time.sleep(0.2)
        return self.client is not None

    def on_connect(self):
        pass

    def drop(self):
        if self.client is not None:
            self.client.close()
        self.client = None

    def call(self, op, params):
        """(request_id, result) on success; (request_id, TradewardError) on a
        refusal; None when the answer was lost (connection trouble) or the
        agent asked to retry."""
        if not self.ensure():
            return None
        rid = None
        try:
            rid = self.client.send(op, params)
            return rid, self.client.recv(rid)
        except TradewardError as e:
            if e.retryable or e.request_id is None:
                self.count(op, "retryable")
                self.drop()
                time.sleep(0.2)
                return None
            return rid, e
        except (ClientError, OSError):
            self.conn_errors += 1
            if rid is not None:
                self.count(op, "lost")
            self.drop()
            time.sleep(0.1)
            return None

    def record_sig(self, op, rid, key, sig_hex, payload_sha256, nonce=None):
        self.emit({"t": "sig", "identity": self.name, "op": op, "rid": rid, "key": key, "sig": sig_hex,
                   "payload": payload_sha256, "nonce": nonce, "at": time.time()})

    def summary(self):
        self.emit({"t": "summary", "bot": self.name, "counts": self.counts, "conn_errors": self.conn_errors})


class HlBot(Bot):
    """Hyperliquid orders on one key; nonces must keep increasing."""

    def __init__(self, *a, key, rng):
        super().__init__(*a)
        self.key, self.rng = key, rng
        self.last_nonce = 0
        self.open_cloids = []
        self.n = 0

    def new_cloid(self):
        self.n += 1
        return "0x" + hashlib.sha256(f"{self.name}-{os.getpid()}-{self.n}-{time.time()}".encode()).hexdigest()[:32]

    def l1(self, action, expect):
        """expect: "allow" or a policy rule. Returns the result on success."""
        op = "hyperliquid.sign_l1_action"
        self.denied = False
        r = self.call(op, {"key": self.key, "action": action, "is_mainnet": True})
        if r is None:
            return None
        rid, res = r
        if isinstance(res, TradewardError):
            self.denied = True
            self.count(op, "denied")
            rule = res.denials[0]["rule"] if res.denials else res.code
            if expect == "allow":
                if rule == "halted":
                    self.count("halted_denials", "denied")
                else:
                    self.fail(f"{action['type']} expected allowed, got {res}")
            elif rule != expect:
                self.fail(f"{action['type']} expected denial {expect}, got {res}")
            return None
        self.count(op, "allowed")
        if expect != "allow":
            self.fail(f"{action['type']} expected denial {expect}, but it was signed (nonce {res['nonce']})")
        sig = res["signature"]
        sig_hex = unhex(sig["r"]).hex() + unhex(sig["s"]).hex() + "%02x" % sig["v"]
        if res["nonce"] <= self.last_nonce:
            self.fail(f"nonce {res['nonce']} not above the previous one {self.last_nonce} on {self.key}")
        self.last_nonce = res["nonce"]
        self.record_sig(op, rid, self.key, sig_hex, sha256_hex(unhex(res["digest"])), res["nonce"])
        return res

    def order(self, asset, price, size, expect, cloid=True):
        o = {"a": asset, "b": True, "p": price, "s": size, "r": False, "t": {"limit": {"tif": "Gtc"}}}
        c = self.new_cloid() if cloid else None
        if c:
            o["c"] = c
        res = self.l1({"type": "order", "orders": [o], "grouping": "na"}, expect)
        if c and (res is not None or not self.denied):
            # Signed, or its answer was lost (it may have been signed): the
            # bot reports it closed later, as a real bot would after asking
            # the venue; a report of an order never placed closes nothing.
            self.open_cloids.append(c)
        return res

    def cancel_some(self):
        if self.open_cloids and self.rng.random() < 0.5:
            c = self.open_cloids[self.rng.randrange(len(self.open_cloids))]
            self.l1({"type": "cancelByCloid", "cancels": [{"asset": BTC, "cloid": c}]}, "allow")
        else:
            self.l1({"type": "cancel", "cancels": [{"a": BTC, "o": self.rng.randrange(1, 10**9)}]}, "allow")

    def report_some(self):
        if not self.open_cloids:
            return
        c = self.open_cloids.pop(self.rng.randrange(len(self.open_cloids)))
        r = self.call("order.report", {"key": self.key, "client_id": c})
        if r is None:
            self.open_cloids.append(c)  # may or may not have counted; harmless
            return
        if isinstance(r[1], TradewardError):
            self.count("order.report", "denied")
            self.fail(f"order.report refused: {r[1]}")
        else:
            self.count("order.report", "allowed")

    def heartbeat(self, timeout_ms):
        """True: beat; False: switch tripped; None: lost."""
        r = self.call("heartbeat", {"timeout_ms": timeout_ms})
        if r is None:
            return None
        if isinstance(r[1], TradewardError):
            self.count("heartbeat", "denied")
            if r[1].code != "switch_tripped":
                self.fail(f"heartbeat refused: {r[1]}")
            return False
        self.count("heartbeat", "allowed")
        return True


class MmBot(HlBot):
    def on_connect(self):
        # Prices live in memory only: after a restart the band needs one.
        self.client.call("price.update", {"symbol": "BTC", "price": "50000"})

    def run(self):
        next_hb = 0
        tripped = False
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_hb or tripped:
                hb = self.heartbeat(15000)
                if hb is not None:
                    tripped = hb is False
                    next_hb = now + (0.5 if tripped else 3)
            x = self.rng.random()
            if len(self.open_cloids) > 40 and x < 0.5:
                self.report_some()
            elif x < 0.45:
                self.order(BTC, "50000", "0.001", "allow")
            elif x < 0.55:
                self.order(ETH, "3000", "0.01", "symbol_not_allowed")
            elif x < 0.62:
                self.order(BTC, "50000", "5", "max_order_size")
            elif x < 0.69:
                self.order(BTC, "60000", "0.001", "price_band")
            elif x < 0.84:
                self.cancel_some()
            else:
                self.report_some()
            time.sleep(self.rng.uniform(0.01, 0.05))
        self.summary()


class TripBot(HlBot):
    """Beats for a while, then goes quiet until its switch trips; the
    operator (the driver) re-arms it, and it starts again."""

    def __init__(self, *a, beat_secs, **kw):
        super().__init__(*a, **kw)
        self.beat_secs = beat_secs

    def run(self):
        phase, phase_end, next_hb = "beat", time.monotonic() + self.rng.uniform(*self.beat_secs), 0
        while not self.stop.is_set():
            now = time.monotonic()
            if phase == "beat" and now >= next_hb:
                hb = self.heartbeat(TRIP_TIMEOUT_MS)
                if hb is False:
                    phase = "tripped"  # e.g. a restart outlasted the timeout
                next_hb = now + 0.5
                if now >= phase_end and phase == "beat":
                    phase, phase_end = "quiet", now + TRIP_TIMEOUT_MS / 1000 + 1.5
                    self.emit({"t": "quiet", "at": time.time()})
            elif phase == "quiet" and now >= phase_end:
                phase, next_hb = "tripped", 0
            elif phase == "tripped" and now >= next_hb:
                hb = self.heartbeat(TRIP_TIMEOUT_MS)  # refused until re-armed
                next_hb = now + 0.2
                if hb:
                    phase, phase_end, next_hb = "beat", now + self.rng.uniform(*self.beat_secs), now + 0.5
            x = self.rng.random()
            if len(self.open_cloids) > 40 and x < 0.5:
                self.report_some()
            elif x < 0.55:
                self.order(BTC, "50000", "0.001", "allow")
            elif x < 0.8:
                self.cancel_some()
            else:
                self.report_some()
            time.sleep(self.rng.uniform(0.03, 0.08))
        self.summary()


class SignerBot(Bot):
    def __init__(self, *a, rng, beats):
        super().__init__(*a)
        self.rng, self.beats, self.n = rng, beats, 0

    def sign(self, params, expect):
        r = self.call("sign", params)
        if r is None:
            return
        rid, res = r
        if isinstance(res, TradewardError):
            self.count("sign", "denied")
            if res.code == "policy_denied" and "halted" in res.message:
                self.count("halted_denials", "denied")
            elif res.code != expect:
                self.fail(f"sign {params.get('key')} expected {expect}, got {res}")
            return
        self.count("sign", "allowed")
        if expect != "allow":
            self.fail(f"sign {params.get('key')} expected {expect}, but it was signed")
        sig = unhex(res["signature"])
        if res.get("format") == "der":
            sig = der_to_raw(sig)
        if "digest" in res:
            payload = sha256_hex(unhex(res["digest"]))
        else:
            payload = sha256_hex(unhex(params["message"]))
        self.record_sig("sign", rid, res["key"], sig.hex(), payload)

    def run(self):
        next_hb, tripped = 0, False
        while not self.stop.is_set():
            now = time.monotonic()
            if self.beats and (now >= next_hb or tripped):
                r = self.call("heartbeat", {"timeout_ms": 30000})
                if r is not None:
                    if isinstance(r[1], TradewardError):
                        self.count("heartbeat", "denied")
                        tripped = True
                        if r[1].code != "switch_tripped":
                            self.fail(f"heartbeat refused: {r[1]}")
                    else:
                        self.count("heartbeat", "allowed")
                        tripped = False
                    next_hb = now + (0.5 if tripped else 5)
            self.n += 1
            # A unique message each time: Ed25519 and HMAC are deterministic.
            msg = f"soak {self.name} {os.getpid()} {self.n} {time.time()} {self.rng.random()}".encode().hex()
            x = self.rng.random()
            if x < 0.2:
                self.sign({"key": "k1", "message": msg}, "allow")
            elif x < 0.3:
                self.sign({"key": "k1", "message": msg, "scheme": "eip191"}, "allow")
            elif x < 0.38:
                self.sign({"key": "k1", "digest": hashlib.sha256(unhex(msg)).hexdigest()}, "allow")
            elif x < 0.55:
                self.sign({"key": "es", "message": msg, "format": "der" if self.rng.random() < 0.3 else "raw"}, "allow")
            elif x < 0.72:
                self.sign({"key": "ed", "message": msg}, "allow")
            elif x < 0.88:
                self.sign({"key": "mac", "message": msg}, "allow")
            elif x < 0.94:
                self.sign({"key": "cold", "message": msg}, "raw_signing_disabled")
            else:
                self.sign({"key": "nope", "message": msg}, "unknown_key")
            time.sleep(self.rng.uniform(0.01, 0.05))
        self.summary()


class FeedBot(Bot):
    def __init__(self, *a, rng):
        super().__init__(*a)
        self.rng = rng

    def run(self):
        while not self.stop.is_set():
            for sym, base in (("BTC", 50000), ("ETH", 3000)):
                px = str(Decimal(base) * (1 + Decimal(self.rng.randint(-50, 50)) / 10000))
                r = self.call("price.update", {"symbol": sym, "price": px})
                if r is not None:
                    if isinstance(r[1], TradewardError):
                        self.count("price.update", "denied")
                        self.fail(f"price.update refused: {r[1]}")
                    else:
                        self.count("price.update", "allowed")
            time.sleep(0.5)
        self.summary()


def worker_main(a):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lock = threading.Lock()
    out = sys.stdout
    rng = random.Random(a.seed)
    common = (a.sock, a.worker, out, lock, stop)
    if a.worker == "mm":
        bots = [MmBot(*common, key="hl-mm", rng=rng)]
    elif a.worker == "tripbot":
        bots = [TripBot(*common, key="hl-trip", rng=rng, beat_secs=(a.trip_beat_min, a.trip_beat_max))]
    elif a.worker == "signer":
        bots = [SignerBot(*common, rng=random.Random(a.seed + i), beats=(i == 0)) for i in range(2)]
    elif a.worker == "feed":
        bots = [FeedBot(*common, rng=rng)]
    else:
        sys.exit(f"unknown worker {a.worker}")
    threads = [threading.Thread(target=b.run) for b in bots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


# ---------------------------------------------------------------------------
# The driver (root): token, config, agent, operator, checks
# ---------------------------------------------------------------------------

HOOK = r'''#!/usr/bin/env python3
import json, os, sys, time
doc = json.load(sys.stdin)
out = sys.argv[1]
name = "trip-%s-%d.json" % (doc.get("trip_record"), time.time_ns())
with open(os.path.join(out, name + ".tmp"), "w") as f:
    json.dump({"env_identity": os.environ.get("TRADEWARD_IDENTITY"), "doc": doc}, f)
os.rename(os.path.join(out, name + ".tmp"), os.path.join(out, name))
print("stored", name)
'''


class Driver:
    def __init__(self, a):
        self.a = a
        self.binary = str(Path(a.bin).resolve())
        self.work = Path(tempfile.mkdtemp(prefix="tw-soak-"))
        self.tok = self.work / "tok"
        self.config = self.tok / "tradeward.toml"
        self.log = self.work / "agent.log"
        self.hooks = self.work / "hooks"
        self.proc = None
        self.failures = []
        self.events = []  # (time, what)
        self.restarts = {"sigterm": 0, "sigkill": 0}
        self.trips_seen = {}  # identity -> [trip record seq]
        self.rearms = {}
        self.sigs = []
        self.bot_summaries = {}
        self.bot_failures = []
        self.other = {"quiet_phases": 0}
        self.workers = {}
        self.readers = []
        self.sig_lock = threading.Lock()

    def fail(self, msg):
        print("FAIL:", msg, flush=True)
        self.failures.append(msg)

    def env(self):
        return {**os.environ, "TRADEWARD_CONFIG": str(self.config)}

    def run(self, *args, check=True):
        return subprocess.run([self.binary, *args], check=check, capture_output=True, text=True, env=self.env())

    # -- set-up ---------------------------------------------------------------

    def setup(self):
        subprocess.run([self.binary, "token", "init-dev", "--dir", str(self.tok)], check=True,
                       stdout=subprocess.DEVNULL)
        for label, typ in (("hl-mm", "secp256k1"), ("hl-trip", "secp256k1"), ("k1", "secp256k1"),
                           ("es", "p256"), ("ed", "ed25519"), ("mac", "hmac"), ("cold", "p256")):
            self.run("keys", "generate", "--type", typ, "--label", label)
        base = self.config.read_text()
        base = base[:base.index("[identities.developer]")]
        base = base.replace("[agent]\n", "[agent]\nsocket_group = \"nogroup\"\n", 1)
        meta = ROOT / "tests" / "fixtures" / "hyperliquid" / "meta.json"
        shutil.copy(meta, self.tok / "hl-meta.json")
        self.hooks.mkdir()
        hook = self.work / "hook.py"
        hook.write_text(HOOK)
        u = BOTS
        base += f"""
[keys.hl-mm]
type = "secp256k1"
label = "hl-mm"
[keys.hl-mm.hyperliquid]
network = "mainnet"
meta = "hl-meta.json"

[keys.hl-trip]
type = "secp256k1"
label = "hl-trip"
[keys.hl-trip.hyperliquid]
network = "mainnet"
meta = "hl-meta.json"

[keys.k1]
type = "secp256k1"
label = "k1"
raw_signing = true

[keys.es]
type = "p256"
label = "es"
raw_signing = true

[keys.ed]
type = "ed25519"
label = "ed"
raw_signing = true

[keys.mac]
type = "hmac"
label = "mac"
raw_signing = true

[keys.cold]
type = "p256"
label = "cold"

[identities.mm]
uids = [{u['mm']}]
keys = ["hl-mm"]
ops = ["hyperliquid.sign_l1_action", "order.report", "price.update", "heartbeat"]

[identities.signer]
uids = [{u['signer']}]
keys = ["k1", "es", "ed", "mac", "cold"]
ops = ["sign", "list_keys", "heartbeat"]

[identities.feed]
uids = [{u['feed']}]
ops = ["price.update"]

[identities.tripbot]
uids = [{u['tripbot']}]
keys = ["hl-trip"]
ops = ["hyperliquid.sign_l1_action", "order.report", "heartbeat"]

[deadman]
min_timeout_ms = 1000
on_trip = ["{sys.executable}", "{hook}", "{self.hooks}"]
on_trip_timeout_ms = 10000

[policy.key_defaults]
max_open_orders = 1000

[policy.keys.hl-mm.symbols.BTC]
max_size = "0.5"
price_band = "0.05"

[policy.keys.hl-trip.symbols.BTC]
max_size = "0.5"
"""
        self.config.write_text(base)
        os.chmod(self.config, 0o600)
        # The bots run under other uids: let them traverse (not list) the
        # way to the socket, and read their own copy of the Python code.
        for p in (self.work, self.tok):
            os.chmod(p, 0o711)
        py = self.work / "py"
        py.mkdir(mode=0o755)
        os.chmod(py, 0o755)
        for f in (Path(__file__).resolve(), CLIENT_DIR / "tradeward_client.py"):
            shutil.copy(f, py / f.name)
            os.chmod(py / f.name, 0o644)
        self.sock = str(self.tok / "run" / "agent.sock")
        self.admin_sock = str(self.tok / "run" / "admin.sock")

    # -- agent ----------------------------------------------------------------

    def start_agent(self):
        mark = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen([self.binary, "agent", "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),
                                     env={**os.environ, "TRADEWARD_LOG": "warn,tradeward=info"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"agent exited at start: see {self.log}")
            with open(self.log, "rb") as f:
                f.seek(mark)
                if b"agent listening" in f.read():
                    return
            time.sleep(0.05)
        raise SystemExit("agent did not start within 120 s")

    def stop_agent(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.fail("agent did not stop within 60 s of SIGTERM; killed")
            self.proc.kill()
            self.proc.wait()
        if sig == signal.SIGTERM and self.proc.returncode != 0:
            self.fail(f"agent exited {self.proc.returncode} after SIGTERM")

    def admin(self, op, params=None):
        with Client(self.admin_sock, timeout=30) as c:
            return c.call(op, params or {})

    # -- bots -----------------------------------------------------------------

    def start_workers(self):
        py = self.work / "py" / "soak.py"
        for i, (name, uid) in enumerate(BOTS.items()):
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={NOGROUP}", "--clear-groups", "--",
                   sys.executable, str(py), "--worker", name, "--sock", self.sock,
                   "--seed", str(self.a.seed * 10 + i),
                   "--trip-beat-min", str(self.a.trip_beat[0]), "--trip-beat-max", str(self.a.trip_beat[1])]
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(self.work / f"bot-{name}.log", "ab"),
                                 text=True, cwd=str(self.work), env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            self.workers[name] = p
            t = threading.Thread(target=self.read_worker, args=(name, p), daemon=True)
            t.start()
            self.readers.append(t)

    def read_worker(self, name, p):
        for line in p.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                self.bot_failures.append(f"{name}: bad output line {line[:200]!r}")
                continue
            t = ev.get("t")
            with self.sig_lock:
                if t == "sig":
                    self.sigs.append(ev)
                elif t == "fail":
                    self.bot_failures.append(f"{ev['bot']}: {ev['msg']}")
                    print("BOT FAIL:", ev["bot"], ev["msg"], flush=True)
                elif t == "summary":
                    s = self.bot_summaries.setdefault(name, {"counts": {}, "conn_errors": 0})
                    s["conn_errors"] += ev["conn_errors"]
                    for op, c in ev["counts"].items():
                        d = s["counts"].setdefault(op, {"allowed": 0, "denied": 0, "lost": 0, "retryable": 0})
                        for k, v in c.items():
                            d[k] += v
                elif t == "quiet":
                    self.other["quiet_phases"] += 1

    def stop_workers(self):
        for p in self.workers.values():
            p.send_signal(signal.SIGTERM)
        for name, p in self.workers.items():
            try:
                p.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.fail(f"bot {name} did not stop")
                p.kill()
            if p.returncode not in (0, None):
                self.fail(f"bot {name} exited {p.returncode} (see bot-{name}.log)")
        for t in self.readers:
            t.join(timeout=30)

    # -- operator -------------------------------------------------------------

    def operate(self):
        """Poll status; re-arm tripped switches once their hook has run."""
        try:
            st = self.admin("status")
        except ClientError:
            return
        for ident, info in st["identities"].items():
            sw = info["switch"]
            if sw.get("state") != "tripped":
                continue
            seen = self.trips_seen.setdefault(ident, [])
            if sw["record"] not in seen:
                seen.append(sw["record"])
            hook = sw.get("hook", {}).get("hook")
            if hook == "running" or st["server_time_ms"] - sw["at_ms"] < self.a.rearm_after_ms:
                continue  # let the hook finish, and the bot see its heartbeats refused
            r = self.run("ctl", "rearm", "--identity", ident, check=False)
            if r.returncode == 0:
                self.rearms[ident] = self.rearms.get(ident, 0) + 1
            else:
                print(f"rearm {ident} failed (will retry): {r.stderr.strip()}", flush=True)

    def restart(self, kill):
        sig = signal.SIGKILL if kill else signal.SIGTERM
        self.stop_agent(sig)
        self.restarts["sigkill" if kill else "sigterm"] += 1
        self.events.append((time.time(), "sigkill" if kill else "sigterm"))
        time.sleep(random.uniform(0.2, 1.5))
        self.start_agent()

    # -- the run ----------------------------------------------------------------

    def soak(self):
        a = self.a
        self.start_agent()
        self.start_workers()
        t0 = time.monotonic()
        end = t0 + a.duration
        next_restart = t0 + a.restart_every * random.uniform(0.7, 1.3)
        n_restart = 0
        last_report = t0
        while time.monotonic() < end:
            self.operate()
            now = time.monotonic()
            if now >= next_restart:
                n_restart += 1
                kill = n_restart % 3 == 0
                print(f"[{now - t0:7.0f}s] restart {n_restart} ({'SIGKILL' if kill else 'SIGTERM'})", flush=True)
                self.restart(kill)
                next_restart = time.monotonic() + a.restart_every * random.uniform(0.7, 1.3)
            if now - last_report >= 60:
                last_report = now
                with self.sig_lock:
                    n = len(self.sigs)
                print(f"[{now - t0:7.0f}s] signatures so far {n}, trips {sum(map(len, self.trips_seen.values()))}, "
                      f"restarts {self.restarts}", flush=True)
            time.sleep(1)
        self.finish()

    def finish(self):
        print("stopping bots", flush=True)
        self.stop_workers()
        # Planned downtime for the bots that heartbeat; the trip bot is left
        # to trip (unless it already has).
        for ident in ("mm", "signer"):
            deadline = time.monotonic() + 60
            while self.admin("status")["identities"][ident]["switch"].get("state") == "tripped":
                if time.monotonic() > deadline:
                    raise SystemExit(f"could not re-arm {ident} at the end")
                self.operate()
                time.sleep(0.5)
            self.run("ctl", "pause", "--identity", ident, "--for", "2h", "--reason", "soak end")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sw = self.admin("status")["identities"]["tripbot"]["switch"]
            if sw.get("state") == "tripped" and sw.get("hook", {}).get("hook") not in ("running",):
                seen = self.trips_seen.setdefault("tripbot", [])
                if sw["record"] not in seen:
                    seen.append(sw["record"])
                break
            time.sleep(0.2)
        else:
            self.fail("the trip bot's switch did not trip at the end")
        self.run("ctl", "halt", "--key", "cold", "--reason", "soak final halt")
        self.status_before = self.admin("status")
        self.stop_agent()
        self.events.append((time.time(), "final stop"))

    # -- checks -----------------------------------------------------------------

    def read_journal(self):
        recs = []
        for seg in sorted((self.tok / "journal").glob("segment-*.jsonl")):
            with open(seg) as f:
                for line in f:
                    r = json.loads(line)
                    r.pop("prev", None)
                    r.pop("request_sha256", None)
                    recs.append(r)
        return recs

    def check(self):
        res = {}
        v = self.run("journal", "verify", "--json", check=False)
        try:
            verify = json.loads(v.stdout)
        except ValueError:
            verify = {"ok": False, "error": v.stdout + v.stderr}
        res["verify"] = verify
        if v.returncode != 0 or not verify.get("ok"):
            self.fail(f"journal verify failed: {verify}")
        elif verify.get("uncovered") not in (0, None):
            self.fail(f"journal verify: {verify['uncovered']} records after the last checkpoint after a clean stop")
        export_path = self.work / "export.json"
        self.run("journal", "export", "--format", "json", "--output", str(export_path))
        ex = json.loads(export_path.read_text())
        recs = self.read_journal()
        by_seq = {r["seq"]: r for r in recs}

        # Runs: which start each record belongs to, and whether it ended cleanly.
        starts = [r["seq"] for r in recs if r["kind"] == "start"]
        stops = [r["seq"] for r in recs if r["kind"] == "stop"]
        clean = {}
        for i, s in enumerate(starts):
            nxt = starts[i + 1] if i + 1 < len(starts) else 10**18
            clean[s] = any(s < x < nxt for x in stops)

        def run_of(seq):
            return max((s for s in starts if s <= seq), default=None)

        sig_by_hex = {}
        outcome = set()
        for r in recs:
            if r["kind"] == "signature":
                sig_by_hex[r["signature"]] = r
                outcome.add(r["decision"])
            elif r["kind"] == "sign_failed":
                outcome.add(r["decision"])
        allowed_by_req = {}
        for r in recs:
            if r["kind"] == "decision" and r["allow"]:
                allowed_by_req.setdefault((r["identity"], r["request_id"], r["payload_sha256"]), []).append(r)
        without_outcome = ex["decisions"].get("allowed_without_outcome")

        # 1. Every signature a bot received is on record.
        lost_decisions, lost_sig_records, sigkill_gap, mismatched = 0, 0, 0, 0
        for s in self.sigs:
            rec = sig_by_hex.get(s["sig"])
            if rec is not None:
                d = by_seq.get(rec["decision"])
                ok = (d is not None and d["kind"] == "decision" and d["allow"] and d["identity"] == s["identity"]
                      and d["request_id"] == s["rid"] and d["key"] == s["key"] and d["op"] == s["op"]
                      and d["payload_sha256"] == s["payload"] and d.get("nonce") == s["nonce"])
                if not ok:
                    mismatched += 1
                    self.fail(f"signature {s['sig'][:16]}… of {s['identity']} request {s['rid']}: decision "
                              f"record does not match: {d}")
                continue
            ds = allowed_by_req.get((s["identity"], s["rid"], s["payload"]))
            if not ds:
                lost_decisions += 1
                self.fail(f"LOST: {s['identity']} received a signature for request {s['rid']} ({s['op']} "
                          f"{s['key']}) with no allowed decision in the journal")
                continue
            d = ds[-1]
            if d["seq"] not in outcome and not clean.get(run_of(d["seq"]), True):
                sigkill_gap += 1
            else:
                lost_sig_records += 1
                self.fail(f"LOST: signature record of decision {d['seq']} ({s['identity']} request {s['rid']})")
        if sigkill_gap and (without_outcome is None or without_outcome < sigkill_gap):
            self.fail(f"{sigkill_gap} signatures without records, export says allowed_without_outcome={without_outcome}")
        res["records"] = {"signatures_received": len(self.sigs), "lost_decisions": lost_decisions,
                          "lost_signature_records": lost_sig_records, "mismatched": mismatched,
                          "signature_record_lost_to_sigkill": sigkill_gap,
                          "allowed_without_outcome": without_outcome}

        # 2. Counts per identity and op against the export.
        counts = {}
        for ident, s in self.bot_summaries.items():
            for op, c in s["counts"].items():
                if op != "halted_denials":
                    counts[(ident, op)] = c
        jc = {}
        for r in recs:
            if r["kind"] == "decision" and r["uid"] in BOTS.values():
                k = (r["identity"], r["op"])
                jc.setdefault(k, {"allowed": 0, "denied": 0})["allowed" if r["allow"] else "denied"] += 1
            elif r["kind"] == "heartbeat":
                jc.setdefault((r["identity"], "heartbeat"), {"allowed": 0, "denied": 0})["allowed"] += 1
            elif r["kind"] == "order_closed":
                jc.setdefault((r["identity"], "order.report"), {"allowed": 0, "denied": 0})["allowed"] += 1
        count_rows = []
        for (ident, op), c in sorted(counts.items()):
            if op == "price.update":
                continue  # prices are not journaled
            j = jc.get((ident, op), {"allowed": 0, "denied": 0})
            slack = c["lost"] + c["retryable"]
            row = {"identity": ident, "op": op, "bots": c, "journal": j}
            count_rows.append(row)
            for k in ("allowed", "denied"):
                if not (c[k] <= j[k] <= c[k] + slack):
                    self.fail(f"count {ident} {op} {k}: bots saw {c[k]} (+{slack} answers lost), journal has {j[k]}")
        # The export agrees with our own reading of the journal.
        for ident in BOTS:
            e = ex["decisions"]["by_identity"].get(ident, {"allowed": 0, "denied": 0})
            mine = {"allowed": 0, "denied": 0}
            for r in recs:
                if r["kind"] == "decision" and r["identity"] == ident:
                    mine["allowed" if r["allow"] else "denied"] += 1
            if {k: e[k] for k in mine} != mine:
                self.fail(f"export decisions for {ident} {e} differ from the journal's {mine}")
        n_sig_records = sum(1 for r in recs if r["kind"] == "signature")
        if ex["signing"]["signatures"] != n_sig_records:
            self.fail(f"export signatures {ex['signing']['signatures']} != {n_sig_records} records")
        res["counts"] = count_rows

        # 3. Trips, re-arms, restarts.
        trips = [r for r in recs if r["kind"] == "trip"]
        j_trips = {}
        for r in trips:
            j_trips.setdefault(r["identity"], []).append(r["seq"])
        for ident in set(j_trips) | set(self.trips_seen):
            if sorted(j_trips.get(ident, [])) != sorted(self.trips_seen.get(ident, [])):
                self.fail(f"trips of {ident}: journal {j_trips.get(ident)} vs seen {self.trips_seen.get(ident)}")
        if ex["trips"]["total"] != len(trips):
            self.fail(f"export trips {ex['trips']['total']} != {len(trips)}")
        j_rearms = {}
        for r in recs:
            if r["kind"] == "rearm":
                j_rearms[r["identity"]] = j_rearms.get(r["identity"], 0) + 1
        if j_rearms != self.rearms:
            self.fail(f"re-arms: journal {j_rearms} vs driver {self.rearms}")
        if ex["operator_actions"]["by_kind"]["rearm"] != sum(self.rearms.values()):
            self.fail("export rearm count differs")
        n_starts = len(ex["lifecycle"]["starts"])
        n_stops = len(ex["lifecycle"]["stops"])
        n_crash = sum(1 for n in ex["lifecycle"]["notes"] if "without a stop record" in n["message"])
        exp_starts = 1 + self.restarts["sigterm"] + self.restarts["sigkill"]
        if (n_starts, n_stops, n_crash) != (exp_starts, exp_starts - self.restarts["sigkill"], self.restarts["sigkill"]):
            self.fail(f"lifecycle: journal starts/stops/crash notes {n_starts}/{n_stops}/{n_crash}, driver "
                      f"{exp_starts} starts, {self.restarts['sigkill']} SIGKILLs")

        # 4. Hook documents against the journal.
        hook_docs = [json.loads(p.read_text()) for p in sorted(self.hooks.glob("trip-*.json"))]
        hook_by_trip = {h["doc"]["trip_record"]: h for h in hook_docs}
        hooks_recorded = {r["trip"]: r for r in recs if r["kind"] == "trip_hook"}
        open_at = self.replay_open(recs)
        hook_open_checked = 0
        closes = [r for r in recs if r["kind"] == "order_closed"]
        for t in trips:
            h = hook_by_trip.get(t["seq"])
            jh = hooks_recorded.get(t["seq"])
            if h is None:
                # Only a SIGKILL before the command ran excuses a missing document.
                if jh is not None or clean.get(run_of(t["seq"]), True):
                    self.fail(f"trip {t['seq']} of {t['identity']}: no hook document (outcome on record: {jh})")
                continue
            doc = h["doc"]
            if h["env_identity"] != t["identity"] or doc["identity"] != t["identity"]:
                self.fail(f"trip {t['seq']}: hook got identity {doc['identity']}/{h['env_identity']}")
            if doc["deadline_ms"] != t["deadline_ms"]:
                self.fail(f"trip {t['seq']}: hook deadline {doc['deadline_ms']} != {t['deadline_ms']}")
            # The document is built after the trip record, just before the
            # first instruction is journaled: reports in between may close
            # orders that were open at the trip.
            expected_open = set(open_at[t["seq"]].get(t["identity"], {}).keys())
            got = set(c for o in doc["open_orders"] for c in o["client_ids"])
            built = min([i["decision"] for i in doc["instructions"] if "decision" in i]
                        + [jh["seq"] if jh else 10**18])
            closed_between = {r["order"].get("cloid") for r in closes if t["seq"] < r["seq"] < built}
            if not (got <= expected_open and expected_open - got <= closed_between):
                self.fail(f"trip {t['seq']}: hook open cloids ({len(got)}) differ from the journal replay "
                          f"({len(expected_open)}; {len(closed_between)} closed since the trip)")
            hook_open_checked += 1
            for ins in doc["instructions"]:
                if "error" in ins:
                    self.fail(f"trip {t['seq']}: instruction error {ins['error']}")
                    continue
                d = by_seq.get(ins["decision"])
                sig = ins["signature"]
                sh = unhex(sig["r"]).hex() + unhex(sig["s"]).hex() + "%02x" % sig["v"]
                sr = sig_by_hex.get(sh)
                if not d or d["op"] != "deadman.trip" or not d["allow"] or not sr or sr["decision"] != d["seq"]:
                    self.fail(f"trip {t['seq']}: instruction decision {ins['decision']} not on record with its signature")
            if jh is not None and (not jh["ok"] or jh["instructions"] != len(doc["instructions"])):
                self.fail(f"trip {t['seq']}: hook outcome {jh}")
        res["trips"] = {"journal": len(trips), "seen_by_operator": sum(map(len, self.trips_seen.values())),
                        "by_identity": {k: len(v) for k, v in j_trips.items()}, "hook_documents": len(hook_docs),
                        "hook_outcomes": len(hooks_recorded), "hook_open_orders_checked": hook_open_checked,
                        "rearms": self.rearms,
                        "trip_bot_quiet_phases": self.other["quiet_phases"]}

        # 5. Nonces strictly increase per key over the whole journal.
        last = {}
        for r in recs:
            if r["kind"] == "decision" and r["allow"] and "nonce" in r:
                if r["nonce"] <= last.get(r["key"], 0):
                    self.fail(f"nonce {r['nonce']} at seq {r['seq']} not above {last[r['key']]} on {r['key']}")
                last[r["key"]] = r["nonce"]

        # 6. State rebuilt at a start.
        self.start_agent()
        after = self.admin("status")
        self.stop_agent()
        state = self.compare_status(self.status_before, after, recs)
        res["state"] = state
        v2 = self.run("journal", "verify", "--json", check=False)
        if v2.returncode != 0:
            self.fail(f"journal verify after the final start failed: {v2.stdout}{v2.stderr}")
        res["verify_after_state_check"] = json.loads(v2.stdout) if v2.stdout.strip().startswith("{") else v2.stdout
        res["export_summary"] = {"records": ex["records"]["total"], "decisions": ex["decisions"]["total"],
                                 "allowed": ex["decisions"]["allowed"], "denied": ex["decisions"]["denied"],
                                 "signatures": ex["signing"]["signatures"],
                                 "sign_failures": ex["signing"]["sign_failures"],
                                 "heartbeats": ex["heartbeats"]["total"], "trips": ex["trips"]["total"],
                                 "starts": n_starts, "stops": n_stops, "crash_notes": n_crash,
                                 "denials_by_rule": ex["decisions"]["denials_by_rule"]}
        return res

    def replay_open(self, recs):
        """Open client ids per identity just before each trip record, from
        allowed opening orders minus order_closed reports (TTL 24 h)."""
        open_ = {}  # identity -> {cloid: notional}
        key_owner = {}
        at_trip = {}
        for r in recs:
            k = r["kind"]
            if k == "decision" and r["allow"] and r.get("intents") and r["op"] != "deadman.trip":
                for it in r["intents"]:
                    if it.get("intent") == "place" and not it.get("reduce_only"):
                        cl = (it.get("client_id") or it.get("cloid"))
                        ident = r["identity"]
                        key_owner[r["key"]] = ident
                        if cl:
                            open_.setdefault(ident, {})[(r["key"], cl)] = Decimal(it["price"]) * Decimal(it["size"])
                        else:
                            open_.setdefault(ident, {})[("", r["seq"])] = Decimal(it["price"]) * Decimal(it["size"])
            elif k == "order_closed":
                cl = r["order"].get("cloid")
                for ident, m in open_.items():
                    m.pop((r["key"], cl), None)
            elif k == "trip":
                at_trip[r["seq"]] = {i: {c: v for (kk, c), v in m.items()} for i, m in open_.items()}
        self.replayed_open = open_
        return at_trip

    def drift(self, out, what, b, a):
        """Times the running agent took when something happened (a trip's
        at_ms, its halt's since_ms, last_heartbeat_ms) are rebuilt at start
        from the record's append time, a few ms later: tolerated up to 1 s
        (and reported); everything else must be equal."""
        if isinstance(b, dict) and isinstance(a, dict):
            b, a = dict(b), dict(a)
            for f in ("at_ms", "since_ms", "last_heartbeat_ms"):
                if f in b and f in a and b[f] != a[f]:
                    d = a[f] - b[f]
                    m = out.setdefault("time_drift_ms", {})
                    m[f] = max(m.get(f, 0), d)
                    if not 0 <= d <= 1000:
                        self.fail(f"{what}.{f}: {b[f]} -> {a[f]} across the restart")
                    a[f] = b[f]
            return all(self.drift(out, what, b.get(k), a.get(k)) for k in set(b) | set(a)) and set(b) == set(a)
        if isinstance(b, list) and isinstance(a, list):
            return len(b) == len(a) and all(self.drift(out, what, x, y) for x, y in zip(b, a))
        return b == a

    def compare_status(self, before, after, recs):
        out = {"identities": {}}
        for k in ("halts", "policy_sha256", "keys"):
            if not self.drift(out, k, before[k], after[k]):
                self.fail(f"status {k} changed across the restart: {before[k]} -> {after[k]}")
        notional = {}
        for r in recs:
            if r["kind"] == "decision" and r["allow"] and r.get("intents") and r["op"] != "deadman.trip":
                for it in r["intents"]:
                    if it.get("intent") == "place" and not it.get("reduce_only"):
                        notional[r["identity"]] = notional.get(r["identity"], Decimal(0)) + \
                            Decimal(it["price"]) * Decimal(it["size"])
        for ident, b in before["identities"].items():
            a = after["identities"][ident]
            sb, sa = dict(b["switch"]), dict(a["switch"])
            hb, ha = sb.pop("hook", None), sa.pop("hook", None)
            if not self.drift(out, f"{ident}.switch", sb, sa):
                self.fail(f"{ident} switch changed across the restart: {sb} -> {sa}")
            if hb is not None and not (ha == {"hook": "recorded", "ok": hb.get("hook") == "succeeded"}):
                self.fail(f"{ident} hook state {hb} -> {ha}")
            for f in ("halts", "halted", "open_orders", "open_notional", "notional_last_24h", "breaker_open_until_ms"):
                if not self.drift(out, f"{ident}.{f}", b.get(f), a.get(f)):
                    self.fail(f"{ident} {f} changed across the restart: {b.get(f)} -> {a.get(f)}")
            exp_open = len(self.replayed_open.get(ident, {}))
            exp_open_notional = sum(self.replayed_open.get(ident, {}).values(), Decimal(0))
            exp_24h = notional.get(ident, Decimal(0))
            if a["open_orders"] != exp_open:
                self.fail(f"{ident} open_orders {a['open_orders']} != journal replay {exp_open}")
            if Decimal(a["open_notional"]) != exp_open_notional:
                self.fail(f"{ident} open_notional {a['open_notional']} != journal replay {exp_open_notional}")
            if Decimal(a["notional_last_24h"]) != exp_24h:
                self.fail(f"{ident} notional_last_24h {a['notional_last_24h']} != journal replay {exp_24h}")
            out["identities"][ident] = {"switch": sa.get("state"), "halted": a["halted"],
                                        "open_orders": a["open_orders"], "open_notional": a["open_notional"],
                                        "notional_last_24h": a["notional_last_24h"]}
        # What the driver expects: the trip bot tripped, mm and signer paused,
        # the key "cold" halted by the operator.
        exp = {"tripbot": "tripped", "mm": "paused", "signer": "paused", "feed": "disarmed"}
        for ident, state in exp.items():
            if after["identities"][ident]["switch"].get("state") != state:
                self.fail(f"{ident} switch is {after['identities'][ident]['switch']} after the restart, expected {state}")
        scopes = sorted((h["target"]["scope"], h["target"].get("name")) for h in after["halts"])
        if scopes != [("key", "cold"), ("trip", "tripbot")]:
            self.fail(f"halts after the restart: {scopes}")
        out["halts"] = scopes
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--sock", help=argparse.SUPPRESS)
    ap.add_argument("--bin")
    ap.add_argument("--duration", type=parse_duration, default=3600, help="e.g. 5m, 1h (default 1h)")
    ap.add_argument("--restart-every", type=parse_duration, default=None,
                    help="mean seconds between agent restarts (default: 180, or 60 for runs under 20 min)")
    ap.add_argument("--trip-beat", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                    help="seconds the trip bot heartbeats before going quiet (default 20 40, or 60 120 from 20 min)")
    ap.add_argument("--trip-beat-min", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--trip-beat-max", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--rearm-after-ms", type=int, default=2500,
                    help="how long the operator leaves a tripped switch before re-arming it")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = ap.parse_args()
    if a.worker:
        return worker_main(a)
    if not a.bin:
        ap.error("--bin is required")
    if os.geteuid() != 0:
        sys.exit("soak.py runs each bot identity under its own uid (setpriv), which needs root")
    if a.restart_every is None:
        a.restart_every = 60 if a.duration < 1200 else 180
    if a.trip_beat is None:
        a.trip_beat = (20, 40) if a.duration < 1200 else (60, 120)
    random.seed(a.seed)
    d = Driver(a)
    started = time.time()
    print(f"soak: {a.duration} s, restarts every ~{a.restart_every} s, work folder {d.work}", flush=True)
    d.setup()
    try:
        d.soak()
        res = d.check()
    finally:
        for p in d.workers.values():
            if p.poll() is None:
                p.kill()
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
    failures = d.failures + d.bot_failures
    summary = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started),
        "duration_s": a.duration, "restart_every_s": a.restart_every, "seed": a.seed,
        "restarts": d.restarts,
        "bots": d.bot_summaries,
        **res,
        "failures": failures[:50], "failure_count": len(failures),
        "ok": not failures,
    }
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(text + "\n")
    if a.keep or failures:
        print(f"work folder kept: {d.work}", file=sys.stderr)
    else:
        shutil.rmtree(d.work, ignore_errors=True)
    print("SOAK PASSED" if not failures else f"SOAK FAILED: {len(failures)} failure(s)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
