//! A large journal that the agent accepts at start, and how long reading it
//! back takes.
//!
//! The journal is written the way the agent writes one: JSON Lines records
//! encoded with `tradeward::journal::record::encode`, each carrying the
//! SHA-256 of the previous line, segment files rolled over at
//! `segment_bytes`, and a checkpoint after every `checkpoint_every`
//! records whose signature over `checkpoint_message(covers, head)` is made
//! by the audit key in the token (CKM_EDDSA, as the agent's checkpoints
//! are). The records themselves are copies of real ones: the start record,
//! an allowed `hyperliquid.sign_l1_action` decision (with its typed
//! intents) and its signature record, taken from the journal the agent
//! wrote during the load runs, with sequence numbers, times, request ids,
//! hashes and nonces renumbered. It ends with a stop record and a final
//! checkpoint, as after an orderly stop.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tradeward::backend::pkcs11::Token;
use tradeward::backend::{KeySelector, SignMechanism, TokenSelector};
use tradeward::journal::record::{GENESIS, checkpoint_message, encode, line_hash};
use tradeward::journal::segment::segment_name;
use tradeward::journal::{Event, Record};

use crate::csign::TokenSpec;

fn arg<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .ok_or_else(|| format!("missing {name}"))
}

fn num(args: &[String], name: &str) -> Result<u64, String> {
    arg(args, name)?
        .parse()
        .map_err(|_| format!("{name} must be a number"))
}

/// Templates taken from a real journal.
struct Templates {
    start: Event,
    decision: tradeward::journal::Decision,
    signature: Event,
}

fn templates(dir: &Path) -> Result<Templates, String> {
    let mut start = None;
    let mut decision: Option<(u64, tradeward::journal::Decision)> = None;
    let mut signature = None;
    tradeward::journal::segment::scan(dir, &mut |rec, _| match &rec.event {
        Event::Start { .. } if start.is_none() => start = Some(rec.event.clone()),
        Event::Decision(d)
            if decision.is_none()
                && d.allow
                && d.venue.as_deref() == Some("hyperliquid")
                && d.intents.is_some() =>
        {
            decision = Some((rec.seq, d.clone()));
        }
        Event::Signature { decision: of, .. }
            if signature.is_none() && decision.as_ref().is_some_and(|(s, _)| s == of) =>
        {
            signature = Some(rec.event.clone())
        }
        _ => {}
    })
    .map_err(|e| format!("template journal: {e}"))?;
    Ok(Templates {
        start: start.ok_or("no start record in the template journal")?,
        decision: decision
            .ok_or("no allowed Hyperliquid decision in the template journal")?
            .1,
        signature: signature.ok_or("no signature record in the template journal")?,
    })
}

struct SegWriter {
    dir: PathBuf,
    index: u64,
    file: std::io::BufWriter<std::fs::File>,
    size: u64,
    max: u64,
    total: u64,
}

fn open_seg(dir: &Path, index: u64) -> Result<std::io::BufWriter<std::fs::File>, String> {
    let path = dir.join(segment_name(index));
    let f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(std::io::BufWriter::with_capacity(1 << 20, f))
}

impl SegWriter {
    fn line(&mut self, line: &[u8]) -> Result<(), String> {
        let n = line.len() as u64 + 1;
        if self.size > 0 && self.size + n > self.max {
            self.file.flush().map_err(|e| e.to_string())?;
            self.index += 1;
            self.file = open_seg(&self.dir, self.index)?;
            self.size = 0;
        }
        self.file.write_all(line).map_err(|e| e.to_string())?;
        self.file.write_all(b"\n").map_err(|e| e.to_string())?;
        self.size += n;
        self.total += n;
        Ok(())
    }
}

/// `--child gen-journal`: write the journal; prints one JSON line.
pub fn child_main(args: &[String]) -> i32 {
    match generate(args) {
        Ok(v) => {
            println!("{v}");
            0
        }
        Err(e) => {
            eprintln!("gen-journal child: {e}");
            1
        }
    }
}

