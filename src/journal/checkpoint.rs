//! Checkpoints: the chain head, signed by the audit key in the token.
//!
//! Written every N records or T seconds (whichever comes first) and at
//! shutdown. Someone who can edit the journal files but cannot use the
//! token cannot produce a valid checkpoint for an altered chain.

use std::future::Future;

use super::record::{Event, checkpoint_message};
use super::{Journal, JournalError};

/// Sign the current head and append a checkpoint. `sign` gets the exact
/// bytes to sign and returns the signature (in the audit key's format).
pub async fn write_checkpoint<F, Fut>(
    journal: &Journal,
    key_alias: &str,
    key_type: &str,
    sign: F,
) -> Result<Option<u64>, String>
where
    F: FnOnce(Vec<u8>) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, String>>,
{
    let Some(head) = journal.head().await else {
        return Ok(None);
    };
    let msg = checkpoint_message(head.seq, &head.hash);
    let sig = sign(msg).await?;
    journal
        .append(Event::Checkpoint {
            covers: head.seq,
            head: hex::encode(head.hash),
            key: key_alias.to_string(),
            key_type: key_type.to_string(),
            signature: hex::encode(sig),
        })
        .await
        .map_err(|e: JournalError| e.to_string())?;
    journal.checkpoint_written();
    Ok(Some(head.seq))
}
