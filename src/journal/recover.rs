//! `tradeward journal recover`: after damage that stops the agent's start,
//! set the damaged part aside and let the chain continue.
//!
//! Nothing is deleted: the damaged record, everything after it in its
//! segment, and every later segment move to `quarantine-<time>/` inside the
//! journal folder, where they stay for inspection. The next record the
//! agent writes (a note saying what was set aside) links to the last good
//! record, so the journal verifies again as one chain.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::segment::{self, ScanError};

/// What recovery did.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub quarantine: PathBuf,
    pub cut_at: String,
    pub first_bad_seq: Option<u64>,
    pub reason: String,
    pub moved_segments: usize,
}

/// Recover the journal in `dir`. `Ok(None)` when there was nothing to do.
pub fn recover(dir: &Path) -> Result<Option<Recovered>, String> {
    let _lock = super::lock_dir(dir).map_err(|e| e.to_string())?;
    let damage = match segment::scan(dir, &mut |_, _| {}) {
        Ok(_) => return Ok(None),
        Err(ScanError::Io(e)) => return Err(format!("cannot read the journal: {e}")),
        Err(ScanError::Damaged(d)) => d,
    };
    let stamp = super::record::now_ms();
    let quarantine = dir.join(format!("quarantine-{stamp}"));
    std::fs::create_dir(&quarantine).map_err(|e| format!("{}: {e}", quarantine.display()))?;
    let bad: &std::path::Path = &damage.at.segment;
    let name = bad.file_name().ok_or("bad segment path")?.to_owned();
    // Copy the damaged tail of the segment aside, then cut the segment.
    let mut bytes = Vec::new();
    std::fs::File::open(bad)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("{}: {e}", bad.display()))?;
    let tail = &bytes[damage.at.offset as usize..];
    let mut out = std::fs::File::create(quarantine.join(&name)).map_err(|e| e.to_string())?;
    out.write_all(tail)
        .and_then(|()| out.sync_all())
        .map_err(|e| e.to_string())?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(bad)
        .map_err(|e| format!("{}: {e}", bad.display()))?;
    f.set_len(damage.at.offset)
        .and_then(|()| f.sync_all())
        .map_err(|e| e.to_string())?;
    // Every later segment goes aside whole.
    let mut moved = 0;
    let mut after = false;
    for (_, path) in segment::list_segments(dir).map_err(|e| e.to_string())? {
        if after {
            let target = quarantine.join(path.file_name().ok_or("bad segment path")?);
            std::fs::rename(&path, &target).map_err(|e| format!("{}: {e}", path.display()))?;
            moved += 1;
        }
        if path == bad {
            after = true;
        }
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| e.to_string())?;
    Ok(Some(Recovered {
        quarantine,
        cut_at: damage.at.to_string(),
        first_bad_seq: damage.seq,
        reason: damage.reason,
        moved_segments: moved,
    }))
}
