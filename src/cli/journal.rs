//! `tradeward journal ...`: verify the journal's chain and checkpoints,
//! recover from damage that stops the agent's start, and export a
//! compliance report.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::TokenArgs;
use crate::backend::{KeyType, SignMechanism};
use crate::config::Config;
use crate::journal::segment::FoundCheckpoint;
use crate::journal::verify::{CheckpointCheck, verify};
use crate::report::{self, Period, parse_time};

#[derive(Subcommand)]
pub enum JournalCommand {
    /// Check the whole chain and every checkpoint signature; name the first bad record
    Verify {
        /// Agent config: journal folder and audit key (opens the token to get the key)
        #[arg(long, env = "TRADEWARD_CONFIG")]
        config: Option<PathBuf>,
        /// Journal folder (instead of the config's), e.g. a folder of archived segments
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Verify checkpoints offline with this audit public key (hex) instead of the token
        #[arg(long, requires = "audit_key_type")]
        audit_public_key: Option<String>,
        /// Type of that key: ed25519, p256 or secp256k1
        #[arg(long)]
        audit_key_type: Option<KeyType>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        /// Also compare the journal with the hashes the [cluster] database
        /// holds of it (a journal cut back or rewritten is named)
        #[arg(long, requires = "config")]
        cluster: bool,
    },
    /// Set aside damaged records (kept in a quarantine folder) so the chain can continue
    Recover {
        /// Agent config (for the journal folder)
        #[arg(long, env = "TRADEWARD_CONFIG")]
        config: Option<PathBuf>,
        /// Journal folder (instead of the config's)
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Report on a period of the journal: a JSON summary, or CSV rows of decisions
    ///
    /// Times are YYYY-MM-DD (midnight UTC), YYYY-MM-DDTHH:MM:SSZ (UTC) or Unix
    /// milliseconds. The chain is checked while reading; a damaged journal gives
    /// no report. Checkpoint signatures are not checked: use `journal verify`.
    Export {
        /// Agent config (for the journal folder)
        #[arg(long, env = "TRADEWARD_CONFIG")]
        config: Option<PathBuf>,
        /// Journal folder (instead of the config's), e.g. a folder of archived segments
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Start of the period (inclusive)
        #[arg(long, value_parser = parse_time, value_name = "TIME")]
        from: Option<u64>,
        /// End of the period (exclusive)
        #[arg(long, value_parser = parse_time, value_name = "TIME")]
        to: Option<u64>,
        /// csv: one row per decision; json: counts and totals for the period
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write the report to this file (replaced only once it is complete) instead of stdout
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

fn journal_dir(
    config: &Option<PathBuf>,
    dir: &Option<PathBuf>,
) -> Result<(PathBuf, Option<Config>), String> {
    let cfg = match config {
        Some(p) => Some(Config::load(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let d = dir
        .clone()
        .or_else(|| cfg.as_ref().map(|c| c.journal.dir.clone()))
        .ok_or("give --config or --dir")?;
    Ok((d, cfg))
}

pub fn run(cmd: JournalCommand) -> Result<(), String> {
    match cmd {
        JournalCommand::Verify {
            config,
            dir,
            audit_public_key,
            audit_key_type,
            json,
            cluster,
        } => {
            // Before anything else: a cluster URL in the environment is
            // read and removed before any thread exists.
            let shared = match (&config, cluster) {
                (Some(path), true) => Some(super::cluster::prepare(path)?),
                _ => None,
            };
            verify_cmd(config, dir, audit_public_key, audit_key_type, json)?;
            match shared {
                Some((cfg, c)) => super::cluster::verify_blocking(&c, &cfg.journal.dir, json),
                None => Ok(()),
            }
        }
        JournalCommand::Recover { config, dir, yes } => recover_cmd(config, dir, yes),
        JournalCommand::Export {
            config,
            dir,
            from,
            to,
            format,
            output,
        } => export_cmd(config, dir, from, to, format, output),
    }
}

fn verify_cmd(
    config: Option<PathBuf>,
    dir: Option<PathBuf>,
    audit_public_key: Option<String>,
    audit_key_type: Option<KeyType>,
    json_out: bool,
) -> Result<(), String> {
    let (dir, cfg) = journal_dir(&config, &dir)?;
    // How checkpoint signatures are checked: with a public key given on the
    // command line, or with the audit key found in the token.
    let mut token_check: Option<Box<CheckpointCheck<'static>>> = None;
    let key_desc;
    if let Some(pk) = audit_public_key {
        let kt = audit_key_type.ok_or("--audit-key-type is required with --audit-public-key")?;
        let pk = crate::config::parse_hex(&pk)?;
        key_desc = format!("the given {kt} public key");
        token_check = Some(Box::new(move |cp: &FoundCheckpoint, msg: &[u8]| {
            let sig = hex::decode(&cp.signature).map_err(|_| "signature is not hex".to_string())?;
            crate::crypto::verify_message(kt.as_str(), &pk, msg, &sig).map_err(|e| e.to_string())
        }));
    } else if let Some(cfg) = &cfg
        && let Some((y, slot)) = cfg.piv_location(&cfg.journal.audit_key)
    {
        // An audit key on a YubiKey: its public key, read without the PIN.
        let alias = cfg.journal.audit_key.clone();
        let info =
            crate::backend::piv::provision::describe(y.serial, slot, None)?.ok_or_else(|| {
                format!(
                    "audit key {alias:?}: slot {slot} of YubiKey {} is empty",
                    y.serial
                )
            })?;
        key_desc = format!(
            "audit key {alias:?} (p256) from YubiKey {} slot {slot}",
            y.serial
        );
        let pk = info.public_key.unwrap_or_default();
        token_check = Some(Box::new(move |cp: &FoundCheckpoint, msg: &[u8]| {
            if cp.key != alias || cp.key_type != "p256" {
                return Err(format!(
                    "signed by key {:?} ({}), not the configured audit key {alias:?} (p256)",
                    cp.key, cp.key_type
                ));
            }
            let sig = hex::decode(&cp.signature).map_err(|_| "signature is not hex".to_string())?;
            crate::crypto::verify_message("p256", &pk, msg, &sig).map_err(|e| e.to_string())
        }));
    } else if let Some(cfg) = &cfg {
        let alias = cfg.journal.audit_key.clone();
        let sel = cfg.key_selector(&alias)?;
        let args = TokenArgs {
            config: config.clone(),
            module: None,
            token_label: None,
            token_serial: None,
            pin_file: None,
            pin_env: None,
        };
        let token = args.open()?;
        let (handle, info) = token.find_key(&sel).map_err(|e| e.to_string())?;
        // The audit key's URI, checked as the agent checks it at start.
        let mut identity = token.identity().map_err(|e| e.to_string())?;
        identity.modules.push(cfg.pkcs11.module.clone());
        if let Some(kc) = cfg.keys.get(&alias) {
            crate::agent::check_key_uri(&alias, kc, &identity, Some(&info))?;
        }
        key_desc = format!("audit key {alias:?} ({}) from the token", info.key_type);
        let kt = info.key_type;
        let pk = info.public_key.clone();
        token_check = Some(Box::new(move |cp: &FoundCheckpoint, msg: &[u8]| {
            if cp.key != alias {
                return Err(format!(
                    "signed by key {:?}, not the configured audit key {alias:?}",
                    cp.key
                ));
            }
            if cp.key_type != kt.as_str() {
                return Err(format!(
                    "claims key type {}, but the audit key is {kt}",
                    cp.key_type
                ));
            }
            let sig = hex::decode(&cp.signature).map_err(|_| "signature is not hex".to_string())?;
            match (kt, &pk) {
                (KeyType::Hmac, _) => {
                    let mac = token
                        .sign_raw(handle, SignMechanism::HmacSha256, msg)
                        .map_err(|e| format!("token: {e}"))?;
                    if mac == sig {
                        Ok(())
                    } else {
                        Err("MAC does not match".into())
                    }
                }
                (_, Some(pk)) => crate::crypto::verify_message(kt.as_str(), pk, msg, &sig)
                    .map_err(|e| e.to_string()),
                (_, None) => Err("the audit key has no public key in the token".into()),
            }
        }));
    } else {
        key_desc = String::new();
    }
    let Some(mut check) = token_check else {
        return Err("checkpoints need a key to check them: give --config, or --audit-public-key with --audit-key-type".into());
    };
    match verify(&dir, &mut *check) {
        Ok(r) => {
            let s = &r.summary;
            if json_out {
                outln!(
                    "{}",
                    json!({
                        "ok": true,
                        "records": s.records,
                        "segments": s.segments,
                        "first_seq": s.first_seq,
                        "last_seq": s.next_seq.checked_sub(1).filter(|_| s.records > 0),
                        "head": hex::encode(s.head),
                        "checkpoints": r.checkpoints_verified,
                        "covered_to": r.covered_to,
                        "uncovered": r.uncovered(),
                        "torn_tail_bytes": s.torn.as_ref().map(|t| t.torn_bytes),
                    })
                );
            } else {
                let range = match s.first_seq {
                    Some(f) => format!("seq {f}..{}", s.next_seq - 1),
                    None => "empty".into(),
                };
                outln!(
                    "journal OK: {} records ({range}) in {} segment(s)",
                    s.records,
                    s.segments
                );
                match r.covered_to {
                    Some(c) => outln!(
                        "  {} checkpoint(s) verified with {key_desc}; the last covers seq {c}",
                        r.checkpoints_verified
                    ),
                    None => outln!("  no checkpoints yet"),
                }
                if r.uncovered() > 0 {
                    outln!(
                        "  {} record(s) after the last checkpoint are not covered by one yet",
                        r.uncovered()
                    );
                }
                if let Some(t) = &s.torn {
                    outln!(
                        "  a torn last write of {} bytes follows the last record (an unclean stop; the agent cuts it back at start)",
                        t.torn_bytes
                    );
                }
                outln!("  head {}", hex::encode(s.head));
            }
            Ok(())
        }
        Err(e) => {
            if json_out {
                outln!("{}", json!({"ok": false, "error": e.to_string()}));
            }
            Err(format!("journal verification FAILED: {e}"))
        }
    }
}

fn recover_cmd(config: Option<PathBuf>, dir: Option<PathBuf>, yes: bool) -> Result<(), String> {
    let (dir, _) = journal_dir(&config, &dir)?;
    if !yes {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err("refusing to change the journal without confirmation: pass --yes".into());
        }
        prompt!(
            "Set aside the damaged part of the journal in {}? Type yes: ",
            dir.display()
        );
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim() != "yes" {
            return Err("nothing changed".into());
        }
    }
    match crate::journal::recover::recover(&dir)? {
        None => {
            outln!("the journal is not damaged; nothing to do");
            Ok(())
        }
        Some(r) => {
            // Record what was done, linked to the last good record.
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| e.to_string())?;
            let message = format!(
                "operator recovery: damage at {}{} ({}); the rest was moved to {} ({} later segment(s))",
                r.cut_at,
                r.first_bad_seq
                    .map(|s| format!(" seq {s}"))
                    .unwrap_or_default(),
                r.reason,
                r.quarantine.display(),
                r.moved_segments
            );
            rt.block_on(async {
                let (j, _) = crate::journal::Journal::open(&dir, u64::MAX, u64::MAX, &mut |_| {})
                    .map_err(|e| e.to_string())?;
                j.append(crate::journal::Event::Note {
                    message: message.clone(),
                })
                .await
                .map_err(|e| e.to_string())
            })?;
            outln!("{message}");
            outln!("Run `tradeward journal verify` to check the result.");
            Ok(())
        }
    }
}

fn export_cmd(
    config: Option<PathBuf>,
    dir: Option<PathBuf>,
    from: Option<u64>,
    to: Option<u64>,
    format: ExportFormat,
    output: Option<PathBuf>,
) -> Result<(), String> {
    let period = Period::new(from, to)?;
    let (dir, _) = journal_dir(&config, &dir)?;
    let format = match format {
        ExportFormat::Csv => report::Format::Csv,
        ExportFormat::Json => report::Format::Json,
    };
    let Some(path) = output else {
        // A closed pipe ends the command in out::Stdout (docs/operations.md).
        let mut out = std::io::BufWriter::new(crate::out::Stdout);
        report::export(&dir, period, format, &mut out).map_err(|e| e.to_string())?;
        return Ok(());
    };
    let n = export_to_file(&dir, period, format, &path)?;
    let bound = |b: Option<u64>, edge: &str, open: &str| {
        b.map_or(open.to_string(), |ms| {
            format!("{} ({edge})", report::format_rfc3339(ms))
        })
    };
    outln!(
        "wrote {}: {} records from {} to {}, {} of them decisions",
        path.display(),
        n.records,
        bound(period.from_ms, "inclusive", "the beginning"),
        bound(period.to_ms, "exclusive", "the end"),
        n.decisions
    );
    Ok(())
}

/// Write the report next to `path` first and move it into place once it is
/// complete, so a failed export never leaves a partial report behind.
fn export_to_file(
    dir: &Path,
    period: Period,
    format: report::Format,
    path: &Path,
) -> Result<report::Exported, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".partial-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let result = report::export(dir, period, format, &mut out)
        .map_err(|e| e.to_string())
        .and_then(|n| {
            out.flush().map_err(|e| e.to_string())?;
            out.get_ref().sync_all().map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(n)
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
