//! The systemd unit in deploy/systemd: systemd's own checker accepts it,
//! and its security analysis rates the hardening as safe.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("deploy/systemd/tradeward.service")).unwrap();
    for must in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "MemoryDenyWriteExecute=yes",
        "LockPersonality=yes",
        "RestrictAddressFamilies=AF_UNIX",
        "CapabilityBoundingSet=\n",
        "KillMode=mixed",
        "User=tradeward",
    ] {
        assert!(unit.contains(must), "unit lacks {must:?}");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED systemd-analyze checks: systemd-analyze is not installed");
        return;
    }
    // Point ExecStart at a program that exists here; the rest is as shipped.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("tradeward.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/tradeward", "/bin/true")).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for tradeward.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(level <= 1.5, "exposure {level}: {text}");
}

/// The unit, the README and the docs name the same paths: the config file,
/// the PIN file and the binary; the unit's `Documentation=` is what
/// scripts/install.sh installs.
#[test]
fn deploy_docs_and_unit_agree_on_paths_and_install_puts_the_docs_there() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let unit = read("deploy/systemd/tradeward.service");
    let docs = [
        read("docs/config.md"),
        read("docs/operations.md"),
        read("README.md"),
    ]
    .join("\n");
    assert!(
        unit.contains(
            "ExecStart=/usr/local/bin/tradeward agent --config /etc/tradeward/agent.toml"
        )
    );
    assert!(unit.contains("/etc/tradeward/token.pin"));
    assert!(docs.contains("/etc/tradeward/agent.toml"));
    assert!(docs.contains("/etc/tradeward/token.pin"));
    for stale in ["/etc/tradeward/tradeward.toml", "/etc/tradeward/user.pin"] {
        assert!(
            !unit.contains(stale) && !docs.contains(stale),
            "{stale} is named somewhere"
        );
    }
    // Install into a scratch prefix with the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/install.sh"))
        .args(["--prefix"])
        .arg(dir.path())
        .args(["--bin", env!("CARGO_BIN_EXE_tradeward"), "--systemd-dir"])
        .arg(dir.path().join("lib/systemd/system"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "bin/tradeward",
        "share/man/man1/tradeward.1",
        "share/bash-completion/completions/tradeward",
        "share/zsh/site-functions/_tradeward",
        "share/doc/tradeward/operations.md",
        "lib/systemd/system/tradeward.service",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} not installed");
    }
    let man = std::fs::read_to_string(dir.path().join("share/man/man1/tradeward.1")).unwrap();
    assert!(man.contains(".TH tradeward 1"));
    // Documentation= names the man page and the installed operations.md.
    let doc_line = unit
        .lines()
        .find(|l| l.starts_with("Documentation="))
        .unwrap();
    assert!(doc_line.contains("man:tradeward(1)"));
    assert!(doc_line.contains("file:///usr/local/share/doc/tradeward/operations.md"));
}
