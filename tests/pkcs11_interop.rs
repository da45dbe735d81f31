//! Interoperability with OpenSC's `pkcs11-tool`, an implementation we did
//! not write: keys it makes are usable by the agent, keys tradeward makes
//! show in its listing, and the extractable-key guard works on its keys.

mod common;

use std::process::Command;

use common::{Env, hexf, key};
use k256::ecdsa::signature::hazmat::PrehashVerifier;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn pkcs11_tool(env: &Env, args: &[&str]) -> String {
    let pin = env.pin();
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", env.softhsm_conf())
        .args([
            "--module",
            MODULE,
            "--token-label",
            "tradeward-dev",
            "--login",
            "--pin",
            pin.trim(),
        ])
        .args(args)
        .output()
        .expect("pkcs11-tool is installed (Debian package opensc)");
    assert!(
        out.status.success(),
        "pkcs11-tool {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn keys_made_by_pkcs11_tool_sign_through_the_agent() {
    let env = Env::new();
    pkcs11_tool(
        &env,
        &[
            "--keypairgen",
            "--key-type",
            "EC:secp256k1",
            "--label",
            "pt-k1",
            "--id",
            "0a01",
            "--usage-sign",
        ],
    );
    pkcs11_tool(
        &env,
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "pt-p256",
            "--id",
            "0a02",
            "--usage-sign",
            "--sensitive",
        ],
    );
    pkcs11_tool(
        &env,
        &[
            "--keygen",
            "--key-type",
            "GENERIC:32",
            "--label",
            "pt-mac",
            "--id",
            "0a03",
            "--usage-sign",
            "--sensitive",
        ],
    );
    assert_eq!(env.labels(), ["pt-k1", "pt-mac", "pt-p256"]);

    // Reference the secp256k1 key by its RFC 7512 URI in the config.
    let cfg_keys = [
        key("k1", "secp256k1", "pt-k1"),
        key("p2", "p256", "pt-p256"),
        key("mac", "hmac", "pt-mac"),
    ];
    env.write_config(&cfg_keys, "", "");
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "label = \"pt-k1\"",
        "uri = \"pkcs11:token=tradeward-dev;object=pt-k1;id=%0a%01\"",
    );
    std::fs::write(&env.config, text).unwrap();

    let agent = env.start_agent();
    let mut c = agent.client();
    let keys = c.list_keys().unwrap();
    let k1 = keys.iter().find(|k| k["alias"] == "k1").unwrap();
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&hexf(k1, "public_key")).unwrap();
    let r = c.sign_digest("k1", &[5u8; 32]).unwrap();
    let sig = k256::ecdsa::Signature::from_slice(&hexf(&r, "signature")[..64]).unwrap();
    vk.verify_prehash(&[5u8; 32], &sig).unwrap();
    let p2 = keys.iter().find(|k| k["alias"] == "p2").unwrap();
    let pvk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&hexf(p2, "public_key")).unwrap();
    let r = c.sign_digest("p2", &[6u8; 32]).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&hexf(&r, "signature")).unwrap();
    pvk.verify_prehash(&[6u8; 32], &sig).unwrap();
    assert_eq!(
        hexf(&c.sign_message("mac", b"x").unwrap(), "signature").len(),
        32
    );
}

#[test]
fn tradeward_keys_show_in_pkcs11_tool_and_cannot_be_read() {
    let env = Env::new();
    for (t, l) in [
        ("secp256k1", "tw-k1"),
        ("p256", "tw-p256"),
        ("ed25519", "tw-ed"),
        ("hmac", "tw-mac"),
    ] {
        env.generate(t, l);
    }
    let listing = pkcs11_tool(&env, &["--list-objects"]);
    for l in ["tw-k1", "tw-p256", "tw-ed", "tw-mac"] {
        let block = objects(&listing)
            .into_iter()
            .filter(|b| b.contains(&format!("label:      {l}\n")))
            .find(|b| b.starts_with("Private Key") || b.starts_with("Secret Key"))
            .unwrap_or_else(|| panic!("{l} not listed by pkcs11-tool:\n{listing}"));
        assert!(block.contains("sensitive"), "{l}: {block}");
        assert!(block.contains("never extractable"), "{l}: {block}");
        assert!(block.contains("local"), "{l}: {block}");
    }
    // Reading the secret value back yields nothing: try it on an imported
    // secret whose value we know.
    let secret = b"s3cr3t-value-that-must-never-come-back-out-of-the-token";
    let out = env.import("hmac", "tw-imp", secret);
    assert!(out.status.success());
    let pin = env.pin();
    for (l, t) in [("tw-imp", "secrkey"), ("tw-k1", "privkey")] {
        let out = Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", env.softhsm_conf())
            .args([
                "--module",
                MODULE,
                "--login",
                "--pin",
                pin.trim(),
                "--read-object",
                "--label",
                l,
                "--type",
                t,
            ])
            .output()
            .unwrap();
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(
            !all.windows(secret.len()).any(|w| w == secret),
            "{l}: secret value came back"
        );
        assert!(
            out.stdout.is_empty(),
            "{l}: pkcs11-tool read {} bytes of a private object",
            out.stdout.len()
        );
    }
}

#[test]
fn an_extractable_key_is_refused_unless_the_operator_allows_it() {
    let env = Env::new();
    pkcs11_tool(
        &env,
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "ext",
            "--id",
            "0b01",
            "--usage-sign",
            "--extractable",
        ],
    );
    let listed = env.list();
    let ext = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == "ext")
        .unwrap();
    assert_eq!(ext["extractable"], true);
    env.write_config(&[key("ext", "p256", "ext")], "", "");
    let err = env
        .try_start_agent()
        .err()
        .expect("agent must refuse an extractable key");
    assert!(err.contains("can leave the token"), "{err}");
    assert!(err.contains("allow_extractable"), "{err}");
    assert!(
        !env.sock.exists(),
        "no socket may exist after a refused start"
    );

    let text = std::fs::read_to_string(&env.config).unwrap() + "allow_extractable = true\n";
    std::fs::write(&env.config, text).unwrap();
    let agent = env.start_agent();
    assert!(agent.client().sign_digest("ext", &[1u8; 32]).is_ok());
}

/// Split `pkcs11-tool --list-objects` output into one block per object: a
/// header line ("Private Key Object; EC ...") and its indented lines.
fn objects(listing: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in listing.lines() {
        if !line.starts_with(' ') && line.contains("Object;") {
            out.push(String::new());
        }
        if let Some(b) = out.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    out
}
