//! `tradeward journal verify`: check the whole chain and every checkpoint
//! signature, and name the first bad record.
//!
//! What it catches: an edited record (its hash no longer matches the next
//! record's `prev`, or a checkpoint's head), a deleted, inserted or
//! reordered record (seq gap or broken link), and a checkpoint whose
//! signature the audit key did not make. Records after the last checkpoint
//! are reported as not yet covered: the last of them could be edited or cut
//! off without a trace in the files alone.

use std::path::Path;

use super::record::checkpoint_message;
use super::segment::{self, Damage, FoundCheckpoint, Location, ScanError, Summary};

/// A clean result.
#[derive(Debug, Clone)]
pub struct Report {
    pub summary: Summary,
    pub checkpoints_verified: usize,
    /// The highest seq covered by a verified checkpoint.
    pub covered_to: Option<u64>,
}

impl Report {
    /// Records after the last checkpoint, not counting checkpoint records.
    pub fn uncovered(&self) -> u64 {
        let last = self.summary.next_seq.saturating_sub(1);
        match self.covered_to {
            Some(c) => {
                let cps_after = self
                    .summary
                    .checkpoints
                    .iter()
                    .filter(|cp| cp.seq > c)
                    .count() as u64;
                last.saturating_sub(c).saturating_sub(cps_after)
            }
            None => self.summary.records,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Damaged(#[from] Damage),
    #[error("checkpoint at seq {seq} (covering seq {covers}): {reason}")]
    BadCheckpoint {
        seq: u64,
        covers: u64,
        reason: String,
    },
    #[error("cannot read the journal: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks one checkpoint's signature over the given message.
pub type CheckpointCheck<'a> = dyn FnMut(&FoundCheckpoint, &[u8]) -> Result<(), String> + 'a;

/// Verify the journal in `dir`. `check` verifies one checkpoint signature
/// over the given message (with the audit key's public key, or the token).
pub fn verify(dir: &Path, check: &mut CheckpointCheck<'_>) -> Result<Report, VerifyError> {
    let summary = segment::scan(dir, &mut |_, _: &Location| {}).map_err(|e| match e {
        ScanError::Damaged(d) => VerifyError::Damaged(d),
        ScanError::Io(e) => VerifyError::Io(e),
    })?;
    let mut covered_to = None;
    for cp in &summary.checkpoints {
        let head: [u8; 32] = hex::decode(&cp.head)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| VerifyError::BadCheckpoint {
                seq: cp.seq,
                covers: cp.covers,
                reason: "head is not a 32-byte hex hash".into(),
            })?;
        let msg = checkpoint_message(cp.covers, &head);
        check(cp, &msg).map_err(|reason| VerifyError::BadCheckpoint {
            seq: cp.seq,
            covers: cp.covers,
            reason,
        })?;
        covered_to = Some(cp.covers);
    }
    Ok(Report {
        checkpoints_verified: summary.checkpoints.len(),
        summary,
        covered_to,
    })
}
