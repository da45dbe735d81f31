//! `[cluster]`: two real agents, each with its own SoftHSM token holding
//! the same Hyperliquid key, share one risk budget and one nonce sequence
//! through a real PostgreSQL; an unreachable or hung database denies with
//! `cluster_unavailable` and signing resumes by itself when it returns.
//!
//! These tests need a PostgreSQL server: they read the libpq variables
//! (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) that `pg_virtualenv`
//! sets. They are `#[ignore]`d in a plain `cargo test`; scripts/test.sh
//! runs them with `--ignored` inside `pg_virtualenv`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, key};
use serde_json::{Value, json};

const TEST_KEY: &[u8] = b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const ADDRESS: &str = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
const NEEDS_PG: &str =
    "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperliquid")
}

/// The database the libpq variables name, as `(host, port)` and a URL
/// with `port` instead (for the proxy).
fn pg_env() -> (String, u16) {
    let host = std::env::var("PGHOST").unwrap_or_else(|_| panic!("PGHOST is not set: {NEEDS_PG}"));
    let port = std::env::var("PGPORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    (host, port)
}

fn pg_url(host: &str, port: u16) -> String {
    let user = std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into());
    let password = std::env::var("PGPASSWORD").unwrap_or_default();
    let db = std::env::var("PGDATABASE").unwrap_or_else(|_| "postgres".into());
    format!("host={host} port={port} user={user} password={password} dbname={db}")
}

