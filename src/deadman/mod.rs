//! The dead-man's switch, live: the watcher (`watch`) wakes at the
//! earliest deadline and trips what is due; a trip halts the identity in
//! the policy state and hands the on-trip command signed cancels, built by
//! each venue's own code (`trip`, `hook`). The switches' state and rules,
//! which the journal rebuilds, are `crate::state::switches`.

pub mod hook;
pub mod instruction;
pub mod trip;
pub mod trip_bybit;
pub mod trip_okx;
pub mod watch;
