//! The YubiKey PIV backend, end to end: the real `tradeward` binary and
//! agent, the unmodified `yubikey` crate, PC/SC, and a virtual PIV card
//! (tests/virtual-piv, driven by scripts/virtual-piv.sh) in place of the
//! device. Signatures are checked with the `p256` crate.
//!
//! What the virtual card cannot show (GET METADATA, attestation, touch) is
//! unit-tested in src/backend/piv with scripted and synthesised answers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Env, hexf, path_str};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PIN: &str = "24681357";
const PUK: &str = "97531864";

/// Build the card once for all tests in this binary (the script builds it
/// when `VIRTUAL_PIV_BIN` is not given).
fn card_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(b) = std::env::var("VIRTUAL_PIV_BIN") {
            return b;
        }
        let target = Path::new(ROOT).join("target/virtual-piv");
        let out = Command::new("cargo")
            .args(["build", "--quiet", "--manifest-path"])
            .arg(Path::new(ROOT).join("tests/virtual-piv/Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the virtual card failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path_str(&target.join("debug/tradeward-virtual-piv")).to_string()
    })
}

/// A virtual PIV card behind its own pcscd, stopped on drop.
struct Card {
    dir: tempfile::TempDir,
    /// PCSCLITE_CSOCK_NAME for clients of this card's pcscd.
    sock: String,
    serial: u32,
}

impl Card {
    fn start(serial: u32) -> Card {
        let dir = tempfile::Builder::new().prefix("vpiv").tempdir().unwrap();
        let out = Command::new("bash")
            .arg(Path::new(ROOT).join("scripts/virtual-piv.sh"))
            .args([
                "start",
                path_str(dir.path()),
                "--serial",
                &serial.to_string(),
            ])
            .env("VIRTUAL_PIV_BIN", card_bin())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "virtual card did not start: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let sock = stdout
            .trim()
            .strip_prefix("export PCSCLITE_CSOCK_NAME=")
            .unwrap_or_else(|| panic!("unexpected start output {stdout:?}"))
            .to_string();
        Card { dir, sock, serial }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid: i32 = std::fs::read_to_string(self.dir.path().join("card.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// The device leaves the reader (keys stay on it).
    fn unplug(&self) {
        self.signal(libc::SIGUSR1);
        std::thread::sleep(Duration::from_millis(800));
    }

    /// ...and comes back, as a freshly inserted device.
    fn plug(&self) {
        self.signal(libc::SIGUSR2);
        std::thread::sleep(Duration::from_millis(1200));
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Path::new(ROOT).join("scripts/virtual-piv.sh"))
            .args(["stop", path_str(self.dir.path())])
            .output();
    }
}

/// A SoftHSM development token (the journal's audit key lives there) plus
/// a virtual YubiKey, and secrets in 0600 files.
struct Rig {
    env: Env,
    /// The config `init-dev` wrote.
    starter: String,
    card: Card,
    pin: PathBuf,
    puk: PathBuf,
}

fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

impl Rig {
    fn new(serial: u32) -> Rig {
        let env = Env::new();
        let card = Card::start(serial);
        let pin = secret_file(env.dir.path(), "yk.pin", PIN);
        let puk = secret_file(env.dir.path(), "yk.puk", PUK);
        let starter = std::fs::read_to_string(&env.config).unwrap();
        Rig {
            env,
            starter,
            card,
            pin,
            puk,
        }
    }

    fn tw(&self, args: &[&str]) -> Output {
        self.env
            .cmd()
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", &self.card.sock)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.tw(args);
        assert!(
            out.status.success(),
            "tradeward {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn setup(&self) {
        self.ok(&[
            "yubikey",
            "setup",
            "--serial",
            &self.card.serial.to_string(),
            "--new-pin-file",
            path_str(&self.pin),
            "--new-puk-file",
            path_str(&self.puk),
        ]);
    }

    /// `keys generate --backend yubikey` as given; the raw output.
    fn try_generate(&self, slot: &str, key_type: &str, label: &str, pin: &Path) -> Output {
        self.tw(&[
            "keys",
            "generate",
            "--backend",
            "yubikey",
            "--slot",
            slot,
            "--type",
            key_type,
            "--label",
            label,
            "--pin-file",
            path_str(pin),
        ])
    }

    /// Start the agent expecting it to refuse; its error text.
    fn start_fails(&self, why: &str) -> String {
        self.env
            .try_start_agent_with_env(&[("PCSCLITE_CSOCK_NAME", self.card.sock.as_str())])
            .err()
            .unwrap_or_else(|| panic!("agent started {why}"))
    }

    fn generate(&self, slot: &str, label: &str, extra: &[&str]) -> Value {
        let serial = self.card.serial.to_string();
        let mut args = vec![
            "keys",
            "generate",
            "--backend",
            "yubikey",
            "--serial",
            &serial,
            "--slot",
            slot,
            "--type",
            "p256",
            "--label",
            label,
            "--json",
            "--pin-file",
        ];
        args.push(path_str(&self.pin));
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    fn list(&self) -> Value {
        serde_json::from_str(&self.ok(&[
            "keys",
            "list",
            "--backend",
            "yubikey",
            "--serial",
            &self.card.serial.to_string(),
            "--json",
        ]))
        .unwrap()
    }

    /// The starter config with `[yubikeys.desk]`, the given `(alias, slot)`
    /// keys on it (raw signing on: these are not trading keys) granted to
    /// the developer identity, and `pin_file` as the device's PIN.
    fn write_config(&self, keys: &[(&str, &str)], pin_file: &Path) {
        let text = self.starter.clone();
        let aliases: Vec<String> = keys.iter().map(|(a, _)| format!("{a:?}")).collect();
        let mut text = text.replacen("keys = []", &format!("keys = [{}]", aliases.join(", ")), 1);
        text.push_str(&format!(
            "\n[yubikeys.desk]\nserial = {}\npin_file = {:?}\n",
            self.card.serial,
            path_str(pin_file)
        ));
        for (alias, slot) in keys {
            text.push_str(&format!(
                "\n[keys.{alias}]\ntype = \"p256\"\nyubikey = \"desk\"\nslot = \"{slot}\"\nraw_signing = true\n"
            ));
        }
        std::fs::write(&self.env.config, text).unwrap();
    }

    fn start_agent(&self) -> common::Agent {
        self.env
            .start_agent_with_env(&[("PCSCLITE_CSOCK_NAME", self.card.sock.as_str())])
    }
}

fn key<'a>(list: &'a Value, slot: &str) -> &'a Value {
    list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["yubikey"]["slot"] == slot)
        .unwrap_or_else(|| panic!("no key in slot {slot}: {list}"))
}

fn verifying_key(k: &Value) -> p256::ecdsa::VerifyingKey {
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&hexf(k, "public_key")).unwrap()
}

