//! Telling the service manager how the agent is doing (systemd's
//! `Type=notify` protocol, through the `sd-notify` crate): READY once the
//! sockets are bound and the start-up checks and self-test passed, STOPPING
//! when the agent starts draining, and the watchdog's keep-alive while the
//! agent can still take its decision lock. Outside systemd (no
//! `NOTIFY_SOCKET`) every call does nothing.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::context::AgentState;

fn notify(state: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "could not notify the service manager");
    }
}

/// The agent serves: sockets bound, self-test passed.
pub fn ready() {
    notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// The agent drains and will stop.
pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

/// With `WatchdogSec=` set, send the keep-alive at half the interval, each
/// time after taking the decision lock within that half: an agent whose
/// signing path is wedged stops feeding the watchdog and is restarted.
pub fn spawn_watchdog(
    state: Arc<AgentState>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled().filter(|d| !d.is_zero())?;
    let half = (interval / 2).max(Duration::from_millis(10));
    tracing::info!(
        interval_ms = half.as_millis() as u64,
        "feeding the service manager's watchdog"
    );
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(half) => {}
            }
            match tokio::time::timeout(half, state.state.lock()).await {
                Ok(guard) => {
                    drop(guard);
                    notify(&[NotifyState::Watchdog]);
                }
                Err(_) => tracing::error!(
                    "decision lock not taken within the watchdog interval; not feeding the watchdog"
                ),
            }
        }
    }))
}
