#!/usr/bin/env python3
"""Regenerate the fuzzers' seed corpus (fuzz/seeds/TARGET/) from the test
fixtures and the documented examples, so that every target starts from
inputs the tests and docs already exercise.

Sources:
  * Hyperliquid: tests/fixtures/hyperliquid/vectors.json (actions and their
    canonical JSON, with the signing context as the flag byte);
  * requests: the malformed frames of tests/bad_input.rs, and every
    one-line request shown in docs/*.md;
  * frames: the requests above, framed (plus a torn and an oversized one);
  * Binance-style parameters: the requests in docs/rest.md and the test
    suite's published example, as JSON and as query strings;
  * config: the TOML examples of docs/config.md and docs/policy.md (and the
    other docs' TOML snippets);
  * journal records: the example journal lines in docs/*.md.

Standard library only. Writes fuzz/seeds/ from scratch; run from anywhere.
"""

import hashlib
import json
import re
import shutil
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "seeds"


def docs():
    return sorted((ROOT / "docs").glob("*.md"))


def blocks(path, lang):
    """The fenced code blocks of one language in a Markdown file."""
    text = path.read_text()
    return re.findall(r"```" + lang + r"\n(.*?)```", text, flags=re.S)


def rust_bytes(lit):
    """A Rust byte-string literal's body (b"...") as bytes."""
    return lit.encode("latin-1").decode("unicode_escape").encode("latin-1")


class Seeds:
    def __init__(self, target):
        self.dir = OUT / target
        self.dir.mkdir(parents=True)
        self.seen = set()

    def add(self, name, data):
        if isinstance(data, str):
            data = data.encode()
        digest = hashlib.sha1(data).hexdigest()[:12]
        if digest in self.seen:
            return
        self.seen.add(digest)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]
        (self.dir / f"{safe}-{digest}").write_bytes(data)


def doc_requests():
    """One-line JSON requests ({"id", "op", ...}) shown in the docs."""
    out = []
    for path in docs():
        for block in blocks(path, "json"):
            for line in block.splitlines():
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    v = json.loads(line)
                except ValueError:
                    continue
                if isinstance(v, dict) and "op" in v:
                    out.append((path.stem, line))
    return out


def bad_input_frames():
    text = (ROOT / "tests" / "bad_input.rs").read_text()
    lits = re.findall(r'\(b"((?:[^"\\]|\\.)*)", "', text)
    lits += re.findall(r'br#"(.*?)"#', text)
    return [rust_bytes(l) for l in lits]


def hyperliquid(seeds):
    vectors = json.loads((ROOT / "tests/fixtures/hyperliquid/vectors.json").read_text())
    for v in vectors["vectors"]:
        flags = (
            (1 if v.get("is_mainnet") else 0)
            | (2 if v.get("vault") else 0)
            | (4 if v.get("expires_after") else 0)
        )
        seeds.add(v["name"], bytes([flags]) + json.dumps(v["action"]).encode())
        if v.get("action_json"):
            seeds.add(v["name"] + "-canonical", bytes([flags]) + v["action_json"].encode())


# Inputs that once failed a target (each also has a regression test in the
# module that was wrong; docs/fuzzing.md lists them).
REGRESSIONS = {
    "request": [
        # A float read one unit in the last place off (src/protocol.rs,
        # large_numbers_are_read_exactly_and_round_trip).
        b'{"id": 71, "op": "heartbeat", "params": {"tieout_ms": '
        b'33333333333333333333333333333333333333333333333000}}',
    ],
}


def regressions(target, seeds):
    for i, data in enumerate(REGRESSIONS.get(target, [])):
        seeds.add(f"regression-{i}", data)


def requests(seeds):
    regressions("request", seeds)
    for i, frame in enumerate(bad_input_frames()):
        seeds.add(f"bad_input-{i}", frame)
    for stem, line in doc_requests():
        seeds.add(f"doc-{stem}", line)


def frames(seeds):
    payloads = bad_input_frames() + [l.encode() for _, l in doc_requests()]
    frame = lambda p: struct.pack(">I", len(p)) + p
    for i, p in enumerate(payloads):
        # Limit byte 255: frames up to 1020 bytes are accepted.
        seeds.add(f"frame-{i}", bytes([255]) + frame(p))
    seeds.add("two-frames", bytes([255]) + frame(payloads[0]) + frame(payloads[-1]))
    seeds.add("torn-prefix", bytes([255, 0, 0]))
    seeds.add("short-payload", bytes([255]) + struct.pack(">I", 10) + b"{}")
    seeds.add("too-large", bytes([1]) + frame(b'{"id":1,"op":"ping"}'))
    seeds.add("empty-frame", bytes([0]) + frame(b""))


def binance(seeds):
    doc = [
        ("POST /api/v3/order", '{"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", '
         '"timeInForce": "GTC", "quantity": "1", "price": "0.1"}'),
        ("POST /api/v3/order",
         "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"),
        ("GET /api/v3/account", '{"omitZeroBalances": true}'),
        ("GET /api/v3/openOrders", "symbol=BTCUSDT"),
        ("DELETE /api/v3/order", "symbol=BTCUSDT&orderId=12345"),
        ("DELETE /api/v3/openOrders", "symbol=BTCUSDT"),
        ("POST /fapi/v1/order", '{"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", '
         '"quantity": "0.01", "reduceOnly": "true"}'),
        ("DELETE /fapi/v1/allOpenOrders", "symbol=BTCUSDT"),
        ("POST /sapi/v1/capital/withdraw/apply",
         '{"coin": "USDT", "network": "ETH", "address": "0x1111111111111111111111111111111111111111", "amount": "10"}'),
        ("POST /sapi/v1/asset/transfer", "type=MAIN_UMFUTURE&asset=USDT&amount=5"),
        ("POST /sapi/v1/futures/transfer", "asset=USDT&amount=5&type=1"),
    ]
    for head, body in doc:
        seeds.add(head.split()[1].strip("/"), f"{head}\n{body}")
    for stem, line in doc_requests():
        v = json.loads(line)
        p = v.get("params", {})
        if isinstance(p, dict) and "method" in p and "path" in p:
            params = p.get("params")
            body = params if isinstance(params, str) else json.dumps(params or {})
            seeds.add(f"doc-{stem}", f"{p['method']} {p['path']}\n{body}")
    # The docs' examples where params are given without the envelope.
    for path in docs():
        for block in blocks(path, "json"):
            for line in block.splitlines():
                try:
                    v = json.loads(line)
                except ValueError:
                    continue
                if isinstance(v, dict) and "method" in v and "path" in v:
                    params = v.get("params")
                    body = params if isinstance(params, str) else json.dumps(params or {})
                    seeds.add(f"doc-{path.stem}", f"{v['method']} {v['path']}\n{body}")


def config(seeds):
    for path in docs():
        for i, block in enumerate(blocks(path, "toml")):
            seeds.add(f"{path.stem}-{i}", block)


def journal(seeds):
    lines = []
    for path in docs():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith('{"seq"'):
                lines.append(line)
                seeds.add(f"{path.stem}-line", line)
    if lines:
        seeds.add("all-lines", "\n".join(lines) + "\n")


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    for target, fill in [
        ("hyperliquid_action", hyperliquid),
        ("request", requests),
        ("frame", frames),
        ("binance_params", binance),
        ("config", config),
        ("journal_record", journal),
    ]:
        s = Seeds(target)
        fill(s)
        print(f"{target}: {len(s.seen)} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
