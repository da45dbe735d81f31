//! The agent's shared state: what every request handler, the dead-man's
//! watcher and the operator ops read and change. It lives apart from the
//! server so that the parts below the server (the signing path in
//! `authorize`, the dead-man's switch) can use it without importing the
//! socket code above them.

use crate::config::Config;
use crate::journal::Journal;
use crate::keyring::Keyring;

/// Everything a request handler may need, shared by all connections.
pub struct AgentState {
    pub config: Config,
    pub keyring: Keyring,
    pub journal: Journal,
    /// The shared database of `[cluster]`, if configured: every decision
    /// `authorize` makes then goes through it.
    pub cluster: Option<crate::cluster::Cluster>,
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
