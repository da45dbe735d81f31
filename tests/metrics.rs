//! The Prometheus metrics through the real agent and real Prometheus tools:
//! the agent serves `GET /metrics` on a loopback port; after allowed and
//! denied signing requests, `promtool check metrics` accepts what it
//! serves, and a real Prometheus server scraping it every second reports
//! the counters the requests moved. The shipped alert rules pass
//! `promtool check rules`. Tests that need promtool or prometheus say
//! SKIPPED when the binaries are absent (scripts/install-deps.sh installs
//! them from the package list).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, key};
use serde_json::{Value, json};
use tradeward::client::Client;

/// The venue documentation's published example secret.
const DOC_SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 GET; the status line and the body.
fn http_get(port: u16, target: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// An agent with an HMAC key for Binance-style REST signing under a small
/// policy, and the metrics endpoint on a free loopback port.
fn setup(metrics: &str) -> Env {
    let env = Env::new();
    let out = env.import("hmac", "bn-hmac", DOC_SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut keys = vec![key("hmac", "hmac", "bn-hmac")];
    keys[0].raw_signing = false;
    env.write_config(&keys, "", "");
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]",
        "ops = [\"list_keys\", \"rest.sign_request\", \"heartbeat\"]",
        1,
    );
    let text = format!(
        r#"{text}
[keys.hmac.rest]
venue = "binance"
markets = ["spot"]

[policy.identity_defaults]
breaker = {{ denials = 3, window_ms = 60000, cooldown_ms = 60000 }}

[policy.keys.hmac]
max_notional_per_day = "10"

[policy.keys.hmac.symbols.LTCBTC]
max_size = "10"

{metrics}
"#
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn order(quantity: &str) -> Value {
    json!({"key": "hmac", "venue": "binance", "method": "POST", "path": "/api/v3/order",
           "params": {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                      "quantity": quantity, "price": "0.1"}})
}

/// Two allowed orders and three denied (over the size limit); the third
/// denial opens the identity's breaker.
fn trade(c: &mut Client) {
    for _ in 0..2 {
        c.call("rest.sign_request", order("1")).unwrap();
    }
    for _ in 0..3 {
        let e = c.call("rest.sign_request", order("100")).unwrap_err();
        assert!(e.to_string().contains("denied by policy"), "{e}");
    }
}

/// A sample's value in the text exposition, by its exact series name.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn endpoint_serves_what_the_agent_did() {
    let port = free_port();
    let env = setup(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\""));
    let agent = env.start_agent();
    let mut c = agent.client();
    trade(&mut c);
    c.call("heartbeat", json!({"timeout_ms": 60_000})).unwrap();

    let (status, text) = http_get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{text}");
    // Each key's use of its caps: two orders of 1 at 0.1 against a daily
    // cap of 10, both counted as open; no open-order cap configured.
    assert_eq!(
        sample(&text, "tradeward_notional_day{key=\"hmac\"}"),
        Some(0.2),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tradeward_notional_day_cap{key=\"hmac\"}"),
        Some(10.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tradeward_open_orders{key=\"hmac\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tradeward_open_orders_cap{key=\"hmac\"}"),
        None,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tradeward_signatures_total{key=\"hmac\",key_type=\"hmac\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tradeward_requests_total{op=\"rest.sign_request\",outcome=\"ok\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tradeward_requests_total{op=\"rest.sign_request\",outcome=\"policy_denied\"}"
        ),
        Some(3.0),
        "{text}"
    );
    let denied: f64 = text
        .lines()
        .filter(|l| l.starts_with("tradeward_denials_total{identity=\"developer\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(denied, 3.0, "{text}");
    assert_eq!(
        sample(&text, "tradeward_heartbeats_total{identity=\"developer\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "tradeward_connections{identity=\"developer\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "tradeward_breaker_openings_total{identity=\"developer\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tradeward_breaker_open{identity=\"developer\"}"),
        Some(1.0)
    );
    assert!(text.contains("tradeward_build_info{version=\""), "{text}");
    assert!(text.contains("tradeward_policy_info{sha256=\""), "{text}");
    assert!(
        sample(
            &text,
            "tradeward_authorize_seconds_count{op=\"rest.sign_request\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert!(sample(&text, "tradeward_journal_fsync_seconds_count").is_some_and(|n| n >= 1.0));
    // No secret, payload or request content in the exposition.
    assert!(
        !text.contains("LTCBTC") && !text.contains(&env.pin()),
        "{text}"
    );

    // Anything but GET /metrics is refused; garbage does not stop the
    // endpoint, and neither does a client that never sends a full request.
    assert_eq!(http_get(port, "/").0, "HTTP/1.1 404 Not Found");
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent.write_all(b"GET /metr").unwrap();
    let mut junk = TcpStream::connect(("127.0.0.1", port)).unwrap();
    junk.write_all(&[0xff; 20_000]).unwrap_or(());
    c.call("list_keys", json!({})).unwrap();
    let (status, _) = http_get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    drop(silent);

    // An operator halt shows in the counter and the identity's gauge.
    let mut admin = Client::connect(&env.sock.parent().unwrap().join("admin.sock")).unwrap();
    admin
        .call(
            "halt",
            json!({"scope": "identity", "name": "developer", "reason": "test"}),
        )
        .unwrap();
    let (_, text) = http_get(port, "/metrics");
    assert_eq!(
        sample(
            &text,
            "tradeward_halts_total{name=\"developer\",scope=\"identity\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tradeward_halted{identity=\"developer\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "tradeward_deadman_tripped{identity=\"developer\"}"),
        Some(0.0)
    );

    if !have("promtool") {
        eprintln!("SKIPPED promtool check metrics: promtool is not installed (package prometheus)");
        return;
    }
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Kills the Prometheus server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn query(port: u16, q: &str) -> Option<f64> {
    let enc = percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC);
    let (status, body) = http_get(port, &format!("/api/v1/query?query={enc}"));
    if !status.contains("200") {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_the_agent() {
    if !have("prometheus") {
        eprintln!("SKIPPED prometheus scrape: prometheus is not installed (package prometheus)");
        return;
    }
    let port = free_port();
    let env = setup(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\""));
    let agent = env.start_agent();
    let mut c = agent.client();
    trade(&mut c);

    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("prometheus.yml");
    std::fs::write(
        &conf,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: tradeward\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let web = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _server = Server(
        Command::new("prometheus")
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let q_sigs = "tradeward_signatures_total{key=\"hmac\"}";
    let q_denials = "sum(tradeward_denials_total{identity=\"developer\"})";
    let q_up = "up{job=\"tradeward\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut sigs, mut denials, mut up) = (None, None, None);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", web)).is_ok() {
            sigs = query(web, q_sigs);
            denials = query(web, q_denials);
            up = query(web, q_up);
            if sigs.is_some() && denials.is_some() && up.is_some() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let plog = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert_eq!(up, Some(1.0), "the scrape failed: {plog}");
    assert_eq!(sigs, Some(2.0), "{plog}");
    assert_eq!(denials, Some(3.0), "{plog}");
}

#[test]
fn alert_rules_are_valid() {
    if !have("promtool") {
        eprintln!("SKIPPED promtool check rules: promtool is not installed (package prometheus)");
        return;
    }
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every metric the Grafana dashboard and the alert rules name is one the
/// agent declares, so neither shows an empty panel after a rename.
#[test]
fn dashboard_and_alerts_name_only_declared_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let declared = std::fs::read_to_string(root.join("src/metrics.rs")).unwrap();
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/tradeward.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut exprs: Vec<String> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("expr").to_string())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    exprs.push(std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap());
    for e in &exprs {
        for (i, _) in e.match_indices("tradeward_") {
            let name: String = e[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                declared.contains(&format!("\"{base}\"")),
                "{name} is not a metric the agent declares ({e})"
            );
        }
    }
}

#[test]
fn a_remote_or_malformed_listen_address_stops_the_start() {
    let env = setup("[metrics]\nlisten = \"0.0.0.0:9464\"");
    let e = env.try_start_agent().err().expect("must not start");
    assert!(
        e.contains("metrics.listen") && e.contains("allow_remote"),
        "{e}"
    );
    let env = setup("[metrics]\nlisten = \"localhost-9464\"");
    let e = env.try_start_agent().err().expect("must not start");
    assert!(e.contains("metrics.listen"), "{e}");
}

#[test]
fn textfile_is_written_and_counts_a_trip() {
    let env = setup("");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tradeward.prom");
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        format!(
            "{text}\n[deadman]\nmin_timeout_ms = 200\n\n[metrics]\ntextfile = {:?}\ntextfile_interval_s = 1\n",
            file.display().to_string()
        ),
    )
    .unwrap();
    let agent = env.start_agent();
    let mut c = agent.client();
    trade(&mut c);
    // A heartbeat, then none: the switch trips.
    c.call("heartbeat", json!({"timeout_ms": 300})).unwrap();
    let sigs = "tradeward_signatures_total{key=\"hmac\",key_type=\"hmac\"}";
    let trips = "tradeward_deadman_trips_total{identity=\"developer\"}";
    let tripped = "tradeward_deadman_tripped{identity=\"developer\"}";
    common::wait_until(
        "the textfile counts the signatures and the trip",
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(&file).is_ok_and(|t| {
                sample(&t, sigs) == Some(2.0)
                    && sample(&t, trips) == Some(1.0)
                    && sample(&t, tripped) == Some(1.0)
            })
        },
    );
    drop(agent);
}

/// The systemd drop-in for the endpoint: systemd's checker accepts the
/// unit with it, and it stays loopback-only and hardened.
#[test]
fn systemd_drop_in_verifies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("deploy/systemd/tradeward.service")).unwrap();
    let drop_in = std::fs::read_to_string(root.join("deploy/systemd/metrics.conf")).unwrap();
    for must in ["IPAddressDeny=any", "IPAddressAllow=localhost"] {
        assert!(drop_in.contains(must), "drop-in lacks {must:?}");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED systemd-analyze checks: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("tradeward.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/tradeward", "/bin/true")).unwrap();
    std::fs::create_dir(dir.path().join("tradeward.service.d")).unwrap();
    std::fs::write(
        dir.path().join("tradeward.service.d/metrics.conf"),
        &drop_in,
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("IP address allow list with only localhost"),
        "the drop-in was not applied: {text}"
    );
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for tradeward.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(level <= 2.0, "exposure {level}: {text}");
}
