//! The on-trip command: run with the trip document on stdin, bounded in
//! time, its exit status and output kept for the journal.
//!
//! The command is run directly (no shell, no PATH lookup: config requires
//! an absolute path) with an empty environment apart from `PATH` and
//! `TRADEWARD_IDENTITY`, so nothing of the agent's environment leaks into
//! it.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// At most this much of the command's stdout and stderr is kept.
pub const MAX_OUTPUT: usize = 4096;

/// What the command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    pub ok: bool,
    pub exit_code: Option<i32>,
    /// Why it failed, or its output (stdout then stderr, truncated).
    pub output: String,
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(mut r: R) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// Run `argv` with `stdin_doc` on its stdin; kill it after `timeout`.
pub async fn run(
    argv: &[String],
    identity: &str,
    stdin_doc: &[u8],
    timeout: Duration,
) -> HookOutcome {
    let Some((prog, args)) = argv.split_first() else {
        return HookOutcome {
            ok: false,
            exit_code: None,
            output: "no on-trip command configured".into(),
        };
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TRADEWARD_IDENTITY", identity)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return HookOutcome {
                ok: false,
                exit_code: None,
                output: format!("cannot start {prog:?}: {e}"),
            };
        }
    };
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let doc = stdin_doc.to_vec();
    // A command that does not read its stdin must not block us: write in
    // the background and close.
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&doc).await;
        let _ = stdin.shutdown().await;
    });
    let out_task = tokio::spawn(read_capped(stdout));
    let err_task = tokio::spawn(read_capped(stderr));
    let status = tokio::time::timeout(timeout, child.wait()).await;
    let timed_out = status.is_err();
    if timed_out {
        if let Some(pid) = child.id() {
            // The whole process group we created for it.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    writer.abort();
    // Something it left running may still hold the pipes: take what came
    // within a second and move on.
    let grace = Duration::from_secs(1);
    let out = tokio::time::timeout(grace, out_task)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let err = tokio::time::timeout(grace, err_task)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut output = String::from_utf8_lossy(&out).into_owned();
    if !err.is_empty() {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&String::from_utf8_lossy(&err));
    }
    match status {
        Err(_) => HookOutcome {
            ok: false,
            exit_code: None,
            output: format!(
                "killed after {} ms (deadman.on_trip_timeout_ms); output: {output}",
                timeout.as_millis()
            ),
        },
        Ok(Err(e)) => HookOutcome {
            ok: false,
            exit_code: None,
            output: format!("wait failed: {e}"),
        },
        Ok(Ok(s)) => HookOutcome {
            ok: s.success(),
            exit_code: s.code(),
            output,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn passes_stdin_and_reports_status() {
        let o = run(
            &sh("cat; echo err >&2; exit 3"),
            "bot",
            b"{\"a\":1}",
            Duration::from_secs(10),
        )
        .await;
        assert!(!o.ok);
        assert_eq!(o.exit_code, Some(3));
        assert!(o.output.contains("{\"a\":1}"), "{}", o.output);
        assert!(o.output.contains("err"));
        let o = run(
            &sh("test \"$TRADEWARD_IDENTITY\" = bot && test -z \"$HOME\""),
            "bot",
            b"",
            Duration::from_secs(10),
        )
        .await;
        assert!(o.ok, "{o:?}");
    }

    #[tokio::test]
    async fn a_hung_command_is_killed_and_a_missing_one_reported() {
        let o = run(&sh("sleep 30"), "bot", b"", Duration::from_millis(200)).await;
        assert!(!o.ok);
        assert!(o.output.contains("killed after"));
        let o = run(
            &["/nonexistent/cmd".to_string()],
            "bot",
            b"",
            Duration::from_secs(1),
        )
        .await;
        assert!(!o.ok && o.output.contains("cannot start"));
        // Huge output is capped.
        let o = run(
            &sh("head -c 100000 /dev/zero | tr '\\0' x"),
            "bot",
            b"",
            Duration::from_secs(10),
        )
        .await;
        assert!(o.ok);
        assert_eq!(o.output.len(), MAX_OUTPUT);
    }
}
