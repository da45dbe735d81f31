//! The journal, driven through the real agent: decisions on record before
//! answers, verification that catches each kind of tampering, torn-tail
//! repair, recovery, fail-closed on a full disk, SIGKILL under load, and a
//! crash loop that the uncovered-records alarm must not mistake for
//! tampering.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{Env, hexf, key};
use serde_json::{Value, json};

fn setup() -> Env {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.generate("p256", "p2");
    let mut trading = key("trading", "p256", "p2");
    trading.raw_signing = false;
    env.write_config(&[key("eth", "secp256k1", "k1"), trading], "", "");
    env
}

fn segment(env: &Env) -> PathBuf {
    env.journal_dir().join("segment-000001.jsonl")
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(env: &Env) -> Output {
    env.run(&[
        "journal",
        "verify",
        "--config",
        common::path_str(&env.config),
    ])
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn decisions_are_on_record_and_the_journal_verifies() {
    let env = setup();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let r = c.sign_digest("eth", &[4; 32]).unwrap();
    let sig = r["signature"]
        .as_str()
        .unwrap()
        .trim_start_matches("0x")
        .to_string();
    assert_eq!(
        c.sign_message("trading", b"x").unwrap_err().code(),
        Some("raw_signing_disabled")
    );
    assert_eq!(
        c.call("sign", json!({"key": "eth"})).unwrap_err().code(),
        Some("bad_params")
    );
    assert_eq!(
        c.call("rm -rf", json!({})).unwrap_err().code(),
        Some("unknown_op")
    );
    // Successful reads decide nothing and are not journaled.
    c.hello().unwrap();
    c.list_keys().unwrap();
    drop(c);
    assert!(agent.stop().success());

    let recs = records(&segment(&env));
    let kinds: Vec<&str> = recs.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(&kinds[kinds.len() - 2..], ["stop", "checkpoint"]);
    let decisions: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "decision").collect();
    assert_eq!(decisions.len(), 4, "{decisions:?}");
    let allow = decisions.iter().find(|d| d["allow"] == true).unwrap();
    assert_eq!(allow["key"], "eth");
    assert_eq!(allow["identity"], "developer");
    assert_eq!(allow["pid"], std::process::id());
    assert_eq!(
        allow["payload_sha256"],
        hex::encode(sha2::Digest::finalize(sha2::Digest::chain_update(
            sha2::Sha256::default(),
            [4u8; 32]
        )))
    );
    let rules: Vec<&str> = decisions
        .iter()
        .filter(|d| d["allow"] == false)
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["raw_signing_disabled", "bad_params", "unknown_op"]);
    // The signature the client got is on record, after its decision.
    let s = recs.iter().find(|r| r["kind"] == "signature").unwrap();
    assert_eq!(s["signature"], sig);
    assert_eq!(s["decision"], allow["seq"]);
    assert!(s["seq"].as_u64() > allow["seq"].as_u64());
    // The chain and checkpoint verify, with the token and offline.
    let out = verify(&env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("journal OK"));
    let audit = env.list()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == common::AUDIT_LABEL)
        .unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = env.journal_dir();
    let out = env.run(&[
        "journal",
        "verify",
        "--dir",
        common::path_str(&dir),
        "--audit-public-key",
        &audit,
        "--audit-key-type",
        "ed25519",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["uncovered"], 0);
    assert_eq!(v["records"].as_u64().unwrap() as usize, recs.len());
    // A different key does not verify the checkpoints.
    let other = env.generate("ed25519", "other")["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let out = env.run(&[
        "journal",
        "verify",
        "--dir",
        common::path_str(&dir),
        "--audit-public-key",
        &other,
        "--audit-key-type",
        "ed25519",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("checkpoint"), "{}", text(&out));
}

