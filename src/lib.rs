//! tradeward: an ssh-agent-style signing agent for trading bots, with keys
//! kept in hardware. The invariants it keeps are in the project's design
//! notes; the docs folder says how to use it.
//!
//! # Layout
//!
//! The parts, in the order a request flows through them (each imports only
//! parts listed after it):
//!
//! - [`cli`]: the `tradeward` command: the agent, operator provisioning and
//!   inspection, and a scripting client.
//! - [`agent`](mod@agent): the composition root: start-up checks, journal replay, the
//!   server, the dead-man's watcher and checkpoints, orderly stop;
//!   [`supervise`] (systemd readiness and watchdog), [`logging`] and
//!   [`metrics`] (the Prometheus registry every part counts into).
//! - [`server`]: the sockets, peer identity, the op table and dispatch; one
//!   thin op per request kind, which parses parameters and calls
//!   `authorize`.
//! - [`deadman`]: the live dead-man's switch: timers, trips, the on-trip
//!   hook; it asks each venue for its cancel instructions and signs them
//!   through `authorize` too.
//! - [`authorize`]: THE signing path: lock, plan (nonce, timestamp, the
//!   venue's bytes), judge (policy, halt check, or the agent's own rule),
//!   journal the decision durably, sign, record the signature.
//! - [`cluster`]: optional shared state on PostgreSQL (`[cluster]`): the
//!   transaction `authorize` runs for a shared decision (locks, catching up
//!   with the other agents' decisions, nonce mark, record, commit), the
//!   connection, the schema's migrations.
//! - [`context`]: the agent's shared state (config, keyring, journal,
//!   decision state); [`refusals`]: what a refusal may cost the journal.
//! - [`state`]: what the journal rebuilds at start, in one place: the
//!   policy engine's state, the dead-man's switches, key history, nonces.
//! - [`venue`]: one module per venue: strict parsing into typed intents and
//!   the exact bytes to sign; `venue::fields` says what judges each field.
//! - [`policy`]: pure decisions over typed intents and state.
//! - [`report`]: `journal export`, the compliance report over the journal.
//! - [`journal`]: the append-only, hash-chained, checkpointed store, behind
//!   a small store interface.
//! - [`keyring`] and [`backend`]: keys in PKCS#11 tokens (worker processes)
//!   and YubiKeys; [`crypto`]: signature formats and verification.
//! - Shared vocabulary and leaves: [`order`] (typed intents), [`protocol`]
//!   (the wire's envelopes, error codes and parameters), [`frame`] (the one
//!   length-prefixed framing: sockets, worker pipe, client), [`config`], [`clock`],
//!   [`secret`], [`totp`], [`harden`] (process hardening), [`out`] (printing
//!   that survives a closed pipe), [`client`] (the Rust client for bots).

// Output goes through `out`, which handles a closed pipe; println! and
// friends would panic on one.
#![deny(clippy::print_stdout, clippy::print_stderr)]
// `unsafe` lives in two places only: the hardening module (system calls
// that shape the process) and the worker (its own stdout descriptor).
#![deny(unsafe_code)]

pub mod agent;
pub mod authorize;
pub mod backend;
pub mod cli;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod context;
pub mod crypto;
pub mod deadman;
pub mod frame;
#[allow(unsafe_code)]
pub mod harden;
pub mod journal;
pub mod keyring;
pub mod logging;
pub mod metrics;
pub mod order;
pub mod out;
pub mod policy;
pub mod protocol;
pub mod refusals;
pub mod report;
pub mod secret;
pub mod server;
pub mod state;
pub mod supervise;
pub mod totp;
pub mod venue;
