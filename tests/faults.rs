//! Faults in the PKCS#11 path, injected mid-sign by a test-only module
//! (tests/fault-pkcs11) that wraps the real SoftHSM module: device and
//! general errors, a session closed and a token logged out under the
//! worker, a module that aborts the process or hangs, and signatures that
//! do not verify. For each: the caller gets a structured error (retryable
//! where a retry can succeed), other clients keep being served, every
//! signature a client received has its decision and its signature record in
//! the journal, the journal verifies, and once the fault is gone signing
//! works again without restarting the agent. See docs/reliability.md.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Agent, Env, hexf, key, path_str};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tradeward::client::{Client, ClientError};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TEST_KEY: &[u8] = b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
/// How long a signature may take before the agent presumes the worker hung.
const SIGN_TIMEOUT_MS: u64 = 1500;

/// The fault module, built once for all tests in this binary (the test
/// script builds it and passes `FAULT_PKCS11_MODULE`).
fn fault_module() -> &'static Path {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE.get_or_init(|| {
        if let Ok(m) = std::env::var("FAULT_PKCS11_MODULE") {
            return PathBuf::from(m);
        }
        let target = Path::new(ROOT).join("target/fault-pkcs11");
        let out = Command::new("cargo")
            .args(["build", "--quiet", "--manifest-path"])
            .arg(Path::new(ROOT).join("tests/fault-pkcs11/Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the fault module failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("debug/libtradeward_fault_pkcs11.so")
    })
}

/// The control file the fault module reads on every signing call.
struct Faults {
    control: PathBuf,
}

impl Faults {
    fn set(&self, fault: &str) {
        std::fs::write(&self.control, format!("{fault}\n")).unwrap();
    }

    fn clear(&self) {
        std::fs::write(&self.control, "").unwrap();
    }

    fn remaining(&self) -> String {
        std::fs::read_to_string(&self.control).unwrap()
    }
}

