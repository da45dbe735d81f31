//! Key rotation, rollback and emergency zeroisation in a running agent,
//! driven through the operator CLI: signatures are checked with the `p256`
//! crate against the old and the new public key.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Env, key};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde_json::{Value, json};
use tradeward::client::Client;

fn setup() -> Env {
    let env = Env::new();
    env.generate("p256", "p");
    env.generate("hmac", "mac");
    env.write_config(&[key("p", "p256", "p"), key("mac", "hmac", "mac")], "", "");
    env
}

fn admin(env: &Env) -> Client {
    let c = Client::connect(&env.sock.parent().unwrap().join("admin.sock")).unwrap();
    c.set_timeout(Some(Duration::from_secs(120))).unwrap();
    c
}

fn public_key(c: &mut Client, alias: &str) -> Vec<u8> {
    let keys = c.list_keys().unwrap();
    let k = keys
        .iter()
        .find(|k| k["alias"] == alias)
        .unwrap_or_else(|| panic!("no {alias}: {keys:?}"));
    hex::decode(k["public_key"].as_str().unwrap().trim_start_matches("0x")).unwrap()
}

fn verifies(pk: &[u8], r: &Value) -> bool {
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(pk).unwrap();
    let sig = hex::decode(r["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let digest = hex::decode(r["digest"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    vk.verify_prehash(&digest, &sig).is_ok()
}

fn run_ok(env: &Env, args: &[&str]) -> Value {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn rotation_under_load_switches_keys_cleanly_and_survives_restarts() {
    let env = setup();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let old_pk = public_key(&mut c, "p");

    // A client signs continuously through the rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let sock = env.sock.clone();
    let flag = stop.clone();
    let signer = std::thread::spawn(move || {
        let mut c = Client::connect(&sock).unwrap();
        c.set_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut out = Vec::new();
        let mut i = 0u64;
        while !flag.load(Ordering::Relaxed) || out.len() < 50 {
            i += 1;
            out.push(
                c.sign_message("p", format!("order {i}").as_bytes())
                    .map_err(|e| e.to_string()),
            );
            if out.len() > 200_000 {
                break;
            }
        }
        out
    });
    std::thread::sleep(Duration::from_millis(300));
    let r = run_ok(&env, &["keys", "rotate", "p"]);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let results = signer.join().unwrap();
    let new_pk = public_key(&mut c, "p");
    assert_ne!(old_pk, new_pk);
    assert_eq!(
        hex::encode(&new_pk),
        r["to"]["public_key"].as_str().unwrap()
    );
    // Every signature is by the old key, then every one by the new key:
    // never a mix, never an error.
    let mut seen_new = false;
    let (mut n_old, mut n_new) = (0, 0);
    for (i, r) in results.iter().enumerate() {
        let r = r
            .as_ref()
            .unwrap_or_else(|e| panic!("request {i} failed: {e}"));
        if verifies(&new_pk, r) {
            seen_new = true;
            n_new += 1;
        } else {
            assert!(
                verifies(&old_pk, r),
                "signature {i} verifies under neither key"
            );
            assert!(
                !seen_new,
                "signature {i} by the old key after the new one was in use"
            );
            n_old += 1;
        }
    }
    assert!(n_old > 0 && n_new > 0, "old {n_old}, new {n_new}");

    // The rotation is in the journal: a restart keeps the new key.
    drop(c);
    assert!(agent.stop().success());
    let mut agent = env.start_agent();
    let mut c = agent.client();
    assert_eq!(public_key(&mut c, "p"), new_pk);

    // Rollback restores the old key, also across a restart.
    run_ok(&env, &["keys", "rollback", "p"]);
    assert_eq!(public_key(&mut c, "p"), old_pk);
    assert!(verifies(&old_pk, &c.sign_message("p", b"x").unwrap()));
    drop(c);
    assert!(agent.stop().success());
    let agent = env.start_agent();
    let mut c = agent.client();
    assert_eq!(public_key(&mut c, "p"), old_pk);
    // Nothing further to roll back to.
    let out = env.run(&["keys", "rollback", "p"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to roll back"));

    let recs: Vec<Value> = std::fs::read_to_string(env.journal_dir().join("segment-000001.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(recs.iter().any(|r| r["kind"] == "key_rotated"));
    assert!(recs.iter().any(|r| r["kind"] == "key_rolled_back"));
    let out = env.run(&[
        "journal",
        "verify",
        "--config",
        common::path_str(&env.config),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn hmac_rotation_takes_an_imported_secret_and_bots_cannot_rotate() {
    let env = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let before = c.sign_message("mac", b"m").unwrap()["signature"].clone();
    // No generating an exchange secret.
    let e = admin(&env)
        .call("rotate", json!({"alias": "mac"}))
        .unwrap_err();
    assert!(e.to_string().contains("import"), "{e}");
    // Import, then rotate to it.
    let out = env.import(
        "hmac",
        "mac-2",
        b"a-new-exchange-secret-of-at-least-32-bytes",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run_ok(&env, &["keys", "rotate", "mac", "--to-label", "mac-2"]);
    let after = c.sign_message("mac", b"m").unwrap()["signature"].clone();
    assert_ne!(before, after);
    // A key of another type is refused, and so is the audit key.
    env.generate("ed25519", "ed");
    let e = admin(&env)
        .call("rotate", json!({"alias": "mac", "to_label": "ed"}))
        .unwrap_err();
    assert!(e.to_string().contains("type"), "{e}");
    let e = admin(&env)
        .call("rotate", json!({"alias": "audit"}))
        .unwrap_err();
    assert_eq!(e.code(), Some("forbidden"));
    // Bots never reach these.
    for op in ["rotate", "rollback", "zeroize"] {
        let e = c
            .call(op, json!({"alias": "mac", "confirm": "mac"}))
            .unwrap_err();
        assert_eq!(e.code(), Some("forbidden"), "{op}");
    }
}

#[test]
fn zeroize_stops_use_destroys_the_keys_and_the_agent_still_starts() {
    let env = setup();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    run_ok(&env, &["keys", "rotate", "p"]);
    // A wrong confirmation does nothing.
    let out = env.run(&["keys", "zeroize", "p", "--confirm", "q"]);
    assert!(!out.status.success());
    c.sign_message("p", b"still here").unwrap();
    let r = run_ok(&env, &["keys", "zeroize", "p", "--confirm", "p"]);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["destroyed"].as_array().unwrap().len(), 2, "{r}");
    let e = c.sign_message("p", b"gone").unwrap_err();
    assert_eq!(e.code(), Some("unknown_key"), "{e}");
    assert!(c.list_keys().unwrap().iter().all(|k| k["alias"] != "p"));
    // Neither the key nor the one it was rotated from is on the token.
    drop(c);
    assert!(agent.stop().success());
    let labels = env.labels();
    assert!(labels.iter().all(|l| !l.starts_with('p')), "{labels:?}");
    // The config still names it; the journal says it is gone.
    let agent = env.start_agent();
    let mut c = agent.client();
    assert_eq!(
        c.sign_message("p", b"gone").unwrap_err().code(),
        Some("unknown_key")
    );
    c.sign_message("mac", b"others still work").unwrap();
    assert!(agent.log_text().contains("zeroized"));
    // Everything at once (one request, so one TOTP code where one is
    // needed); the audit key is never among them.
    let r = run_ok(
        &env,
        &["keys", "zeroize", "--all", "--confirm", "ZEROIZE-ALL"],
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["keys"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(
        c.sign_message("mac", b"x").unwrap_err().code(),
        Some("unknown_key")
    );
    let st = admin(&env).call("status", json!({})).unwrap();
    assert_eq!(st["keys"], json!(["audit"]));
}

#[test]
fn ctl_status_says_which_key_and_address_each_alias_serves() {
    let env = Env::new();
    env.generate("secp256k1", "eth");
    env.write_config(&[key("eth", "secp256k1", "eth")], "", "");
    let _agent = env.start_agent();
    let summary = |env: &Env| {
        let out = env.run(&["ctl", "status"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let before = summary(&env);
    let old = run_ok(&env, &["ctl", "status", "--json"]);
    let old = &old["served"].as_array().unwrap()[1];
    assert_eq!(old["alias"], "eth", "{old}");
    let old_addr = old["address"].as_str().unwrap().to_string();
    assert!(before.contains("label eth, id "), "{before}");
    assert!(before.contains(&old_addr), "{before}");
    assert!(!before.contains("(rotated)"), "{before}");
    assert!(before.contains("Halts: none"), "{before}");
    assert!(before.contains("switch    disarmed"), "{before}");

    // After a rotation the alias serves the new key at its new address.
    let r = run_ok(&env, &["keys", "rotate", "eth"]);
    let new_label = r["to"]["label"].as_str().unwrap();
    let new_addr = r["to"]["address"].as_str().unwrap();
    assert_ne!(new_addr, old_addr);
    let after = summary(&env);
    let line = after
        .lines()
        .find(|l| l.trim_start().starts_with("eth "))
        .unwrap_or_else(|| panic!("{after}"));
    assert!(line.contains(&format!("label {new_label},")), "{line}");
    assert!(
        line.contains(&format!("address {new_addr} (rotated)")),
        "{line}"
    );
    assert!(!after.contains(&old_addr), "{after}");
    let st = run_ok(&env, &["ctl", "status", "--json"]);
    assert_eq!(st["served"][1]["address"], new_addr, "{st}");
    assert_eq!(st["served"][1]["rotated"], true, "{st}");
    // Halts show up in the summary too.
    run_ok(
        &env,
        &["ctl", "halt", "--key", "eth", "--reason", "checking"],
    );
    let halted = summary(&env);
    assert!(
        halted.contains("Halts (1):\n  key eth: checking since "),
        "{halted}"
    );
}
