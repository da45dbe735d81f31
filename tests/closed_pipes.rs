//! Writing to a closed pipe: every command stops quietly with exit status
//! 141 (docs/operations.md), never a panic. Standard output is a pipe
//! whose read end is closed before the command starts, so its first write
//! fails with EPIPE every time (`cmd | true` would race `true`'s exit).

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};

use common::{Env, key};

const EXIT_BROKEN_PIPE: i32 = 141;

/// A pipe whose read end is already closed: its write end.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills both descriptors on success; each is owned once.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

fn into_closed_pipe(mut cmd: Command) -> Output {
    cmd.stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .output()
        .expect("run tradeward")
}

/// Run `args` twice: once normally (it must succeed and print something,
/// so the closed-pipe run below really reaches its output), then into a
/// closed pipe.
fn assert_quiet_on_closed_pipe(env: &Env, args: &[&str]) {
    let normal = env.run(args);
    assert!(
        normal.status.success() && !normal.stdout.is_empty(),
        "{args:?}: {:?} {}",
        normal.status,
        String::from_utf8_lossy(&normal.stderr)
    );
    let mut cmd = env.cmd();
    cmd.args(args);
    let out = into_closed_pipe(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(EXIT_BROKEN_PIPE),
        "{args:?}: {:?}, stderr: {stderr}",
        out.status
    );
    for bad in [
        "panicked",
        "Broken pipe",
        "RUST_BACKTRACE",
        "failed printing",
    ] {
        assert!(!stderr.contains(bad), "{args:?}: {stderr}");
    }
}

#[test]
fn every_command_stops_quietly_on_a_closed_pipe() {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.write_config(&[key("eth", "secp256k1", "k1")], "", "");
    let config = common::path_str(&env.config).to_string();
    // Without an agent.
    for args in [
        &["--help"][..],
        &["--version"],
        &["help"],
        &["keys", "--help"],
        &["ctl", "status", "--help"],
        &["keys", "list"],
        &["keys", "list", "--json"],
        &["agent", "--check", "--config", &config],
    ] {
        assert_quiet_on_closed_pipe(&env, args);
    }
    // With a running agent, and a journal it has written to.
    let agent = env.start_agent();
    let sock = common::path_str(&agent.sock).to_string();
    let digest = hex::encode([3u8; 32]);
    for args in [
        &["ctl", "status"][..],
        &["ctl", "status", "--json"],
        &[
            "sign", "--socket", &sock, "--key", "eth", "--digest", &digest,
        ],
        &["keys", "list", "--json"],
        &["journal", "verify"],
        &["journal", "verify", "--json"],
        &["journal", "export", "--format", "json"],
        &["journal", "export", "--format", "csv"],
        &["ctl", "halt", "--key", "eth", "--reason", "pipe test"],
    ] {
        assert_quiet_on_closed_pipe(&env, args);
    }
    // Usage errors still go to stderr with clap's status, pipe or not.
    let mut cmd = env.cmd();
    cmd.arg("no-such-command");
    let out = into_closed_pipe(cmd);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-command"));
}
