//! Exposure of `crate::metrics`: a tiny HTTP endpoint (`GET /metrics`,
//! nothing else) and a textfile for node_exporter, both opt-in through the
//! `[metrics]` table.
//!
//! The endpoint is bounded so a scraper that sends garbage or never reads
//! cannot slow signing: each connection runs on its own task, with a cap on
//! concurrent connections, on the request's size and on the whole exchange's
//! time; one response, then the connection closes. The state lock is held
//! only to read the per-identity gauges, never while writing to a socket
//! or a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::AgentState;
use crate::metrics::{self, CONTENT_TYPE};

/// Largest request head read (request line and headers).
const MAX_REQUEST: usize = 8 * 1024;
/// Time for one whole exchange: reading the request and writing the answer.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 8;

/// Bind the endpoint (at start, so a taken port stops the start).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("metrics.listen: cannot listen on {addr}: {e}"))
}

/// Serve `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, state: Arc<AgentState>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue; // dropped: closed at once
        };
        let state = state.clone();
        tokio::spawn(async move {
            if tokio::time::timeout(EXCHANGE_TIMEOUT, answer(stream, &state))
                .await
                .is_err()
            {
                tracing::debug!("metrics endpoint: scrape not completed in time; closed");
            }
            drop(permit);
        });
    }
}

/// Read one request head, write one response, close.
async fn answer(mut stream: TcpStream, state: &AgentState) {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let complete = loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break false,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if head.len() > MAX_REQUEST {
            break false;
        }
    };
    let (status, body) = if !complete {
        ("400 Bad Request", String::from("bad request\n"))
    } else {
        let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next(), parts.next());
        let path = target.map(|t| t.split('?').next().unwrap_or_default());
        match (method, path) {
            (Some("GET"), Some("/metrics")) => ("200 OK", render(state).await),
            (Some("GET"), _) => ("404 Not Found", String::from("only /metrics\n")),
            _ => ("405 Method Not Allowed", String::from("only GET\n")),
        }
    };
    let content_type = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Read the gauges that live in the agent's state (briefly under its lock),
/// then encode every metric.
pub async fn render(state: &AgentState) -> String {
    let m = metrics::get();
    let identities: Vec<&String> = state.config.identities.keys().collect();
    {
        let conns = state
            .connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in &identities {
            let n = conns.get(id.as_str()).copied().unwrap_or(0);
            m.connections
                .with_label_values(&[id.as_str()])
                .set(n as i64);
        }
    }
    let now = crate::journal::record::now_ms();
    let st = state.state.lock().await;
    m.set_policy(&st.policy_sha256);
    let ps = st.engine.state();
    for id in &identities {
        let id = id.as_str();
        let sw = st.deadman.get(id);
        let tripped = matches!(
            sw.map(|s| &s.state),
            Some(crate::state::switches::SwitchState::Tripped { .. })
        );
        m.deadman_tripped
            .with_label_values(&[id])
            .set(i64::from(tripped));
        if let Some(ms) = sw.and_then(|s| s.last_heartbeat_ms) {
            m.last_heartbeat
                .with_label_values(&[id])
                .set((ms / 1000) as i64);
        }
        let halted = ps
            .halts()
            .covering(id, "")
            .iter()
            .any(|(scope, _)| !matches!(scope, crate::policy::HaltScope::Key(_)));
        m.halted.with_label_values(&[id]).set(i64::from(halted));
        let open = ps.breaker_open_until(id, now).is_some();
        m.breaker_open.with_label_values(&[id]).set(i64::from(open));
    }
    // Each key's use of its caps, against the caps (for "cap nearly used").
    for key in state.config.keys.keys() {
        let usage = st.engine.key_usage(key, now);
        let k = [key.as_str()];
        m.open_orders
            .with_label_values(&k)
            .set(usage.open_orders as i64);
        m.open_notional
            .with_label_values(&k)
            .set(to_f64(usage.open_notional));
        m.notional_day
            .with_label_values(&k)
            .set(to_f64(usage.notional_day));
        if let Some(c) = usage.max_open_orders {
            m.open_orders_cap.with_label_values(&k).set(c as i64);
        }
        if let Some(c) = usage.max_open_notional {
            m.open_notional_cap.with_label_values(&k).set(to_f64(c));
        }
        if let Some(c) = usage.max_notional_per_day {
            m.notional_day_cap.with_label_values(&k).set(to_f64(c));
        }
    }
    drop(st);
    m.encode()
}

fn to_f64(d: rust_decimal::Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::MAX)
}

/// Rewrite `path` with the metrics every `every` until `shutdown`, and once
/// more at the end.
pub async fn textfile_loop(
    path: PathBuf,
    every: Duration,
    state: Arc<AgentState>,
    shutdown: CancellationToken,
) {
    loop {
        let text = render(&state).await;
        let p = path.clone();
        match tokio::task::spawn_blocking(move || write_atomically(&p, text.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics textfile")
            }
            Err(e) => tracing::warn!(error = %e, "metrics textfile task failed"),
        }
        if shutdown.is_cancelled() {
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Write `bytes` to a temporary file beside `path` (a name node_exporter
/// ignores: it reads only `*.prom`), then rename it over `path`, so a reader
/// sees the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        // Readable by the collector's user whatever the agent's umask
        // (the unit's is 0077): the metrics hold no secret.
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textfile_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tradeward.prom");
        write_atomically(&p, b"a 1\n").unwrap();
        write_atomically(&p, b"a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a 2\n");
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&p).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
