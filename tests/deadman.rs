//! The dead-man's switch, halts and operator control through the real
//! agent: a bot arms its switch and goes quiet; the agent trips within the
//! deadline's bounds, halts the identity, hands the on-trip command signed
//! cancels (checked with k256 / the `hmac` crate / the official SDK), keeps
//! the trip across restarts and lets only an operator re-arm it.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Env, key};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tradeward::client::Client;

const TEST_KEY: &[u8] = b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const ADDRESS: &str = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperliquid")
}

/// A Hyperliquid key ("hl", mainnet) and a Binance-style HMAC key ("cex",
/// spot), a permissive policy, and an on-trip command that saves its
/// stdin to `trip.json` (and fails if `fail` is set).
fn setup(deadman_extra: &str) -> Env {
    let env = Env::new();
    let out = env.import("secp256k1", "hl", TEST_KEY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.import("hmac", "cex", SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.generate("p256", "plain");
    let mut keys = vec![
        key("hl", "secp256k1", "hl"),
        key("cex", "hmac", "cex"),
        key("plain", "p256", "plain"),
    ];
    // The venue keys sign only through their ops; "plain" may sign raw.
    keys[0].raw_signing = false;
    keys[1].raw_signing = false;
    env.write_config(&keys, "", "");
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]",
        "ops = [\"list_keys\", \"sign\", \"hyperliquid.sign_l1_action\", \"rest.sign_request\", \"heartbeat\", \"order.report\", \"price.update\", \"position.report\"]",
        1,
    );
    let out = env.dir.path().join("trip.json");
    let hook = format!(
        "cat > {}; test ! -e {}",
        out.display(),
        env.dir.path().join("fail").display()
    );
    let text = format!(
        r#"{text}
[keys.hl.hyperliquid]
network = "mainnet"
meta = {meta:?}
schedule_cancel_grace_ms = 10000

[keys.cex.rest]
venue = "binance"
markets = ["spot"]
max_recv_window_ms = 30000

[policy.key_defaults]
max_leverage = 50
[policy.key_defaults.symbols."*"]

[deadman]
min_timeout_ms = 200
on_trip = ["/bin/sh", "-c", {hook:?}]
{deadman_extra}
"#,
        meta = fixtures().join("meta.json").display().to_string(),
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn admin(env: &Env) -> Client {
    let c = Client::connect(&env.sock.parent().unwrap().join("admin.sock")).expect("admin socket");
    c.set_timeout(Some(Duration::from_secs(60))).unwrap();
    c
}

fn hl_order(cloid: Option<&str>, price: &str) -> Value {
    let mut o = json!({"a": 0, "b": true, "p": price, "s": "0.001", "r": false, "t": {"limit": {"tif": "Gtc"}}});
    if let Some(c) = cloid {
        o["c"] = c.into();
    }
    json!({"type": "order", "orders": [o], "grouping": "na"})
}

fn place(c: &mut Client, action: Value) -> Result<Value, tradeward::client::ClientError> {
    c.call(
        "hyperliquid.sign_l1_action",
        json!({"key": "hl", "action": action, "is_mainnet": true}),
    )
}

fn cex_order(c: &mut Client) -> Result<Value, tradeward::client::ClientError> {
    c.call(
        "rest.sign_request",
        json!({"key": "cex", "venue": "binance", "method": "POST", "path": "/api/v3/order",
               "params": {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                          "quantity": "0.01", "price": "50000", "newClientOrderId": "bot-1"}}),
    )
}

/// Poll `status` until `f` holds for the identity's entry (bounded).
fn wait_status(env: &Env, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = admin(env).call("status", json!({})).unwrap();
        let me = s["identities"]["developer"].clone();
        if f(&me) {
            return me;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
    {
        for l in std::fs::read_to_string(p).unwrap().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out
}

fn code(e: &tradeward::client::ClientError) -> String {
    e.code().unwrap_or_default().to_string()
}

/// The official SDK recovers ADDRESS from every Hyperliquid instruction
/// (skipped, loudly, without the SDK's python).
fn sdk_check(env: &Env, items: &[Value]) {
    let Some(python) = std::env::var_os("TRADEWARD_SDK_PYTHON") else {
        eprintln!(
            "SKIPPED the official-SDK check: set TRADEWARD_SDK_PYTHON (scripts/test.sh does)"
        );
        return;
    };
    let file = env.dir.path().join("sdk.json");
    let items: Vec<Value> = items
        .iter()
        .map(|i| json!({"action": i["action"], "nonce": i["nonce"], "is_mainnet": i["is_mainnet"], "signature": i["signature"]}))
        .collect();
    std::fs::write(
        &file,
        json!({"address": ADDRESS, "items": items}).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/hl_recover.py"))
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("{n} of {n} recovered", n = items.len())),
        "{text}"
    );
}

#[test]
fn a_silent_bot_trips_halts_and_the_operator_gets_signed_cancels() {
    let env = setup("flatten_on_trip = true\nflatten_slippage_bps = 100");
    let mut agent = env.start_agent();
    let mut c = agent.client();
    // Two Hyperliquid orders (one without a client id) and one REST order.
    place(
        &mut c,
        hl_order(Some("0x000000000000000000000000000000aa"), "50000"),
    )
    .unwrap();
    place(&mut c, hl_order(None, "50001")).unwrap();
    cex_order(&mut c).unwrap();
    // A reported position to flatten at the trip, and its reference price;
    // a flat one is forgotten.
    c.call("price.update", json!({"symbol": "BTC", "price": "65432.1"}))
        .unwrap();
    c.call(
        "position.report",
        json!({"key": "hl", "symbol": "BTC", "size": "0.0123"}),
    )
    .unwrap();
    c.call(
        "position.report",
        json!({"key": "hl", "symbol": "ETH", "size": "-2"}),
    )
    .unwrap();
    c.call(
        "position.report",
        json!({"key": "hl", "symbol": "ETH", "size": "0"}),
    )
    .unwrap();
    for bad in [
        json!({"key": "hl", "symbol": "BTC", "size": 1}),
        json!({"key": "hl", "symbol": "BTC", "size": "NaN"}),
        json!({"key": "hl", "symbol": "NOPE", "size": "1"}),
        json!({"key": "hl", "symbol": "BTC", "size": "1e3"}),
        json!({"key": "hl", "symbol": "BTC"}),
        // Spot holds balances; REST keys cannot be flattened.
        json!({"key": "hl", "symbol": "PURR/USDC", "size": "1"}),
        json!({"key": "cex", "symbol": "BTCUSDT", "size": "1"}),
    ] {
        let e = c.call("position.report", bad.clone()).unwrap_err();
        assert_eq!(code(&e), "bad_params", "{bad}: {e}");
    }

    // Arm: the answer shows the deadline and carries the exchange-side
    // backup, a signed scheduleCancel for after deadline + grace.
    let before = tradeward::journal::record::now_ms();
    let hb = c.call("heartbeat", json!({"timeout_ms": 400})).unwrap();
    let deadline = hb["deadline_ms"].as_u64().unwrap();
    // (Each process keeps its own clock; allow them a few ms apart.)
    assert!(
        deadline + 50 >= before + 400 && deadline <= before + 400 + 5_000,
        "{hb}"
    );
    assert_eq!(hb["switch"]["state"], "armed");
    let backup = hb["schedule_cancel"][0].clone();
    assert_eq!(backup["action"]["type"], "scheduleCancel");
    assert!(
        backup["action"]["time"].as_u64().unwrap() >= deadline + 10_000,
        "{hb}"
    );
    let st = wait_status(&env, "armed", |me| me["switch"]["state"] == "armed");
    assert_eq!(st["switch"]["deadline_ms"], deadline);
    assert!(st["switch"]["last_heartbeat_ms"].as_u64().is_some());

    // Silence: the switch trips and the hook runs.
    let me = wait_status(&env, "the hook", |me| {
        me["switch"]["state"] == "tripped" && me["switch"]["hook"]["hook"] == "succeeded"
    });
    assert_eq!(me["halted"], true, "{me}");
    let recs = records(&env.journal_dir());
    let trip = recs
        .iter()
        .find(|r| r["kind"] == "trip")
        .expect("trip record");
    assert_eq!(trip["identity"], "developer");
    assert_eq!(trip["deadline_ms"], deadline);
    let late = trip["ts_ms"].as_u64().unwrap() - deadline;
    // The target is 100 ms (measured by scripts/deadman-trials.sh); the
    // test allows for a loaded machine.
    assert!(late < 2_000, "tripped {late} ms after the deadline");
    let hook = recs
        .iter()
        .find(|r| r["kind"] == "trip_hook")
        .expect("trip_hook record");
    assert_eq!(hook["ok"], true);
    assert_eq!(hook["trip"], trip["seq"]);

    // The document: signed cancels that independent checks accept.
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(env.dir.path().join("trip.json")).unwrap())
            .unwrap();
    assert_eq!(doc["kind"], "tradeward.trip");
    assert_eq!(doc["identity"], "developer");
    let all = doc["instructions"].as_array().unwrap();
    assert!(all.iter().all(|i| i.get("error").is_none()), "{doc}");
    let ins: Vec<&Value> = all.iter().filter(|i| i.get("error").is_none()).collect();
    let hl: Vec<Value> = ins
        .iter()
        .filter(|i| i["venue"] == "hyperliquid")
        .map(|i| (*i).clone())
        .collect();
    let kinds: Vec<&str> = hl
        .iter()
        .map(|i| i["action"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["cancelByCloid", "scheduleCancel", "order"], "{doc}");
    // The flattening order: reduce-only IOC sell of the long, 1 % through.
    let flat = &hl[2]["action"]["orders"][0];
    assert_eq!(
        (flat["b"].clone(), flat["r"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(flat["p"], "64777");
    assert_eq!(flat["s"], "0.0123");
    assert_eq!(doc["positions"].as_array().unwrap().len(), 1);
    assert_eq!(
        hl[0]["action"]["cancels"][0]["cloid"],
        "0x000000000000000000000000000000aa"
    );
    assert_eq!(hl[0]["action"]["cancels"][0]["asset"], 0);
    assert_eq!(hl[0]["address"], ADDRESS);
    // The heartbeat's backup too.
    let mut signed = hl.clone();
    signed.push(backup);
    sdk_check(&env, &signed);
    let rest: Vec<&Value> = ins
        .iter()
        .copied()
        .filter(|i| i["venue"] == "binance")
        .collect();
    assert_eq!(rest.len(), 1, "{doc}");
    assert_eq!(rest[0]["method"], "DELETE");
    assert_eq!(rest[0]["path"], "/api/v3/openOrders");
    let sq = rest[0]["signed_query"].as_str().unwrap();
    let (q, sig) = sq.rsplit_once("&signature=").unwrap();
    assert!(
        q.starts_with("symbol=BTCUSDT&recvWindow=30000&timestamp="),
        "{q}"
    );
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).unwrap();
    mac.update(q.as_bytes());
    assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
    // Every instruction was journaled as a decision before its signature.
    for i in &ins {
        let seq = i["decision"].as_u64().unwrap();
        let d = recs.iter().find(|r| r["seq"] == seq).unwrap();
        assert_eq!(d["op"], "deadman.trip");
        assert!(
            recs.iter()
                .any(|r| r["kind"] == "signature" && r["decision"] == seq)
        );
    }

    // Halted: new risk denied, cancels still pass; heartbeats refused.
    let e = place(&mut c, hl_order(None, "50002")).unwrap_err();
    assert_eq!(code(&e), "policy_denied", "{e}");
    assert!(e.to_string().contains("halted"), "{e}");
    assert_eq!(code(&cex_order(&mut c).unwrap_err()), "policy_denied");
    let cancel = json!({"type": "cancel", "cancels": [{"a": 0, "o": 12345}]});
    place(&mut c, cancel.clone()).unwrap();
    let e = c.call("heartbeat", json!({})).unwrap_err();
    assert_eq!(code(&e), "switch_tripped", "{e}");

    // A bot can never re-arm (or use any operator op), on either socket.
    for op in ["rearm", "status", "halt", "resume", "pause", "reload"] {
        let e = c.call(op, json!({"identity": "developer"})).unwrap_err();
        assert_eq!(code(&e), "forbidden", "{op}: {e}");
    }
    // The admin socket serves operator ops only.
    let e = admin(&env)
        .call("hyperliquid.sign_l1_action", json!({}))
        .unwrap_err();
    assert_eq!(code(&e), "forbidden");

    // The trip survives a restart.
    drop(c);
    assert!(agent.stop().success());
    let agent = env.start_agent();
    let mut c = agent.client();
    let me = wait_status(&env, "status", |_| true);
    assert_eq!(me["switch"]["state"], "tripped", "{me}");
    assert_eq!(
        code(&place(&mut c, hl_order(None, "50003")).unwrap_err()),
        "policy_denied"
    );
    assert_eq!(
        code(&c.call("heartbeat", json!({})).unwrap_err()),
        "switch_tripped"
    );

    // Only the operator re-arms (here through the CLI).
    let out = env.run(&[
        "ctl",
        "rearm",
        "--identity",
        "developer",
        "--timeout-ms",
        "60000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hb = c.call("heartbeat", json!({})).unwrap();
    assert_eq!(hb["timeout_ms"], 60000);
    place(&mut c, hl_order(None, "50004")).unwrap();
    let recs = records(&env.journal_dir());
    let rearm = recs.iter().find(|r| r["kind"] == "rearm").unwrap();
    assert!(rearm["by"].as_str().unwrap().starts_with("operator uid"));
}

#[test]
fn a_deadline_that_passed_while_the_agent_was_down_trips_at_start() {
    let env = setup("");
    let mut agent = env.start_agent();
    let mut c = agent.client();
    c.call("heartbeat", json!({"timeout_ms": 1000})).unwrap();
    drop(c);
    assert!(agent.stop().success());
    std::thread::sleep(Duration::from_millis(1500));
    let _agent = env.start_agent();
    let me = wait_status(&env, "the trip at start and its hook", |me| {
        me["switch"]["state"] == "tripped" && me["switch"]["hook"]["hook"] != "running"
    });
    assert_eq!(me["halted"], true);
    // The trip happened in this run, so its command ran.
    assert_eq!(me["switch"]["hook"]["hook"], "succeeded", "{me}");
    // An operator's own halt and the switch's halt are separate: re-arming
    // lifts only the switch's, resuming only the operator's.
    let mut a = admin(&env);
    a.call(
        "halt",
        json!({"scope": "identity", "name": "developer", "reducing_allowed": false}),
    )
    .unwrap();
    a.call("rearm", json!({"identity": "developer"})).unwrap();
    let mut c = _agent.client();
    let e = place(&mut c, hl_order(None, "50000")).unwrap_err();
    assert_eq!(code(&e), "policy_denied", "{e}");
    a.call("resume", json!({"scope": "identity", "name": "developer"}))
        .unwrap();
    place(&mut c, hl_order(None, "50000")).unwrap();
}

#[test]
fn a_failing_hook_leaves_the_switch_tripped_and_says_so() {
    let env = setup("flatten_on_trip = true");
    std::fs::write(env.dir.path().join("fail"), b"").unwrap();
    let agent = env.start_agent();
    let mut c = agent.client();
    // A position that cannot be flattened (no reference price): it is
    // reported, not silently skipped.
    c.call(
        "position.report",
        json!({"key": "hl", "symbol": "BTC", "size": "1"}),
    )
    .unwrap();
    place(
        &mut c,
        hl_order(Some("0x000000000000000000000000000000bb"), "50000"),
    )
    .unwrap();
    c.call("heartbeat", json!({"timeout_ms": 300})).unwrap();
    let me = wait_status(&env, "the failed hook", |me| {
        me["switch"]["hook"]["hook"] == "failed"
    });
    assert_eq!(me["switch"]["state"], "tripped");
    assert!(
        me["switch"]["hook"]["reason"]
            .as_str()
            .unwrap()
            .contains("exit code 1"),
        "{me}"
    );
    let recs = records(&env.journal_dir());
    let hook = recs.iter().find(|r| r["kind"] == "trip_hook").unwrap();
    assert_eq!(hook["ok"], false);
    assert_eq!(hook["exit_code"], 1);
    assert!(
        hook["output"]
            .as_str()
            .unwrap()
            .contains("1 instruction(s) could not be made"),
        "{hook}"
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(env.dir.path().join("trip.json")).unwrap())
            .unwrap();
    let errors: Vec<&str> = doc["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["error"].as_str())
        .collect();
    assert_eq!(errors.len(), 1, "{doc}");
    assert!(errors[0].contains("no fresh reference price"), "{doc}");
}

#[test]
fn kill_switch_pause_bounds_and_policy_reload() {
    let env = setup("");
    let agent = env.start_agent();
    let mut c = agent.client();
    // Heartbeat bounds and types.
    for bad in [
        json!({}),
        json!({"timeout_ms": 10}),
        json!({"timeout_ms": -1}),
        json!({"timeout_ms": "1000"}),
        json!({"timeout_ms": 1e20}),
        json!({"timeout_ms": 99999999999u64}),
        json!({"timeout_ms": 1000, "x": 1}),
    ] {
        let e = c.call("heartbeat", bad.clone()).unwrap_err();
        assert_eq!(code(&e), "bad_params", "{bad}: {e}");
    }
    // Kill switch: everything halted, raw signing included; cancels pass.
    let mut a = admin(&env);
    c.sign_message("plain", b"x").unwrap();
    a.call("halt", json!({"scope": "all", "reason": "runaway"}))
        .unwrap();
    let e = c.sign_message("plain", b"x").unwrap_err();
    assert_eq!(code(&e), "policy_denied", "{e}");
    let e = place(&mut c, hl_order(None, "50000")).unwrap_err();
    assert!(e.to_string().contains("runaway"), "{e}");
    place(
        &mut c,
        json!({"type": "cancel", "cancels": [{"a": 0, "o": 1}]}),
    )
    .unwrap();
    let s = a.call("status", json!({})).unwrap();
    assert_eq!(s["halts"][0]["target"]["scope"], "all");
    assert_eq!(s["identities"]["developer"]["halted"], true);
    // Halting the identity with no reducing allowed: cancels denied too.
    a.call(
        "halt",
        json!({"scope": "identity", "name": "developer", "reducing_allowed": false}),
    )
    .unwrap();
    a.call("resume", json!({"scope": "all"})).unwrap();
    let e = place(
        &mut c,
        json!({"type": "cancel", "cancels": [{"a": 0, "o": 1}]}),
    )
    .unwrap_err();
    assert_eq!(code(&e), "policy_denied");
    a.call("resume", json!({"scope": "identity", "name": "developer"}))
        .unwrap();
    place(&mut c, hl_order(None, "50000")).unwrap();
    // Bad operator requests get clear errors.
    for (op, p) in [
        ("halt", json!({"scope": "identity", "name": "nobody"})),
        ("halt", json!({"scope": "everything"})),
        ("resume", json!({"scope": "all"})),
        ("rearm", json!({"identity": "developer"})),
        (
            "pause",
            json!({"identity": "developer", "duration_ms": 1000}),
        ),
        ("nope", json!({})),
    ] {
        let e = a.call(op, p.clone()).unwrap_err();
        assert!(
            matches!(code(&e).as_str(), "bad_params" | "forbidden"),
            "{op} {p}: {e}"
        );
    }
    // A planned pause holds the trip.
    c.call("heartbeat", json!({"timeout_ms": 300})).unwrap();
    let out = env.run(&[
        "ctl",
        "pause",
        "--identity",
        "developer",
        "--for",
        "1h",
        "--reason",
        "maintenance",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(800));
    let me = wait_status(&env, "paused", |_| true);
    assert_eq!(me["switch"]["state"], "paused", "{me}");
    // Reload: a broken policy is refused and the old one stays; a good one
    // is swapped in and its hash reported and journaled.
    let before = a.call("status", json!({})).unwrap()["policy_sha256"].clone();
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace("max_leverage = 50", "max_leverage = \"lots\""),
    )
    .unwrap();
    let e = a.call("reload", json!({})).unwrap_err();
    assert!(e.to_string().contains("old one stays"), "{e}");
    std::fs::write(
        &env.config,
        text.replace(
            "[policy.key_defaults.symbols.\"*\"]",
            "[policy.key_defaults.symbols.ETH]",
        ),
    )
    .unwrap();
    let reloaded = a.call("reload", json!({})).unwrap();
    assert_eq!(reloaded["changed"], true);
    assert_ne!(reloaded["policy_sha256"], before);
    let e = place(&mut c, hl_order(None, "50000")).unwrap_err();
    assert!(e.to_string().contains("symbol_not_allowed"), "{e}");
    let recs = records(&env.journal_dir());
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "policy_reload" && r["sha256"] == reloaded["policy_sha256"])
    );
    // SIGHUP reloads too.
    std::fs::write(&env.config, &text).unwrap();
    unsafe { libc::kill(agent.pid() as i32, libc::SIGHUP) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.call("status", json!({})).unwrap()["policy_sha256"] != before {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The RFC 6238 code for `secret` now, computed here with the `hmac` and
/// `sha1` crates directly.
fn totp_now(secret: &[u8]) -> String {
    let step = tradeward::journal::record::now_ms() / 1000 / 30;
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

#[test]
fn an_operator_with_totp_needs_a_fresh_code_to_resume_or_rearm() {
    let env = setup("");
    let secret = b"12345678901234567890";
    let file = env.dir.path().join("totp");
    // Base32 of the secret, as an authenticator app shows it.
    std::fs::write(&file, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let uid = unsafe { libc::getuid() };
    let text = format!(
        "{}\n[[admin.operators]]\nuid = {uid}\ntotp_secret_file = {:?}\n",
        std::fs::read_to_string(&env.config).unwrap(),
        file.display().to_string()
    );
    std::fs::write(&env.config, text).unwrap();
    let agent = env.start_agent();
    let mut c = agent.client();
    let mut a = admin(&env);
    // Halting needs no code (stopping is always easy)...
    a.call("halt", json!({"scope": "identity", "name": "developer"}))
        .unwrap();
    // ...undoing it does.
    let e = a
        .call("resume", json!({"scope": "identity", "name": "developer"}))
        .unwrap_err();
    assert_eq!(code(&e), "totp_required", "{e}");
    let e = a
        .call(
            "resume",
            json!({"scope": "identity", "name": "developer", "totp": "000000"}),
        )
        .unwrap_err();
    assert_eq!(code(&e), "forbidden", "{e}");
    let good = totp_now(secret);
    a.call(
        "resume",
        json!({"scope": "identity", "name": "developer", "totp": good}),
    )
    .unwrap();
    place(&mut c, hl_order(None, "50000")).unwrap();
    // The same code never works twice.
    c.call("heartbeat", json!({"timeout_ms": 60000})).unwrap();
    let e = a
        .call("rearm", json!({"identity": "developer", "totp": good}))
        .unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    // Refusals are journaled like any other.
    let recs = records(&env.journal_dir());
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "decision" && r["rule"] == "totp_required")
    );
}

/// libfaketime, if installed (scripts/install-deps.sh installs it).
fn faketime_lib() -> Option<String> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .map(String::from)
}

#[test]
fn a_jump_of_the_system_clock_neither_lifts_caps_nor_trips_switches() {
    let Some(lib) = faketime_lib() else {
        eprintln!("SKIPPED: libfaketime is not installed (scripts/install-deps.sh installs it)");
        return;
    };
    let env = setup("");
    // A daily cap of 100 on the key: two BTC orders of 50 fill it.
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "[policy.key_defaults]\nmax_leverage = 50",
        "[policy.key_defaults]\nmax_leverage = 50\nmax_notional_per_day = \"100\"",
    );
    std::fs::write(&env.config, text).unwrap();
    // The agent's wall clock comes from a file we can step; its monotonic
    // clock is left alone.
    let stamp = env.dir.path().join("faketime");
    std::fs::write(&stamp, "+0\n").unwrap();
    let stamp_s = stamp.display().to_string();
    let agent = env.start_agent_with_env(&[
        ("LD_PRELOAD", lib.as_str()),
        ("FAKETIME_TIMESTAMP_FILE", stamp_s.as_str()),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    let mut c = agent.client();
    place(&mut c, hl_order(None, "50000")).unwrap();
    place(&mut c, hl_order(None, "50000")).unwrap();
    let e = place(&mut c, hl_order(None, "50000")).unwrap_err();
    assert!(e.to_string().contains("day"), "{e}");
    c.call("heartbeat", json!({"timeout_ms": 60_000})).unwrap();
    // Two days forward on the system clock.
    std::fs::write(&stamp, "+2d\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = admin(&env).call("status", json!({})).unwrap();
        if s["clock_skew_ms"].as_i64().unwrap() > 86_400_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fake clock did not move: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The day's cap still holds, and the switch is still armed.
    let e = place(&mut c, hl_order(None, "50000")).unwrap_err();
    assert!(e.to_string().contains("day"), "{e}");
    std::thread::sleep(Duration::from_millis(300));
    let me = wait_status(&env, "status", |_| true);
    assert_eq!(me["switch"]["state"], "armed", "{me}");
    // And two days back: nonces keep increasing.
    std::fs::write(&stamp, "-2d\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let a = place(
        &mut c,
        json!({"type": "cancel", "cancels": [{"a": 0, "o": 1}]}),
    )
    .unwrap();
    let b = place(
        &mut c,
        json!({"type": "cancel", "cancels": [{"a": 0, "o": 2}]}),
    )
    .unwrap();
    assert!(b["nonce"].as_u64() > a["nonce"].as_u64());
}
