//! Public keys as PEM, through the real binary and a real SoftHSM token:
//! every key's SubjectPublicKeyInfo PEM is read back by OpenSSL and by the
//! curve crates' own decoders to the key the token holds.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Env, hexf};
use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `openssl ARGS`, which must succeed; its stdout.
fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (Debian package openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Write `bytes` to a file in the test's folder with `mode`.
fn file(env: &Env, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let p = env.dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// What `openssl pkey -pubin -text` says about a PEM public key: the
/// algorithm line ("ED25519 Public-Key:", "Public-Key: (256 bit)"), the
/// named curve if any, and the public key bytes.
fn openssl_reads(pem_file: &Path) -> (String, Option<String>, Vec<u8>) {
    let t = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        common::path_str(pem_file),
        "-noout",
        "-text",
    ]);
    let mut lines = t.lines();
    let algorithm = lines.next().unwrap_or_default().trim().to_string();
    let mut public = String::new();
    let mut curve = None;
    let mut in_pub = false;
    for l in lines {
        if l.trim_start() == "pub:" {
            in_pub = true;
        } else if in_pub && l.starts_with(' ') {
            public.push_str(&l.trim().replace(':', ""));
        } else {
            in_pub = false;
            if let Some(c) = l.strip_prefix("ASN1 OID: ") {
                curve = Some(c.trim().to_string());
            }
        }
    }
    (algorithm, curve, hex::decode(public).unwrap())
}

#[test]
fn public_keys_print_as_pem_that_openssl_and_the_curve_crates_read() {
    let env = Env::new();
    let mut listed = Vec::new();
    for (kt, label) in [("ed25519", "ed"), ("secp256k1", "k1"), ("p256", "p2")] {
        let k = env.generate(kt, label);
        let pem = k["public_key_pem"].as_str().unwrap().to_string();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"), "{pem}");
        let public = hexf(&k, "public_key");
        // OpenSSL reads the same key, on the right curve.
        let f = file(&env, &format!("{label}.pub.pem"), pem.as_bytes(), 0o600);
        let (algorithm, curve, bytes) = openssl_reads(&f);
        assert_eq!(bytes, public, "{kt}");
        match kt {
            "ed25519" => {
                assert_eq!(algorithm, "ED25519 Public-Key:");
                assert_eq!(
                    VerifyingKey::from_public_key_pem(&pem)
                        .unwrap()
                        .to_bytes()
                        .as_slice(),
                    public
                );
            }
            "secp256k1" => {
                assert_eq!(curve.as_deref(), Some("secp256k1"));
                let pk = k256::PublicKey::from_public_key_pem(&pem).unwrap();
                assert_eq!(k256::PublicKey::from_sec1_bytes(&public).unwrap(), pk);
            }
            _ => {
                assert_eq!(curve.as_deref(), Some("prime256v1"));
                let pk = p256::PublicKey::from_public_key_pem(&pem).unwrap();
                assert_eq!(p256::PublicKey::from_sec1_bytes(&public).unwrap(), pk);
            }
        }
        listed.push((kt, pem));
    }
    // `keys list --json` carries the same PEM for every key with a public
    // key; the table shows Ed25519 keys' PEM always and the others' with
    // --pem, flush left so it copies as it is.
    let json = env.list();
    for (kt, pem) in &listed {
        let k = json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["type"] == *kt && k["public_key_pem"] == pem.as_str())
            .unwrap_or_else(|| panic!("{kt}: PEM not in keys list --json"));
        assert_eq!(k["local"], true);
    }
    let table = text(&env.run(&["keys", "list"]));
    let with_pem = text(&env.run(&["keys", "list", "--pem"]));
    for (kt, pem) in &listed {
        assert_eq!(
            table.contains(pem.as_str()),
            *kt == "ed25519",
            "{kt}:\n{table}"
        );
        assert!(with_pem.contains(pem.as_str()), "{kt}:\n{with_pem}");
    }
    // `keys generate` prints it too: for Ed25519 without asking.
    let out = env.run(&["keys", "generate", "--type", "ed25519", "--label", "ed2"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    let out = env.run(&["keys", "generate", "--type", "p256", "--label", "p3"]);
    assert!(!text(&out).contains("BEGIN PUBLIC KEY"));
    let out = env.run(&[
        "keys", "generate", "--type", "p256", "--label", "p4", "--pem",
    ]);
    assert!(text(&out).contains("-----BEGIN PUBLIC KEY-----\n"));
    // An HMAC key has no public key, and no PEM.
    let k = env.generate("hmac", "mac");
    assert!(k.get("public_key_pem").is_none());
}
