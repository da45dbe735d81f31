#!/usr/bin/env python3
"""Hostile clients against the real agent: does a well-behaved bot keep its
latency?

On a fresh development token the agent serves one identity with a P-256 key
(raw signing). A well-behaved client (this process) runs a closed loop of
`ping` then `sign` (a 32-byte digest) and records each latency, first with
the agent otherwise idle, then while a separate hostile process (so that it
does not share this process's interpreter lock) runs:

  * 1,000 idle connections, opened and held (half of them after a `hello`);
  * slow clients sending a request one byte a second (the agent's
    read_timeout_ms cuts them off; they reconnect and start again);
  * clients that pipeline `ping`s and never read the answers (the agent's
    write_timeout_ms cuts them off; they reconnect);
  * a stream of malformed frames (not UTF-8, not JSON, not an object, bad
    ids, unknown ops) on one connection, answers drained;
  * a stream of oversize frames (a length prefix above the limit), each on
    a new connection, which the agent answers with frame_too_large and
    closes.

The phases alternate (unloaded, loaded, unloaded, loaded, ...) so that
other activity on the machine spreads over both. The result is the ratio of
the loaded to the unloaded p99 (pass: at most 2), whether the well-behaved
client got any error, what the hostile load achieved, and the CPU time the
agent (with its signing workers) and the hostile process used.

Usage: hostile.py --bin target/release/tradeward [--seconds 30] [--rounds 2]
"""

import argparse
import json
import os
import random
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))

from tradeward_client import Client, ClientError  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def frame(obj_or_bytes):
    b = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode()
    return struct.pack(">I", len(b)) + b


# ---------------------------------------------------------------------------
# The hostile process
# ---------------------------------------------------------------------------


