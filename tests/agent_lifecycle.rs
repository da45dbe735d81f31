//! The agent as an operator runs it: start-up checks, socket safety, peer
//! identities and grants, worker crashes, hardening and orderly shutdown.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{Agent, Env, key};
use serde_json::{Value, json};

fn basic() -> Env {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.generate("p256", "p2");
    env.write_config(
        &[key("eth", "secp256k1", "k1"), key("p256", "p256", "p2")],
        "",
        "",
    );
    env
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn private_socket_hello_and_sigterm_cleanup() {
    let env = basic();
    let mut agent = env.start_agent();
    assert_eq!(mode(&env.sock), 0o600);
    assert_eq!(mode(env.sock.parent().unwrap()), 0o700);
    let hello = agent.client().hello().unwrap();
    assert_eq!(hello["protocol_version"], 1);
    assert_eq!(hello["identity"], "developer");
    assert_eq!(hello["keys"], json!(["eth", "p256"]));
    assert_eq!(hello["ops"], json!(["hello", "ping", "list_keys", "sign"]));
    assert_eq!(hello["peer"]["uid"], unsafe { libc::getuid() });
    assert_eq!(hello["peer"]["pid"], std::process::id());
    let status = agent.stop();
    assert!(status.success(), "exit status {status}");
    assert!(!env.sock.exists(), "socket left behind");
}

#[test]
fn sigterm_drains_requests_in_flight() {
    let env = basic();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    // Stay under the per-connection in-flight limit (64 by default).
    common::send_signs(&mut c, "eth", 60);
    // Wait for the first answer so the agent is busy, then ask it to stop.
    let first = c.recv().unwrap();
    assert_eq!(first["ok"], true, "{first}");
    unsafe { libc::kill(agent.pid() as i32, libc::SIGTERM) };
    let mut answered = 1;
    let mut refused = 0;
    while let Ok(r) = c.recv() {
        if r["ok"] == true {
            answered += 1;
        } else {
            // Only requests not yet read at SIGTERM may be turned away.
            assert_eq!(r["error"]["code"], "shutting_down", "{r}");
            refused += 1;
        }
    }
    assert_eq!(answered + refused, 60, "every request got an answer");
    let status = agent.stop();
    assert!(status.success());
    assert!((1..=60).contains(&answered));
    assert!(!env.sock.exists());
}

#[test]
fn one_socket_one_agent_and_stale_sockets_are_replaced() {
    let env = basic();
    let mut first = env.start_agent();
    let err = env
        .try_start_agent()
        .err()
        .expect("second agent must refuse");
    assert!(err.contains("in use by another agent"), "{err}");
    assert!(first.is_running());
    assert!(
        first.client().call("ping", json!({})).is_ok(),
        "the first agent lost its socket"
    );
    // A crashed agent leaves its socket behind; the next start removes it.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(env.sock.exists());
    let second = env.start_agent();
    assert!(second.client().call("ping", json!({})).is_ok());
}

#[test]
fn unsafe_files_and_directories_are_refused() {
    let env = basic();
    let cfg = env.config.clone();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = env.try_start_agent().err().unwrap();
    assert!(err.contains("writable by group or others"), "{err}");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();

    let pin = env.tok().join("user.pin");
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = env.try_start_agent().err().unwrap();
    assert!(
        err.contains("PIN file") && err.contains("readable by group or others"),
        "{err}"
    );
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).unwrap();

    let run = env.sock.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = env.try_start_agent().err().unwrap();
    assert!(err.contains("accessible by others"), "{err}");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();

    // A module outside the allow-list is not loaded.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "[pkcs11]\n",
            "[pkcs11]\nallowed_module_dirs = [\"/opt/hsm\"]\n",
        ),
    )
    .unwrap();
    let err = env.try_start_agent().err().unwrap();
    assert!(
        err.contains("not inside an allowed module directory"),
        "{err}"
    );
    std::fs::write(&cfg, text).unwrap();

    // An unknown config key names its line.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("[agent]\n", "[agent]\nmax_frame_byte = 10\n"),
    )
    .unwrap();
    let err = env.try_start_agent().err().unwrap();
    assert!(
        err.contains("unknown field `max_frame_byte`") && err.contains("line"),
        "{err}"
    );
    std::fs::write(&cfg, text).unwrap();
    env.start_agent();
}

