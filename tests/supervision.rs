//! Running under a service manager, with the real agent binary: JSON logs
//! with stable member names and error codes spelled as on the wire; a bad
//! `log_format` refused at start with its location; the systemd notify
//! protocol (READY once the socket serves, the watchdog fed, STOPPING on
//! drain) read from a real datagram socket standing in for systemd's.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{Env, key};
use serde_json::{Value, json};

fn setup(agent_extra: &str) -> Env {
    let env = Env::new();
    env.generate("p256", "k");
    env.write_config(&[key("k", "p256", "k")], agent_extra, "");
    env
}

#[test]
fn json_logs_have_stable_fields_and_wire_error_codes() {
    let env = setup("log_format = \"json\"");
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let e = c
        .call("sign", json!({"key": "nope", "message": "00"}))
        .unwrap_err();
    assert_eq!(e.code(), Some("unknown_key"));
    drop(c);
    assert!(agent.stop().success());
    let text = agent.log_text();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{text}");
    for l in &lines {
        for member in ["timestamp", "level", "message"] {
            assert!(l.get(member).is_some(), "no {member} in {l}");
        }
    }
    let refused = lines
        .iter()
        .find(|l| l["message"] == "request refused")
        .unwrap_or_else(|| panic!("no refusal logged: {text}"));
    assert_eq!(refused["code"], "unknown_key", "{refused}");
    assert_eq!(refused["op"], "sign", "{refused}");
}

#[test]
fn a_bad_log_format_is_refused_with_its_location() {
    let env = setup("log_format = \"xml\"");
    let out = env.run(&[
        "agent",
        "--check",
        "--config",
        common::path_str(&env.config),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("log_format"), "{err}");
    assert!(err.contains("line"), "{err}");
}

#[test]
fn systemd_notify_ready_watchdog_and_stopping() {
    let env = setup("");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut agent = env.start_agent_with_env(&[
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
        ("WATCHDOG_USEC", "200000"),
    ]);
    let mut seen = String::new();
    let read_until = |want: &str, within: Duration, seen: &mut String| {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                if seen.contains(want) {
                    return;
                }
            }
        }
        panic!("no {want} within {within:?}; got {seen:?}");
    };
    read_until("READY=1", Duration::from_secs(10), &mut seen);
    // The socket serves by the time READY is sent.
    assert!(agent.client().call("ping", json!({})).is_ok());
    seen.clear();
    read_until("WATCHDOG=1", Duration::from_secs(2), &mut seen);
    agent.stop();
    read_until("STOPPING=1", Duration::from_secs(2), &mut seen);
}
