//! The tamper-evident journal: every decision, signature, refusal, start
//! and stop, appended to hash-chained segment files and made durable before
//! the agent answers (group commit keeps that cheap). Checkpoints over the
//! chain head are signed by an audit key inside the token, so an edited
//! record cannot be re-chained by someone who holds only the disk.
//!
//! At start the journal is read back in full: the chain is checked, a torn
//! last write is cut back (and the cut is itself journaled), damage anywhere
//! else stops the start until an operator runs `tradeward journal recover`,
//! and every record is handed to a visitor so that later parts (policy,
//! dead-man's switch) rebuild their state from it.
//!
//! Where the lines are kept is a [`Store`]: today the segment files
//! ([`SegmentStore`]); the interface is there so that a store on PostgreSQL
//! can be a second one. The journal knows nothing of policy or backends,
//! and what reads it for people (`journal export`) lives in `crate::report`.

pub mod checkpoint;
pub mod record;
pub mod recover;
pub mod segment;
pub mod store;
pub mod verify;
mod writer;

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, mpsc, oneshot};

pub use record::{Decision, Event, KeyRef, KeySummary, Record};
pub use segment::{Damage, Location, ScanError, SegmentStore};
pub use store::{Appended, Store, StoreError};
pub use writer::JournalError;

use writer::{Command, Writer};

/// What opening the journal found.
#[derive(Debug, Clone)]
pub struct OpenReport {
    pub records: u64,
    pub segments: usize,
    /// Bytes cut from a torn last write, if any.
    pub torn_bytes: Option<u64>,
    /// The previous run ended without a stop record (a crash or SIGKILL).
    pub unclean_previous: bool,
    /// Every checkpoint found, for the agent to check its signature.
    pub checkpoints: Vec<segment::FoundCheckpoint>,
    /// Records after the last checkpoint (checkpoint records not counted).
    pub uncovered: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{0}\nThe journal is damaged before its last record, so the agent will not start. \
         Inspect it with `tradeward journal verify`, then run `tradeward journal recover` \
         to set the damaged part aside and continue the chain."
    )]
    Damaged(Damage),
    #[error("journal folder {0}: {1}")]
    Folder(PathBuf, String),
    #[error("cannot open the journal: {0}")]
    Io(#[from] std::io::Error),
}

/// A submitted record on its way to disk.
pub struct Pending {
    rx: oneshot::Receiver<Result<Appended, JournalError>>,
    journal: Journal,
}

impl Pending {
    /// Wait until the record is durable (or failed to be).
    pub async fn durable(self) -> Result<Appended, JournalError> {
        let r = self.rx.await.map_err(|_| JournalError::Closed)?;
        if r.is_ok() {
            self.journal.count_one();
        }
        r
    }
}

/// Handle to the running journal. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Command>,
    since_checkpoint: Arc<AtomicU64>,
    checkpoint_due: Arc<Notify>,
    checkpoint_every: u64,
}

/// Take the journal folder's lock (an exclusive `flock` on
/// `journal.lock`), so that two agents, or an agent and `journal recover`,
/// never write the same journal.
pub fn lock_dir(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("journal.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| OpenError::Folder(dir.into(), format!("{}: {e}", path.display())))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
        OpenError::Folder(
            dir.into(),
            "the journal is in use by another agent (or a recovery); stop it first".into(),
        )
    })
}