/// A journal with a few runs' worth of records to tamper with.
fn journal_with_records(env: &Env) -> Vec<String> {
    let mut agent = env.start_agent();
    let mut c = agent.client();
    for i in 0..6u8 {
        c.sign_digest("eth", &[i; 32]).unwrap();
    }
    drop(c);
    assert!(agent.stop().success());
    std::fs::read_to_string(segment(env))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn verify_catches_every_kind_of_tampering() {
    let env = setup();
    let lines = journal_with_records(&env);
    assert!(lines.len() > 10);
    let seg = segment(&env);
    let ok = verify(&env);
    assert!(ok.status.success(), "{}", text(&ok));

    let mut cases: Vec<(&str, Vec<String>, String)> = Vec::new();
    // Edit a record in the middle (a denial turned into nothing, say).
    let mut edited = lines.clone();
    edited[4] = edited[4].replacen("\"ts_ms\":", "\"ts_ms\":1", 1);
    cases.push(("edited", edited, "the hash of seq 5".into()));
    // Delete one.
    let mut deleted = lines.clone();
    deleted.remove(4);
    cases.push(("deleted", deleted, "expected seq 5".into()));
    // Insert a copy of one.
    let mut inserted = lines.clone();
    inserted.insert(5, lines[2].clone());
    cases.push(("inserted", inserted, "expected seq 6".into()));
    // Swap two.
    let mut reordered = lines.clone();
    reordered.swap(3, 4);
    cases.push(("reordered", reordered, "expected seq 4".into()));
    // Edit the last record but one: the final checkpoint no longer links.
    let n = lines.len();
    let mut stop_edited = lines.clone();
    stop_edited[n - 2] =
        stop_edited[n - 2].replace("\"reason\":\"signal\"", "\"reason\":\"other\"");
    cases.push((
        "edited before the checkpoint",
        stop_edited,
        format!("the hash of seq {}", n - 1),
    ));
    // Re-chain an edit: recompute every later hash (what an attacker with
    // only the disk can do). The checkpoint's signature then fails.
    let mut rechained = lines.clone();
    rechained[4] = rechained[4].replacen("\"ts_ms\":", "\"ts_ms\":1", 1);
    rechain(&mut rechained);
    cases.push(("re-chained", rechained, "checkpoint".into()));

    for (what, tampered, needle) in cases {
        write_lines(&seg, &tampered);
        let out = verify(&env);
        let t = text(&out);
        assert!(!out.status.success(), "{what}: verify passed:\n{t}");
        assert!(t.contains("FAILED"), "{what}: {t}");
        assert!(t.contains(&needle), "{what}: expected {needle:?} in {t}");
        // The agent refuses to start on such a journal.
        let err = env
            .try_start_agent()
            .err()
            .unwrap_or_else(|| panic!("{what}: agent started"));
        assert!(err.contains("journal"), "{what}: {err}");
    }
    // A forger who re-chains an edit and also removes every checkpoint
    // gets a chain that links, but the agent will not start on it: far
    // more records follow the last (now missing) checkpoint than it leaves.
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace(
            "audit_key = \"audit\"\n",
            "audit_key = \"audit\"\ncheckpoint_every = 1\n",
        ),
    )
    .unwrap();
    let mut forged: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("\"kind\":\"checkpoint\""))
        .cloned()
        .collect();
    for (i, l) in forged.iter_mut().enumerate() {
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(l).unwrap();
        v.insert("seq".into(), Value::from(i as u64 + 1));
        *l = serde_json::to_string(&v).unwrap();
    }
    forged[4] = forged[4].replacen("\"ts_ms\":", "\"ts_ms\":1", 1);
    rechain(&mut forged);
    write_lines(&seg, &forged);
    let err = env
        .try_start_agent()
        .err()
        .expect("agent started on a journal stripped of checkpoints");
    assert!(err.contains("follow the last checkpoint"), "{err}");
    std::fs::write(&env.config, text).unwrap();
    // Truncation in the middle of a line, not at the end, is damage too.
    let mut cut = lines.clone();
    cut[3].truncate(20);
    write_lines(&seg, &cut);
    assert!(!verify(&env).status.success());
    write_lines(&seg, &lines);
    assert!(verify(&env).status.success());
}

/// Recompute seq links after an edit, as a forger would.
fn rechain(lines: &mut [String]) {
    use sha2::Digest;
    for i in 1..lines.len() {
        let prev = hex::encode(sha2::Sha256::digest(lines[i - 1].as_bytes()));
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(&lines[i]).unwrap();
        v.insert("prev".into(), Value::String(prev));
        lines[i] = serde_json::to_string(&v).unwrap();
    }
}

#[test]
fn a_torn_last_write_is_cut_back_and_noted() {
    let env = setup();
    let lines = journal_with_records(&env);
    let seg = segment(&env);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(b"{\"seq\":999,\"ts_ms\":12");
    std::fs::write(&seg, &bytes).unwrap();
    let out = verify(&env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("torn last write"));
    let mut agent = env.start_agent();
    assert!(agent.client().sign_digest("eth", &[9; 32]).is_ok());
    assert!(agent.stop().success());
    let recs = records(&seg);
    assert_eq!(recs[lines.len()]["kind"], "note");
    assert!(
        recs[lines.len()]["message"]
            .as_str()
            .unwrap()
            .contains("torn")
    );
    assert!(verify(&env).status.success());
}

