//! `keys import --type ed25519` and public keys as PEM, through the real
//! binary and a real SoftHSM token: keys made by OpenSSL (the way Binance's
//! instructions make them) and by ed25519-dalek import from a PKCS#8 PEM or
//! a hex/base64 seed, sign through the agent, and verify with ed25519-dalek
//! against the public key we already knew; what is not an Ed25519 private
//! key, or sits in a file others can read, is refused. Every public key's
//! PEM is read back by OpenSSL and by the curve crates' own decoders.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Env, hexf, key};
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde_json::Value;

/// RFC 8032, section 7.1, tests 1 and 2: seeds with known public keys.
const SEED1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC1: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const SEED2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const PUBLIC2: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

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

fn import_file(env: &Env, label: &str, path: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "keys",
        "import",
        "--type",
        "ed25519",
        "--label",
        label,
        "--json",
        "--from-file",
        common::path_str(path),
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn imported(out: &Output) -> Value {
    assert!(out.status.success(), "import failed: {}", text(out));
    serde_json::from_slice(&out.stdout).unwrap()
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
fn ed25519_keys_import_from_pem_or_seed_and_sign_as_the_known_key() {
    let env = Env::new();
    // Binance's instructions: `openssl genpkey -algorithm ed25519`, and
    // register the public key `openssl pkey -pubout` prints.
    let pem = env.dir.path().join("binance.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        common::path_str(&pem),
    ]);
    std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pub_pem = openssl(&["pkey", "-in", common::path_str(&pem), "-pubout"]);
    let from_openssl = VerifyingKey::from_public_key_pem(&pub_pem).unwrap();
    let k = imported(&import_file(&env, "bn-ossl", &pem, &[]));
    assert_eq!(k["type"], "ed25519");
    assert_eq!(k["public_key_pem"], pub_pem.as_str());
    assert_eq!(
        k["public_key"],
        format!("0x{}", hex::encode(from_openssl.to_bytes()))
    );

    // A PKCS#8 v2 document (with the public key), as ed25519-dalek writes
    // it, through stdin.
    let dalek = SigningKey::from_bytes(&[0x5a; 32]);
    let v2 = dalek
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    let k = imported(&env.import("ed25519", "bn-v2", v2.as_bytes()));
    assert_eq!(
        k["public_key"],
        format!("0x{}", hex::encode(dalek.verifying_key().to_bytes()))
    );

    // Raw seeds: hex (the default, with a newline as `echo` leaves it) from
    // stdin, and base64 from a 0600 file.
    let seed1 = format!("{SEED1}\n");
    let k = imported(&env.import("ed25519", "rfc1", seed1.as_bytes()));
    assert_eq!(k["public_key"], format!("0x{PUBLIC1}"));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(SEED2).unwrap());
    let f = file(&env, "seed2.b64", b64.as_bytes(), 0o600);
    let k = imported(&import_file(&env, "rfc2", &f, &["--encoding", "base64"]));
    assert_eq!(k["public_key"], format!("0x{PUBLIC2}"));

    // Stored like a generated key, but not generated on the device.
    let listed = env.list();
    for label in ["bn-ossl", "bn-v2", "rfc1", "rfc2"] {
        let k = listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["label"] == label)
            .unwrap_or_else(|| panic!("{label} not listed"));
        assert_eq!(k["sensitive"], true, "{label}");
        assert_eq!(k["extractable"], false, "{label}");
        assert_eq!(k["local"], false, "{label}");
        assert!(k["public_key_pem"].is_string(), "{label}");
    }
    let human = text(&env.run(&["keys", "list"]));
    assert!(human.contains(&pub_pem), "{human}");

    // Each signs through the agent as the key whose public key we knew.
    env.write_config(
        &[
            key("ossl", "ed25519", "bn-ossl"),
            key("v2", "ed25519", "bn-v2"),
            key("one", "ed25519", "rfc1"),
            key("two", "ed25519", "rfc2"),
        ],
        "",
        "",
    );
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let known = [
        ("ossl", from_openssl),
        ("v2", dalek.verifying_key()),
        (
            "one",
            VerifyingKey::from_bytes(&hex::decode(PUBLIC1).unwrap().try_into().unwrap()).unwrap(),
        ),
        (
            "two",
            VerifyingKey::from_bytes(&hex::decode(PUBLIC2).unwrap().try_into().unwrap()).unwrap(),
        ),
    ];
    let msg = b"symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timestamp=1";
    for (alias, vk) in &known {
        let r = c.sign_message(alias, msg).unwrap();
        let sig = Signature::from_slice(&hexf(&r, "signature")).unwrap();
        vk.verify_strict(msg, &sig)
            .unwrap_or_else(|e| panic!("{alias}: {e}"));
    }
    // RFC 8032 test 1 signs the empty message to the published signature.
    let r = c.sign_message("one", b"").unwrap();
    assert_eq!(
        hex::encode(hexf(&r, "signature")),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
         5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );
    drop(c);
    assert!(agent.stop().success());
    // The seeds reached neither the journal nor the agent's log.
    let mut hay = agent.log_text();
    for s in env.segments() {
        hay.push_str(&std::fs::read_to_string(s).unwrap());
    }
    assert!(!hay.contains(SEED1) && !hay.contains(SEED2));
}

