#!/usr/bin/env python3
"""Arm-then-stop trials of the dead-man's switch against the real agent.

Each trial: the bot heartbeats with a short timeout and places an order
(allowed), then goes quiet. The operator's status is polled until the
switch trips; the agent's own record of when the trip took effect
(`tripped_at`) is compared with the deadline it announced. After the trip an
order must be denied and a heartbeat refused; every `--restart-every`
trials the agent is restarted and must still be tripped; then the operator
re-arms it. Prints a summary; exit status 1 if any trial broke a rule or
landed later than `--bound-ms` after its deadline.

Usage: deadman_trials.py --bin target/release/tradeward [--trials 1000]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))

from tradeward_client import Client, TradewardError  # noqa: E402

ORDER = {
    "type": "order",
    "orders": [{"a": 0, "b": True, "p": "50000", "s": "0.001", "r": False, "t": {"limit": {"tif": "Gtc"}}}],
    "grouping": "na",
}


def start(binary, config, log):
    proc = subprocess.Popen(
        [binary, "agent", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),
        env={**os.environ, "TRADEWARD_LOG": "warn,tradeward=info"},
    )
    sock = config.parent / "run" / "agent.sock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"agent exited: see {log}")
        try:
            Client(str(sock)).connect().close()
            if "agent listening" in Path(log).read_text():
                return proc
        except OSError:
            pass
        time.sleep(0.02)
    sys.exit("agent did not start")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--timeout-ms", type=int, default=200)
    ap.add_argument("--bound-ms", type=int, default=100)
    ap.add_argument("--restart-every", type=int, default=100)
    ap.add_argument("--json", help="write the summary here too")
    a = ap.parse_args()
    binary = str(Path(a.bin).resolve())

    work = Path(tempfile.mkdtemp(prefix="tw-trials-"))
    tok = work / "tok"
    subprocess.run([binary, "token", "init-dev", "--dir", str(tok)], check=True, stdout=subprocess.DEVNULL)
    config = tok / "tradeward.toml"
    env = {**os.environ, "TRADEWARD_CONFIG": str(config)}
    subprocess.run([binary, "keys", "generate", "--type", "secp256k1", "--label", "hl"], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    text = config.read_text().replace('keys = []', 'keys = ["hl"]').replace(
        'ops = ["list_keys", "sign", "heartbeat"]', 'ops = ["heartbeat", "hyperliquid.sign_l1_action"]')
    meta = ROOT / "tests" / "fixtures" / "hyperliquid" / "meta.json"
    text += f"""
[keys.hl]
type = "secp256k1"
label = "hl"

[keys.hl.hyperliquid]
network = "mainnet"
meta = "{meta}"

[policy.key_defaults.symbols."*"]

[deadman]
min_timeout_ms = 100
"""
    config.write_text(text)
    sock = str(tok / "run" / "agent.sock")
    admin_sock = str(tok / "run" / "admin.sock")
    log = work / "agent.log"
    proc = start(binary, config, log)

    late, failures, restarts = [], [], 0
    t_start = time.monotonic()
    try:
        for i in range(a.trials):
            bot = Client(sock).connect()
            admin = Client(admin_sock).connect()
            hb = bot.call("heartbeat", {"timeout_ms": a.timeout_ms})
            deadline = hb["deadline_ms"]
            bot.call("hyperliquid.sign_l1_action", {"key": "hl", "action": ORDER, "is_mainnet": True})
            wait_until = time.monotonic() + a.timeout_ms / 1000 + 10
            while True:
                sw = admin.call("status")["identities"]["developer"]["switch"]
                if sw["state"] == "tripped":
                    break
                if time.monotonic() > wait_until:
                    failures.append(f"trial {i}: no trip within 10 s of the deadline")
                    break
                time.sleep(0.005)
            if sw["state"] == "tripped":
                late.append(sw["at_ms"] - deadline)
            try:
                bot.call("hyperliquid.sign_l1_action", {"key": "hl", "action": ORDER, "is_mainnet": True})
                failures.append(f"trial {i}: an order was signed after the trip")
            except TradewardError as e:
                if e.code != "policy_denied":
                    failures.append(f"trial {i}: order after trip: {e.code}")
            try:
                bot.call("heartbeat", {})
                failures.append(f"trial {i}: a heartbeat re-armed a tripped switch")
            except TradewardError as e:
                if e.code != "switch_tripped":
                    failures.append(f"trial {i}: heartbeat after trip: {e.code}")
            bot.close()
            admin.close()
            if a.restart_every and (i + 1) % a.restart_every == 0:
                stop(proc)
                proc = start(binary, config, log)
                restarts += 1
                with Client(admin_sock) as admin:
                    sw = admin.call("status")["identities"]["developer"]["switch"]
                if sw["state"] != "tripped":
                    failures.append(f"trial {i}: not tripped after a restart ({sw['state']})")
            with Client(admin_sock) as admin:
                admin.call("rearm", {"identity": "developer"})
    finally:
        stop(proc)
    elapsed = time.monotonic() - t_start
    late_sorted = sorted(late)

    def pct(p):
        return late_sorted[min(len(late_sorted) - 1, int(p / 100 * len(late_sorted)))] if late_sorted else None

    over = [x for x in late if x > a.bound_ms]
    summary = {
        "trials": a.trials,
        "timeout_ms": a.timeout_ms,
        "trips": len(late),
        "restarts_checked": restarts,
        "late_ms": {"min": min(late, default=None), "p50": pct(50), "p99": pct(99), "max": max(late, default=None),
                    "mean": round(statistics.mean(late), 2) if late else None},
        "over_bound": len(over),
        "bound_ms": a.bound_ms,
        "failures": failures[:20],
        "failure_count": len(failures),
        "seconds": round(elapsed, 1),
    }
    print(json.dumps(summary, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if failures or over else 0


if __name__ == "__main__":
    sys.exit(main())