/// A token with a raw-signing secp256k1 key (`eth`) and a Hyperliquid key
/// (`main`), served through the fault module.
fn setup() -> (Env, Faults) {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    let out = env.import("secp256k1", "hl-main", TEST_KEY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut hl = key("main", "secp256k1", "hl-main");
    hl.raw_signing = false;
    env.write_config(
        &[key("eth", "secp256k1", "k1"), hl],
        &format!("workers = 2\nsign_timeout_ms = {SIGN_TIMEOUT_MS}"),
        "ops = [\"list_keys\", \"sign\", \"hyperliquid.sign_l1_action\"]",
    );
    let control = env.dir.path().join("fault-control");
    std::fs::write(&control, "").unwrap();
    let fixtures = Path::new(ROOT).join("tests/fixtures/hyperliquid");
    let module = fault_module()
        .canonicalize()
        .expect("the fault module exists");
    let mut text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]\n",
        "",
        1,
    );
    // The real module moves behind the fault module, whose folder is
    // allowed explicitly.
    let real = text
        .lines()
        .find_map(|l| l.strip_prefix("module = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("module in the starter config");
    text = text.replacen(
        &format!("module = \"{real}\""),
        &format!(
            "module = {:?}\nallowed_module_dirs = [{:?}, \"/usr/lib\", \"/usr/lib64\", \"/usr/local/lib\", \"/opt\"]",
            path_str(&module),
            path_str(module.parent().unwrap()),
        ),
        1,
    );
    // Through [pkcs11.env], so the workers (and the CLI) load the same
    // real module and read the same control file.
    text = text.replacen(
        "[pkcs11.env]\n",
        &format!(
            "[pkcs11.env]\nFAULT_PKCS11_REAL = {real:?}\nFAULT_PKCS11_CONTROL = {:?}\n",
            path_str(&control)
        ),
        1,
    );
    text.push_str(&format!(
        "\n[keys.main.hyperliquid]\nnetwork = \"mainnet\"\nmeta = {:?}\nspot_meta = {:?}\n",
        path_str(&fixtures.join("meta.json")),
        path_str(&fixtures.join("spot_meta.json")),
    ));
    std::fs::write(&env.config, text).unwrap();
    (env, Faults { control })
}

/// What clients received: raw signatures (digest, signature) and
/// Hyperliquid signatures (nonce, r‖s).
#[derive(Default)]
struct Received {
    raw: Vec<([u8; 32], Vec<u8>)>,
    hl: Vec<(u64, Vec<u8>)>,
    /// Requests that failed after their decision was made.
    failed: usize,
}

impl Received {
    fn extend(&mut self, other: Received) {
        self.raw.extend(other.raw);
        self.hl.extend(other.hl);
        self.failed += other.failed;
    }
}

fn digest(n: u64, tag: u8) -> [u8; 32] {
    let mut d = [0u8; 32];
    d[..8].copy_from_slice(&n.to_be_bytes());
    d[8] = tag;
    d[31] = 0x5a;
    d
}

fn sign_raw(c: &mut Client, d: &[u8; 32], got: &mut Received) -> Result<(), ClientError> {
    let r = c.sign_digest("eth", d).inspect_err(|_| got.failed += 1)?;
    got.raw.push((*d, hexf(&r, "signature")));
    Ok(())
}

fn sign_hl(c: &mut Client, got: &mut Received) -> Result<(), ClientError> {
    let r = c
        .call(
            "hyperliquid.sign_l1_action",
            json!({
                "key": "main",
                "action": {"type": "cancel", "cancels": [{"a": 0, "o": 123456}]},
                "is_mainnet": true,
            }),
        )
        .inspect_err(|_| got.failed += 1)?;
    let nonce = r["nonce"].as_u64().expect("nonce");
    let sig = &r["signature"];
    let rs = [hexf(sig, "r"), hexf(sig, "s")].concat();
    got.hl.push((nonce, rs));
    Ok(())
}

/// The error's code and retryable flag.
fn code(e: &ClientError) -> (String, bool) {
    match e {
        ClientError::Remote {
            code, retryable, ..
        } => (code.clone(), *retryable),
        other => panic!("not a structured error from the agent: {other}"),
    }
}

/// Another client is still served while the fault is on.
fn others_are_served(agent: &Agent) {
    let mut c = agent.client();
    c.hello().unwrap();
    assert_eq!(c.list_keys().unwrap().len(), 2);
}

/// Every record of every journal segment, in order.
fn journal(env: &Env) -> Vec<Value> {
    let segs = env.segments();
    segs.iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Stop the agent, then check the journal against what clients received:
/// every signature has a signature record whose allowed decision is for
/// exactly what was signed, no signature is on record that no client
/// received, every failure is on record against an allowed decision, and
/// `tradeward journal verify` passes.
fn check_journal(env: &Env, mut agent: Agent, got: &Received) {
    let log = agent.log_text();
    assert!(!log.contains("panicked"), "the agent panicked: {log}");
    assert!(agent.stop().success(), "agent did not stop cleanly: {log}");
    let recs = journal(env);
    let decisions: HashMap<u64, &Value> = recs
        .iter()
        .filter(|r| r["kind"] == "decision")
        .map(|r| (r["seq"].as_u64().unwrap(), r))
        .collect();
    let allowed = |seq: &Value| -> &Value {
        let d = decisions
            .get(&seq.as_u64().unwrap())
            .unwrap_or_else(|| panic!("no decision {seq} on record"));
        assert_eq!(d["allow"], true, "{d}");
        d
    };
    let sig_recs: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "signature").collect();
    let failures: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "sign_failed").collect();
    for f in &failures {
        allowed(&f["decision"]);
    }
    // Every failure the clients saw is on record, against its decision.
    assert_eq!(failures.len(), got.failed, "sign_failed records");
    let mut matched = HashSet::new();
    for (d, sig) in &got.raw {
        let hex_sig = hex::encode(sig);
        let (i, rec) = sig_recs
            .iter()
            .enumerate()
            .find(|(_, r)| r["signature"] == hex_sig.as_str())
            .unwrap_or_else(|| panic!("a returned signature has no record: {hex_sig}"));
        let dec = allowed(&rec["decision"]);
        assert_eq!(dec["payload_sha256"], hex::encode(Sha256::digest(d)));
        assert_eq!(rec["key"], "eth");
        matched.insert(i);
    }
    for (nonce, rs) in &got.hl {
        let prefix = hex::encode(rs);
        let (i, rec) = sig_recs
            .iter()
            .enumerate()
            .find(|(_, r)| r["signature"].as_str().unwrap().starts_with(&prefix))
            .unwrap_or_else(|| panic!("a returned Hyperliquid signature has no record"));
        let dec = allowed(&rec["decision"]);
        assert_eq!(dec["op"], "hyperliquid.sign_l1_action");
        assert_eq!(dec["nonce"].as_u64(), Some(*nonce));
        assert_eq!(rec["key"], "main");
        matched.insert(i);
    }
    // No signature was released (or recorded as released) beyond those the
    // clients received.
    assert_eq!(
        matched.len(),
        sig_recs.len(),
        "{} signature records, {} signatures received",
        sig_recs.len(),
        got.raw.len() + got.hl.len()
    );
    assert_eq!(matched.len(), got.raw.len() + got.hl.len());
    let out = env.run(&["journal", "verify", "--config", path_str(&env.config)]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "journal verify: {text}");
    assert!(text.contains("journal OK"), "{text}");
}

