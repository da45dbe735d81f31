//! The dead-man's switches as the journal rebuilds them: per bot identity,
//! its heartbeat deadline, trips, pauses and re-arming, and the rules that
//! move them. No I/O: the live switch (`crate::deadman`: the timer, the
//! trip's signed cancels, the on-trip command) acts on this state.
//!
//! Time: deadlines are kept twice. `deadline_ms` (wall clock) is what the
//! journal records and status shows, and what a restart rebuilds from;
//! `deadline_at` (monotonic) is what the live timer waits for, so a wall
//! clock stepped forwards or backwards neither trips a switch early nor
//! holds it late.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::DeadmanConfig;
use crate::journal::{Event, Record};

/// Why a heartbeat was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    #[error(
        "timeout_ms {got} is outside the configured bounds [{min}, {max}] (deadman.min_timeout_ms / max_timeout_ms)"
    )]
    TimeoutOutOfBounds { got: u64, min: u64, max: u64 },
    #[error("the first heartbeat must give timeout_ms: it arms the switch")]
    TimeoutRequired,
    #[error(
        "the dead-man's switch of identity {identity:?} tripped at {at_ms} ms; only an operator can re-arm it (tradeward ctl rearm)"
    )]
    Tripped { identity: String, at_ms: u64 },
}

/// Where one identity's switch stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SwitchState {
    /// Counting down to `deadline_ms`.
    Armed,
    /// Held by an operator until `until_ms`; armed again after it, with the
    /// full timeout from `until_ms`.
    Paused { until_ms: u64, reason: String },
    /// Tripped: the identity is halted until an operator re-arms it.
    Tripped {
        at_ms: u64,
        /// The journal record of the trip (0 until it is durable).
        record: u64,
        hook: HookState,
    },
}

/// What became of a trip's on-trip command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "hook", rename_all = "snake_case")]
pub enum HookState {
    /// No `deadman.on_trip` configured: nobody was handed the cancels.
    NotConfigured,
    /// Building instructions or running the command.
    Running,
    /// The command exited 0.
    Succeeded { exit_code: i32 },
    /// It failed, timed out or could not start; the switch stays tripped.
    Failed { reason: String },
    /// The trip happened before this agent started; its hook's outcome is
    /// in the journal.
    Recorded { ok: bool },
    /// The trip happened before this agent started and the journal holds
    /// no outcome of its command: none was configured, or the agent
    /// stopped before the command finished. Nobody may have the cancels.
    NotRecorded,
}

/// One identity's switch.
#[derive(Debug, Clone, Serialize)]
pub struct Switch {
    pub timeout_ms: u64,
    pub deadline_ms: u64,
    #[serde(skip)]
    pub deadline_at: Instant,
    pub last_heartbeat_ms: Option<u64>,
    #[serde(flatten)]
    pub state: SwitchState,
}

/// The switches of all identities that ever armed one.
#[derive(Debug, Default)]
pub struct Switchboard {
    switches: BTreeMap<String, Switch>,
}

