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