class Hostile:
    def __init__(self, sock, a):
        self.sock, self.a = sock, a
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.s = {"idle_opened": 0, "idle_refused": 0, "idle_open_at_end": 0,
                  "slow_bytes_sent": 0, "slow_cut_off": 0,
                  "noread_requests_sent": 0, "noread_cut_off": 0,
                  "malformed_sent": 0, "malformed_answers": 0, "malformed_reconnects": 0,
                  "oversize_sent": 0, "oversize_answered_too_large": 0, "connect_errors": 0}

    def add(self, k, n=1):
        with self.lock:
            self.s[k] += n

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        return s

    def idle(self):
        conns = []
        for i in range(self.a.idle):
            try:
                c = self.connect()
                if i % 2 == 0:
                    c.sendall(frame({"id": 1, "op": "hello"}))
                conns.append((c, i % 2 == 0))
                self.add("idle_opened")
            except OSError:
                self.add("connect_errors")
        # Read the hellos' answers; anything else (a refusal) means the
        # connection was not held.
        time.sleep(1)
        for c, said_hello in conns:
            c.setblocking(False)
            try:
                data = c.recv(65536)
                if said_hello and data and b'"ok":true' in data.replace(b" ", b""):
                    continue
                self.add("idle_refused")
            except BlockingIOError:
                pass
        self.stop.wait()
        for c, said_hello in conns:
            try:
                data = c.recv(65536)
                if data == b"":
                    continue  # closed by the agent
            except BlockingIOError:
                pass
            except OSError:
                continue
            self.add("idle_open_at_end")
            c.close()

    def slow(self):
        req = frame({"id": 7, "op": "ping"})
        conns = {}
        while not self.stop.is_set():
            for i in range(self.a.slow):
                if i not in conns:
                    try:
                        conns[i] = [self.connect(), 0]
                    except OSError:
                        self.add("connect_errors")
                        continue
                c, pos = conns[i]
                try:
                    c.send(req[pos % len(req):pos % len(req) + 1])
                    conns[i][1] += 1
                    self.add("slow_bytes_sent")
                except OSError:
                    self.add("slow_cut_off")
                    c.close()
                    del conns[i]
            self.stop.wait(1.0)

    def noread(self):
        req = frame({"id": 9, "op": "ping"}) * 64
        conns = {}
        while not self.stop.is_set():
            for i in range(self.a.noread):
                if i not in conns:
                    try:
                        c = self.connect()
                        c.setblocking(False)
                        conns[i] = c
                    except OSError:
                        self.add("connect_errors")
                        continue
                try:
                    n = conns[i].send(req)
                    self.add("noread_requests_sent", n // 20)
                except BlockingIOError:
                    pass  # the agent stopped reading us: good
                except OSError:
                    self.add("noread_cut_off")
                    conns[i].close()
                    del conns[i]
            self.stop.wait(0.2)

    def malformed(self):
        bad = [b"\xff\xfe\xfd", b"{not json", b"", b"[1,2,3]", b'"x"', b'{"id":-1,"op":"ping"}',
               b'{"id":1.5,"op":"ping"}', b'{"id":3}', b'{"id":4,"op":"nope"}', b'{"id":5,"op":"ping","x":1}',
               b'{"id":6,"op":"ping","params":[]}', b'{"id":7,"id":8,"op":"ping"}']
        frames = [frame(b) for b in bad]
        c = None
        interval = 1.0 / self.a.malformed_rate
        next_t = time.monotonic()
        buf = b""
        while not self.stop.is_set():
            if c is None:
                try:
                    c = self.connect()
                    c.setblocking(False)
                except OSError:
                    self.add("connect_errors")
                    time.sleep(0.1)
                    continue
            batch = b"".join(random.choice(frames) for _ in range(10))
            try:
                c.sendall(batch)
                self.add("malformed_sent", 10)
            except BlockingIOError:
                pass
            except OSError:
                self.add("malformed_reconnects")
                c.close()
                c = None
                continue
            try:
                while True:
                    data = c.recv(1 << 16)
                    if not data:
                        raise OSError("closed")
                    buf += data
                    while len(buf) >= 4:
                        n = struct.unpack(">I", buf[:4])[0]
                        if len(buf) < 4 + n:
                            break
                        buf = buf[4 + n:]
                        self.add("malformed_answers")
            except BlockingIOError:
                pass
            except OSError:
                self.add("malformed_reconnects")
                c.close()
                c = None
                buf = b""
            next_t += interval * 10
            d = next_t - time.monotonic()
            if d > 0:
                time.sleep(d)
            else:
                next_t = time.monotonic()

    def oversize(self):
        interval = 1.0 / self.a.oversize_rate
        next_t = time.monotonic()
        while not self.stop.is_set():
            try:
                c = self.connect()
                c.settimeout(5)
                c.sendall(struct.pack(">I", 0xFFFFFFF0) + b"x" * 64)
                self.add("oversize_sent")
                data = b""
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if b"frame_too_large" in data:
                    self.add("oversize_answered_too_large")
                c.close()
            except OSError:
                self.add("connect_errors")
            next_t += interval
            d = next_t - time.monotonic()
            if d > 0:
                time.sleep(d)
            else:
                next_t = time.monotonic()

    def run(self):
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        threads = [threading.Thread(target=f) for f in (self.idle, self.slow, self.noread, self.malformed,
                                                        self.oversize)]
        for t in threads:
            t.start()
        print("ready", flush=True)
        for t in threads:
            t.join()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.s["cpu_s"] = round(ru.ru_utime + ru.ru_stime, 2)
        print(json.dumps(self.s), flush=True)


# ---------------------------------------------------------------------------
# The measurement
# ---------------------------------------------------------------------------


def proc_cpu(pid):
    """CPU seconds of pid and its live children (the signing workers)."""
    total = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        ppid, ut, stime = int(fields[1]), int(fields[11]), int(fields[12])
        if int(p) == pid or ppid == pid:
            total += ut + stime
    return total / TICKS


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else None


def measure(sock, seconds, key):
    lat = {"ping": [], "sign": [], "round": []}
    errors = []
    c = Client(sock, timeout=30).connect()
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        i += 1
        digest = (b"%031d" % i + b"\x01").hex()
        try:
            t0 = time.perf_counter()
            c.call("ping")
            t1 = time.perf_counter()
            c.call("sign", {"key": key, "digest": digest})
            t2 = time.perf_counter()
        except ClientError as e:
            errors.append(repr(e))
            c.close()
            c = Client(sock, timeout=30).connect()
            continue
        lat["ping"].append((t1 - t0) * 1000)
        lat["sign"].append((t2 - t1) * 1000)
        lat["round"].append((t2 - t0) * 1000)
    c.close()
    return lat, errors


def summarise(lat):
    return {k: {"n": len(v), "p50_ms": round(pct(v, 50), 3), "p99_ms": round(pct(v, 99), 3),
                "max_ms": round(max(v), 3)} for k, v in lat.items() if v}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin")
    ap.add_argument("--hostile", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=30, help="per phase (default 30)")
    ap.add_argument("--rounds", type=int, default=2, help="unloaded+loaded pairs (default 2)")
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=50)
    ap.add_argument("--noread", type=int, default=20)
    ap.add_argument("--malformed-rate", type=float, default=2000, help="malformed frames per second")
    ap.add_argument("--oversize-rate", type=float, default=100, help="oversize frames (connections) per second")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.hostile:
        Hostile(a.hostile, a).run()
        return 0
    if not a.bin:
        ap.error("--bin is required")
    binary = str(Path(a.bin).resolve())
    work = Path(tempfile.mkdtemp(prefix="tw-hostile-"))
    tok = work / "tok"
    subprocess.run([binary, "token", "init-dev", "--dir", str(tok)], check=True, stdout=subprocess.DEVNULL)
    config = tok / "tradeward.toml"
    env = {**os.environ, "TRADEWARD_CONFIG": str(config)}
    subprocess.run([binary, "keys", "generate", "--type", "p256", "--label", "es"], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    text = config.read_text().replace("keys = []", 'keys = ["es"]').replace(
        "[agent]\n", "[agent]\nmax_connections = 4096\nmax_connections_per_identity = 4096\n", 1)
    text += '\n[keys.es]\ntype = "p256"\nlabel = "es"\nraw_signing = true\n'
    config.write_text(text)
    # Room for the idle connections on both sides.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, a.idle + a.slow + a.noread + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    sock = str(tok / "run" / "agent.sock")
    log = work / "agent.log"
    agent = subprocess.Popen([binary, "agent", "--config", str(config)], stdout=subprocess.DEVNULL,
                             stderr=open(log, "ab"), env={**env, "TRADEWARD_LOG": "warn,tradeward=info"})
    deadline = time.monotonic() + 60
    while "agent listening" not in (log.read_text() if log.exists() else ""):
        if agent.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"agent did not start: see {log}")
        time.sleep(0.05)
    measure(sock, 2, "es")  # warm up
    phases = []
    failures = []
    hostile_stats = []
    try:
        for r in range(a.rounds):
            for loaded in (False, True):
                hp = None
                if loaded:
                    hp = subprocess.Popen(
                        [sys.executable, __file__, "--hostile", sock, "--idle", str(a.idle), "--slow", str(a.slow),
                         "--noread", str(a.noread), "--malformed-rate", str(a.malformed_rate),
                         "--oversize-rate", str(a.oversize_rate)], stdout=subprocess.PIPE, text=True)
                    assert hp.stdout.readline().strip() == "ready"
                    time.sleep(3)  # let the idle connections open and the streams start
                cpu0, t0 = proc_cpu(agent.pid), time.monotonic()
                lat, errors = measure(sock, a.seconds, "es")
                agent_cpu = proc_cpu(agent.pid) - cpu0
                wall = time.monotonic() - t0
                ph = {"round": r + 1, "loaded": loaded, "latency": summarise(lat), "errors": len(errors),
                      "error_samples": errors[:5], "agent_cpu_s": round(agent_cpu, 2), "wall_s": round(wall, 1),
                      "agent_cpu_ms_per_request": round(agent_cpu * 1000 / max(1, len(lat["sign"])), 3),
                      "_lat": lat}
                if hp is not None:
                    hp.send_signal(signal.SIGTERM)
                    out, _ = hp.communicate(timeout=120)
                    st = json.loads(out.strip().splitlines()[-1])
                    ph["hostile"] = st
                    hostile_stats.append(st)
                if errors:
                    failures.append(f"round {r + 1} {'loaded' if loaded else 'unloaded'}: {len(errors)} errors "
                                    f"for the well-behaved client, e.g. {errors[0]}")
                phases.append(ph)
                print(f"round {r + 1} {'loaded  ' if loaded else 'unloaded'}: "
                      f"sign p50 {ph['latency']['sign']['p50_ms']} ms p99 {ph['latency']['sign']['p99_ms']} ms; "
                      f"ping+sign p99 {ph['latency']['round']['p99_ms']} ms; {len(lat['sign'])} requests; "
                      f"agent CPU {agent_cpu:.1f} s in {wall:.0f} s" + (f"; hostile CPU {ph['hostile']['cpu_s']} s" if loaded else ""),
                      flush=True)
        alive = agent.poll() is None
        if not alive:
            failures.append("the agent died")
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=60)
    if agent.returncode not in (0, None) and not failures:
        failures.append(f"agent exited {agent.returncode} after SIGTERM")
    v = subprocess.run([binary, "journal", "verify", "--json"], capture_output=True, text=True, env=env)
    if v.returncode != 0:
        failures.append(f"journal verify failed: {v.stdout}{v.stderr}")

    def pooled(loaded):
        lat = {"ping": [], "sign": [], "round": []}
        for ph in phases:
            if ph["loaded"] == loaded:
                for k in lat:
                    lat[k] += ph["_lat"][k]
        return summarise(lat)

    un, lo = pooled(False), pooled(True)
    ratio = {k: round(lo[k]["p99_ms"] / un[k]["p99_ms"], 2) for k in un}
    for ph in phases:
        del ph["_lat"]
    for st in hostile_stats:
        if st["idle_open_at_end"] < a.idle or st["idle_refused"]:
            failures.append(f"only {st['idle_open_at_end']} of {a.idle} idle connections were held "
                            f"({st['idle_refused']} refused)")
    passed = ratio["sign"] <= 2.0 and ratio["round"] <= 2.0
    if not passed:
        failures.append(f"loaded p99 exceeds 2x unloaded: {ratio}")
    result = {
        "seconds_per_phase": a.seconds, "rounds": a.rounds,
        "hostile_config": {"idle": a.idle, "slow": a.slow, "noread": a.noread,
                           "malformed_per_s": a.malformed_rate, "oversize_per_s": a.oversize_rate},
        "unloaded": un, "loaded": lo, "p99_ratio": ratio, "within_2x": passed,
        "phases": phases, "failures": failures, "ok": not failures,
        "cpus": os.cpu_count(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(text + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print("HOSTILE PASSED" if not failures else f"HOSTILE FAILED: {failures}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
