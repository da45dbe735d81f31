//! The journal's single writer: a thread that owns the open segment and
//! appends with group commit.
//!
//! Requests queue on a channel. The writer takes everything that is queued,
//! encodes and chains the records, writes them with one `write` and makes
//! them durable with one `fdatasync`, then answers every waiter. Under load
//! many requests share one fsync; alone, a request pays for exactly one.
//!
//! A failed write or sync is answered with an error (the caller denies: fail
//! closed), the segment is cut back to its last durable length, and the next
//! batch simply tries again, so the journal recovers by itself once the disk
//! has room or the I/O error clears.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use super::record::{Event, Record, encode, line_hash, now_ms};
use super::segment::segment_name;

/// Largest number of records in one group commit.
const MAX_BATCH: usize = 4096;

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
    size: u64,
    max_segment: u64,
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
        })
    }

    /// Serve commands until every sender is gone.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            self.commit(&mut batch);
        }
        let _ = self.file.sync_all();
    }

    fn commit(&mut self, batch: &mut Vec<Command>) {
        let mut buf = Vec::with_capacity(256 * batch.len());
        let mut seq = self.next_seq;
        let mut prev = self.prev;
        let mut waiters = Vec::with_capacity(batch.len());
        let mut heads = Vec::new();
        for cmd in batch.drain(..) {
            match cmd {
                Command::Append { event, reply } => {
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
                // Heads are answered after the batch, so they include it.
                Command::Head { reply } => heads.push(reply),
            }
        }
        if !buf.is_empty() {
            match self.write_durably(&buf) {
                Ok(()) => {
                    self.next_seq = seq;
                    self.prev = prev;
                    for (reply, a) in waiters {
                        if let Some(r) = reply {
                            let _ = r.send(Ok(a));
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, records = waiters.len(), "journal write failed; denying until it works again");
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

    fn write_durably(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_segment {
            let file = open_segment(&self.dir, self.segment_index + 1)?;
            self.file = file;
            self.segment_index += 1;
            self.size = 0;
        }
        let result = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.size += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut back to the last durable record so the chain on disk
                // stays whole; the next batch starts from there.
                let _ = self.file.set_len(self.size);
                let _ = self.file.sync_data();
                Err(e)
            }
        }
    }
}