#[test]
fn start_up_checks_keys_and_pin() {
    let env = basic();
    // A key the token does not hold.
    env.write_config(
        &[
            key("eth", "secp256k1", "k1"),
            key("gone", "p256", "missing"),
        ],
        "",
        "",
    );
    let err = env.try_start_agent().err().unwrap();
    assert!(
        err.contains("key not found") && err.contains("missing"),
        "{err}"
    );
    // A key of another type than configured.
    env.write_config(&[key("eth", "p256", "k1")], "", "");
    let err = env.try_start_agent().err().unwrap();
    assert!(err.contains("config says type p256"), "{err}");
    // Two aliases for one token key (one could bypass the other's settings).
    let mut trading = key("trading", "secp256k1", "k1");
    trading.raw_signing = false;
    env.write_config(&[trading, key("raw", "secp256k1", "k1")], "", "");
    let err = env.try_start_agent().err().unwrap();
    assert!(err.contains("name the same token key"), "{err}");
    // A wrong PIN stops the start (and is tried once, not in a loop).
    env.write_config(&[key("eth", "secp256k1", "k1")], "", "");
    let pin_path = env.tok().join("user.pin");
    let good = std::fs::read_to_string(&pin_path).unwrap();
    std::fs::write(&pin_path, "00000000").unwrap();
    let err = env.try_start_agent().err().unwrap();
    assert!(err.contains("incorrect PIN"), "{err}");
    std::fs::write(&pin_path, good).unwrap();
    // `agent --check` runs the checks and the self-test, then exits.
    let out = env.run(&[
        "agent",
        "--check",
        "--config",
        common::path_str(&env.config),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("self-test passed"));
    assert!(!env.sock.exists());
}

#[test]
fn identities_get_only_what_they_are_granted() {
    let env = basic();
    env.generate("ed25519", "ed");
    env.write_config(
        &[
            key("eth", "secp256k1", "k1"),
            key("p256", "p256", "p2"),
            key("ed", "ed25519", "ed"),
        ],
        "",
        "",
    );
    // Grant this uid only `list_keys` and only the ed key.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text
        .replace("keys = [\"eth\", \"p256\", \"ed\"]", "keys = [\"ed\"]")
        .replace("ops = [\"list_keys\", \"sign\"]", "ops = [\"list_keys\"]");
    std::fs::write(&env.config, text).unwrap();
    let agent = env.start_agent();
    let mut c = agent.client();
    let keys = c.list_keys().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alias"], "ed");
    assert_eq!(
        c.sign_message("ed", b"x").unwrap_err().code(),
        Some("forbidden")
    );
    assert_eq!(
        c.hello().unwrap()["ops"],
        json!(["hello", "ping", "list_keys"])
    );
    drop(c);
    drop(agent);

    // Grant sign, still only on ed: other keys look like they do not exist.
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace("ops = [\"list_keys\"]", "ops = [\"sign\"]"),
    )
    .unwrap();
    let agent = env.start_agent();
    let mut c = agent.client();
    assert!(c.sign_message("ed", b"x").is_ok());
    assert_eq!(
        c.sign_digest("eth", &[1; 32]).unwrap_err().code(),
        Some("unknown_key")
    );
    assert_eq!(c.list_keys().unwrap_err().code(), Some("forbidden"));
}

#[test]
fn a_peer_without_an_identity_is_refused_and_logged() {
    let env = basic();
    let text = std::fs::read_to_string(&env.config).unwrap();
    let uid = unsafe { libc::getuid() };
    std::fs::write(
        &env.config,
        text.replace(&format!("uids = [{uid}]"), "uids = [4242]"),
    )
    .unwrap();
    let agent = env.start_agent();
    let mut c = agent.client();
    let r = c.recv().expect("an error frame");
    assert_eq!(r["ok"], false);
    assert!(r["id"].is_null());
    assert_eq!(r["error"]["code"], "unknown_peer");
    assert!(c.recv().is_err(), "connection must close");
    let log = agent.log_text();
    assert!(
        log.contains("unknown peer") && log.contains(&format!("uid={uid}")),
        "{log}"
    );
}