#[test]
fn setup_generate_list_and_sign_through_the_agent() {
    let rig = Rig::new(21_000_101);
    let devices = rig.ok(&["yubikey", "list", "--json"]);
    let devices: Value = serde_json::from_str(&devices).unwrap();
    assert_eq!(devices[0]["serial"], 21_000_101, "{devices}");
    assert_eq!(devices[0]["version"], "5.4.3");

    rig.setup();
    // After set-up the factory PIN no longer works, the new one does.
    let wrong = secret_file(rig.env.dir.path(), "factory.pin", "123456");
    let out = rig.try_generate("9d", "p256", "x", &wrong);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong PIN"),
        "{out:?}"
    );

    let a = rig.generate(
        "9a",
        "es256-main",
        &["--pin-policy", "once", "--touch-policy", "never"],
    );
    let c = rig.generate("9c", "jwt-signer", &[]);
    let r = rig.generate("82", "audit-spare", &["--pin-policy", "always"]);
    assert_eq!(a["yubikey"]["slot"], "9a");
    assert_eq!(a["label"], "es256-main");
    assert_eq!(a["uri"], "yubikey:serial=21000101;slot=9a");
    assert_eq!(a["sensitive"], true);
    assert_eq!(a["extractable"], false);

    let list = rig.list();
    assert_eq!(list["keys"].as_array().unwrap().len(), 3, "{list}");
    for (slot, got, pin, touch) in [
        ("9a", &a, "once", "never"),
        ("9c", &c, "default", "default"),
        ("82", &r, "always", "default"),
    ] {
        let k = key(&list, slot);
        assert_eq!(k["public_key"], got["public_key"], "{slot}");
        assert_eq!(k["yubikey"]["pin_policy"], pin, "{slot}");
        assert_eq!(k["yubikey"]["touch_policy"], touch, "{slot}");
        // The virtual card has no GET METADATA: the policies come from the
        // certificate tradeward wrote, and say so.
        assert_eq!(k["yubikey"]["policy_source"], "certificate", "{slot}");
        assert_eq!(k["yubikey"]["firmware"], "5.4.3");
    }
    let text = rig.ok(&[
        "keys",
        "list",
        "--backend",
        "yubikey",
        "--serial",
        "21000101",
    ]);
    assert!(
        text.contains("slot 9a (PIV authentication)  es256-main"),
        "{text}"
    );
    assert!(
        text.contains("PIN policy once  touch policy never"),
        "{text}"
    );

    rig.write_config(&[("es256", "9a"), ("jwt", "9c"), ("spare", "82")], &rig.pin);
    let agent = rig.start_agent();
    let mut cl = agent.client();
    let listed = cl.list_keys().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    for (alias, slot) in [("es256", "9a"), ("jwt", "9c"), ("spare", "82")] {
        let vk = verifying_key(key(&list, slot));
        let k = listed.iter().find(|k| k["alias"] == alias).unwrap();
        assert_eq!(k["public_key"], key(&list, slot)["public_key"]);
        // Slot 9c wants the PIN before every signature (its default) and so
        // does 82 (asked for): the agent gives it each time.
        for i in 0..40u32 {
            let d: [u8; 32] = Sha256::digest(format!("{alias} {i}")).into();
            let out = cl.sign_digest(alias, &d).unwrap();
            let sig = p256::ecdsa::Signature::from_slice(&hexf(&out, "signature")).unwrap();
            vk.verify_prehash(&d, &sig).unwrap();
        }
        let msg = format!("message for {alias}");
        let out = cl
            .call(
                "sign",
                json!({"key": alias, "message": hex::encode(&msg), "format": "der"}),
            )
            .unwrap();
        let der = p256::ecdsa::DerSignature::from_bytes(&hexf(&out, "signature")).unwrap();
        vk.verify(msg.as_bytes(), &der).unwrap();
        // The key's reference works as well as its alias.
        let uri = key(&list, slot)["uri"].as_str().unwrap().to_string();
        let out = cl.sign_message(&uri, b"by reference").unwrap();
        assert_eq!(out["key"], alias);
    }
}