#[test]
fn damage_stops_the_start_until_recovery() {
    let env = setup();
    let lines = journal_with_records(&env);
    let seg = segment(&env);
    let mut damaged = lines.clone();
    damaged[5] = "this is not a record".into();
    write_lines(&seg, &damaged);
    let err = env.try_start_agent().err().expect("must refuse");
    assert!(err.contains("journal recover"), "{err}");
    assert!(err.contains("line 6"), "{err}");
    // Recovery needs confirmation.
    let out = env.run(&[
        "journal",
        "recover",
        "--config",
        common::path_str(&env.config),
    ]);
    assert!(!out.status.success());
    let out = env.run(&[
        "journal",
        "recover",
        "--yes",
        "--config",
        common::path_str(&env.config),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // The damaged part is kept aside, not deleted.
    let q: Vec<PathBuf> = std::fs::read_dir(env.journal_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("quarantine-")
        })
        .collect();
    assert_eq!(q.len(), 1);
    let kept = std::fs::read_to_string(q[0].join("segment-000001.jsonl")).unwrap();
    assert!(kept.starts_with("this is not a record"));
    let recs = records(&seg);
    assert_eq!(recs.len(), 6);
    assert_eq!(recs[5]["kind"], "note");
    assert!(recs[5]["message"].as_str().unwrap().contains("quarantine"));
    assert!(verify(&env).status.success());
    let agent = env.start_agent();
    assert!(agent.client().sign_digest("eth", &[1; 32]).is_ok());
}

#[test]
fn sigkill_under_load_loses_no_record_of_a_returned_signature() {
    let env = setup();
    for round in 0..5 {
        let agent = env.start_agent();
        let sock = agent.sock.clone();
        // Clients sign until the agent dies under them.
        let handles: Vec<_> = (0..3)
            .map(|t| {
                let sock = sock.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let Ok(mut c) = tradeward::client::Client::connect(&sock) else {
                        return got;
                    };
                    for i in 0u32.. {
                        let mut d = [0u8; 32];
                        d[..4].copy_from_slice(&i.to_be_bytes());
                        d[4] = t;
                        d[5] = round;
                        match c.sign_digest("eth", &d) {
                            Ok(r) => got.push((d, hexf(&r, "signature"))),
                            Err(_) => break,
                        }
                    }
                    got
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150 + 50 * round as u64));
        let mut agent = agent;
        agent.child.kill().unwrap();
        agent.child.wait().unwrap();
        let got: Vec<([u8; 32], Vec<u8>)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert!(
            !got.is_empty(),
            "round {round}: no signature made before the kill"
        );
        // Restart: the journal opens (cutting a torn write if any) and
        // verifies; every signature a client received has its decision.
        drop(env.start_agent());
        let out = verify(&env);
        assert!(out.status.success(), "round {round}: {}", text(&out));
        let journal: String = std::fs::read_dir(env.journal_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("segment-"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        let recs: Vec<Value> = journal
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The decision for every returned signature was durable before
        // the token signed: its payload hash is on record.
        let allowed: std::collections::HashSet<String> = recs
            .iter()
            .filter(|r| r["kind"] == "decision" && r["allow"] == true)
            .map(|r| r["payload_sha256"].as_str().unwrap().to_string())
            .collect();
        for (d, _) in &got {
            let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(d));
            assert!(
                allowed.contains(&h),
                "round {round}: a returned signature has no decision on record"
            );
        }
        // Signature records follow in the next group commit; all but the
        // last few before the kill made it.
        let sigs: std::collections::HashSet<String> = recs
            .iter()
            .filter(|r| r["kind"] == "signature")
            .map(|r| r["signature"].as_str().unwrap().to_string())
            .collect();
        let recorded = got
            .iter()
            .filter(|(_, s)| sigs.contains(&hex::encode(s)))
            .count();
        assert!(
            recorded + 3 * 2 >= got.len(),
            "round {round}: {recorded} of {} signature records",
            got.len()
        );
    }
}

#[test]
fn a_full_disk_denies_signing_and_recovers_by_itself() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "SKIPPED a_full_disk_denies_signing_and_recovers_by_itself: mounting a small tmpfs needs root"
        );
        return;
    }
    let env = setup();
    let mnt = env.tok().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs failed");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let text_cfg = std::fs::read_to_string(&env.config).unwrap();
    let jdir = mnt.join("journal");
    let text_cfg = text_cfg.replace(
        &format!("dir = \"{}\"", env.journal_dir().display()),
        &format!("dir = \"{}\"", jdir.display()),
    );
    std::fs::write(&env.config, text_cfg).unwrap();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    assert!(c.sign_digest("eth", &[1; 32]).is_ok());
    // Fill the disk.
    let filler = mnt.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 512 * 1024]);
    let mut denied = 0;
    for i in 0..50u8 {
        match c.sign_digest("eth", &[i; 32]) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.code(), Some("journal_unavailable"), "{e}");
                assert!(matches!(
                    e,
                    tradeward::client::ClientError::Remote {
                        retryable: true,
                        ..
                    }
                ));
                denied += 1;
            }
        }
    }
    assert!(denied > 0, "nothing was denied on a full disk");
    assert!(agent.is_running());
    // The token signed beside each failed write; those signatures were
    // dropped, never released (the client above got only denials for them).
    assert!(
        agent
            .log_text()
            .contains("the signature made beside it is dropped, never released"),
        "{}",
        agent.log_text()
    );
    // Room again: signing resumes without a restart.
    std::fs::remove_file(&filler).unwrap();
    assert!(c.sign_digest("eth", &[77; 32]).is_ok());
    drop(c);
    assert!(agent.stop().success());
    let out = verify(&env);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn no_secret_reaches_the_journal_or_the_logs() {
    let env = Env::new();
    let secret = b"Zq3N8s7Kp2Lm5Xv9Rt4Wy6Bc1Hd0Gf8Jk3Mn7Pq2Sv5Xz9Ab4Cd6Ef1Gh0Ij8Kl";
    assert!(env.import("hmac", "api", secret).status.success());
    env.generate("secp256k1", "k1");
    env.write_config(
        &[key("api", "hmac", "api"), key("eth", "secp256k1", "k1")],
        "",
        "",
    );
    let agent_log;
    {
        let mut agent = env.start_agent();
        let mut c = agent.client();
        c.sign_message("api", b"symbol=BTCUSDT&side=BUY").unwrap();
        c.sign_digest("eth", &[3; 32]).unwrap();
        let _ = c.call(
            "sign",
            json!({"key": "api", "digest": hex::encode([1u8; 32])}),
        );
        let _ = c.call("sign", json!({"key": "nope", "message": "00"}));
        drop(c);
        assert!(agent.stop().success());
        agent_log = agent.log_text();
    }
    let pin = env.pin().trim().to_string();
    let mut haystacks = vec![("agent log".to_string(), agent_log.into_bytes())];
    for e in std::fs::read_dir(env.journal_dir()).unwrap().flatten() {
        haystacks.push((
            e.path().display().to_string(),
            std::fs::read(e.path()).unwrap(),
        ));
    }
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("PIN", pin.as_bytes().to_vec()),
        ("secret", secret.to_vec()),
        ("secret as hex", hex::encode(secret).into_bytes()),
        ("secret prefix", secret[..16].to_vec()),
    ];
    for (name, hay) in &haystacks {
        assert!(!hay.is_empty() || name.contains("lock"));
        for (what, needle) in &needles {
            assert!(
                !hay.windows(needle.len()).any(|w| w == needle.as_slice()),
                "the {what} appears in {name}"
            );
        }
    }
}