fn sign_with_retry(agent: &Agent, digest: [u8; 32], deadline: Duration) -> Value {
    let until = Instant::now() + deadline;
    loop {
        match agent.client().sign_digest("eth", &digest) {
            Ok(v) => return v,
            Err(e) => {
                assert_eq!(
                    e.code(),
                    Some("backend_unavailable"),
                    "unexpected error {e}"
                );
                assert!(Instant::now() < until, "no worker came back: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn killed_workers_are_restarted_and_in_flight_requests_fail_retryably() {
    let env = basic();
    let mut agent = env.start_agent();
    common::wait_until("two workers", Duration::from_secs(20), || {
        agent.worker_pids().len() == 2
    });
    let before = agent.worker_pids();

    // Kill every worker while requests are in flight.
    let mut c = agent.client();
    common::send_signs(&mut c, "eth", 64);
    for pid in &before {
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    let mut ok = 0;
    let mut retryable = 0;
    for _ in 0..64 {
        let r = c.recv().unwrap();
        if r["ok"] == true {
            ok += 1;
        } else {
            assert_eq!(r["error"]["code"], "backend_unavailable", "{r}");
            assert_eq!(r["error"]["retryable"], true);
            retryable += 1;
        }
    }
    assert_eq!(ok + retryable, 64);
    assert!(agent.is_running(), "the agent died with its workers");

    // New workers come up and signing works again. Generous deadlines: on a
    // loaded 2-core machine a worker's start (module load, PIN derivation)
    // has been seen to take well over 30 s.
    let r = sign_with_retry(&agent, [0xaa; 32], Duration::from_secs(90));
    assert!(r["signature"].is_string());
    common::wait_until("workers restarted", Duration::from_secs(90), || {
        let now = agent.worker_pids();
        now.len() == 2 && now.iter().all(|p| !before.contains(p))
    });
    let log = agent.log_text();
    assert!(
        log.contains("signing worker") && log.contains("restart"),
        "{log}"
    );
}

#[test]
fn core_dumps_are_off_for_agent_and_workers() {
    let env = basic();
    let agent = env.start_agent();
    common::wait_until("workers", Duration::from_secs(20), || {
        agent.worker_pids().len() == 2
    });
    let mut pids = agent.worker_pids();
    pids.push(agent.pid());
    for pid in pids {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap();
        let fields: Vec<&str> = core.split_whitespace().collect();
        assert_eq!(&fields[4..6], ["0", "0"], "pid {pid}: {core}");
        // PR_SET_DUMPABLE 0 makes /proc/PID owned by root and hides the
        // environment from other users; we can at least see that the
        // command line carries no PIN.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let pin = env.pin();
        assert!(!String::from_utf8_lossy(&cmdline).contains(pin.trim()));
    }
}

#[test]
fn operator_cli_round_trip() {
    let env = basic();
    // `tradeward sign` for scripts.
    let agent = env.start_agent();
    let out = env
        .cmd()
        .env("TRADEWARD_SOCK", &env.sock)
        .args([
            "sign",
            "--key",
            "eth",
            "--message",
            "68656c6c6f",
            "--scheme",
            "eip191",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["digest"],
        "0x50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
    );
    let out = env
        .cmd()
        .env("TRADEWARD_SOCK", &env.sock)
        .args(["sign", "--key", "nope", "--message", "00"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_key"));
    drop(agent);

    // Deleting needs confirmation; --yes gives it.
    let out = env.run(&["keys", "delete", "--label", "p2"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.run(&["keys", "delete", "--label", "p2", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.labels(), ["k1"]);
    // Labels are unique; a second key with the same label is refused.
    let out = env.run(&["keys", "generate", "--type", "p256", "--label", "k1"]);
    assert!(!out.status.success());
    // Import of an unusable secret is refused and leaves nothing behind.
    let out = env.import("hmac", "short", b"too-short");
    assert!(!out.status.success());
    assert_eq!(env.labels(), ["k1"]);
    // Help is complete.
    let out = env.run(&["keys", "generate", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--type") && help.contains("--label") && help.contains("--pin-file"));
}

#[test]
fn socket_group_gives_mode_0660_and_the_group() {
    use std::os::unix::fs::MetadataExt;
    let env = basic();
    // The group of this process: always exists, and we may chown to it.
    let gid = unsafe { libc::getgid() };
    let name = unsafe {
        let g = libc::getgrgid(gid);
        assert!(!g.is_null());
        std::ffi::CStr::from_ptr((*g).gr_name)
            .to_string_lossy()
            .into_owned()
    };
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace("[agent]\n", &format!("[agent]\nsocket_group = {name:?}\n")),
    )
    .unwrap();
    let agent = env.start_agent();
    let meta = std::fs::metadata(&env.sock).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    assert_eq!(mode(env.sock.parent().unwrap()), 0o750);
    drop(agent);
    // An unknown group is a start-up error.
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace(
            &format!("socket_group = {name:?}"),
            "socket_group = \"no-such-group-xyz\"",
        ),
    )
    .unwrap();
    let err = env.try_start_agent().err().unwrap();
    assert!(err.contains("no group named"), "{err}");
}

#[test]
fn a_token_removed_and_reinserted_is_picked_up_without_a_restart() {
    let env = basic();
    let agent = env.start_agent();
    let mut c = agent.client();
    assert!(c.sign_digest("eth", &[1; 32]).is_ok());
    // SoftHSM's token "leaves" when its files move away.
    let pulled = env.pull_token();
    for i in 0..4u8 {
        let e = c.sign_digest("eth", &[i; 32]).unwrap_err();
        assert_eq!(e.code(), Some("backend_unavailable"), "{e}");
        assert!(matches!(
            e,
            tradeward::client::ClientError::Remote {
                retryable: true,
                ..
            }
        ));
    }
    env.reinsert_token(&pulled);
    let r = sign_with_retry(&agent, [2; 32], Duration::from_secs(20));
    assert!(r["signature"].is_string());
    // Both workers recover, not just one.
    for i in 0..8u8 {
        assert!(c.sign_digest("eth", &[i; 32]).is_ok());
    }
}

#[test]
fn a_pin_that_stops_working_is_not_retried_into_a_lockout() {
    let env = basic();
    let mut agent = env.start_agent();
    common::wait_until("two workers", Duration::from_secs(20), || {
        agent.worker_pids().len() == 2
    });
    // Someone changes the user PIN behind the agent's back.
    let old = env.pin();
    let out = std::process::Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", env.softhsm_conf())
        .args([
            "--module",
            "/usr/lib/softhsm/libsofthsm2.so",
            "--login",
            "--pin",
            old.trim(),
        ])
        .args(["--change-pin", "--new-pin", "87654321"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Running workers keep their session; restarted ones cannot log in.
    for pid in agent.worker_pids() {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    common::wait_until("slots to give up", Duration::from_secs(20), || {
        agent.log_text().matches("not retrying").count() == 2
    });
    // Signing now fails at once, and says retrying will not help.
    common::wait_until(
        "signing to report it has stopped",
        Duration::from_secs(20),
        || {
            let e = agent.client().sign_digest("eth", &[1; 32]).unwrap_err();
            assert!(
                matches!(e.code(), Some("backend_error" | "backend_unavailable")),
                "{e}"
            );
            e.code() == Some("backend_error")
        },
    );
    let e = agent.client().sign_digest("eth", &[1; 32]).unwrap_err();
    assert!(e.to_string().contains("no signing worker"), "{e}");
    assert!(matches!(
        e,
        tradeward::client::ClientError::Remote {
            retryable: false,
            ..
        }
    ));
    // One failed login per slot and no more: every wrong PIN counts
    // towards a token's lockout.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(agent.log_text().matches("worker login failed").count(), 2);
    assert!(agent.is_running());
    assert!(agent.client().call("ping", json!({})).is_ok());
}
