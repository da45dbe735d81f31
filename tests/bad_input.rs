//! Hostile and broken input on the real socket: every case gets a
//! structured error or a clean close, and the agent keeps serving others.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Agent, Env, key};
use serde_json::{Value, json};

fn setup(agent_extra: &str) -> (Env, Agent) {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.generate("p256", "p2");
    env.generate("ed25519", "ed");
    let mut trading = key("trading", "p256", "p2");
    trading.raw_signing = false;
    env.write_config(
        &[
            key("eth", "secp256k1", "k1"),
            trading,
            key("ed", "ed25519", "ed"),
        ],
        agent_extra,
        "",
    );
    let agent = env.start_agent();
    (env, agent)
}

fn raw(agent: &Agent) -> UnixStream {
    let s = UnixStream::connect(&agent.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn send(s: &mut UnixStream, payload: &[u8]) {
    let mut b = (payload.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(payload);
    s.write_all(&b).unwrap();
}

/// Read one response frame, or None if the agent closed the connection.
fn recv(s: &mut UnixStream) -> Option<Value> {
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return None;
    }
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(serde_json::from_slice(&buf).expect("agent sent invalid JSON"))
}

fn code(v: &Value) -> &str {
    assert_eq!(v["ok"], false, "expected an error, got {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "no message in {v}"
    );
    v["error"]["code"].as_str().unwrap()
}

fn assert_still_serving(agent: &mut Agent) {
    assert!(agent.is_running(), "agent died");
    let r = agent.client().call("ping", json!({})).unwrap();
    assert_eq!(r["pong"], true);
}

#[test]
fn malformed_frames_get_structured_errors_on_a_usable_connection() {
    let (_env, mut agent) = setup("");
    let mut s = raw(&agent);
    let cases: &[(&[u8], &str)] = &[
        (b"\xff\xfe\x00garbage", "bad_frame"),
        (b"{\"id\": 1, \"op\": ", "bad_frame"),
        (b"", "bad_frame"),
        (b"[1,2,3]", "bad_request"),
        (b"\"just a string\"", "bad_request"),
        (b"42", "bad_request"),
        (b"null", "bad_request"),
        (b"{\"op\":\"ping\"}", "bad_request"),
        (b"{\"id\":\"7\",\"op\":\"ping\"}", "bad_request"),
        (b"{\"id\":-3,\"op\":\"ping\"}", "bad_request"),
        (b"{\"id\":1e3,\"op\":\"ping\"}", "bad_request"),
        (b"{\"id\":1,\"op\":\"ping\",\"extra\":true}", "bad_request"),
        (b"{\"id\":1}", "bad_request"),
        (b"{\"id\":1,\"op\":[\"sign\"]}", "bad_request"),
    ];
    for (payload, want) in cases {
        send(&mut s, payload);
        let r = recv(&mut s).unwrap_or_else(|| panic!("connection closed after {payload:?}"));
        assert_eq!(
            code(&r),
            *want,
            "payload {:?} -> {r}",
            String::from_utf8_lossy(payload)
        );
    }
    // The same connection still works.
    send(&mut s, br#"{"id":99,"op":"ping"}"#);
    let r = recv(&mut s).unwrap();
    assert_eq!(r["id"], 99);
    assert_eq!(r["ok"], true);
    assert_still_serving(&mut agent);
}

#[test]
fn bad_ops_and_params() {
    let (_env, mut agent) = setup("");
    let mut c = agent.client();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("launch_missiles", json!({}), "unknown_op"),
        ("", json!({}), "unknown_op"),
        ("ping", json!({"x": 1}), "bad_params"),
        ("sign", json!({}), "bad_params"),
        ("sign", json!({"key": 5, "digest": "00"}), "bad_params"),
        ("sign", json!({"key": "eth"}), "bad_params"),
        ("sign", json!({"key": "eth", "digest": "zz"}), "bad_params"),
        (
            "sign",
            json!({"key": "eth", "digest": "0x1234"}),
            "bad_params",
        ),
        (
            "sign",
            json!({"key": "eth", "digest": hex::encode([1u8; 33])}),
            "bad_params",
        ),
        ("sign", json!({"key": "eth", "digest": 12345}), "bad_params"),
        (
            "sign",
            json!({"key": "eth", "message": "00", "digest": hex::encode([1u8; 32])}),
            "bad_params",
        ),
        (
            "sign",
            json!({"key": "eth", "message": "00", "scheme": "eip712"}),
            "bad_params",
        ),
        (
            "sign",
            json!({"key": "eth", "message": "00", "format": "der"}),
            "bad_params",
        ),
        (
            "sign",
            json!({"key": "eth", "message": "00", "colour": "red"}),
            "bad_params",
        ),
        (
            "sign",
            json!({"key": "ed", "digest": hex::encode([1u8; 32])}),
            "bad_params",
        ),
        (
            "sign",
            json!({"key": "ed", "message": "00", "scheme": "eip191"}),
            "bad_params",
        ),
        (
            "sign",
            json!({"key": "nope", "message": "00"}),
            "unknown_key",
        ),
        (
            "sign",
            json!({"key": "pkcs11:object=nope", "message": "00"}),
            "unknown_key",
        ),
        (
            "sign",
            json!({"key": "trading", "message": "00"}),
            "raw_signing_disabled",
        ),
        ("list_keys", json!([]), "bad_params"),
    ];
    for (op, params, want) in cases {
        let err = c.call(op, params.clone()).unwrap_err();
        assert_eq!(err.code(), Some(want), "{op} {params} -> {err}");
    }
    // A key can also be named by its PKCS#11 URI.
    let r = c
        .call(
            "sign",
            json!({"key": "pkcs11:object=k1", "digest": hex::encode([2u8; 32])}),
        )
        .unwrap();
    assert_eq!(r["key"], "eth");
    assert_still_serving(&mut agent);
}

#[test]
fn oversize_frame_gets_an_error_then_a_close() {
    let (_env, mut agent) = setup("max_frame_bytes = 4096");
    let mut s = raw(&agent);
    // Announce 5000 bytes; the agent must not wait for them.
    s.write_all(&5000u32.to_be_bytes()).unwrap();
    let r = recv(&mut s).expect("an error frame before the close");
    assert_eq!(code(&r), "frame_too_large");
    assert!(r["id"].is_null());
    assert!(recv(&mut s).is_none(), "connection should be closed");
    // A huge announced length (4 GiB - 1) on another connection.
    let mut s = raw(&agent);
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    assert_eq!(code(&recv(&mut s).unwrap()), "frame_too_large");
    // Just under the limit is fine (a padded but valid request).
    let mut s = raw(&agent);
    let pad = "x".repeat(4000);
    send(
        &mut s,
        format!(r#"{{"id":1,"op":"hello","params":{{"client":"{pad}"}}}}"#).as_bytes(),
    );
    assert_eq!(recv(&mut s).unwrap()["ok"], true);
    assert_still_serving(&mut agent);
}

#[test]
fn truncated_frames_and_vanishing_clients() {
    let (_env, mut agent) = setup("");
    // A length prefix cut short, then a close.
    let mut s = raw(&agent);
    s.write_all(&[0, 0]).unwrap();
    drop(s);
    // A frame announcing more than it sends, then a close.
    let mut s = raw(&agent);
    s.write_all(&100u32.to_be_bytes()).unwrap();
    s.write_all(b"{\"id\":1").unwrap();
    drop(s);
    // A client that sends signing requests and leaves before the answers.
    for _ in 0..20 {
        let mut s = raw(&agent);
        for i in 0..8 {
            let body = json!({"id": i, "op": "sign", "params": {"key": "eth", "digest": hex::encode([i as u8; 32])}});
            send(&mut s, body.to_string().as_bytes());
        }
        drop(s);
    }
    // A client that half-closes after sending: it still gets its answer.
    let mut s = raw(&agent);
    send(&mut s, br#"{"id":5,"op":"ping"}"#);
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(recv(&mut s).unwrap()["id"], 5);
    assert_still_serving(&mut agent);
    let r = agent.client().sign_digest("eth", &[3u8; 32]).unwrap();
    assert!(r["signature"].is_string());
}

#[test]
fn a_thousand_concurrent_connections() {
    // This process holds a thousand sockets too.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max.min(8192);
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
    let (_env, mut agent) = setup("max_connections_per_identity = 1000");
    let mut conns: Vec<UnixStream> = (0..1000).map(|_| raw(&agent)).collect();
    for (i, s) in conns.iter_mut().enumerate() {
        let body = if i % 5 == 0 {
            json!({"id": i, "op": "sign", "params": {"key": "eth", "digest": hex::encode([(i % 251) as u8; 32])}})
        } else {
            json!({"id": i, "op": "ping"})
        };
        send(s, body.to_string().as_bytes());
    }
    for (i, s) in conns.iter_mut().enumerate() {
        let r = recv(s).unwrap_or_else(|| panic!("connection {i} closed without an answer"));
        assert_eq!(r["id"], i as u64);
        assert_eq!(r["ok"], true, "{r}");
    }
    drop(conns);
    assert_still_serving(&mut agent);
}

#[test]
fn connection_limit_is_a_clean_refusal() {
    let (_env, mut agent) = setup("max_connections = 3");
    // The start-up probe's connection may still hold a slot for a moment.
    std::thread::sleep(Duration::from_millis(300));
    let mut held: Vec<_> = (0..3).map(|_| agent.client()).collect();
    // All three are accepted and served before the fourth arrives.
    for c in held.iter_mut() {
        c.call("ping", json!({})).unwrap();
    }
    let mut s = raw(&agent);
    let r = recv(&mut s).unwrap_or_else(|| panic!("no error frame; log: {}", agent.log_text()));
    assert_eq!(code(&r), "too_many_connections");
    assert_eq!(r["error"]["retryable"], true);
    drop(held);
    common::wait_until("a free connection slot", Duration::from_secs(10), || {
        agent.client().call("ping", json!({})).is_ok()
    });
    assert_still_serving(&mut agent);
}

#[test]
fn in_flight_limit_per_connection() {
    let (_env, mut agent) = setup("max_in_flight_per_connection = 2");
    let mut s = raw(&agent);
    for i in 0..40u64 {
        let body = json!({"id": i, "op": "sign", "params": {"key": "eth", "digest": hex::encode([7u8; 32])}});
        send(&mut s, body.to_string().as_bytes());
    }
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..40 {
        let r = recv(&mut s).unwrap();
        if r["ok"] == true {
            ok += 1;
        } else {
            assert_eq!(code(&r), "too_many_in_flight");
            assert!(r["error"]["retry_after_ms"].as_u64().is_some());
            limited += 1;
        }
    }
    assert!(ok >= 2, "at least the first two are served");
    assert_eq!(ok + limited, 40);
    assert_still_serving(&mut agent);
}

#[test]
fn slow_idle_and_greedy_clients_are_bounded() {
    let (_env, mut agent) =
        setup("read_timeout_ms = 500\nidle_timeout_ms = 1500\nmax_connections_per_identity = 3");
    std::thread::sleep(Duration::from_millis(300));
    // A client that starts a request and then dribbles: a clear error, then
    // the close; meanwhile others are served.
    let mut slow = raw(&agent);
    slow.write_all(&[0, 0]).unwrap();
    agent.client().call("ping", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    slow.write_all(&[0]).unwrap();
    let r = recv(&mut slow).expect("an error frame before the close");
    assert_eq!(code(&r), "bad_frame");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not completed")
    );
    assert!(recv(&mut slow).is_none(), "the connection stays open");
    drop(slow);
    // An idle connection is closed after idle_timeout_ms.
    let mut idle = raw(&agent);
    send(&mut idle, br#"{"id":1,"op":"ping"}"#);
    assert_eq!(recv(&mut idle).unwrap()["ok"], true);
    let t = std::time::Instant::now();
    assert!(recv(&mut idle).is_none());
    assert!(
        t.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    drop(idle);
    // One identity holds at most three connections; a fourth is refused.
    // (Closed connections free their slots a moment after the close.)
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let held = loop {
        let mut held: Vec<_> = (0..3).map(|_| agent.client()).collect();
        if held.iter_mut().all(|c| c.call("ping", json!({})).is_ok()) {
            break held;
        }
        drop(held);
        assert!(
            std::time::Instant::now() < deadline,
            "three connections never fit"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut s = raw(&agent);
    let r = recv(&mut s).expect("a refusal");
    assert_eq!(code(&r), "too_many_connections");
    assert!(r["error"]["message"].as_str().unwrap().contains("identity"));
    drop(held);
    common::wait_until(
        "a free slot for the identity",
        Duration::from_secs(10),
        || agent.client().call("ping", json!({})).is_ok(),
    );
    assert_still_serving(&mut agent);
}

#[test]
fn a_client_that_never_reads_is_cut_off_and_others_are_served() {
    let (_env, mut agent) = setup("write_timeout_ms = 500");
    let mut flood = raw(&agent);
    flood
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let writer = std::thread::spawn(move || {
        // Requests whose answers nobody reads, until the agent hangs up (or
        // our own send buffer stays full).
        let mut sent = 0u32;
        for i in 0..200_000u32 {
            let body = format!(r#"{{"id":{i},"op":"ping"}}"#);
            let mut b = (body.len() as u32).to_be_bytes().to_vec();
            b.extend_from_slice(body.as_bytes());
            if flood.write_all(&b).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    // Meanwhile a well-behaved client is served.
    for _ in 0..20 {
        let r = agent.client().call("ping", json!({})).unwrap();
        assert_eq!(r["pong"], true);
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = writer.join().unwrap();
    assert!(sent > 0);
    common::wait_until(
        "the flooding connection to be cut",
        Duration::from_secs(20),
        || agent.log_text().contains("does not read its responses"),
    );
    assert_still_serving(&mut agent);
}