#[test]
fn segments_roll_and_archived_segments_still_verify_as_one_chain() {
    let env = setup();
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        cfg.replace(
            "audit_key = \"audit\"\n",
            "audit_key = \"audit\"\nsegment_bytes = 4096\ncheckpoint_every = 20\n",
        ),
    )
    .unwrap();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    for i in 0..60u8 {
        c.sign_digest("eth", &[i; 32]).unwrap();
    }
    drop(c);
    assert!(agent.stop().success());
    let segs = env.segments();
    assert!(segs.len() >= 4, "only {} segments", segs.len());
    for s in &segs {
        assert!(
            std::fs::metadata(s).unwrap().len() <= 4096 + 2048,
            "{} too large",
            s.display()
        );
    }
    assert!(verify(&env).status.success());
    // Archive the two oldest segments elsewhere.
    let archive = env.dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    for s in &segs[..2] {
        std::fs::rename(s, archive.join(s.file_name().unwrap())).unwrap();
    }
    // The live folder still verifies and the agent starts on it.
    let out = verify(&env);
    assert!(out.status.success(), "{}", text(&out));
    let agent = env.start_agent();
    assert!(agent.client().sign_digest("eth", &[200; 32]).is_ok());
    drop(agent);
    // All segments together, in one folder, verify as one chain from seq 1.
    for s in std::fs::read_dir(env.journal_dir()).unwrap().flatten() {
        if s.file_name().to_string_lossy().starts_with("segment-") {
            std::fs::copy(s.path(), archive.join(s.file_name())).unwrap();
        }
    }
    let audit = env.list()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == common::AUDIT_LABEL)
        .unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let out = env.run(&[
        "journal",
        "verify",
        "--dir",
        common::path_str(&archive),
        "--json",
        "--audit-public-key",
        &audit,
        "--audit-key-type",
        "ed25519",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["first_seq"], 1);
}