/// A cluster name of its own for each test, so tests share one server.
fn cluster_name(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// An agent with the test key as "hl" (mainnet), Hyperliquid grants,
/// `policy`, and `[cluster]` with `agent_id` reaching the database at
/// `url`.
fn setup(cluster: &str, agent_id: &str, url: &str, timeout_ms: u64, policy: &str) -> Env {
    let env = Env::new();
    let out = env.import("secp256k1", "hl", TEST_KEY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut k = key("hl", "secp256k1", "hl");
    k.raw_signing = false;
    env.write_config(&[k], "", "");
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]",
        "ops = [\"list_keys\", \"hyperliquid.sign_l1_action\", \"order.report\", \"heartbeat\"]",
        1,
    );
    let url_file = env.dir.path().join("cluster-url");
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        "{text}\n[keys.hl.hyperliquid]\nnetwork = \"mainnet\"\nmeta = {:?}\n\n{policy}\n\n\
         [deadman]\nmin_timeout_ms = 200\n\n\
         [cluster]\nname = {cluster:?}\nagent_id = {agent_id:?}\nurl_file = {:?}\nsslmode = \"disable\"\ntimeout_ms = {timeout_ms}\n",
        fixtures().join("meta.json").display().to_string(),
        url_file.display().to_string(),
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn cluster_cmd(env: &Env, args: &[&str]) -> std::process::Output {
    let mut full = vec!["cluster"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--config", common::path_str(&env.config)]);
    env.run(&full)
}

fn init(env: &Env) {
    let out = cluster_cmd(env, &["init"]);
    assert!(
        out.status.success(),
        "cluster init: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// BTC 0.001 @ 50000 (50 of notional), from the SDK's vectors.
fn btc_order() -> Value {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("vectors.json")).unwrap())
            .unwrap();
    v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "order_btc_gtc_mainnet")
        .unwrap()["action"]
        .clone()
}

fn recover(digest: &[u8], sig: &Value) -> String {
    let r = tradeward::config::parse_hex(sig["r"].as_str().unwrap()).unwrap();
    let s = tradeward::config::parse_hex(sig["s"].as_str().unwrap()).unwrap();
    let v = sig["v"].as_u64().unwrap() as u8;
    let signature = k256::ecdsa::Signature::from_slice(&[r, s].concat()).unwrap();
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(
        digest,
        &signature,
        k256::ecdsa::RecoveryId::from_byte(v - 27).unwrap(),
    )
    .unwrap();
    let point = vk.to_sec1_point(false);
    tradeward::crypto::eth::checksum_address(&tradeward::crypto::eth::address(point.as_bytes()))
}

fn order(c: &mut tradeward::client::Client) -> Result<Value, tradeward::client::ClientError> {
    c.call(
        "hyperliquid.sign_l1_action",
        json!({"key": "hl", "action": btc_order(), "is_mainnet": true}),
    )
}

/// A signed order: its signature recovers the key's address; its nonce.
fn checked_nonce(r: &Value) -> u64 {
    assert_eq!(r["address"], ADDRESS);
    let digest = common::hexf(r, "digest");
    assert_eq!(recover(&digest, &r["signature"]), ADDRESS);
    r["nonce"].as_u64().unwrap()
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn two_agents_share_one_daily_cap_and_one_nonce_sequence() {
    let (host, port) = pg_env();
    let url = pg_url(&host, port);
    let name = cluster_name("cap");
    // 500 a day on the key: ten orders of 50, across both agents.
    let policy = "[policy.key_defaults]\nmax_notional_per_day = \"500\"\n[policy.key_defaults.symbols.BTC]\nmax_size = \"0.01\"\n";
    let a = setup(&name, "agent-a", &url, 2000, policy);
    let b = setup(&name, "agent-b", &url, 2000, policy);
    init(&a);
    init(&b);
    let agent_a = a.start_agent();
    let agent_b = b.start_agent();

    // Both agents under load at once: 3 clients each, 6 orders per client.
    let allowed = Arc::new(Mutex::new(Vec::<(char, u64)>::new()));
    let denied = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for (tag, agent) in [('a', &agent_a), ('b', &agent_b)] {
        for _ in 0..3 {
            let mut c = agent.client();
            let allowed = allowed.clone();
            let denied = denied.clone();
            threads.push(std::thread::spawn(move || {
                for _ in 0..6 {
                    match order(&mut c) {
                        Ok(r) => allowed.lock().unwrap().push((tag, checked_nonce(&r))),
                        Err(e) => {
                            assert_eq!(e.code(), Some("policy_denied"), "{e}");
                            assert!(e.to_string().contains("day"), "{e}");
                            denied.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    let allowed = allowed.lock().unwrap().clone();
    assert_eq!(
        allowed.len(),
        10,
        "exactly the shared cap (10 × 50 = 500) is signed across both agents: {allowed:?}"
    );
    assert_eq!(denied.load(Ordering::SeqCst), 26);
    assert!(
        allowed.iter().any(|(t, _)| *t == 'a') && allowed.iter().any(|(t, _)| *t == 'b'),
        "both agents signed some: {allowed:?}"
    );
    let mut nonces: Vec<u64> = allowed.iter().map(|(_, n)| *n).collect();
    nonces.sort_unstable();
    let before = nonces.len();
    nonces.dedup();
    assert_eq!(
        nonces.len(),
        before,
        "a nonce was assigned twice: {allowed:?}"
    );

    // Each agent's journal holds only its own signatures; together, ten.
    let signatures = |env: &Env| {
        env.records()
            .iter()
            .filter(|r| r["kind"] == "signature")
            .count()
    };
    // (A signature's record follows its answer with the next group commit.)
    common::wait_until("ten signature records", Duration::from_secs(5), || {
        signatures(&a) + signatures(&b) == 10
    });

    // The cluster agrees, and each journal matches the hashes it holds.
    for env in [&a, &b] {
        let out = cluster_cmd(env, &["verify", "--json"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["ok"], true, "{v}");
    }
    let out = cluster_cmd(&a, &["status", "--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let agents = v["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2, "{v}");
    let total_allowed: i64 = agents.iter().map(|a| a["allowed"].as_i64().unwrap()).sum();
    assert_eq!(total_allowed, 10, "{v}");
    assert_eq!(
        v["nonces"][0]["hwm"].as_u64().unwrap(),
        *nonces.last().unwrap()
    );

    // A restart of one agent keeps the shared total: it catches up again.
    drop(agent_b);
    let agent_b = b.start_agent();
    let e = order(&mut agent_b.client()).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "after restart: {e}");
    let e = order(&mut agent_a.client()).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
}

/// A TCP relay in front of the database that can refuse (close every
/// connection), hang (accept and forward nothing) or pass.
struct Relay {
    port: u16,
    /// 0: pass, 1: down, 2: hang.
    mode: Arc<AtomicU8>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: (String, u16)) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(0));
        let open = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let (m, o) = (mode.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                match m.load(Ordering::SeqCst) {
                    1 => {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    2 => {
                        o.lock().unwrap().push(client);
                        continue;
                    }
                    _ => {}
                }
                let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)) else {
                    continue;
                };
                {
                    let mut list = o.lock().unwrap();
                    list.push(client.try_clone().unwrap());
                    list.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, mode, open }
    }

    /// Cut every open connection and set the mode for new ones.
    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        if mode != 0 {
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn an_unreachable_or_hung_database_denies_and_signing_resumes_alone() {
    let target = pg_env();
    let name = cluster_name("outage");
    let relay = Relay::start(target.clone());
    let url = pg_url("127.0.0.1", relay.port);
    let policy = "[policy.key_defaults]\n[policy.key_defaults.symbols.BTC]\nmax_size = \"0.01\"\n";
    let env = setup(&name, "agent-a", &url, 500, policy);
    init(&env);
    let mut agent = env.start_agent();
    let pid = agent.pid();
    let mut c = agent.client();
    let first = checked_nonce(&order(&mut c).unwrap());
    let signatures = |env: &Env| {
        env.records()
            .iter()
            .filter(|r| r["kind"] == "signature")
            .count()
    };
    common::wait_until(
        "the first signature's record",
        Duration::from_secs(5),
        || signatures(&env) == 1,
    );

    // Unreachable: every connection is cut and new ones are closed.
    relay.set(1);
    for _ in 0..3 {
        let e = order(&mut c).unwrap_err();
        assert_eq!(e.code(), Some("cluster_unavailable"), "{e}");
        assert!(
            matches!(
                e,
                tradeward::client::ClientError::Remote {
                    retryable: true,
                    ..
                }
            ),
            "{e}"
        );
    }
    // Hung: connections are accepted and never answered; the deadline
    // (500 ms) denies.
    relay.set(2);
    let started = Instant::now();
    let e = order(&mut c).unwrap_err();
    assert_eq!(e.code(), Some("cluster_unavailable"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "denied only after {:?}",
        started.elapsed()
    );
    assert_eq!(
        signatures(&env),
        1,
        "nothing was signed while the database was away"
    );

    // Back: the same agent process signs again, without a restart.
    relay.set(0);
    let again = checked_nonce(&order(&mut c).unwrap());
    assert!(again > first);
    assert!(agent.is_running());
    assert_eq!(agent.pid(), pid);
    // (The signature's own record follows the answer with the next group
    // commit.)
    common::wait_until(
        "the second signature's record",
        Duration::from_secs(5),
        || signatures(&env) == 2,
    );
    let log = agent.log_text();
    assert!(log.contains("shared decision failed"), "{log}");
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn bad_cluster_settings_stop_the_start_with_a_clear_error() {
    let (host, port) = pg_env();
    let name = cluster_name("bad");
    // No schema yet in this cluster's database? The schema is shared by all
    // clusters of one database, so use a wrong password instead, then an
    // unparsable URL, then a dead port.
    let user = std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into());
    let db = std::env::var("PGDATABASE").unwrap_or_else(|_| "postgres".into());
    let policy = "";
    let wrong = format!(
        "host={host} port={port} user={user} password=wrong-{} dbname={db}",
        std::process::id()
    );
    let env = setup(&name, "agent-a", &wrong, 2000, policy);
    let e = env.try_start_agent().err().expect("refused");
    assert!(e.contains("cluster database"), "{e}");
    assert!(!e.contains("wrong-"), "the password is never printed: {e}");

    let env = setup(&name, "agent-a", "postgresql://[bad", 2000, policy);
    let e = env.try_start_agent().err().expect("refused");
    assert!(e.contains("cluster.url_file"), "{e}");

    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let env = setup(
        &name,
        "agent-a",
        &pg_url("127.0.0.1", dead_port),
        2000,
        policy,
    );
    let e = env.try_start_agent().err().expect("refused");
    assert!(e.contains("cluster database"), "{e}");
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn a_journal_cut_behind_the_cluster_is_named_and_refused() {
    let (host, port) = pg_env();
    let name = cluster_name("anchor");
    let policy = "[policy.key_defaults]\n[policy.key_defaults.symbols.BTC]\nmax_size = \"0.01\"\n";
    let env = setup(&name, "agent-a", &pg_url(&host, port), 2000, policy);
    init(&env);
    let mut agent = env.start_agent();
    let mut c = agent.client();
    for _ in 0..3 {
        checked_nonce(&order(&mut c).unwrap());
    }
    drop(c);
    assert!(agent.stop().success());
    // Intact: both checks pass, and the agent starts again.
    let out = env.run(&[
        "journal",
        "verify",
        "--cluster",
        "--config",
        common::path_str(&env.config),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(env.start_agent());

    // Cut the journal back to just before its last allowed decision.
    let last = env
        .records()
        .iter()
        .filter(|r| r["kind"] == "decision" && r["allow"] == true)
        .map(|r| r["seq"].as_u64().unwrap())
        .max()
        .unwrap();
    let segment = env.segments().pop().unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    let kept: String = text
        .lines()
        .take_while(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
                < last
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(kept.len() < text.len());
    std::fs::write(&segment, kept).unwrap();

    let out = env.run(&[
        "journal",
        "verify",
        "--cluster",
        "--config",
        common::path_str(&env.config),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("MISSING locally"), "{text}");
    let e = env.try_start_agent().err().expect("refused");
    assert!(e.contains("cut back"), "{e}");
    assert!(e.contains(&name), "{e}");
}

/// The operator's `ctl status --json` of one agent.
fn ctl_status(env: &Env) -> Value {
    let out = env.run(&["ctl", "status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn halted(status: &Value) -> bool {
    status["halts"].as_array().is_some_and(|h| !h.is_empty())
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn a_halt_on_one_agent_stops_every_agent_and_a_resume_lifts_it_everywhere() {
    let (host, port) = pg_env();
    let url = pg_url(&host, port);
    let name = cluster_name("halt");
    let policy = "[policy.key_defaults]\n[policy.key_defaults.symbols.BTC]\nmax_size = \"0.01\"\n";
    let a = setup(&name, "agent-a", &url, 2000, policy);
    let b = setup(&name, "agent-b", &url, 2000, policy);
    init(&a);
    let agent_a = a.start_agent();
    let agent_b = b.start_agent();
    let (mut ca, mut cb) = (agent_a.client(), agent_b.client());
    checked_nonce(&order(&mut ca).unwrap());
    checked_nonce(&order(&mut cb).unwrap());
    // Let B's listener connect before the halt (it catches up on connect
    // anyway).
    std::thread::sleep(Duration::from_millis(300));

    let out = a.run(&["ctl", "halt", "--all", "--reason", "incident 7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // B shows the halt in its status without any request reaching it,
    // within a bounded time (NOTIFY; at worst the 2 s idle catch-up).
    let started = Instant::now();
    common::wait_until("agent B to show the halt", Duration::from_secs(5), || {
        halted(&ctl_status(&b))
    });
    let took = started.elapsed();
    eprintln!("halt reached agent B's status in {took:?}");
    let e = order(&mut cb).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("halted"), "{e}");
    assert!(e.to_string().contains("incident 7"), "{e}");
    let e = order(&mut ca).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    // B journaled the halt it received, naming the agent it came from.
    let from_a = b.records().into_iter().any(|r| {
        r["kind"] == "halt"
            && r["by"]
                .as_str()
                .is_some_and(|s| s.contains("agent agent-a"))
    });
    assert!(from_a, "agent B's journal records the cluster's halt");

    // A resume on B lifts it on both.
    let out = b.run(&["ctl", "resume", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    checked_nonce(&order(&mut cb).unwrap());
    checked_nonce(&order(&mut ca).unwrap());
    common::wait_until("agent A to show the resume", Duration::from_secs(5), || {
        !halted(&ctl_status(&a))
    });

    // A restarted agent still knows the cluster's halt.
    let out = a.run(&["ctl", "halt", "--key", "hl", "--reason", "incident 8"]);
    assert!(out.status.success());
    drop(cb);
    drop(agent_b);
    let agent_b = b.start_agent();
    let e = order(&mut agent_b.client()).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("incident 8"), "{e}");
    // ...and only that one: A's earlier halt of everything stays lifted by
    // B's own resume (the cluster's events are applied in their order).
    let halts = ctl_status(&b)["halts"].as_array().unwrap().clone();
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert!(halts[0].to_string().contains("incident 8"), "{halts:?}");
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn an_agent_killed_under_load_leaves_the_other_serving_and_restarts_consistent() {
    let (host, port) = pg_env();
    let url = pg_url(&host, port);
    let name = cluster_name("kill");
    let policy = "[policy.key_defaults]\n[policy.key_defaults.symbols.BTC]\nmax_size = \"0.01\"\n";
    let a = setup(&name, "agent-a", &url, 2000, policy);
    let b = setup(&name, "agent-b", &url, 2000, policy);
    init(&a);
    let mut agent_a = a.start_agent();
    let agent_b = b.start_agent();
    let nonces = Arc::new(Mutex::new(Vec::<u64>::new()));
    // Load on A until it dies.
    let load = {
        let mut c = agent_a.client();
        let nonces = nonces.clone();
        std::thread::spawn(move || {
            while let Ok(r) = order(&mut c) {
                nonces.lock().unwrap().push(checked_nonce(&r));
            }
        })
    };
    let mut cb = agent_b.client();
    for _ in 0..5 {
        nonces
            .lock()
            .unwrap()
            .push(checked_nonce(&order(&mut cb).unwrap()));
    }
    common::wait_until("A to sign under load", Duration::from_secs(10), || {
        nonces.lock().unwrap().len() > 10
    });
    unsafe { libc::kill(agent_a.pid() as i32, libc::SIGKILL) };
    load.join().unwrap();
    let _ = agent_a.child.wait();
    // B keeps serving.
    for _ in 0..5 {
        nonces
            .lock()
            .unwrap()
            .push(checked_nonce(&order(&mut cb).unwrap()));
    }
    // A starts again on its journal, and signs.
    drop(agent_a);
    let agent_a = a.start_agent();
    nonces
        .lock()
        .unwrap()
        .push(checked_nonce(&order(&mut agent_a.client()).unwrap()));
    let mut all = nonces.lock().unwrap().clone();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a nonce was assigned twice");
    // Every signature has a committed decision; the journals match what
    // the cluster holds of them.
    for env in [&a, &b] {
        let out = cluster_cmd(env, &["verify", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert!(
            out.status.success() && v["ok"] == true,
            "{v} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // B's state counts every decision the cluster committed (it caught up
    // while idle), and A's no less but for the one its single client may
    // have had committed there and not yet durable in A's journal when it
    // was killed (never signed: signing waits for both).
    let out = cluster_cmd(&a, &["status", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: i64 = v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["allowed"].as_i64().unwrap())
        .sum();
    let notional = |env: &Env| -> f64 {
        ctl_status(env)["identities"]["developer"]["notional_last_24h"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    common::wait_until("B to catch up", Duration::from_secs(5), || {
        notional(&b) == 50.0 * committed as f64
    });
    assert!(notional(&a) >= 50.0 * (committed - 1) as f64);
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn a_trip_on_one_agent_halts_the_identity_on_every_agent_until_rearmed() {
    let (host, port) = pg_env();
    let url = pg_url(&host, port);
    let name = cluster_name("trip");
    let policy = "[policy.key_defaults]\n[policy.key_defaults.symbols.BTC]\nmax_size = \"0.01\"\n";
    let a = setup(&name, "agent-a", &url, 2000, policy);
    let b = setup(&name, "agent-b", &url, 2000, policy);
    init(&a);
    let agent_a = a.start_agent();
    let agent_b = b.start_agent();
    let (mut ca, mut cb) = (agent_a.client(), agent_b.client());
    checked_nonce(&order(&mut cb).unwrap());
    // The bot on A arms its switch and goes quiet.
    ca.call("heartbeat", json!({"timeout_ms": 300})).unwrap();
    common::wait_until("agent B to show A's trip", Duration::from_secs(10), || {
        ctl_status(&b)["halts"]
            .as_array()
            .is_some_and(|h| h.iter().any(|x| x.to_string().contains("trip")))
    });
    let e = order(&mut cb).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("agent agent-a"), "{e}");
    // Only a rearm on A lifts it, everywhere.
    let out = a.run(&[
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
    checked_nonce(&order(&mut cb).unwrap());
    checked_nonce(&order(&mut ca).unwrap());
}

/// The BTC order with client id `cloid`.
fn order_with_cloid(
    c: &mut tradeward::client::Client,
    cloid: &str,
) -> Result<Value, tradeward::client::ClientError> {
    let mut action = btc_order();
    action["orders"][0]["c"] = json!(cloid);
    c.call(
        "hyperliquid.sign_l1_action",
        json!({"key": "hl", "action": action, "is_mainnet": true}),
    )
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn open_orders_are_counted_on_every_agent_and_a_report_on_one_closes_them_everywhere() {
    let (host, port) = pg_env();
    let url = pg_url(&host, port);
    let name = cluster_name("open");
    let policy = "[policy.key_defaults]\nmax_open_orders = 1\n[policy.key_defaults.symbols.BTC]\nmax_size = \"0.01\"\n";
    let a = setup(&name, "agent-a", &url, 2000, policy);
    let b = setup(&name, "agent-b", &url, 2000, policy);
    init(&a);
    let agent_a = a.start_agent();
    let agent_b = b.start_agent();
    let (mut ca, mut cb) = (agent_a.client(), agent_b.client());
    let first = "0x00000000000000000000000000000001";
    let second = "0x00000000000000000000000000000002";
    checked_nonce(&order_with_cloid(&mut ca, first).unwrap());
    // One order open on the key, authorised by A: B may not open another.
    let e = order_with_cloid(&mut cb, second).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("open"), "{e}");
    // The bot reports the first filled to B (not the agent that signed it).
    let r = cb
        .call("order.report", json!({"key": "hl", "client_id": first}))
        .unwrap();
    assert_eq!(r["closed"], 1, "{r}");
    // A sees the report: it may open one again, and then B may not.
    checked_nonce(&order_with_cloid(&mut ca, second).unwrap());
    let e = order_with_cloid(&mut cb, "0x00000000000000000000000000000003").unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
}

/// `cluster status` with `[cluster]`'s TLS settings replaced by `tls`.
fn status_with_tls(env: &Env, tls: &str) -> std::process::Output {
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("sslmode = \"disable\"", tls);
    std::fs::write(&env.config, text).unwrap();
    let out = cluster_cmd(env, &["status", "--json"]);
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace(tls, "sslmode = \"disable\"");
    std::fs::write(&env.config, text).unwrap();
    out
}

#[test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv with --ignored (scripts/test.sh does)"]
fn tls_require_and_verify_full_connect_and_a_wrong_ca_is_refused() {
    // pg_virtualenv's server has ssl = on with Debian's snakeoil
    // certificate (CN and SAN "localhost"; package ssl-cert, a dependency
    // of postgresql-common).
    let (_, port) = pg_env();
    let snakeoil = PathBuf::from("/etc/ssl/certs/ssl-cert-snakeoil.pem");
    assert!(
        snakeoil.exists(),
        "no {}: install ssl-cert",
        snakeoil.display()
    );
    let name = cluster_name("tls");
    let env = setup(&name, "agent-a", &pg_url("localhost", port), 2000, "");
    init(&env);
    let ok = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    ok(&status_with_tls(&env, "sslmode = \"require\""));
    ok(&status_with_tls(
        &env,
        &format!(
            "sslmode = \"verify-full\"\nca_file = {:?}",
            snakeoil.display().to_string()
        ),
    ));
    // A CA that did not sign the server's certificate.
    let dir = env.dir.path();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(dir.join("wrong.key"))
        .arg("-out")
        .arg(dir.join("wrong-ca.pem"))
        .args(["-subj", "/CN=wrong", "-days", "1"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = status_with_tls(
        &env,
        &format!(
            "sslmode = \"verify-full\"\nca_file = {:?}",
            dir.join("wrong-ca.pem").display().to_string()
        ),
    );
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("cluster database"), "{text}");
    assert!(
        text.to_lowercase().contains("certificate") || text.contains("Issuer"),
        "{text}"
    );
}
