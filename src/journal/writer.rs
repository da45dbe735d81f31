//! The journal's single writer: a thread that owns the open segment and
//! appends with group commit.
//!
//! Requests queue on a channel. The writer takes everything that is queued,
//! encodes and chains the records, writes them with one `write` and makes
//! them durable with one `fdatasync`, then answers every waiter. Under load
//! many requests share one fsync; alone, a request pays for exactly one.
//!
//! Records that nobody waits for (the signature that follows an already
//! durable decision, a refused peer) do not get an fsync of their own: they
//! are written at once and made durable by the next batch that has a
//! waiter, or by a sync of their own once the journal has been quiet for
//! [`LAZY_SYNC_AFTER`]. Syncing them alone cost every request at light load
//! a second fsync, queued in front of the client's next decision.
//!
//! A failed write or sync is answered with an error (the caller denies: fail
//! closed), the segment is cut back to its last durable length, and the next
//! batch simply tries again, so the journal recovers by itself once the disk
//! has room or the I/O error clears.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::record::{Event, Record, encode, line_hash, now_ms};
use super::segment::segment_name;

/// Largest number of records in one group commit.
const MAX_BATCH: usize = 4096;

/// How long written records that nobody waits for may stay unsynced while
/// no other record arrives.
pub const LAZY_SYNC_AFTER: Duration = Duration::from_millis(2);

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: [u8; 32],
}

/// Why a record could not be made durable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JournalError {
    #[error(
        "the journal cannot be written ({0}); nothing that needs a record is allowed until it can"
    )]
    Unavailable(String),
    #[error("the journal is closed")]
    Closed,
}

pub(super) enum Command {
    Append {
        event: Box<Event>,
        reply: Option<oneshot::Sender<Result<Appended, JournalError>>>,
    },
    /// Report the current head (seq and hash of the last durable record).
    Head {
        reply: oneshot::Sender<Option<Appended>>,
    },
}

pub(super) struct Writer {
    dir: PathBuf,
    segment_index: u64,
    file: File,
    /// Bytes written to the open segment, durable or not.
    size: u64,
    max_segment: u64,
    /// The chain as written, durable or not.
    next_seq: u64,
    prev: [u8; 32],
    /// The chain as last made durable: where a failure cuts back to.
    synced: Synced,
}

/// The journal's state at its last successful sync (in the open segment).
#[derive(Clone, Copy)]
struct Synced {
    size: u64,
    next_seq: u64,
    prev: [u8; 32],
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

impl Writer {
    /// Continue the journal at segment `index`, cut to `len` bytes.
    pub(super) fn open(
        dir: &Path,
        index: u64,
        len: u64,
        max_segment: u64,
        next_seq: u64,
        prev: [u8; 32],
    ) -> std::io::Result<Writer> {
        let file = open_segment(dir, index)?;
        if file.metadata()?.len() != len {
            file.set_len(len)?;
            file.sync_all()?;
        }
        Ok(Writer {
            dir: dir.to_path_buf(),
            segment_index: index,
            file,
            size: len,
            max_segment,
            next_seq,
            prev,
            synced: Synced {
                size: len,
                next_seq,
                prev,
            },
        })
    }

    /// Whether written records are still waiting for a sync.
    fn dirty(&self) -> bool {
        self.size != self.synced.size || self.next_seq != self.synced.next_seq
    }

    /// Serve commands until every sender is gone.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        // Only for waiting with a time limit while records are unsynced.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build();
        let mut batch = Vec::new();
        loop {
            let first = match (&timer, self.dirty()) {
                (Ok(rt), true) => {
                    // The timer must be made inside the runtime's context.
                    let wait = async { tokio::time::timeout(LAZY_SYNC_AFTER, rx.recv()).await };
                    match rt.block_on(wait) {
                        Ok(Some(c)) => c,
                        Ok(None) => break,
                        Err(_) => {
                            self.sync_pending();
                            continue;
                        }
                    }
                }
                // Without a timer (the runtime could not be built), unsynced
                // records are synced before sleeping.
                (Err(_), true) => {
                    self.sync_pending();
                    continue;
                }
                (_, false) => match rx.blocking_recv() {
                    Some(c) => c,
                    None => break,
                },
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let records = batch.len();
            self.commit(&mut batch);
            crate::metrics::get()
                .journal_group_commit
                .observe(records as f64);
        }
        let _ = self.file.sync_all();
    }

