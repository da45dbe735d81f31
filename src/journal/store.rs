//! Where the journal's records are kept: the store interface.
//!
//! The journal's own logic (the record schema, the hash chain, group
//! commit, replay) does not depend on where the lines go. Today they go to
//! segment files ([`super::segment::SegmentStore`]); a store on PostgreSQL,
//! for `[cluster]` where "durable" means committed in the shared database,
//! is to be a second implementation of [`Store`]. The writer thread owns
//! its store and is its only user.
//!
//! A store keeps the lines it is given byte for byte (the chain hash is
//! over those bytes) and does not judge them: the writer chains the
//! records, and a scan checks the chain as it reads.

use super::record::Record;

/// Where a record landed: its seq and chain hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: [u8; 32],
}

/// A store could not take records. It is back at its last durable record.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct StoreError {
    pub error: std::io::Error,
    /// Records appended earlier without `durable` that the failure took
    /// with it.
    pub lost: u64,
}

/// Append-only storage of encoded journal records.
///
/// Dropping a store makes what it holds durable, as far as it can: records
/// appended without `durable` that no later call synced get a last chance.
pub trait Store: Send {
    /// The last record in the store, durable or not: the chain continues
    /// from it. Seq 0 and [`super::record::GENESIS`] while it is empty.
    fn head(&self) -> Appended;

    /// Append `lines`: whole encoded records, each followed by a newline,
    /// continuing the chain from [`Store::head`]; `last` is the seq and hash
    /// of the last of them, the head once they are in.
    ///
    /// With `durable`, every record appended so far is durable when this
    /// returns `Ok`; without, these may wait for a later durable append or
    /// [`Store::sync`]. On failure the store is back at its last durable
    /// record: neither `lines` nor records appended earlier without
    /// `durable` are in it ([`StoreError::lost`] counts those).
    fn append(&mut self, lines: &[u8], last: Appended, durable: bool) -> Result<(), StoreError>;

    /// Make every record appended so far durable; on failure, as
    /// [`Store::append`].
    fn sync(&mut self) -> Result<(), StoreError>;
}

/// Reading a store back. Apart from [`Store`] because what a damaged store
/// looks like (and so its error) is the store's own: a segment file and a
/// line for the segment files, something else for a database.
pub trait ScanStore: Store {
    type ScanError: std::error::Error;

    /// Hand the records from seq `from` on to `visit`, in order, with the
    /// chain checked; the head the store ends at.
    fn scan(&self, from: u64, visit: &mut dyn FnMut(&Record)) -> Result<Appended, Self::ScanError>;
}