/// Create the journal folder (0700) or check an existing one is private.
pub fn prepare_dir(dir: &Path) -> Result<(), OpenError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| OpenError::Folder(dir.into(), e.to_string()))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| OpenError::Folder(dir.into(), e.to_string()))?;
    if !meta.is_dir() {
        return Err(OpenError::Folder(dir.into(), "not a directory".into()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(OpenError::Folder(
            dir.into(),
            format!(
                "writable by group or others (mode {:o})",
                meta.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

impl Journal {
    /// Open (or create) the journal in `dir`, replaying every record into
    /// `visit`. Starts the writer thread.
    pub fn open(
        dir: &Path,
        max_segment: u64,
        checkpoint_every: u64,
        visit: &mut dyn FnMut(&Record),
    ) -> Result<(Journal, OpenReport), OpenError> {
        prepare_dir(dir)?;
        let lock = lock_dir(dir)?;
        let mut last_real_kind_is_stop = None;
        let summary = segment::scan(dir, &mut |rec, _| {
            match rec.event {
                Event::Checkpoint { .. } | Event::Note { .. } => {}
                Event::Stop { .. } => last_real_kind_is_stop = Some(true),
                _ => last_real_kind_is_stop = Some(false),
            }
            visit(rec);
        })
        .map_err(|e| match e {
            ScanError::Damaged(d) => OpenError::Damaged(d),
            ScanError::Io(e) => OpenError::Io(e),
        })?;
        let (index, len) = summary.last_segment.unwrap_or((1, 0));
        let head = Appended {
            seq: summary.next_seq - 1,
            hash: summary.head,
        };
        let store = SegmentStore::open(dir, index, len, max_segment, head)?;
        let writer = Writer::new(Box::new(store));
        let (tx, rx) = mpsc::channel(65_536);
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                // The lock lives as long as the writer.
                let _lock = lock;
                writer.run(rx)
            })?;
        let journal = Journal {
            tx,
            since_checkpoint: Arc::new(AtomicU64::new(0)),
            checkpoint_due: Arc::new(Notify::new()),
            checkpoint_every: checkpoint_every.max(1),
        };
        let report = OpenReport {
            records: summary.records,
            segments: summary.segments.max(1),
            torn_bytes: summary.torn.as_ref().map(|t| t.torn_bytes),
            unclean_previous: last_real_kind_is_stop == Some(false),
            checkpoints: summary.checkpoints.clone(),
            uncovered: {
                let last = summary.next_seq.saturating_sub(1);
                match summary.checkpoints.last() {
                    Some(cp) => {
                        let after = summary
                            .checkpoints
                            .iter()
                            .filter(|c| c.seq > cp.covers)
                            .count() as u64;
                        last.saturating_sub(cp.covers).saturating_sub(after)
                    }
                    None => summary.records,
                }
            },
        };
        Ok((journal, report))
    }

    /// Append `event` and wait until it is durable on disk.
    pub async fn append(&self, event: Event) -> Result<Appended, JournalError> {
        self.submit(event).await?.durable().await
    }

    /// Queue `event` (its place in the journal's order is fixed once this
    /// returns) without waiting for it to be durable. Callers that decide
    /// under a lock submit under the lock, so records appear in decision
    /// order, and wait for durability after releasing it, so concurrent
    /// decisions still share one fsync.
    pub async fn submit(&self, event: Event) -> Result<Pending, JournalError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Append {
                event: Box::new(event),
                reply: Some(reply),
            })
            .await
            .map_err(|_| JournalError::Closed)?;
        Ok(Pending {
            rx,
            journal: self.clone(),
        })
    }

    /// Append `event` without waiting for it to be durable (it is, with the
    /// next group commit). For records that follow one already durable,
    /// such as the signature after its decision.
    pub async fn append_nowait(&self, event: Event) {
        let _ = self
            .tx
            .send(Command::Append {
                event: Box::new(event),
                reply: None,
            })
            .await;
        self.count_one();
    }

    fn count_one(&self) {
        if self.since_checkpoint.fetch_add(1, Ordering::Relaxed) + 1 >= self.checkpoint_every {
            self.checkpoint_due.notify_one();
        }
    }

    /// The last durable record, after everything queued before this call.
    pub async fn head(&self) -> Option<Appended> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Head { reply }).await.ok()?;
        rx.await.ok().flatten()
    }

    /// Wait until `checkpoint_every` records have been appended since the
    /// last checkpoint (the checkpoint task also wakes on a timer).
    pub async fn checkpoint_wanted(&self) {
        self.checkpoint_due.notified().await
    }

    pub(crate) fn checkpoint_written(&self) {
        self.since_checkpoint.store(0, Ordering::Relaxed);
    }

    /// Whether records were appended since the last checkpoint.
    pub fn uncheckpointed(&self) -> u64 {
        self.since_checkpoint.load(Ordering::Relaxed)
    }
}
