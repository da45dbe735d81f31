//! tradeward: an ssh-agent-style signing agent for trading bots, with keys
//! kept in hardware. See DESIGN in the docs folder for the invariants.

// Output goes through cli::out, which handles a closed pipe; println! and
// friends would panic on one.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod agent;
pub mod authorize;
pub mod backend;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod context;
pub mod crypto;
pub mod deadman;
pub mod harden;
pub mod journal;
pub mod keyring;
pub mod logging;
pub mod metrics;
pub mod nonces;
pub mod order;
pub mod policy;
pub mod protocol;
pub mod refusals;
pub mod secret;
pub mod server;
pub mod state;
pub mod supervise;
pub mod totp;
pub mod venue;