/// Each fault, held until cleared: the caller's error, with its code and
/// retryable flag, for a raw signature and for a Hyperliquid action.
const PERSISTENT: &[(&str, &str, bool)] = &[
    ("device_error", "backend_unavailable", true),
    ("session_closed", "backend_unavailable", true),
    ("logged_out", "backend_unavailable", true),
    ("general_error", "backend_unavailable", true),
    ("abort", "backend_unavailable", true),
    ("hang", "backend_unavailable", true),
    ("garbage", "backend_error", false),
    ("truncated", "backend_error", false),
];

#[test]
fn each_fault_fails_the_request_clearly_and_signing_recovers_without_a_restart() {
    let (env, faults) = setup();
    let agent = env.start_agent();
    let pid = agent.pid();
    let mut c = agent.client();
    let mut got = Received::default();
    let mut n = 0;
    sign_raw(&mut c, &digest(n, 0), &mut got).unwrap();
    sign_hl(&mut c, &mut got).unwrap();
    for &(fault, want, retryable) in PERSISTENT {
        faults.set(fault);
        for attempt in 0..2 {
            n += 1;
            let started = Instant::now();
            let e = sign_raw(&mut c, &digest(n, 1), &mut got).unwrap_err();
            assert_eq!(code(&e), (want.to_string(), retryable), "{fault}: {e}");
            let e = sign_hl(&mut c, &mut got).unwrap_err();
            assert_eq!(code(&e), (want.to_string(), retryable), "{fault}: {e}");
            // Never left hanging: bounded by the agent's sign timeout.
            assert!(
                started.elapsed() < Duration::from_millis(6 * SIGN_TIMEOUT_MS),
                "{fault} attempt {attempt}: {:?}",
                started.elapsed()
            );
            others_are_served(&agent);
        }
        faults.clear();
        // Recovery without a restart: the very next requests sign.
        n += 1;
        sign_raw(&mut c, &digest(n, 2), &mut got)
            .unwrap_or_else(|e| panic!("after {fault} was cleared: {e}"));
        sign_hl(&mut c, &mut got).unwrap_or_else(|e| panic!("after {fault} was cleared: {e}"));
    }
    assert_eq!(agent.pid(), pid);
    assert_eq!(got.raw.len(), 1 + PERSISTENT.len());
    check_journal(&env, agent, &got);
}

#[test]
fn a_single_session_loss_or_device_error_is_absorbed_by_a_reconnect() {
    let (env, faults) = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let mut got = Received::default();
    let mut n = 0;
    for fault in [
        "session_closed",
        "logged_out",
        "device_error",
        "general_error",
    ] {
        for hl in [false, true] {
            faults.set(&format!("{fault} count=1"));
            n += 1;
            let r = if hl {
                sign_hl(&mut c, &mut got)
            } else {
                sign_raw(&mut c, &digest(n, 3), &mut got)
            };
            r.unwrap_or_else(|e| panic!("{fault} once (hl: {hl}): {e}"));
            assert_eq!(faults.remaining(), "", "{fault}: the fault was not hit");
        }
    }
    // A worker that crashes once: this request fails (retryable), the next
    // signs on a restarted worker.
    faults.set("abort count=1");
    let e = sign_raw(&mut c, &digest(100, 3), &mut got).unwrap_err();
    assert_eq!(code(&e), ("backend_unavailable".into(), true), "{e}");
    sign_raw(&mut c, &digest(101, 3), &mut got).unwrap();
    check_journal(&env, agent, &got);
}