#[test]
fn what_is_not_an_ed25519_private_key_or_is_readable_by_others_is_refused() {
    let env = Env::new();
    let before = env.labels();
    let good = openssl(&["genpkey", "-algorithm", "ed25519"]);
    let refused = |out: Output, needle: &str, what: &str| {
        assert!(!out.status.success(), "{what}: imported: {}", text(&out));
        assert!(
            text(&out).contains(needle),
            "{what}: expected {needle:?} in {}",
            text(&out)
        );
    };

    // A file others can read, however good its contents.
    for mode in [0o644, 0o640, 0o604] {
        let f = file(&env, "open.pem", good.as_bytes(), mode);
        refused(
            import_file(&env, "x", &f, &[]),
            "readable by group or others",
            &format!("mode {mode:o}"),
        );
    }

    // Seeds of the wrong length, in hex and base64.
    for n in [31usize, 33, 64, 0] {
        refused(
            env.import("ed25519", "x", hex::encode(vec![7u8; n]).as_bytes()),
            "32-byte seed",
            &format!("{n} bytes"),
        );
    }
    refused(
        env.import("ed25519", "x", b"not hex"),
        "not valid hex",
        "junk",
    );
    let f = file(&env, "short.b64", b"AAAA", 0o600);
    refused(
        import_file(&env, "x", &f, &["--encoding", "base64"]),
        "32-byte seed",
        "3 bytes base64",
    );
    // Raw bytes are not a format for an Ed25519 key.
    refused(
        env.run(&[
            "keys",
            "import",
            "--type",
            "ed25519",
            "--label",
            "x",
            "--encoding",
            "text",
            "--from-file",
            common::path_str(&file(&env, "raw", &[7u8; 32], 0o600)),
        ]),
        "not as raw bytes",
        "text encoding",
    );

    // Malformed PEM documents.
    let body: Vec<&str> = good.lines().collect();
    let cases = [
        (
            "body not base64",
            format!("{}\n!!!!\n{}\n", body[0], body[2]),
            "not a valid PEM",
        ),
        (
            "no end line",
            format!("{}\n{}\n", body[0], body[1]),
            "not a valid PEM",
        ),
        (
            "body cut short",
            format!("{}\n{}\n{}\n", body[0], &body[1][..20], body[2]),
            "PKCS#8",
        ),
    ];
    for (what, pem, needle) in &cases {
        refused(env.import("ed25519", "x", pem.as_bytes()), needle, what);
    }
    let f = file(&env, "good.pem", good.as_bytes(), 0o600);
    let public = openssl(&["pkey", "-in", common::path_str(&f), "-pubout"]);
    refused(
        env.import("ed25519", "x", public.as_bytes()),
        "not a PKCS#8 private key",
        "a PUBLIC KEY document",
    );
    refused(
        import_file(&env, "x", &f, &["--encoding", "hex"]),
        "--encoding is for a raw seed",
        "PEM with --encoding",
    );
    // An encrypted PKCS#8 key: decrypt through a pipe, never to a file.
    let pass = file(&env, "pass", b"secret-pass\n", 0o600);
    let encrypted = openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        common::path_str(&f),
        "-v2",
        "aes-256-cbc",
        "-passout",
        &format!("file:{}", common::path_str(&pass)),
    ]);
    assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    refused(
        env.import("ed25519", "x", encrypted.as_bytes()),
        "encrypted",
        "encrypted PKCS#8",
    );

    // Other algorithms' PKCS#8 keys given as Ed25519.
    let others = [
        (
            openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
            ]),
            "an RSA key, not an Ed25519 key",
        ),
        (
            openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ]),
            "an EC key (P-256), not an Ed25519 key",
        ),
        (
            openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
            ]),
            "an EC key (secp256k1), not an Ed25519 key",
        ),
        (
            openssl(&["genpkey", "-algorithm", "x25519"]),
            "an X25519 key",
        ),
        (openssl(&["genpkey", "-algorithm", "ed448"]), "an Ed448 key"),
    ];
    for (pem, needle) in &others {
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        refused(env.import("ed25519", "x", pem.as_bytes()), needle, needle);
    }
    // Nothing was stored on the way.
    assert_eq!(env.labels(), before);
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