fn generate(args: &[String]) -> Result<Value, String> {
    let t0 = Instant::now();
    let module = PathBuf::from(arg(args, "--module")?);
    let token_label = arg(args, "--token")?.to_string();
    let pin = SecretString::from(
        std::fs::read_to_string(arg(args, "--pin-file")?)
            .map_err(|e| e.to_string())?
            .trim_end()
            .to_string(),
    );
    let audit_label = arg(args, "--audit-label")?.to_string();
    let audit_alias = arg(args, "--audit-alias")?.to_string();
    let template_dir = PathBuf::from(arg(args, "--template")?);
    let out = PathBuf::from(arg(args, "--out")?);
    let n = num(args, "--records")?;
    let span_ms = num(args, "--span-ms")?;
    let segment_bytes = num(args, "--segment-bytes")?;
    let every = num(args, "--checkpoint-every")?.max(1);
    if n < 10 {
        return Err("--records must be at least 10".into());
    }

    let t = templates(&template_dir)?;
    let token = Token::open(
        &module,
        &TokenSelector {
            label: Some(token_label),
            serial: None,
        },
    )
    .map_err(|e| e.to_string())?;
    token.login(&pin).map_err(|e| e.to_string())?;
    let (audit, info) = token
        .find_key(&KeySelector {
            label: Some(audit_label),
            id: None,
        })
        .map_err(|e| e.to_string())?;
    if info.key_type != tradeward::backend::KeyType::Ed25519 {
        return Err("the benchmark expects the dev token's Ed25519 audit key".into());
    }

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let mut w = SegWriter {
        file: open_seg(&out, 1)?,
        dir: out.clone(),
        index: 1,
        size: 0,
        max: segment_bytes,
        total: 0,
    };
    let now = tradeward::journal::record::now_ms();
    let base = now.saturating_sub(span_ms + 60_000);
    let ts_of = |seq: u64| base + (seq as u128 * span_ms as u128 / n as u128) as u64;
    let mut seq = 1u64;
    let mut prev = GENESIS;
    let mut since_checkpoint = 0u64;
    let mut checkpoints = 0u64;
    let mut last_nonce = 0u64;
    let emit = |event: Event,
                seq: &mut u64,
                prev: &mut [u8; 32],
                w: &mut SegWriter|
     -> Result<(), String> {
        let rec = Record {
            seq: *seq,
            ts_ms: ts_of(*seq),
            prev: hex::encode(*prev),
            event,
        };
        let line = encode(&rec);
        *prev = line_hash(&line);
        w.line(&line)?;
        *seq += 1;
        Ok(())
    };
    let checkpoint = |seq: &u64, prev: &[u8; 32]| -> Result<Event, String> {
        let covers = *seq - 1;
        let msg = checkpoint_message(covers, prev);
        let sig = token
            .sign_raw(audit, SignMechanism::Eddsa, &msg)
            .map_err(|e| format!("checkpoint signature: {e}"))?;
        Ok(Event::Checkpoint {
            covers,
            head: hex::encode(prev),
            key: audit_alias.clone(),
            key_type: "ed25519".into(),
            signature: hex::encode(sig),
        })
    };

    emit(t.start.clone(), &mut seq, &mut prev, &mut w)?;
    since_checkpoint += 1;
    let mut request_id = 0u64;
    // Body: decision/signature pairs and checkpoints, leaving the last two
    // places for the stop record and the final checkpoint.
    while seq < n - 1 {
        request_id += 1;
        let mut d = t.decision.clone();
        d.request_id = request_id;
        d.request_sha256 = hex::encode(Sha256::digest(request_id.to_be_bytes()));
        d.payload_sha256 = Some(hex::encode(Sha256::digest(
            [b"payload".as_slice(), &request_id.to_be_bytes()].concat(),
        )));
        let nonce = ts_of(seq).max(last_nonce + 1);
        last_nonce = nonce;
        d.nonce = Some(nonce);
        let decision_seq = seq;
        emit(Event::Decision(d), &mut seq, &mut prev, &mut w)?;
        since_checkpoint += 1;
        if seq < n - 1 {
            let mut s = t.signature.clone();
            if let Event::Signature { decision, .. } = &mut s {
                *decision = decision_seq;
            }
            emit(s, &mut seq, &mut prev, &mut w)?;
            since_checkpoint += 1;
        }
        if since_checkpoint >= every && seq < n - 1 {
            let cp = checkpoint(&seq, &prev)?;
            emit(cp, &mut seq, &mut prev, &mut w)?;
            checkpoints += 1;
            since_checkpoint = 0;
        }
    }
    emit(
        Event::Stop {
            reason: "signal".into(),
        },
        &mut seq,
        &mut prev,
        &mut w,
    )?;
    let cp = checkpoint(&seq, &prev)?;
    emit(cp, &mut seq, &mut prev, &mut w)?;
    checkpoints += 1;
    w.file.flush().map_err(|e| e.to_string())?;
    w.file.get_ref().sync_all().map_err(|e| e.to_string())?;
    Ok(json!({
        "records": seq - 1,
        "order_decisions": request_id,
        "checkpoints": checkpoints,
        "segments": w.index,
        "bytes": w.total,
        "span_ms": span_ms,
        "generate_secs": t0.elapsed().as_secs_f64(),
    }))
}

