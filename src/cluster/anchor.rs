//! The off-host anchor, as far as it goes today: the cluster holds the
//! seq and chain hash of this agent's local record of every allowed
//! shared decision. At start the agent checks that its journal still
//! reaches the highest of them, with the same hash: a journal cut back or
//! rewritten after the fact stops the start instead of quietly loosening
//! the state it rebuilds.

use crate::journal::Record;

/// Checks a journal being replayed against the cluster's last anchor.
#[derive(Debug, Default)]
pub struct AnchorCheck {
    /// The highest local record the cluster holds: seq and hex hash.
    want: Option<(u64, String)>,
    /// The hash of the record at that seq, as the next record links it.
    found: Option<String>,
    /// The last seq replayed.
    last: u64,
}

impl AnchorCheck {
    pub fn new(want: Option<(u64, String)>) -> AnchorCheck {
        AnchorCheck {
            want,
            found: None,
            last: 0,
        }
    }

    /// Note one replayed record.
    pub fn see(&mut self, rec: &Record) {
        self.last = rec.seq;
        if let Some((seq, _)) = &self.want
            && rec.seq == seq + 1
        {
            self.found = Some(rec.prev.clone());
        }
    }

    /// After the replay, with the hash of the journal's last record.
    pub fn finish(&self, head: &[u8; 32], cluster: &str) -> Result<(), String> {
        let Some((seq, hash)) = &self.want else {
            return Ok(());
        };
        if self.last < *seq {
            return Err(format!(
                "the local journal ends at seq {}, but cluster {cluster} holds this agent's record {seq}: \
                 the journal was cut back or replaced. Check with `tradeward cluster verify`; \
                 the agent does not start on a journal shorter than what the cluster anchored",
                self.last
            ));
        }
        let local = match &self.found {
            Some(h) => h.clone(),
            None => hex::encode(head),
        };
        if &local != hash {
            return Err(format!(
                "the local journal's record {seq} does not match the hash cluster {cluster} holds of it: \
                 the journal was rewritten. Check with `tradeward cluster verify`"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Event;

    fn rec(seq: u64, prev: &str) -> Record {
        Record {
            seq,
            ts_ms: 0,
            prev: prev.into(),
            event: Event::Note {
                message: String::new(),
            },
        }
    }

    #[test]
    fn a_cut_or_rewritten_journal_is_named() {
        let head = [7u8; 32];
        // Nothing anchored: anything goes.
        assert!(AnchorCheck::new(None).finish(&head, "c").is_ok());
        // Anchored record 2 with hash "bb": record 3 links it.
        let want = Some((2, "bb".to_string()));
        let mut ok = AnchorCheck::new(want.clone());
        for (s, p) in [(1, "00"), (2, "aa"), (3, "bb")] {
            ok.see(&rec(s, p));
        }
        assert!(ok.finish(&head, "c").is_ok());
        let mut cut = AnchorCheck::new(want.clone());
        cut.see(&rec(1, "00"));
        assert!(cut.finish(&head, "c").unwrap_err().contains("cut back"));
        let mut rewritten = AnchorCheck::new(want);
        for (s, p) in [(1, "00"), (2, "aa"), (3, "cc")] {
            rewritten.see(&rec(s, p));
        }
        assert!(
            rewritten
                .finish(&head, "c")
                .unwrap_err()
                .contains("rewritten")
        );
        // The anchored record is the last one: the head's hash decides.
        let mut last = AnchorCheck::new(Some((2, hex::encode(head))));
        last.see(&rec(1, "00"));
        last.see(&rec(2, "aa"));
        assert!(last.finish(&head, "c").is_ok());
    }
}
