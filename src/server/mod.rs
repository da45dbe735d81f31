//! The agent's socket server: listening, peer identity, framing, dispatch
//! and graceful shutdown. It decides who is asking and routes the request;
//! what a request means is left to the op modules and the keyring.

pub mod connection;
pub mod frame;
pub mod ops;
pub mod peer;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::journal::Journal;
use crate::keyring::Keyring;

/// Which socket a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The bots' socket: identities from `[identities]`.
    Bot,
    /// The admin socket: operator uids (`[admin]`), operator ops only.
    Operator,
}

/// Everything a request handler may need, shared by all connections.
pub struct AgentState {
    pub config: Config,
    pub keyring: Keyring,
    pub journal: Journal,
    /// Hyperliquid asset metadata per key alias (keys with a
    /// `[keys.ALIAS.hyperliquid]` table).
    pub hyperliquid: std::collections::HashMap<String, crate::venue::hyperliquid::Meta>,
    /// Decision state (nonces, and policy state as it lands), rebuilt
    /// from the journal at start. Decisions that change it are made under
    /// this lock and submitted to the journal before it is released.
    pub state: tokio::sync::Mutex<crate::state::State>,
    /// Woken when a heartbeat or an operator changes a deadline, so the
    /// dead-man watcher re-reads them.
    pub deadman_wake: tokio::sync::Notify,
    /// TOTP state per operator uid that has a second factor.
    pub totp: std::sync::Mutex<std::collections::HashMap<u32, crate::totp::Totp>>,
    /// Open connections per identity (for `max_connections_per_identity`).
    pub connections: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    /// Each identity's allowance of individually journaled refusals.
    pub refusals: std::sync::Mutex<crate::refusals::Refusals>,
    /// The config file, for `reload`.
    pub config_path: Option<std::path::PathBuf>,
    pub started: std::time::Instant,
}

/// Serve `listener` until `shutdown` is cancelled, then stop accepting, let
/// in-flight requests finish (up to the configured grace) and return.
pub async fn serve(
    listener: UnixListener,
    state: Arc<AgentState>,
    shutdown: CancellationToken,
    role: Role,
) {
    let tracker = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(state.config.agent.max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = slots.clone().try_acquire_owned().ok();
        let state = state.clone();
        let shutdown = shutdown.clone();
        let conn_tracker = tracker.clone();
        tracker.spawn(async move {
            connection::run(stream, state, shutdown, conn_tracker, permit, role).await;
        });
    }
    tracker.close();
    let grace = Duration::from_millis(state.config.agent.shutdown_grace_ms);
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            ?grace,
            "in-flight requests did not finish within the shutdown grace"
        );
    }
}