/// Every start checkpoints what it replayed, so a crash loop of short runs
/// (each far below `checkpoint_every`, each killed before its interval
/// checkpoint) never piles up uncovered records until a start is refused;
/// a tail whose checkpoints were stripped still is.
#[test]
fn a_crash_loop_never_trips_the_uncovered_alarm_but_stripped_checkpoints_do() {
    let env = setup();
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    // A run writes 4 to 6 records (note, start, one or two decisions with
    // their signatures): never 8, and never 3600 s. The alarm fires above
    // 16, which records of 3 such runs would pass without start checkpoints.
    std::fs::write(
        &env.config,
        cfg.replace(
            "audit_key = \"audit\"\n",
            "audit_key = \"audit\"\ncheckpoint_every = 8\ncheckpoint_interval_secs = 3600\n\
             max_uncovered_at_start = 16\n",
        ),
    )
    .unwrap();
    let runs = 12u8;
    for run in 0..runs {
        let agent = env
            .try_start_agent()
            .unwrap_or_else(|e| panic!("start {run} refused: {e}"));
        let mut c = agent.client();
        for i in 0..1 + run % 2 {
            let mut d = [7u8; 32];
            (d[0], d[1]) = (run, i);
            c.sign_digest("eth", &d)
                .unwrap_or_else(|e| panic!("run {run}: {e}"));
        }
        drop(c);
        // SIGKILL: no stop record, no final checkpoint.
        drop(agent);
    }
    let out = verify(&env);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = std::fs::read_to_string(segment(&env))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let recs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kind = |r: &Value| r["kind"].as_str().unwrap().to_string();
    assert_eq!(
        recs.iter().filter(|r| kind(r) == "start").count(),
        runs as usize
    );
    assert!(!recs.iter().any(|r| kind(r) == "stop"));
    // Every start after the first checkpointed the journal it found before
    // writing anything else: the record before each later `start` (and its
    // notes) is a checkpoint covering the record before it.
    let mut starts = 0;
    for (i, r) in recs.iter().enumerate() {
        if kind(r) != "start" {
            continue;
        }
        starts += 1;
        if starts == 1 {
            continue;
        }
        let mut j = i - 1;
        while kind(&recs[j]) == "note" {
            j -= 1;
        }
        assert_eq!(
            kind(&recs[j]),
            "checkpoint",
            "before start at seq {}",
            r["seq"]
        );
        assert_eq!(recs[j]["covers"], recs[j - 1]["seq"]);
    }
    // What the last run left uncovered is one run's records at most.
    let out = env.run(&[
        "journal",
        "verify",
        "--config",
        common::path_str(&env.config),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let uncovered = v["uncovered"].as_u64().unwrap();
    assert!((1..=6).contains(&uncovered), "uncovered {uncovered}");

    // A forger strips the checkpoints from the journal's tail (after the
    // third run's start), renumbers and re-chains: the chain links and the
    // remaining checkpoints verify, but far more records follow the last
    // one than the agent ever leaves behind, so it will not start.
    let third_start = recs
        .iter()
        .enumerate()
        .filter(|(_, r)| kind(r) == "start")
        .nth(2)
        .unwrap()
        .0;
    let mut forged: Vec<String> = lines[..=third_start].to_vec();
    forged.extend(
        lines[third_start + 1..]
            .iter()
            .filter(|l| !l.contains("\"kind\":\"checkpoint\""))
            .cloned(),
    );
    for (i, l) in forged.iter_mut().enumerate() {
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(l).unwrap();
        v.insert("seq".into(), Value::from(i as u64 + 1));
        *l = serde_json::to_string(&v).unwrap();
    }
    rechain(&mut forged);
    write_lines(&segment(&env), &forged);
    let out = verify(&env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not covered"), "{}", text(&out));
    let err = env
        .try_start_agent()
        .err()
        .expect("agent started on a tail stripped of its checkpoints");
    assert!(err.contains("follow the last checkpoint"), "{err}");
    // The genuine journal starts again.
    write_lines(&segment(&env), &lines);
    let mut agent = env.start_agent();
    assert!(agent.client().sign_digest("eth", &[99; 32]).is_ok());
    assert!(agent.stop().success());
    assert!(verify(&env).status.success());
}
