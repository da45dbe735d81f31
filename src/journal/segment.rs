//! Segment files and reading them back.
//!
//! The journal is a folder of segment files `segment-000001.jsonl`,
//! `segment-000002.jsonl`, ...; a segment rolls over when it passes the
//! configured size. The chain runs across segments: the first record of a
//! segment carries the hash of the last record of the one before, so
//! archived segments still verify as one chain.
//!
//! [`SegmentStore`] appends to them: the journal's [`Store`] on disk.
//!
//! `scan` reads every record in order and checks the chain. It tells a torn
//! tail (the last write of a crashed agent: a fragment without its newline,
//! or one unreadable final line, at the very end of the last segment) from
//! damage anywhere else: the first can be cut back safely, the second needs
//! an operator.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use super::record::{Event, GENESIS, Record, decode, line_hash};
use super::store::{Appended, ScanStore, Store, StoreError};

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
    /// Shared by every record of the segment (one allocation per segment,
    /// not per record).
    pub segment: Arc<Path>,
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
    // One buffer for every segment: a fresh 64 MiB for each would be
    // faulted in page by page again.
    let mut bytes = Vec::new();
    for (n, (idx, path)) in segments.iter().enumerate() {
        bytes.clear();
        std::fs::File::open(path)?.read_to_end(&mut bytes)?;
        let bytes = &bytes[..];
        let is_last = n == last_index;
        let shared_path: Arc<Path> = Arc::from(path.as_path());
        let complete_len = memchr::memrchr(b'\n', bytes).map_or(0, |p| p + 1);
        let good_len = std::thread::scope(|scope| -> Result<u64, ScanError> {
            let mut hashes = LineHashes::start(scope, &bytes[..complete_len]);
            let mut offset = 0usize;
            let mut line_no = 0usize;
            let mut good_len = 0u64;
            while offset < bytes.len() {
                line_no += 1;
                let at = Location {
                    segment: shared_path.clone(),
                    line: line_no,
                    offset: offset as u64,
                };
                // Every line before `complete_len` ends in a newline; what
                // follows it is a fragment without one.
                let complete = offset < complete_len;
                let mut next = bytes.len();
                // `tearable`: what a cut-off write can leave behind (a fragment
                // without its line end, or bytes that are not a record at all).
                // A well-formed record that does not link is never a torn write.
                let (checked, tearable) = if complete {
                    let end = memchr::memchr(b'\n', &bytes[offset..complete_len])
                        .map_or(complete_len, |p| offset + p);
                    let line = Decoded {
                        record: decode(&bytes[offset..end]),
                        hash: hashes.next(&bytes[offset..end]),
                    };
                    next = end + 1;
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

/// Lines hashed per chunk by a helper thread.
const HASH_CHUNK: usize = 4096;

/// The chain hashes of a segment's complete lines, computed by a helper
/// thread while the reader decodes, and handed out in order.
///
/// Hashing is a sixth of a scan's work and needs nothing from the reader;
/// only hashes cross threads (no records, whose allocations would then be
/// freed on another thread than the one that made them).
struct LineHashes {
    rx: Receiver<Vec<[u8; 32]>>,
    chunk: std::vec::IntoIter<[u8; 32]>,
}

impl LineHashes {
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        complete: &'scope [u8],
    ) -> Self {
        let (tx, rx) = sync_channel::<Vec<[u8; 32]>>(16);
        scope.spawn(move || {
            let mut chunk = Vec::with_capacity(HASH_CHUNK);
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', complete) {
                chunk.push(line_hash(&complete[start..end]));
                start = end + 1;
                if chunk.len() == HASH_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(HASH_CHUNK));
                    // The reader stopped (damage): stop too.
                    if tx.send(full).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(chunk);
        });
        LineHashes {
            rx,
            chunk: Vec::new().into_iter(),
        }
    }

    /// The hash of the next complete line, `line`.
    fn next(&mut self, line: &[u8]) -> [u8; 32] {
        loop {
            if let Some(h) = self.chunk.next() {
                return h;
            }
            match self.rx.recv() {
                Ok(chunk) => self.chunk = chunk.into_iter(),
                // The helper is gone (it cannot be, short of a panic):
                // hash here.
                Err(_) => return line_hash(line),
            }
        }
    }
}

/// One `fdatasync` of a segment, timed for the metrics.
fn timed_sync(file: &File) -> std::io::Result<()> {
    let started = std::time::Instant::now();
    let r = file.sync_data();
    crate::metrics::get()
        .journal_fsync_seconds
        .observe(crate::metrics::seconds(started.elapsed()));
    r
}

/// The segment files as a [`Store`]: appends go to the last segment, and a
/// new segment starts when a batch would take the current one past
/// `max_segment` bytes. Durable means `fdatasync`ed.
///
/// A failed write or sync cuts the segment back to its last durable
/// length, so the chain on disk stays whole and the next append simply
/// tries again: the journal recovers by itself once the disk has room or
/// the I/O error clears.
pub struct SegmentStore {
    dir: PathBuf,
    segment_index: u64,
    file: File,
    /// Bytes written to the open segment, durable or not.
    size: u64,
    max_segment: u64,
    /// The last record written, durable or not.
    head: Appended,
    /// The store at its last successful sync: where a failure cuts back to.
    synced: Synced,
}

/// The store's state at its last successful sync (in the open segment).
#[derive(Clone, Copy)]
struct Synced {
    size: u64,
    head: Appended,
}

fn open_segment(dir: &Path, index: u64) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(segment_name(index)))?;
    // Make the new directory entry durable too.
    File::open(dir)?.sync_all()?;
    Ok(f)
}

impl SegmentStore {
    /// Continue the journal in `dir` at segment `index`, cut to `len` bytes
    /// (dropping a torn tail), whose last record is `head`.
    pub fn open(
        dir: &Path,
        index: u64,
        len: u64,
        max_segment: u64,
        head: Appended,
    ) -> std::io::Result<SegmentStore> {
        let file = open_segment(dir, index)?;
        if file.metadata()?.len() != len {
            file.set_len(len)?;
            file.sync_all()?;
        }
        Ok(SegmentStore {
            dir: dir.to_path_buf(),
            segment_index: index,
            file,
            size: len,
            max_segment,
            head,
            synced: Synced { size: len, head },
        })
    }

    /// Whether written records are still waiting for a sync.
    fn dirty(&self) -> bool {
        self.size != self.synced.size || self.head != self.synced.head
    }

    fn mark_synced(&mut self) {
        self.synced = Synced {
            size: self.size,
            head: self.head,
        };
    }

    /// Cut the segment and the head back to the last durable record.
    fn cut_back(&mut self, error: std::io::Error) -> StoreError {
        let lost = self.head.seq - self.synced.head.seq;
        let _ = self.file.set_len(self.synced.size);
        let _ = self.file.sync_data();
        self.size = self.synced.size;
        self.head = self.synced.head;
        StoreError { error, lost }
    }
}

impl Store for SegmentStore {
    fn head(&self) -> Appended {
        self.head
    }

    fn append(&mut self, lines: &[u8], last: Appended, durable: bool) -> Result<(), StoreError> {
        if !lines.is_empty() && self.size > 0 && self.size + lines.len() as u64 > self.max_segment {
            // Whatever the old segment holds is made durable before the
            // next one starts, so a cut never has to reach back into it.
            if self.dirty() {
                timed_sync(&self.file).map_err(|e| self.cut_back(e))?;
                self.mark_synced();
            }
            let file = open_segment(&self.dir, self.segment_index + 1)
                .map_err(|error| StoreError { error, lost: 0 })?;
            self.file = file;
            self.segment_index += 1;
            self.size = 0;
            self.synced.size = 0;
        }
        if let Err(e) = self.file.write_all(lines) {
            return Err(self.cut_back(e));
        }
        self.size += lines.len() as u64;
        self.head = last;
        if durable {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        timed_sync(&self.file).map_err(|e| self.cut_back(e))?;
        self.mark_synced();
        Ok(())
    }
}

impl ScanStore for SegmentStore {
    type ScanError = ScanError;

    fn scan(&self, from: u64, visit: &mut dyn FnMut(&Record)) -> Result<Appended, ScanError> {
        let s = scan(&self.dir, &mut |rec, _| {
            if rec.seq >= from {
                visit(rec)
            }
        })?;
        Ok(Appended {
            seq: s.next_seq - 1,
            hash: s.head,
        })
    }
}

impl Drop for SegmentStore {
    fn drop(&mut self) {
        // The writer is stopping: records nobody waited for are made
        // durable too. A failure has no one left to tell.
        let _ = self.file.sync_all();
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

    const LONG: u64 = 5_017;

    #[test]
    fn every_record_is_handed_over_in_order() {
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
    }

    #[test]
    fn damage_in_the_middle_is_found_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let at = 3_077;
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
    fn a_torn_tail_is_cut_back() {
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

    #[test]
    fn a_segment_store_keeps_lines_as_given_and_reads_back_from_a_seq() {
        let dir = tempfile::tempdir().unwrap();
        let lines = chain(5);
        let batch = |seqs: std::ops::Range<usize>| {
            let mut b = Vec::new();
            for line in &lines[seqs.start - 1..seqs.end - 1] {
                b.extend_from_slice(line);
                b.push(b'\n');
            }
            b
        };
        let at = |seq: usize| Appended {
            seq: seq as u64,
            hash: line_hash(&lines[seq - 1]),
        };
        let empty = Appended {
            seq: 0,
            hash: GENESIS,
        };
        let mut store = SegmentStore::open(dir.path(), 1, 0, 1 << 20, empty).unwrap();
        assert_eq!(store.head(), empty);
        store.append(&batch(1..3), at(2), false).unwrap();
        assert_eq!(store.head(), at(2));
        store.append(&batch(3..6), at(5), true).unwrap();
        assert_eq!(store.head(), at(5));
        let mut seen = Vec::new();
        assert_eq!(store.scan(3, &mut |r| seen.push(r.seq)).unwrap(), at(5));
        assert_eq!(seen, [3, 4, 5]);
        drop(store);
        let written = std::fs::read(dir.path().join(segment_name(1))).unwrap();
        assert_eq!(written, batch(1..6));
        // Reopened shorter (a torn tail cut off), it continues from there.
        let len = batch(1..4).len() as u64;
        let mut store = SegmentStore::open(dir.path(), 1, len, 1 << 20, at(3)).unwrap();
        store.append(&batch(4..5), at(4), true).unwrap();
        let mut seen = Vec::new();
        assert_eq!(store.scan(1, &mut |r| seen.push(r.seq)).unwrap(), at(4));
        assert_eq!(seen, [1, 2, 3, 4]);
    }

    #[test]
    fn a_segment_store_rolls_to_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let lines = chain(4);
        let empty = Appended {
            seq: 0,
            hash: GENESIS,
        };
        // Room for one line per segment.
        let max = lines[0].len() as u64 + 1;
        let mut store = SegmentStore::open(dir.path(), 1, 0, max, empty).unwrap();
        for (i, line) in lines.iter().enumerate() {
            let mut b = line.clone();
            b.push(b'\n');
            let last = Appended {
                seq: i as u64 + 1,
                hash: line_hash(line),
            };
            store.append(&b, last, i % 2 == 1).unwrap();
        }
        drop(store);
        let mut seen = Vec::new();
        let s = scan(dir.path(), &mut |r, at| seen.push((r.seq, at.line))).unwrap();
        assert_eq!(s.segments, 4);
        assert_eq!(seen, [(1, 1), (2, 1), (3, 1), (4, 1)]);
    }
}