/// Convert a wall-clock deadline to a monotonic one, given "now" on both
/// clocks.
fn instant_for(deadline_ms: u64, now_ms: u64, now: Instant) -> Instant {
    now + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

impl Switchboard {
    pub fn get(&self, identity: &str) -> Option<&Switch> {
        self.switches.get(identity)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Switch)> {
        self.switches.iter()
    }

    /// Judge a heartbeat (without applying it): the timeout it arms with.
    pub fn check_heartbeat(
        &self,
        cfg: &DeadmanConfig,
        identity: &str,
        timeout_ms: Option<u64>,
    ) -> Result<u64, HeartbeatError> {
        let current = self.switches.get(identity);
        if let Some(Switch {
            state: SwitchState::Tripped { at_ms, .. },
            ..
        }) = current
        {
            return Err(HeartbeatError::Tripped {
                identity: identity.to_string(),
                at_ms: *at_ms,
            });
        }
        let t = match (timeout_ms, current) {
            (Some(t), _) => t,
            (None, Some(s)) => s.timeout_ms,
            (None, None) => return Err(HeartbeatError::TimeoutRequired),
        };
        if t < cfg.min_timeout_ms || t > cfg.max_timeout_ms {
            return Err(HeartbeatError::TimeoutOutOfBounds {
                got: t,
                min: cfg.min_timeout_ms,
                max: cfg.max_timeout_ms,
            });
        }
        Ok(t)
    }

    /// `identity`'s switch, armed with these values if it has none yet,
    /// with its timeout set to `timeout_ms`.
    fn switch_for(
        &mut self,
        identity: &str,
        timeout_ms: u64,
        deadline_ms: u64,
        now: Instant,
    ) -> &mut Switch {
        let s = self
            .switches
            .entry(identity.to_string())
            .or_insert_with(|| Switch {
                timeout_ms,
                deadline_ms,
                deadline_at: now,
                last_heartbeat_ms: None,
                state: SwitchState::Armed,
            });
        s.timeout_ms = timeout_ms;
        s
    }

    /// Apply a heartbeat (checked by `check_heartbeat`): the deadline moves
    /// to now + timeout. A paused switch stays paused (its deadline is
    /// after the pause).
    pub fn heartbeat(&mut self, identity: &str, timeout_ms: u64, now_ms: u64, now: Instant) {
        let deadline_ms = now_ms.saturating_add(timeout_ms);
        let s = self.switch_for(identity, timeout_ms, deadline_ms, now);
        s.last_heartbeat_ms = Some(now_ms);
        s.deadline_ms = match &s.state {
            SwitchState::Paused { until_ms, .. } => {
                until_ms.saturating_add(timeout_ms).max(deadline_ms)
            }
            _ => deadline_ms,
        };
        s.deadline_at = instant_for(s.deadline_ms, now_ms, now);
    }

    /// The identities whose switch is due to trip at `now`; pauses that
    /// ended become armed again on the way.
    pub fn due(&mut self, now_ms: u64, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for (name, s) in &mut self.switches {
            if let SwitchState::Paused { until_ms, .. } = s.state
                && until_ms <= now_ms
            {
                s.state = SwitchState::Armed;
            }
            if s.state == SwitchState::Armed && s.deadline_at <= now {
                out.push(name.clone());
            }
        }
        out
    }

    /// The earliest monotonic deadline among armed switches (a paused
    /// switch's deadline lies after its pause, so it counts too).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.switches
            .values()
            .filter(|s| !matches!(s.state, SwitchState::Tripped { .. }))
            .map(|s| s.deadline_at)
            .min()
    }

    /// Mark `identity` tripped at `at_ms`.
    pub fn trip(&mut self, identity: &str, at_ms: u64, hook: HookState) {
        if let Some(s) = self.switches.get_mut(identity) {
            s.state = SwitchState::Tripped {
                at_ms,
                record: 0,
                hook,
            };
        }
    }

    /// Note the journal record of `identity`'s trip.
    pub fn set_trip_record(&mut self, identity: &str, seq: u64) {
        if let Some(Switch {
            state: SwitchState::Tripped { record, .. },
            ..
        }) = self.switches.get_mut(identity)
        {
            *record = seq;
        }
    }

    /// Note the outcome of `identity`'s on-trip command.
    pub fn set_hook(&mut self, identity: &str, state: HookState) {
        if let Some(Switch {
            state: SwitchState::Tripped { hook, .. },
            ..
        }) = self.switches.get_mut(identity)
        {
            *hook = state;
        }
    }

    /// Re-arm `identity` (operator): armed, deadline now + timeout.
    pub fn rearm(&mut self, identity: &str, timeout_ms: u64, now_ms: u64, now: Instant) {
        let deadline_ms = now_ms.saturating_add(timeout_ms);
        let s = self.switch_for(identity, timeout_ms, deadline_ms, now);
        s.deadline_ms = deadline_ms;
        s.deadline_at = instant_for(deadline_ms, now_ms, now);
        s.state = SwitchState::Armed;
    }

    /// Whether `identity`'s switch can be paused.
    pub fn can_pause(&self, identity: &str) -> Result<(), String> {
        match self.switches.get(identity) {
            None => Err(format!("identity {identity:?} has no armed switch")),
            Some(Switch {
                state: SwitchState::Tripped { .. },
                ..
            }) => Err(format!(
                "identity {identity:?} is tripped: re-arm it instead"
            )),
            Some(_) => Ok(()),
        }
    }

    /// The deadline a heartbeat at `now_ms` with `timeout_ms` sets.
    pub fn deadline_after_heartbeat(&self, identity: &str, timeout_ms: u64, now_ms: u64) -> u64 {
        let plain = now_ms.saturating_add(timeout_ms);
        match self.switches.get(identity).map(|s| &s.state) {
            Some(SwitchState::Paused { until_ms, .. }) => {
                until_ms.saturating_add(timeout_ms).max(plain)
            }
            _ => plain,
        }
    }

    /// Pause `identity`'s switch until `until_ms` (operator). A tripped
    /// switch cannot be paused: it needs a re-arm.
    pub fn pause(
        &mut self,
        identity: &str,
        until_ms: u64,
        reason: &str,
        now_ms: u64,
        now: Instant,
    ) -> Result<(), String> {
        let Some(s) = self.switches.get_mut(identity) else {
            return Err(format!("identity {identity:?} has no armed switch"));
        };
        if let SwitchState::Tripped { .. } = s.state {
            return Err(format!(
                "identity {identity:?} is tripped: re-arm it instead"
            ));
        }
        s.state = SwitchState::Paused {
            until_ms,
            reason: reason.to_string(),
        };
        s.deadline_ms = until_ms.saturating_add(s.timeout_ms).max(s.deadline_ms);
        s.deadline_at = instant_for(s.deadline_ms, now_ms, now);
        Ok(())
    }

    /// Apply one journal record during replay. `now_ms`/`now` are the
    /// start's clocks, to place the deadlines on the monotonic clock.
    pub fn replay(&mut self, rec: &Record, now_ms: u64, now: Instant) {
        match &rec.event {
            Event::Heartbeat {
                identity,
                timeout_ms,
                deadline_ms,
            } => {
                let s = self
                    .switches
                    .entry(identity.clone())
                    .or_insert_with(|| Switch {
                        timeout_ms: *timeout_ms,
                        deadline_ms: *deadline_ms,
                        deadline_at: now,
                        last_heartbeat_ms: None,
                        state: SwitchState::Armed,
                    });
                s.timeout_ms = *timeout_ms;
                s.deadline_ms = *deadline_ms;
                s.last_heartbeat_ms = Some(rec.ts_ms);
                s.deadline_at = instant_for(*deadline_ms, now_ms, now);
            }
            Event::Trip { identity, .. } => {
                self.trip(identity, rec.ts_ms, HookState::NotRecorded);
                self.set_trip_record(identity, rec.seq);
            }
            Event::TripHook { identity, ok, .. } => {
                self.set_hook(identity, HookState::Recorded { ok: *ok });
            }
            Event::Rearm {
                identity,
                timeout_ms,
                deadline_ms,
                ..
            } => {
                self.rearm(identity, *timeout_ms, rec.ts_ms, now);
                if let Some(s) = self.switches.get_mut(identity) {
                    s.deadline_ms = *deadline_ms;
                    s.deadline_at = instant_for(*deadline_ms, now_ms, now);
                }
            }
            Event::Pause {
                identity,
                until_ms,
                reason,
                ..
            } => {
                let _ = self.pause(identity, *until_ms, reason, now_ms, now);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DeadmanConfig {
        DeadmanConfig::default()
    }

    #[test]
    fn heartbeat_bounds_and_first_arm() {
        let b = Switchboard::default();
        assert_eq!(
            b.check_heartbeat(&cfg(), "bot", None),
            Err(HeartbeatError::TimeoutRequired)
        );
        assert!(matches!(
            b.check_heartbeat(&cfg(), "bot", Some(10)),
            Err(HeartbeatError::TimeoutOutOfBounds { .. })
        ));
        assert!(matches!(
            b.check_heartbeat(&cfg(), "bot", Some(u64::MAX)),
            Err(HeartbeatError::TimeoutOutOfBounds { .. })
        ));
        assert_eq!(b.check_heartbeat(&cfg(), "bot", Some(5000)), Ok(5000));
    }

    #[test]
    fn arm_feed_trip_and_rearm() {
        let mut b = Switchboard::default();
        let t0 = Instant::now();
        b.heartbeat("bot", 2000, 1_000, t0);
        assert_eq!(b.get("bot").unwrap().deadline_ms, 3_000);
        // Fed at 1.5 s: the deadline moves.
        b.heartbeat("bot", 2000, 2_500, t0 + Duration::from_millis(1500));
        assert!(b.due(4_000, t0 + Duration::from_millis(3000)).is_empty());
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(3500)));
        let due = b.due(4_600, t0 + Duration::from_millis(3600));
        assert_eq!(due, vec!["bot".to_string()]);
        b.trip("bot", 4_600, HookState::NotConfigured);
        assert!(b.due(9_000, t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(b.next_deadline(), None);
        // A tripped switch refuses heartbeats until an operator re-arms.
        assert!(matches!(
            b.check_heartbeat(&cfg(), "bot", Some(2000)),
            Err(HeartbeatError::Tripped { .. })
        ));
        b.rearm("bot", 2000, 10_000, t0 + Duration::from_secs(10));
        assert_eq!(b.check_heartbeat(&cfg(), "bot", None), Ok(2000));
    }

    #[test]
    fn a_pause_holds_the_trip_until_its_end_plus_timeout() {
        let mut b = Switchboard::default();
        let t0 = Instant::now();
        b.heartbeat("bot", 1000, 0, t0);
        b.pause(
            "bot",
            10_000,
            "maintenance",
            500,
            t0 + Duration::from_millis(500),
        )
        .unwrap();
        assert!(b.due(5_000, t0 + Duration::from_secs(5)).is_empty());
        assert!(b.due(10_500, t0 + Duration::from_millis(10_500)).is_empty());
        assert_eq!(b.get("bot").unwrap().state, SwitchState::Armed);
        assert_eq!(
            b.due(11_000, t0 + Duration::from_millis(11_000)),
            vec!["bot".to_string()]
        );
    }

    #[test]
    fn a_deadline_that_passed_while_down_is_due_at_once() {
        let mut b = Switchboard::default();
        let rec = Record {
            seq: 7,
            ts_ms: 1_000,
            prev: String::new(),
            event: Event::Heartbeat {
                identity: "bot".into(),
                timeout_ms: 5_000,
                deadline_ms: 6_000,
            },
        };
        let now = Instant::now();
        b.replay(&rec, 60_000, now);
        assert_eq!(b.due(60_000, now), vec!["bot".to_string()]);
        // A trip in the journal stays a trip.
        let trip = Record {
            seq: 8,
            ts_ms: 6_010,
            prev: String::new(),
            event: Event::Trip {
                identity: "bot".into(),
                deadline_ms: 6_000,
                reason: "x".into(),
            },
        };
        let mut b = Switchboard::default();
        b.replay(&rec, 60_000, now);
        b.replay(&trip, 60_000, now);
        assert!(b.due(60_000, now).is_empty());
        // Without a trip_hook record, nobody knows whether the cancels
        // were delivered: status says so rather than "running".
        assert_eq!(
            b.get("bot").unwrap().state,
            SwitchState::Tripped {
                at_ms: 6_010,
                record: 8,
                hook: HookState::NotRecorded
            }
        );
    }
}
