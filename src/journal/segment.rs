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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Condvar, Mutex, PoisonError};

use super::record::{Event, GENESIS, Record, decode, line_hash};

/// How many recent (seq, hash) pairs a scan remembers to check checkpoints.
const CHECKPOINT_REACH: usize = 1 << 16;

/// Lines decoded together by one helper thread of a scan.
const DECODE_CHUNK: usize = 1024;

/// How many chunks the helper threads may decode ahead of the chain check
/// (bounds the memory a scan holds in decoded records).
const DECODE_AHEAD: usize = 8;

/// Most helper threads a scan uses.
const MAX_DECODERS: usize = 4;

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
    let mut last_kind: Option<&'static str> = None;
    let decoders = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(MAX_DECODERS);
    for (n, (idx, path)) in segments.iter().enumerate() {
        let mut bytes = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut bytes)?;
        let is_last = n == last_index;
        // Complete lines are decoded and hashed ahead, on helper threads;
        // the chain is checked here, in order, as before.
        let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let (plan, receivers) = Plan::new(&bytes[..complete_len], decoders);
        let good_len = std::thread::scope(|scope| -> Result<u64, ScanError> {
            plan.start(scope);
            let mut ahead = Ahead::new(&plan, receivers);
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
                let (complete, next) = match bytes[offset..].iter().position(|&b| b == b'\n') {
                    Some(p) => (true, offset + p + 1),
                    None => (false, bytes.len()),
                };
                // `tearable`: what a cut-off write can leave behind (a fragment
                // without its line end, or bytes that are not a record at all).
                // A well-formed record that does not link is never a torn write.
                let (checked, tearable) = if complete {
                    match check_line(ahead.next_line(), &s, &at) {
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
                    Ok((rec, hash)) => {
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
                                Some(h) if hex_is(head, &h) => {}
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
                        last_kind = Some(rec.event.kind());
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
            Ok(good_len)
        })?;
        if is_last {
            s.last_segment = Some((*idx, good_len));
        }
    }
    s.last_event_kind = last_kind.map(String::from);
    Ok(s)
}

/// Check one complete line, already decoded and hashed; on failure also
/// say whether it was not a record at all (true) or a record that does not
/// link (false).
fn check_line(
    line: Decoded,
    s: &Summary,
    at: &Location,
) -> Result<(Record, [u8; 32]), (Damage, bool)> {
    let rec = line.record.map_err(|reason| {
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
        if !hex_is(&rec.prev, &s.head) {
            return Err(dmg(format!(
                "its prev does not match the hash of seq {} before it: that record was edited, \
                 or this one was inserted or moved",
                s.next_seq - 1
            )));
        }
    }
    Ok((rec, line.hash))
}

/// Whether `text` is the lower-case hex of `hash` (as the writer puts it),
/// without allocating.
fn hex_is(text: &str, hash: &[u8; 32]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let t = text.as_bytes();
    t.len() == 64
        && hash.iter().enumerate().all(|(i, b)| {
            t[2 * i] == DIGITS[usize::from(b >> 4)] && t[2 * i + 1] == DIGITS[usize::from(b & 15)]
        })
}

/// One complete line, decoded and hashed.
struct Decoded {
    record: Result<Record, String>,
    hash: [u8; 32],
}

fn decode_line(line: &[u8]) -> Decoded {
    Decoded {
        record: decode(line),
        hash: line_hash(line),
    }
}

fn decode_lines(bytes: &[u8]) -> Vec<Decoded> {
    bytes
        .split(|&b| b == b'\n')
        .take(bytes.iter().filter(|&&b| b == b'\n').count())
        .map(decode_line)
        .collect()
}

/// The complete lines of one segment, decoded and hashed by helper threads
/// ahead of the (sequential) chain check, and handed out in order.
///
/// Decoding a record's JSON is most of a scan's time; the chain check and
/// the visitor (state replay) must see records in order, but decoding need
/// not. Helpers take chunks of lines in turn and stay at most
/// [`DECODE_AHEAD`] chunks ahead of the reader. With one core, or a short
/// segment, lines are decoded as they are read.
struct Plan<'a> {
    bytes: &'a [u8],
    /// Byte ranges of the chunks (each ends just after a newline); empty
    /// when lines are decoded as they are read.
    chunks: Vec<(usize, usize)>,
    senders: Vec<SyncSender<Vec<Decoded>>>,
    helpers: usize,
    /// How many chunks the reader has taken.
    consumed: Mutex<usize>,
    moved: Condvar,
    /// The reader is gone (done, or stopped at damage).
    stop: AtomicBool,
    /// The next chunk a helper should take.
    next: AtomicUsize,
}

impl<'a> Plan<'a> {
    fn new(bytes: &'a [u8], helpers: usize) -> (Plan<'a>, Vec<Receiver<Vec<Decoded>>>) {
        let mut chunks = Vec::new();
        if helpers >= 2 {
            let mut start = 0;
            let mut lines = 0;
            for (i, &b) in bytes.iter().enumerate() {
                if b == b'\n' {
                    lines += 1;
                    if lines == DECODE_CHUNK {
                        chunks.push((start, i + 1));
                        start = i + 1;
                        lines = 0;
                    }
                }
            }
            if start < bytes.len() {
                chunks.push((start, bytes.len()));
            }
            if chunks.len() < 2 {
                chunks.clear();
            }
        }
        let (senders, receivers) = chunks.iter().map(|_| sync_channel(1)).unzip();
        let plan = Plan {
            bytes,
            chunks,
            senders,
            helpers,
            consumed: Mutex::new(0),
            moved: Condvar::new(),
            stop: AtomicBool::new(false),
            next: AtomicUsize::new(0),
        };
        (plan, receivers)
    }

    /// Start the helpers (none when decoding as lines are read).
    fn start<'scope>(&'scope self, scope: &'scope std::thread::Scope<'scope, '_>) {
        if self.chunks.is_empty() {
            return;
        }
        for _ in 0..self.helpers {
            scope.spawn(move || self.help());
        }
    }

    fn help(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.chunks.len() {
                return;
            }
            {
                let mut consumed = self.consumed.lock().unwrap_or_else(PoisonError::into_inner);
                while i >= *consumed + DECODE_AHEAD && !self.stop.load(Ordering::Relaxed) {
                    consumed = self
                        .moved
                        .wait(consumed)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let (a, b) = self.chunks[i];
            let _ = self.senders[i].send(decode_lines(&self.bytes[a..b]));
        }
    }
}

/// The reader's side of a [`Plan`].
struct Ahead<'p, 'a> {
    plan: &'p Plan<'a>,
    receivers: Vec<Receiver<Vec<Decoded>>>,
    next_chunk: usize,
    current: std::vec::IntoIter<Decoded>,
    /// Where the next line starts, when decoding as lines are read.
    inline_at: usize,
}

impl<'p, 'a> Ahead<'p, 'a> {
    fn new(plan: &'p Plan<'a>, receivers: Vec<Receiver<Vec<Decoded>>>) -> Ahead<'p, 'a> {
        Ahead {
            plan,
            receivers,
            next_chunk: 0,
            current: Vec::new().into_iter(),
            inline_at: 0,
        }
    }

    /// The next complete line. Only called for lines that exist.
    fn next_line(&mut self) -> Decoded {
        let bytes = self.plan.bytes;
        if self.plan.chunks.is_empty() {
            let at = self.inline_at;
            let end = bytes[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| at + p);
            self.inline_at = (end + 1).min(bytes.len());
            return decode_line(&bytes[at..end]);
        }
        loop {
            if let Some(d) = self.current.next() {
                return d;
            }
            let i = self.next_chunk;
            self.next_chunk += 1;
            let (a, b) = self.plan.chunks[i];
            // A helper that died leaves its chunk undecoded: decode it here.
            let lines = self.receivers[i]
                .recv()
                .unwrap_or_else(|_| decode_lines(&bytes[a..b]));
            *self
                .plan
                .consumed
                .lock()
                .unwrap_or_else(PoisonError::into_inner) += 1;
            self.plan.moved.notify_all();
            self.current = lines.into_iter();
        }
    }
}

impl Drop for Ahead<'_, '_> {
    fn drop(&mut self) {
        self.plan.stop.store(true, Ordering::Relaxed);
        let _guard = self
            .plan
            .consumed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.plan.moved.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::encode;

    /// A chained journal of `n` note records, as lines.
    fn chain(n: u64) -> Vec<Vec<u8>> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let line = encode(&Record {
                    seq,
                    ts_ms: 1_700_000_000_000 + seq,
                    prev: hex::encode(prev),
                    event: Event::Note {
                        message: format!("note {seq}"),
                    },
                });
                prev = line_hash(&line);
                line
            })
            .collect()
    }

    fn write(dir: &Path, lines: &[Vec<u8>], tail: &[u8]) {
        let mut bytes = lines.join(&b'\n');
        bytes.push(b'\n');
        bytes.extend_from_slice(tail);
        std::fs::write(dir.join(segment_name(1)), bytes).unwrap();
    }

    fn scan_all(dir: &Path) -> (Result<Summary, ScanError>, Vec<u64>) {
        let mut seen = Vec::new();
        let r = scan(dir, &mut |rec, at| {
            assert_eq!(at.line as u64, rec.seq);
            seen.push(rec.seq)
        });
        (r, seen)
    }

    /// Long enough that helper threads decode it in many chunks.
    const LONG: u64 = 5 * DECODE_CHUNK as u64 + 17;

    #[test]
    fn decoding_ahead_hands_every_record_over_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let lines = chain(LONG);
        write(dir.path(), &lines, b"");
        let (r, seen) = scan_all(dir.path());
        let s = r.unwrap();
        assert_eq!(seen, (1..=LONG).collect::<Vec<_>>());
        assert_eq!(s.records, LONG);
        assert_eq!(s.next_seq, LONG + 1);
        assert_eq!(s.head, line_hash(lines.last().unwrap()));
        assert_eq!(s.last_event_kind.as_deref(), Some("note"));
        assert!(s.torn.is_none());
        // The same answer with lines decoded as they are read.
        let bytes = std::fs::read(dir.path().join(segment_name(1))).unwrap();
        let (plan, rx) = Plan::new(&bytes, 1);
        assert!(plan.chunks.is_empty());
        let mut inline = Ahead::new(&plan, rx);
        for line in &lines {
            let d = inline.next_line();
            assert_eq!(d.hash, line_hash(line));
            assert!(d.record.is_ok());
        }
    }

    #[test]
    fn damage_deep_in_a_long_segment_is_found_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let at = 3 * DECODE_CHUNK as u64 + 5;
        // An edited record: still JSON, so the next record's link breaks.
        let mut lines = chain(LONG);
        let edited = String::from_utf8(lines[at as usize - 1].clone())
            .unwrap()
            .replace("note ", "NOTE ");
        lines[at as usize - 1] = edited.into_bytes();
        write(dir.path(), &lines, b"");
        let (r, seen) = scan_all(dir.path());
        match r {
            Err(ScanError::Damaged(d)) => {
                assert_eq!(d.at.line as u64, at + 1);
                assert_eq!(d.seq, Some(at + 1));
            }
            other => panic!("expected damage, got {other:?}"),
        }
        assert_eq!(seen.len() as u64, at);
        // Bytes that are not a record, in the middle: damage there, not a
        // torn tail.
        let mut lines = chain(LONG);
        lines[at as usize - 1] = b"{not json".to_vec();
        write(dir.path(), &lines, b"");
        match scan_all(dir.path()).0 {
            Err(ScanError::Damaged(d)) => {
                assert_eq!(d.at.line as u64, at);
                assert_eq!(d.seq, None);
            }
            other => panic!("expected damage, got {other:?}"),
        }
    }

    #[test]
    fn a_torn_tail_after_a_long_segment_is_cut_back() {
        let dir = tempfile::tempdir().unwrap();
        let lines = chain(LONG);
        write(dir.path(), &lines, b"{\"seq\":");
        let s = scan_all(dir.path()).0.unwrap();
        assert_eq!(s.records, LONG);
        let torn = s.torn.unwrap();
        assert_eq!(torn.torn_bytes, 7);
        assert_eq!(s.last_segment.unwrap().1, torn.good_len);
    }

    #[test]
    fn hex_comparison_matches_hex_encoding() {
        let h = line_hash(b"x");
        assert!(hex_is(&hex::encode(h), &h));
        let mut other = h;
        other[31] ^= 1;
        assert!(!hex_is(&hex::encode(other), &h));
        assert!(!hex_is(&hex::encode(h).to_uppercase(), &h));
        assert!(!hex_is(&hex::encode(h)[..62], &h));
    }
}