#[test]
fn unplug_replug_and_resets_by_other_programs() {
    let rig = Rig::new(21_000_102);
    rig.setup();
    let k = rig.generate("9a", "es256", &[]);
    let vk = verifying_key(&k);
    rig.write_config(&[("es256", "9a")], &rig.pin);
    let agent = rig.start_agent();
    let mut cl = agent.client();
    let sign_ok = |cl: &mut tradeward::client::Client, what: &str| {
        let d: [u8; 32] = Sha256::digest(what).into();
        let out = cl
            .sign_digest("es256", &d)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let sig = p256::ecdsa::Signature::from_slice(&hexf(&out, "signature")).unwrap();
        vk.verify_prehash(&d, &sig).unwrap();
    };
    sign_ok(&mut cl, "before");

    // Another program opens the device (which resets it and so forgets the
    // agent's PIN): the agent verifies the PIN again and signs.
    rig.list();
    sign_ok(&mut cl, "after another program");

    // Unplugged: a retryable error, nothing signed; the agent keeps serving.
    rig.card.unplug();
    let d = [7u8; 32];
    let e = cl.sign_digest("es256", &d).unwrap_err();
    assert_eq!(e.code(), Some("backend_unavailable"), "{e}");
    match &e {
        tradeward::client::ClientError::Remote {
            retryable, message, ..
        } => {
            assert!(*retryable);
            assert!(message.contains("21000102"), "{message}");
        }
        other => panic!("{other}"),
    }
    let mut other = agent.client();
    other.call("ping", json!({})).unwrap();

    // Plugged back: the next request opens it by serial, verifies the PIN
    // and signs with the same key.
    rig.card.plug();
    // The reader notices the card within a moment; until then the answer
    // is the same retryable error.
    common::wait_until(
        "the replugged device to sign",
        Duration::from_secs(20),
        || match cl.sign_digest("es256", &[8u8; 32]) {
            Ok(_) => true,
            Err(e) => {
                assert_eq!(e.code(), Some("backend_unavailable"), "{e}");
                false
            }
        },
    );
    sign_ok(&mut cl, "after replug");
    sign_ok(&mut other, "after replug, other client");
    let log = agent.log_text();
    assert!(log.contains("YubiKey lost"), "{log}");
    assert!(!log.contains(PIN), "the PIN is in the log");
}