    fn commit(&mut self, batch: &mut Vec<Command>) {
        let mut buf = Vec::with_capacity(256 * batch.len());
        let mut seq = self.next_seq;
        let mut prev = self.prev;
        let mut waiters = Vec::with_capacity(batch.len());
        let mut heads = Vec::new();
        let mut must_sync = false;
        for cmd in batch.drain(..) {
            match cmd {
                Command::Append { event, reply } => {
                    must_sync |= reply.is_some();
                    let rec = Record {
                        seq,
                        ts_ms: now_ms(),
                        prev: hex::encode(prev),
                        event: *event,
                    };
                    let line = encode(&rec);
                    prev = line_hash(&line);
                    buf.extend_from_slice(&line);
                    buf.push(b'\n');
                    waiters.push((reply, Appended { seq, hash: prev }));
                    seq += 1;
                }
                // Heads are answered after the batch, so they include it,
                // and report only durable records.
                Command::Head { reply } => {
                    must_sync = true;
                    heads.push(reply)
                }
            }
        }
        if !buf.is_empty() || (must_sync && self.dirty()) {
            match self.write(&buf, seq, prev, must_sync) {
                Ok(()) => {
                    for (reply, a) in waiters {
                        if let Some(r) = reply {
                            let _ = r.send(Ok(a));
                        }
                    }
                }
                Err((e, lost)) => {
                    crate::metrics::get().journal_errors.inc();
                    tracing::error!(error = %e, records = waiters.len(), unsynced_lost = lost, "journal write failed; denying until it works again");
                    let err = JournalError::Unavailable(e.to_string());
                    for (reply, _) in waiters {
                        if let Some(r) = reply {
                            let _ = r.send(Err(err.clone()));
                        }
                    }
                }
            }
        }
        let head = (self.next_seq > 1).then_some(Appended {
            seq: self.next_seq - 1,
            hash: self.prev,
        });
        for h in heads {
            let _ = h.send(head);
        }
    }

    /// Write `buf` (the records up to `next_seq`, ending in `prev`) and,
    /// if `sync`, make everything written so far durable. On failure the
    /// segment is cut back to its last durable length and the chain to its
    /// last durable record; the error comes with the number of records
    /// written earlier without a waiter that were lost with the cut.
    fn write(
        &mut self,
        buf: &[u8],
        next_seq: u64,
        prev: [u8; 32],
        sync: bool,
    ) -> Result<(), (std::io::Error, u64)> {
        if !buf.is_empty() && self.size > 0 && self.size + buf.len() as u64 > self.max_segment {
            // Whatever the old segment holds is made durable before the
            // next one starts, so a cut never has to reach back into it.
            if self.dirty() {
                self.sync_data().map_err(|e| self.cut_back(e))?;
                self.mark_synced();
            }
            let file = open_segment(&self.dir, self.segment_index + 1).map_err(|e| (e, 0))?;
            self.file = file;
            self.segment_index += 1;
            self.size = 0;
            self.synced.size = 0;
        }
        if let Err(e) = self.file.write_all(buf) {
            return Err(self.cut_back(e));
        }
        self.size += buf.len() as u64;
        self.next_seq = next_seq;
        self.prev = prev;
        if sync {
            self.sync_data().map_err(|e| self.cut_back(e))?;
            self.mark_synced();
        }
        Ok(())
    }

    /// Make records written without a waiter durable (the journal has been
    /// quiet for a while).
    fn sync_pending(&mut self) {
        match self.sync_data() {
            Ok(()) => self.mark_synced(),
            Err(e) => {
                crate::metrics::get().journal_errors.inc();
                let (e, lost) = self.cut_back(e);
                tracing::error!(error = %e, unsynced_lost = lost, "journal sync failed; records nobody waited for were cut back");
            }
        }
    }

