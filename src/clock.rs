//! The agent's clock: the wall clock read once, at first use, plus the
//! monotonic time since.
//!
//! Why: every limit with a time in it — rolling caps, token buckets,
//! open-order expiry, dead-man deadlines, nonces — is judged against this
//! clock and journaled with it. If it followed the system clock, a step
//! forwards (a bad NTP server, an operator's `date -s`) would expire a
//! day's cap or trip every switch at once, and a step backwards would hold
//! limits longer and make nonces repeat. The monotonic clock is slewed by
//! NTP like the wall clock but never steps, so drift corrections still
//! reach the agent; only steps are ignored until the next start.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static ANCHOR: OnceLock<(u64, Instant)> = OnceLock::new();

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, on the agent's clock.
pub fn now_ms() -> u64 {
    let (wall, mono) = *ANCHOR.get_or_init(|| (wall_ms(), Instant::now()));
    wall.saturating_add(mono.elapsed().as_millis() as u64)
}

/// How far the system's wall clock has moved away from the agent's clock
/// (ms; positive: the system clock is ahead). For status and logs.
pub fn skew_ms() -> i64 {
    wall_ms() as i64 - now_ms() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_wall_clock_at_first_and_never_runs_backwards() {
        let a = now_ms();
        assert!(skew_ms().abs() < 1_000);
        let mut last = a;
        for _ in 0..1000 {
            let t = now_ms();
            assert!(t >= last);
            last = t;
        }
    }
}