/// Parameters for the parent side.
pub struct GenParams<'a> {
    pub spec: &'a TokenSpec,
    pub template: &'a Path,
    pub out: &'a Path,
    pub records: u64,
    pub span_ms: u64,
    pub segment_bytes: u64,
    pub checkpoint_every: u64,
}

/// Generate the journal in a child process (it needs the token).
pub fn generate_in_child(p: &GenParams) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--child", "gen-journal", "--module"])
        .arg(&p.spec.module)
        .args(["--token", &p.spec.token_label, "--pin-file"])
        .arg(&p.spec.pin_file)
        .args(["--audit-label", crate::setup::AUDIT_LABEL])
        .args(["--audit-alias", crate::setup::AUDIT_ALIAS])
        .arg("--template")
        .arg(p.template)
        .arg("--out")
        .arg(p.out)
        .args(["--records", &p.records.to_string()])
        .args(["--span-ms", &p.span_ms.to_string()])
        .args(["--segment-bytes", &p.segment_bytes.to_string()])
        .args(["--checkpoint-every", &p.checkpoint_every.to_string()])
        .env("SOFTHSM2_CONF", &p.spec.softhsm_conf)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "journal generation failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Read the journal back in this process, exactly as the agent's start
/// does (the chain check of `segment::scan`, each record handed to
/// `State::replay`). With `replay` false, only the scan (parse and chain).
pub fn replay_in_process(config: &Path, replay: bool) -> Result<(f64, u64, u64), String> {
    let cfg = tradeward::config::Config::load(config).map_err(|e| e.to_string())?;
    let policy =
        tradeward::policy::Policy::from_config(cfg.policy.clone()).map_err(|e| e.to_string())?;
    let mut state = tradeward::state::State::new(policy, cfg.deadman.halted_allows_reducing);
    let mut count = 0u64;
    let t = Instant::now();
    let summary = tradeward::journal::segment::scan(&cfg.journal.dir, &mut |rec, _| {
        count += 1;
        if replay {
            state.replay(rec);
        }
    })
    .map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    let orders = state.replayed_orders;
    drop(state);
    if summary.records != count {
        return Err("scan count mismatch".into());
    }
    Ok((secs, count, orders))
}

/// What reading one record costs, on the first 20,000 lines of the
/// journal: decoding the JSON into a `Record`, the SHA-256 chain hash of
/// the line, and hex-encoding a hash (what comparing `prev` as hex would
/// cost; the chain check now compares without encoding).
pub fn per_record_costs(dir: &Path) -> Result<Value, String> {
    let text = std::fs::read(dir.join(segment_name(1))).map_err(|e| e.to_string())?;
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .take(20_000)
        .collect();
    if lines.is_empty() {
        return Err("empty journal".into());
    }
    let avg_len = lines.iter().map(|l| l.len()).sum::<usize>() as f64 / lines.len() as f64;
    let time = |f: &mut dyn FnMut(&[u8])| {
        let t = Instant::now();
        for l in &lines {
            f(l);
        }
        t.elapsed().as_secs_f64() * 1e6 / lines.len() as f64
    };
    let mut sink = 0u64;
    let decode_us = time(&mut |l| {
        let r = tradeward::journal::record::decode(l).expect("decodes");
        sink = sink.wrapping_add(r.seq);
    });
    let hash_us = time(&mut |l| {
        sink = sink.wrapping_add(line_hash(l)[0] as u64);
    });
    let hex_us = time(&mut |l| {
        sink = sink.wrapping_add(hex::encode(&l[..32.min(l.len())]).len() as u64);
    });
    Ok(json!({
        "lines": lines.len(),
        "avg_line_bytes": avg_len,
        "decode_us": decode_us,
        "sha256_us": hash_us,
        "hex_us": hex_us,
        "sink": sink,
    }))
}
