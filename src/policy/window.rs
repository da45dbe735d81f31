//! Sliding windows over amounts (authorised opening notional, transfer
//! totals), exact to the millisecond.
//!
//! A window keeps one entry per distinct time with the *running total* up to
//! and including it. The sum of everything after a time is then the last
//! running total minus the one just before that time, found by binary
//! search: a check costs O(log n) whatever the window's length, recording is
//! an append, and replaying a day of journal is a day of appends. One list
//! serves the minute, hour and day caps at once.
//!
//! An entry counts for exactly `span` ms: recorded at `t`, it is inside the
//! window at `now` while `now < t + span`. Entry times never decrease: an
//! amount recorded with an earlier time than the last entry (a clock step
//! back, an out-of-order replay) is recorded at the last entry's time, so it
//! stays counted at least as long as it should.

use std::collections::VecDeque;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// (time, running total including this entry), times increasing.
    entries: VecDeque<(u64, i128)>,
    /// Running total of everything pruned.
    base: i128,
}

impl Window {
    fn last_total(&self) -> i128 {
        self.entries.back().map_or(self.base, |e| e.1)
    }

    /// Index of the first entry still inside a `span` window at `now`.
    fn first_inside(&self, now_ms: u64, span_ms: u64) -> usize {
        self.entries
            .partition_point(|e| e.0.saturating_add(span_ms) <= now_ms)
    }

    fn total_before(&self, index: usize) -> i128 {
        if index == 0 {
            self.base
        } else {
            self.entries[index - 1].1
        }
    }

    /// Sum of the amounts inside a `span` window at `now` (entries recorded
    /// after `now` included).
    pub fn sum(&self, now_ms: u64, span_ms: u64) -> i128 {
        self.last_total() - self.total_before(self.first_inside(now_ms, span_ms))
    }

    /// Record `amount` (> 0) at `at_ms`.
    pub fn add(&mut self, at_ms: u64, amount: i128) {
        if amount <= 0 {
            return;
        }
        let total = self.last_total().saturating_add(amount);
        match self.entries.back_mut() {
            Some(last) if last.0 >= at_ms => last.1 = total,
            _ => self.entries.push_back((at_ms, total)),
        }
    }

    /// How long until `extra` more fits under `cap` in a `span` window,
    /// counting only what is recorded now; `None` if `extra > cap`.
    pub fn retry_after(&self, now_ms: u64, span_ms: u64, cap: i128, extra: i128) -> Option<u64> {
        if extra > cap {
            return None;
        }
        let first = self.first_inside(now_ms, span_ms);
        let before = self.total_before(first);
        let excess = self.last_total() - before + extra - cap;
        if excess <= 0 {
            return Some(0);
        }
        // The oldest entries must leave until `excess` has left. Running
        // totals increase, so entries before `first` also satisfy the
        // predicate and a search over the whole list finds the same place.
        let j = self.entries.partition_point(|e| e.1 - before < excess);
        let (t, _) = self.entries.get(j)?;
        Some(t.saturating_add(span_ms).saturating_sub(now_ms))
    }

    /// Forget entries outside a `keep_ms` window at `now`.
    pub fn prune(&mut self, now_ms: u64, keep_ms: u64) {
        let n = self.first_inside(now_ms, keep_ms);
        if n > 0 {
            self.base = self.entries[n - 1].1;
            self.entries.drain(..n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(entries: &[(u64, i128)]) -> Window {
        let mut w = Window::default();
        for (t, a) in entries {
            w.add(*t, *a);
        }
        w
    }

    #[test]
    fn sums_at_the_boundary() {
        let w = window(&[(1000, 5), (2000, 7), (2000, 1), (61_000, 2)]);
        // (now, span, expected sum)
        let cases = [
            (0, 60_000, 15),
            (1000, 60_000, 15),
            (60_999, 60_000, 15),
            (61_000, 60_000, 10),
            (61_999, 60_000, 10),
            (62_000, 60_000, 2),
            (120_999, 60_000, 2),
            (121_000, 60_000, 0),
            (61_000, 3_600_000, 15),
            (3_600_999, 3_600_000, 15),
            (3_601_000, 3_600_000, 10),
        ];
        for (now, span, want) in cases {
            assert_eq!(w.sum(now, span), want, "now {now} span {span}");
        }
    }

    #[test]
    fn retry_after_is_exact() {
        let w = window(&[(1000, 5), (2000, 7), (3000, 4)]);
        // cap 20, extra 6: 16 + 6 - 20 = 2 must leave; the 5 at t=1000
        // leaves at 61_000.
        assert_eq!(w.retry_after(10_000, 60_000, 20, 6), Some(51_000));
        assert_eq!(w.retry_after(10_000, 60_000, 20, 4), Some(0));
        // 16 + 13 - 20 = 9: the 5 and the 7 must leave (62_000).
        assert_eq!(w.retry_after(10_000, 60_000, 20, 13), Some(52_000));
        assert_eq!(w.retry_after(10_000, 60_000, 20, 20), Some(53_000));
        assert_eq!(w.retry_after(10_000, 60_000, 20, 21), None);
        for extra in [6, 13, 20] {
            let ms = w.retry_after(10_000, 60_000, 20, extra).unwrap();
            assert!(w.sum(10_000 + ms, 60_000) + extra <= 20);
            assert!(w.sum(10_000 + ms - 1, 60_000) + extra > 20);
        }
    }

    #[test]
    fn times_never_go_back_and_pruning_keeps_sums() {
        let mut w = window(&[(5000, 3)]);
        w.add(4000, 2); // recorded at 5000
        assert_eq!(w.sum(64_999, 60_000), 5);
        assert_eq!(w.sum(65_000, 60_000), 0);
        w.add(70_000, 1);
        w.prune(70_000, 60_000);
        assert_eq!(w.entries.len(), 1);
        assert_eq!(w.sum(70_000, 60_000), 1);
        assert_eq!(w.sum(70_000, 3_600_000), 1);
        w.add(80_000, 0);
        assert_eq!(w.entries.len(), 1);
    }
}
