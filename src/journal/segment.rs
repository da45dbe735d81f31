//! Segment files and reading them back.
//!
//! The journal is a folder of segment files `segment-000001.jsonl`,
//! `segment-000002.jsonl`, ...; a segment rolls over when it passes the
//! configured size. The chain runs across segments: the first record of a
//! segment carries the hash of the last record of the one before, so
//! archived segments still verify as one chain.
//!
//! `scan` reads every record in order and checks the chain. It tells a torn
//! tail (the last write of a crashed agent: a fragment without its newline,
//! or one unreadable final line, at the very end of the last segment) from
//! damage anywhere else: the first can be cut back safely, the second needs
//! an operator.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::record::{Event, GENESIS, Record, decode, line_hash};

/// How many recent (seq, hash) pairs a scan remembers to check checkpoints.
const CHECKPOINT_REACH: usize = 1 << 16;

pub fn segment_name(index: u64) -> String {
    format!("segment-{index:06}.jsonl")
}

/// Segment files in `dir`, in order, with their indexes.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(idx) = name
            .strip_prefix("segment-")
            .and_then(|r| r.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((idx, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Where a record sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub segment: PathBuf,
    /// 1-based line number in the segment.
    pub line: usize,
    /// Byte offset of the line's start.
    pub offset: u64,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.segment.display(), self.line)
    }
}

