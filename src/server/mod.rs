//! The agent's socket server: listening, peer identity, framing, dispatch
//! and graceful shutdown. It decides who is asking and routes the request;
//! what a request means is left to the op modules and the keyring.

pub mod connection;
pub mod metrics;
pub mod ops;
pub mod peer;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Which socket a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The bots' socket: identities from `[identities]`.
    Bot,
    /// The admin socket: operator uids (`[admin]`), operator ops only.
    Operator,
}

pub use crate::context::AgentState;

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