    /// One fsync of the segment, timed.
    fn sync_data(&self) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        let r = self.file.sync_data();
        crate::metrics::get()
            .journal_fsync_seconds
            .observe(crate::metrics::seconds(started.elapsed()));
        r
    }

    fn mark_synced(&mut self) {
        self.synced = Synced {
            size: self.size,
            next_seq: self.next_seq,
            prev: self.prev,
        };
    }

    /// Cut the segment and the chain back to the last durable record, so
    /// the chain on disk stays whole and the next batch starts from there.
    fn cut_back(&mut self, e: std::io::Error) -> (std::io::Error, u64) {
        let lost = self.next_seq - self.synced.next_seq;
        let _ = self.file.set_len(self.synced.size);
        let _ = self.file.sync_data();
        self.size = self.synced.size;
        self.next_seq = self.synced.next_seq;
        self.prev = self.synced.prev;
        (e, lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{GENESIS, decode};

    fn note(n: u32) -> Box<Event> {
        Box::new(Event::Note {
            message: format!("note {n}"),
        })
    }

    fn lines(dir: &Path) -> Vec<Record> {
        std::fs::read_to_string(dir.join(segment_name(1)))
            .unwrap_or_default()
            .lines()
            .map(|l| decode(l.as_bytes()).unwrap())
            .collect()
    }

    #[test]
    fn records_nobody_waits_for_share_the_next_sync_or_get_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let w = Writer::open(dir.path(), 1, 0, 1 << 20, 1, GENESIS).unwrap();
        let (tx, rx) = mpsc::channel(16);
        let thread = std::thread::spawn(move || w.run(rx));
        // Alone, a record without a waiter is written and then synced once
        // the journal has been quiet for a moment.
        tx.blocking_send(Command::Append {
            event: note(1),
            reply: None,
        })
        .unwrap();
        std::thread::sleep(LAZY_SYNC_AFTER * 10);
        assert_eq!(lines(dir.path()).len(), 1);
        // Followed by a waited-for record: both are in the chain, in order,
        // and the head reports the durable end of it.
        tx.blocking_send(Command::Append {
            event: note(2),
            reply: None,
        })
        .unwrap();
        let (reply, durable) = oneshot::channel();
        tx.blocking_send(Command::Append {
            event: note(3),
            reply: Some(reply),
        })
        .unwrap();
        let a = durable.blocking_recv().unwrap().unwrap();
        assert_eq!(a.seq, 3);
        let (reply, head) = oneshot::channel();
        tx.blocking_send(Command::Head { reply }).unwrap();
        assert_eq!(head.blocking_recv().unwrap(), Some(a));
        drop(tx);
        thread.join().unwrap();
        let recs = lines(dir.path());
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let mut prev = GENESIS;
        let text = std::fs::read_to_string(dir.path().join(segment_name(1))).unwrap();
        for (rec, line) in recs.iter().zip(text.lines()) {
            assert_eq!(rec.prev, hex::encode(prev));
            prev = line_hash(line.as_bytes());
        }
        assert_eq!(prev, a.hash);
    }

    #[test]
    fn unsynced_records_are_synced_before_a_segment_rolls() {
        let dir = tempfile::tempdir().unwrap();
        // Segments of about two records.
        let w = Writer::open(dir.path(), 1, 0, 200, 1, GENESIS).unwrap();
        let (tx, rx) = mpsc::channel(16);
        let thread = std::thread::spawn(move || w.run(rx));
        for n in 0..6 {
            let (reply, durable) = oneshot::channel();
            tx.blocking_send(Command::Append {
                event: note(n),
                reply: None,
            })
            .unwrap();
            tx.blocking_send(Command::Append {
                event: note(n + 100),
                reply: Some(reply),
            })
            .unwrap();
            durable.blocking_recv().unwrap().unwrap();
        }
        drop(tx);
        thread.join().unwrap();
        let summary = super::super::segment::scan(dir.path(), &mut |_, _| {}).unwrap();
        assert_eq!(summary.records, 12);
        assert!(summary.segments > 2);
    }
}