#[test]
fn bad_pins_and_bad_configs_stop_the_start_with_a_clear_error() {
    let rig = Rig::new(21_000_103);
    // Set-up refuses the factory PIN and a short PUK, and changes nothing.
    let factory = secret_file(rig.env.dir.path(), "f.pin", "123456");
    let short = secret_file(rig.env.dir.path(), "short.puk", "123");
    let out = rig.tw(&[
        "yubikey",
        "setup",
        "--new-pin-file",
        path_str(&factory),
        "--new-puk-file",
        path_str(&rig.puk),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("factory default"),
        "{out:?}"
    );
    let out = rig.tw(&[
        "yubikey",
        "setup",
        "--new-pin-file",
        path_str(&rig.pin),
        "--new-puk-file",
        path_str(&short),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("6 to 8"),
        "{out:?}"
    );
    rig.setup();
    rig.generate("9a", "es256", &[]);

    // A second generate into the same slot needs --force.
    let out = rig.try_generate("9a", "p256", "again", &rig.pin);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{out:?}"
    );
    let before = key(&rig.list(), "9a")["public_key"].clone();
    let again = rig.generate("9a", "again", &["--force"]);
    assert_ne!(again["public_key"], before);

    // secp256k1 cannot live on a YubiKey.
    let out = rig.try_generate("9d", "secp256k1", "k1", &rig.pin);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PIV has no secp256k1"),
        "{out:?}"
    );

    // Attestation is not on the virtual card: a clear error.
    let out = rig.tw(&["yubikey", "attest", "--slot", "9a"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not support attestation"),
        "{out:?}"
    );

    // Wrong PIN: the agent does not start, and says why.
    let wrong = secret_file(rig.env.dir.path(), "wrong.pin", "11112222");
    rig.write_config(&[("es256", "9a")], &wrong);
    let e = rig.start_fails("with a wrong PIN");
    assert!(e.contains("wrong PIN"), "{e}");
    assert!(!e.contains("11112222"));

    // An empty slot, and a device that is not there.
    rig.write_config(&[("none", "9e")], &rig.pin);
    let e = rig.start_fails("on an empty slot");
    assert!(e.contains("slot 9e") && e.contains("empty"), "{e}");
    let text = std::fs::read_to_string(&rig.env.config).unwrap();
    std::fs::write(
        &rig.env.config,
        text.replace("serial = 21000103", "serial = 21000999"),
    )
    .unwrap();
    let e = rig.start_fails("without its device");
    assert!(e.contains("21000999"), "{e}");

    // Config mistakes name their place.
    let text = std::fs::read_to_string(&rig.env.config).unwrap();
    std::fs::write(
        &rig.env.config,
        text.replace("slot = \"9e\"", "slot = \"9e\"\nlabel = \"x\""),
    )
    .unwrap();
    let out = rig.tw(&["agent", "--check", "--config", path_str(&rig.env.config)]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("keys.none: a YubiKey key is named by yubikey and slot"),
        "{out:?}"
    );
}

#[test]
fn the_journal_audit_key_can_live_on_the_yubikey() {
    let rig = Rig::new(21_000_104);
    rig.setup();
    rig.generate("9a", "es256", &[]);
    rig.generate("9d", "journal-audit", &[]);
    rig.write_config(&[("es256", "9a")], &rig.pin);
    let text = std::fs::read_to_string(&rig.env.config).unwrap().replace(
        "audit_key = \"audit\"",
        "audit_key = \"ykaudit\"\ncheckpoint_every = 5",
    );
    std::fs::write(
        &rig.env.config,
        format!("{text}\n[keys.ykaudit]\ntype = \"p256\"\nyubikey = \"desk\"\nslot = \"9d\"\n"),
    )
    .unwrap();
    let mut agent = rig.start_agent();
    let mut cl = agent.client();
    for i in 0..12u8 {
        cl.sign_digest("es256", &[i; 32]).unwrap();
    }
    drop(cl);
    assert!(agent.stop().success());
    // Checkpoints signed on the YubiKey verify offline (no PIN needed)...
    let out = rig.tw(&["journal", "verify", "--config", path_str(&rig.env.config)]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("YubiKey 21000104 slot 9d"), "{text}");
    // ...and at the next start.
    let mut agent = rig.start_agent();
    agent.client().sign_digest("es256", &[99; 32]).unwrap();
    assert!(agent.stop().success());
}