/// The journal is damaged somewhere other than a torn tail.
#[derive(Debug, Clone, thiserror::Error)]
#[error("journal damaged at {at}{}: {reason}", seq.map(|s| format!(" (seq {s})")).unwrap_or_default())]
pub struct Damage {
    pub at: Location,
    pub seq: Option<u64>,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Damaged(#[from] Damage),
    #[error("cannot read the journal: {0}")]
    Io(#[from] std::io::Error),
}

/// A cut-off last write found at the end of the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub segment: PathBuf,
    /// Length of the segment up to and including the last good record.
    pub good_len: u64,
    /// Bytes after it.
    pub torn_bytes: u64,
}

/// A checkpoint found in the chain, with the hash it claims and the hash the
/// chain actually had at that point.
#[derive(Debug, Clone)]
pub struct FoundCheckpoint {
    pub seq: u64,
    pub covers: u64,
    pub head: String,
    pub key: String,
    pub key_type: String,
    pub signature: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub records: u64,
    pub segments: usize,
    pub first_seq: Option<u64>,
    /// Hash of the last good record (GENESIS for an empty journal).
    pub head: [u8; 32],
    pub next_seq: u64,
    pub last_event_kind: Option<String>,
    pub checkpoints: Vec<FoundCheckpoint>,
    pub torn: Option<TornTail>,
    /// Last segment index and its good length (where appends continue).
    pub last_segment: Option<(u64, u64)>,
}

/// Read every record of the journal in `dir`, check the chain, and hand
/// each record to `visit`. Archived segments moved elsewhere can be checked
/// by scanning a folder holding all of them.
pub fn scan(dir: &Path, visit: &mut dyn FnMut(&Record, &Location)) -> Result<Summary, ScanError> {
    let segments = list_segments(dir)?;
    let mut s = Summary {
        head: GENESIS,
        next_seq: 1,
        segments: segments.len(),
        ..Summary::default()
    };
    let mut recent: VecDeque<(u64, [u8; 32])> = VecDeque::new();
    let last_index = segments.len().saturating_sub(1);
    for (n, (idx, path)) in segments.iter().enumerate() {
        let mut bytes = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut bytes)?;
        let is_last = n == last_index;
        let mut offset = 0usize;
        let mut line_no = 0usize;
        let mut good_len = 0u64;
        while offset < bytes.len() {
            line_no += 1;
            let at = Location {
                segment: path.clone(),
                line: line_no,
                offset: offset as u64,
            };
            let (line, complete, next) = match bytes[offset..].iter().position(|&b| b == b'\n') {
                Some(p) => (&bytes[offset..offset + p], true, offset + p + 1),
                None => (&bytes[offset..], false, bytes.len()),
            };
            // `tearable`: what a cut-off write can leave behind (a fragment
            // without its line end, or bytes that are not a record at all).
            // A well-formed record that does not link is never a torn write.
            let (checked, tearable) = if complete {
                match check_line(line, &s, &at) {
                    Ok(r) => (Ok(r), false),
                    Err((d, undecodable)) => (Err(d), undecodable),
                }
            } else {
                (
                    Err(Damage {
                        at: at.clone(),
                        seq: None,
                        reason: "record without its line end (cut-off write)".into(),
                    }),
                    true,
                )
            };
            match checked {
                Ok(rec) => {
                    let hash = line_hash(line);
                    if let Event::Checkpoint {
                        covers,
                        head,
                        key,
                        key_type,
                        signature,
                    } = &rec.event
                    {
                        let actual = recent.iter().find(|(q, _)| q == covers).map(|(_, h)| *h);
                        match actual {
                            Some(h) if hex::encode(h) == *head => {}
                            Some(_) => {
                                return Err(Damage {
                                    at,
                                    seq: Some(rec.seq),
                                    reason: format!(
                                        "checkpoint says the head at seq {covers} is {head}, but the chain has another hash there"
                                    ),
                                }
                                .into());
                            }
                            // Covers a record in a segment that was archived
                            // away: the head cannot be checked here (the
                            // signature still is, by verify and at start).
                            None if s.first_seq.is_some_and(|f| *covers < f) => {}
                            None => {
                                return Err(Damage {
                                    at,
                                    seq: Some(rec.seq),
                                    reason: format!("checkpoint covers seq {covers}, which is not a recent record"),
                                }
                                .into());
                            }
                        }
                        s.checkpoints.push(FoundCheckpoint {
                            seq: rec.seq,
                            covers: *covers,
                            head: head.clone(),
                            key: key.clone(),
                            key_type: key_type.clone(),
                            signature: signature.clone(),
                        });
                    }
                    visit(&rec, &at);
                    if s.first_seq.is_none() {
                        s.first_seq = Some(rec.seq);
                    }
                    s.records += 1;
                    s.head = hash;
                    s.next_seq = rec.seq + 1;
                    s.last_event_kind = Some(rec.event.kind().into());
                    recent.push_back((rec.seq, hash));
                    if recent.len() > CHECKPOINT_REACH {
                        recent.pop_front();
                    }
                    good_len = next as u64;
                    offset = next;
                }
                Err(d) => {
                    // A torn tail: in the last segment, and nothing but this
                    // one line (or fragment) after it.
                    if is_last && tearable && next >= bytes.len() {
                        s.torn = Some(TornTail {
                            segment: path.clone(),
                            good_len,
                            torn_bytes: (bytes.len() as u64) - good_len,
                        });
                        break;
                    }
                    return Err(d.into());
                }
            }
        }
        if is_last {
            s.last_segment = Some((*idx, good_len));
        }
    }
    Ok(s)
}

/// Check one complete line; on failure also say whether it was not a
/// record at all (true) or a record that does not link (false).
fn check_line(line: &[u8], s: &Summary, at: &Location) -> Result<Record, (Damage, bool)> {
    let rec = decode(line).map_err(|reason| {
        (
            Damage {
                at: at.clone(),
                seq: None,
                reason,
            },
            true,
        )
    })?;
    let dmg = |reason: String| {
        (
            Damage {
                at: at.clone(),
                seq: Some(rec.seq),
                reason,
            },
            false,
        )
    };
    // The first record may continue an archived chain (first_seq > 1);
    // after that, seq must count up by one and prev must link.
    if s.records == 0 {
        if rec.seq == 1 && rec.prev != hex::encode(GENESIS) {
            return Err(dmg("the first record does not start the chain".into()));
        }
    } else {
        if rec.seq != s.next_seq {
            return Err(dmg(format!(
                "expected seq {}, found {} (a record was deleted, inserted or moved)",
                s.next_seq, rec.seq
            )));
        }
        if rec.prev != hex::encode(s.head) {
            return Err(dmg(format!(
                "its prev does not match the hash of seq {} before it: that record was edited, \
                 or this one was inserted or moved",
                s.next_seq - 1
            )));
        }
    }
    Ok(rec)
}