#[test]
fn a_hung_worker_does_not_hold_up_other_clients() {
    let (env, faults) = setup();
    let agent = env.start_agent();
    let mut got = Received::default();
    // One worker wedges inside C_Sign; the other serves everyone else
    // meanwhile.
    faults.set("hang count=1");
    let sock = agent.sock.clone();
    let hung = std::thread::spawn(move || {
        let mut c = Client::connect(&sock).unwrap();
        c.set_timeout(Some(Duration::from_secs(60))).unwrap();
        let started = Instant::now();
        let mut got = Received::default();
        let r = sign_raw(&mut c, &digest(0, 4), &mut got);
        (r, started.elapsed(), got)
    });
    common::wait_until("the hang to start", Duration::from_secs(10), || {
        faults.remaining().is_empty()
    });
    let mut c = agent.client();
    for i in 1..=5 {
        let started = Instant::now();
        sign_raw(&mut c, &digest(i, 4), &mut got).unwrap();
        assert!(started.elapsed() < Duration::from_millis(SIGN_TIMEOUT_MS));
    }
    let (r, took, g) = hung.join().unwrap();
    got.extend(g);
    let e = r.unwrap_err();
    assert_eq!(code(&e), ("backend_unavailable".into(), true), "{e}");
    assert!(
        took < Duration::from_millis(3 * SIGN_TIMEOUT_MS),
        "{took:?}"
    );
    // The wedged worker was replaced: both are up again.
    common::wait_until("two workers", Duration::from_secs(20), || {
        agent.worker_pids().len() == 2
    });
    sign_raw(&mut c, &digest(9, 4), &mut got).unwrap();
    check_journal(&env, agent, &got);
}

#[test]
fn faults_under_concurrent_load_never_release_an_unjournaled_signature() {
    let (env, faults) = setup();
    let agent = env.start_agent();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let codes = std::sync::Arc::new(std::sync::Mutex::new(HashSet::new()));
    let clients: Vec<_> = (0..3u8)
        .map(|t| {
            let sock = agent.sock.clone();
            let stop = stop.clone();
            let codes = codes.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&sock).unwrap();
                c.set_timeout(Some(Duration::from_secs(60))).unwrap();
                let mut got = Received::default();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let r = if t == 2 {
                        sign_hl(&mut c, &mut got)
                    } else {
                        sign_raw(&mut c, &digest(n, 10 + t), &mut got)
                    };
                    if let Err(e) = r {
                        codes.lock().unwrap().insert(code(&e));
                    }
                }
                got
            })
        })
        .collect();
    let cycle = [
        "device_error",
        "session_closed",
        "garbage",
        "logged_out",
        "abort count=2",
        "general_error",
        "truncated",
        "hang count=1",
    ];
    for fault in cycle {
        faults.set(fault);
        std::thread::sleep(Duration::from_millis(400));
        others_are_served(&agent);
        faults.clear();
        std::thread::sleep(Duration::from_millis(300));
    }
    // Clear for a while: every client signs again.
    std::thread::sleep(Duration::from_millis(2 * SIGN_TIMEOUT_MS));
    stop.store(true, Ordering::Relaxed);
    let mut got = Received::default();
    for h in clients {
        got.extend(h.join().unwrap());
    }
    let codes = codes.lock().unwrap().clone();
    for c in &codes {
        assert!(
            [
                ("backend_unavailable".to_string(), true),
                ("backend_error".to_string(), false)
            ]
            .contains(c),
            "unexpected error {c:?} (all: {codes:?})"
        );
    }
    assert!(
        codes.len() == 2,
        "both kinds of failure were seen: {codes:?}"
    );
    assert!(got.raw.len() > 10 && got.hl.len() > 5, "too few signatures");
    check_journal(&env, agent, &got);
}
