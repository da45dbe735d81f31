//! Other uids at the socket, run for real with `setpriv` (needs root to
//! switch uid; skipped, loudly, otherwise): a uid that is not an identity
//! is refused; with a socket group, a second identity under another uid
//! gets only its own keys and operations; the admin socket admits
//! operators only.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use common::{Env, key};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Run `tradeward ARGS` as uid/gid 65534 (nobody/nogroup).
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_tradeward"))
        .args(args)
        .env_clear()
        .output()
        .expect("setpriv")
}

/// Let other users traverse (not list) the test's directories, and run the
/// binary, as a deployment would.
fn open_path(env: &Env) {
    for p in [env.dir.path().to_path_buf(), env.tok()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    let mut p = std::path::PathBuf::from(env!("CARGO_BIN_EXE_tradeward"));
    while p.pop() {
        if let Ok(m) = std::fs::metadata(&p)
            && m.permissions().mode() & 0o001 == 0
        {
            let mode = m.permissions().mode() | 0o001;
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode));
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn other_uids_get_only_what_their_identity_grants() {
    if !is_root() {
        eprintln!("SKIPPED: switching uid needs root (CI runs this as root)");
        return;
    }
    let env = Env::new();
    env.generate("p256", "mine");
    env.generate("p256", "theirs");
    env.write_config(
        &[key("mine", "p256", "mine"), key("theirs", "p256", "theirs")],
        "",
        "",
    );
    // Without a socket group: the private socket directory keeps uid 65534
    // out before the agent even sees it.
    let agent = env.start_agent();
    open_path(&env);
    let sock = common::path_str(&env.sock).to_string();
    let digest = "11".repeat(32);
    let out = as_nobody(&[
        "sign", "--socket", &sock, "--key", "mine", "--digest", &digest,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).to_lowercase().contains("permission denied"),
        "{}",
        text(&out)
    );
    drop(agent);

    // With socket_group = nogroup, uid 65534 reaches the socket: unmapped,
    // it is refused by the agent; mapped to its own identity, it may use
    // only its own key and operations.
    let text_cfg = std::fs::read_to_string(&env.config).unwrap();
    let text_cfg = text_cfg.replace("[agent]\n", "[agent]\nsocket_group = \"nogroup\"\n");
    std::fs::write(&env.config, &text_cfg).unwrap();
    // A fresh socket directory, created with the group's mode.
    std::fs::remove_dir_all(env.sock.parent().unwrap()).unwrap();
    let agent = env.start_agent();
    let out = as_nobody(&[
        "sign", "--socket", &sock, "--key", "theirs", "--digest", &digest,
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown_peer"), "{}", text(&out));
    drop(agent);

    let with_nobody = format!(
        "{}\n[identities.other]\nuids = [{NOBODY}]\nkeys = [\"theirs\"]\nops = [\"sign\"]\n",
        text_cfg.replacen("keys = [\"mine\", \"theirs\"]", "keys = [\"mine\"]", 1)
    );
    std::fs::write(&env.config, with_nobody).unwrap();
    let agent = env.start_agent();
    let ok = as_nobody(&[
        "sign", "--socket", &sock, "--key", "theirs", "--digest", &digest,
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    let out = as_nobody(&[
        "sign", "--socket", &sock, "--key", "mine", "--digest", &digest,
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown_key"), "{}", text(&out));
    // The admin socket is for operators only (0600, and the uid check).
    let admin = common::path_str(&env.sock.parent().unwrap().join("admin.sock")).to_string();
    let out = as_nobody(&["ctl", "--admin-socket", &admin, "status"]);
    assert!(!out.status.success());
    assert!(
        text(&out).to_lowercase().contains("permission denied"),
        "{}",
        text(&out)
    );
    // And the identity mapping held for this uid: root's own identity can
    // still use its key.
    let mut c = agent.client();
    c.sign_digest("mine", &[0x11; 32]).unwrap();
    let e = c.sign_digest("theirs", &[0x11; 32]).unwrap_err();
    assert_eq!(e.code(), Some("unknown_key"));
}
