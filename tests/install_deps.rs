//! The one list of system packages (scripts/debian-packages.txt) covers every
//! crate that builds native code: a `-sys` crate added to any of the
//! project's lock files without a line naming it fails here, before a fresh
//! machine finds out at build time.

use std::collections::BTreeSet;
use std::path::Path;

const LOCK_FILES: &[&str] = &[
    "Cargo.lock",
    "tests/virtual-piv/Cargo.lock",
    "tests/fault-pkcs11/Cargo.lock",
    "fuzz/Cargo.lock",
];

/// Crate names in the list's third column, and the stages its packages name.
fn listed() -> (BTreeSet<String>, Vec<(String, String)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("scripts/debian-packages.txt"))
        .expect("scripts/debian-packages.txt is readable");
    let mut crates = BTreeSet::new();
    let mut packages = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(
            cols.len() >= 4,
            "scripts/debian-packages.txt:{}: want package, stages, crates and a reason",
            n + 1
        );
        for c in cols[2].split(',').filter(|c| *c != "-") {
            crates.insert(c.to_string());
        }
        packages.push((cols[0].to_string(), cols[1].to_string()));
    }
    (crates, packages)
}

fn sys_crates(lock: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(lock).unwrap_or_else(|e| panic!("{}: {e}", lock.display()));
    let doc: toml::Table = text.parse().expect("a lock file is TOML");
    doc.get("package")
        .and_then(|p| p.as_array())
        .expect("a lock file lists packages")
        .iter()
        .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
        .filter(|n| n.ends_with("-sys"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_sys_crate_is_covered_by_the_package_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (crates, _) = listed();
    let mut uncovered = Vec::new();
    for lock in LOCK_FILES {
        for name in sys_crates(&root.join(lock)) {
            if !crates.contains(&name) {
                uncovered.push(format!("{name} (in {lock})"));
            }
        }
    }
    assert!(
        uncovered.is_empty(),
        "-sys crates with no line in scripts/debian-packages.txt (name the Debian package their \
         build needs, or \"-\" with the reason none is needed): {uncovered:?}"
    );
}

#[test]
fn every_listed_package_has_known_stages() {
    let (_, packages) = listed();
    assert!(packages.iter().any(|(p, _)| p == "libpcsclite-dev"));
    for (pkg, stages) in packages {
        if pkg == "-" {
            assert_eq!(stages, "-", "a line that installs nothing names no stage");
            continue;
        }
        for s in stages.split(',') {
            assert!(
                matches!(s, "build" | "run" | "test"),
                "{pkg}: unknown stage {s:?} (build, run or test)"
            );
        }
    }
}
