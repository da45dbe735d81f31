//! The journal's single writer: a thread that owns the store and appends
//! with group commit.
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
//! closed), the store goes back to its last durable record, and the next
//! batch simply tries again, so the journal recovers by itself once the disk
//! has room or the I/O error clears.
//!
//! Where the lines go is the [`Store`]'s business (today the segment
//! files); the writer chains the records and decides when to wait for
//! durability.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::record::{Event, Record, encode, line_hash, now_ms};
use super::store::{Appended, Store, StoreError};

/// Largest number of records in one group commit.
const MAX_BATCH: usize = 4096;

/// How long written records that nobody waits for may stay unsynced while
/// no other record arrives.
pub const LAZY_SYNC_AFTER: Duration = Duration::from_millis(2);

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
    store: Box<dyn Store>,
    /// Records were appended without waiting for durability since the
    /// store was last made durable (or went back to its durable end).
    unsynced: bool,
}

impl Writer {
    pub(super) fn new(store: Box<dyn Store>) -> Writer {
        Writer {
            store,
            unsynced: false,
        }
    }

    /// Serve commands until every sender is gone.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        // Only for waiting with a time limit while records are unsynced.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build();
        let mut batch = Vec::new();
        loop {
            let first = match (&timer, self.unsynced) {
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
        // Dropping the store (with `self`) makes what it holds durable,
        // records nobody waited for included.
    }

    fn commit(&mut self, batch: &mut Vec<Command>) {
        let mut buf = Vec::with_capacity(256 * batch.len());
        let head = self.store.head();
        let mut seq = head.seq + 1;
        let mut prev = head.hash;
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
        let written = if !buf.is_empty() {
            let last = Appended {
                seq: seq - 1,
                hash: prev,
            };
            Some(self.store.append(&buf, last, must_sync))
        } else if must_sync && self.unsynced {
            Some(self.store.sync())
        } else {
            None
        };
        match written {
            Some(Ok(())) => {
                self.unsynced = !must_sync;
                for (reply, a) in waiters {
                    if let Some(r) = reply {
                        let _ = r.send(Ok(a));
                    }
                }
            }
            Some(Err(StoreError { error: e, lost })) => {
                // The store is back at its last durable record.
                self.unsynced = false;
                crate::metrics::get().journal_errors.inc();
                tracing::error!(error = %e, records = waiters.len(), unsynced_lost = lost, "journal write failed; denying until it works again");
                let err = JournalError::Unavailable(e.to_string());
                for (reply, _) in waiters {
                    if let Some(r) = reply {
                        let _ = r.send(Err(err.clone()));
                    }
                }
            }
            None => {}
        }
        let head = self.store.head();
        let head = (head.seq > 0).then_some(head);
        for h in heads {
            let _ = h.send(head);
        }
    }

    /// Make records written without a waiter durable (the journal has been
    /// quiet for a while).
    fn sync_pending(&mut self) {
        self.unsynced = false;
        if let Err(StoreError { error: e, lost }) = self.store.sync() {
            crate::metrics::get().journal_errors.inc();
            tracing::error!(error = %e, unsynced_lost = lost, "journal sync failed; records nobody waited for were cut back");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::journal::record::{GENESIS, decode};
    use crate::journal::segment::{SegmentStore, segment_name};

    /// A writer on a new segment store in `dir`.
    fn writer(dir: &Path, max_segment: u64) -> Writer {
        let empty = Appended {
            seq: 0,
            hash: GENESIS,
        };
        let store = SegmentStore::open(dir, 1, 0, max_segment, empty).unwrap();
        Writer::new(Box::new(store))
    }

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
        let w = writer(dir.path(), 1 << 20);
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
        let w = writer(dir.path(), 200);
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
