//! Tests of the config parser and its cross-checks.

use super::*;

const GOOD: &str = r#"
[agent]
socket = "run/agent.sock"

[pkcs11]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "dev"
pin_file = "pin"

[journal]
dir = "journal"
audit_key = "audit"

[keys.audit]
type = "ed25519"
label = "audit"

[keys.hl]
type = "secp256k1"
label = "hl-main"

[keys.api]
type = "hmac"
uri = "pkcs11:token=dev;object=binance"

[identities.bot]
uids = [1000]
keys = ["hl", "api"]
ops = ["sign", "list_keys"]
"#;

#[test]
fn parses_and_validates() {
    let c = Config::parse(GOOD).unwrap();
    c.validate().unwrap();
    assert_eq!(c.agent.max_frame_bytes, DEFAULT_MAX_FRAME);
    assert_eq!(
        c.key_selector("api").unwrap().label.as_deref(),
        Some("binance")
    );
    assert_eq!(c.identity_for(1000, 5).unwrap().0, "bot");
    assert!(c.identity_for(1001, 5).is_none());
}

#[test]
fn hyperliquid_builder_dexs_need_the_dex_list() {
    let hl = "[keys.hl.hyperliquid]\nnetwork = \"mainnet\"\nmeta = \"meta.json\"\ndex_meta = { xyz = \"meta_xyz.json\" }\n";
    let c = Config::parse(&format!("{GOOD}\n{hl}")).unwrap();
    let e = c.validate().unwrap_err();
    assert!(
        e.contains("keys.hl.hyperliquid.dex_meta needs keys.hl.hyperliquid.perp_dexs"),
        "{e}"
    );
    let mut c = Config::parse(&format!("{GOOD}\n{hl}perp_dexs = \"perp_dexs.json\"\n")).unwrap();
    c.validate().unwrap();
    c.resolve_paths(Path::new("/etc/tw"));
    let h = c.keys["hl"].hyperliquid.as_ref().unwrap();
    assert_eq!(
        h.perp_dexs.as_deref(),
        Some(Path::new("/etc/tw/perp_dexs.json"))
    );
    assert_eq!(h.dex_meta["xyz"], Path::new("/etc/tw/meta_xyz.json"));
}

#[test]
fn unknown_key_names_its_location() {
    let bad = GOOD.replace("label = \"hl-main\"", "label = \"hl-main\"\nlabell = \"x\"");
    let e = Config::parse(&bad).unwrap_err();
    assert!(e.contains("unknown field `labell`"), "{e}");
    assert!(e.contains("line 21"), "{e}");
}

#[test]
fn cross_checks() {
    let c = Config::parse(&GOOD.replace("keys = [\"hl\", \"api\"]", "keys = [\"nope\"]")).unwrap();
    assert!(c.validate().unwrap_err().contains("no key named \"nope\""));
    let c = Config::parse(&GOOD.replace("pin_file = \"pin\"", "")).unwrap();
    assert!(c.validate().unwrap_err().contains("exactly one of"));
    let c = Config::parse(&GOOD.replace("keys = [\"hl\", \"api\"]", "keys = [\"audit\"]")).unwrap();
    assert!(c.validate().unwrap_err().contains("audit key"));
    let c = Config::parse(&GOOD.replace("audit_key = \"audit\"", "audit_key = \"x\"")).unwrap();
    assert!(c.validate().unwrap_err().contains("journal.audit_key"));
    let c = Config::parse(&GOOD.replace("ops = [\"sign\", \"list_keys\"]", "ops = [\"zeroize\"]"));
    assert!(c.unwrap_err().contains("unknown variant `zeroize`"));
}

#[test]
fn rest_tables() {
    let rest = "\n[keys.api.rest]\nvenue = \"binance\"\nmarkets = [\"spot\"]\n";
    let good = GOOD.replace(
        "ops = [\"sign\", \"list_keys\"]",
        "ops = [\"rest.sign_request\"]",
    ) + rest;
    let c = Config::parse(&good).unwrap();
    c.validate().unwrap();
    assert!(c.keys["api"].rest.is_some());
    assert!(c.keys["hl"].rest.is_none());
    assert_eq!(GrantedOp::RestSignRequest.as_str(), "rest.sign_request");
    // Only HMAC and Ed25519 keys sign REST requests.
    let c = Config::parse(
        &(GOOD.to_string() + "\n[keys.hl.rest]\nvenue = \"binance\"\nmarkets = []\n"),
    )
    .unwrap();
    assert!(c.validate().unwrap_err().contains("keys.hl.rest"));
    // The table's own checks are prefixed with its place.
    let c = Config::parse(&(good.clone() + "max_recv_window_ms = 1\n")).unwrap();
    assert!(
        c.validate()
            .unwrap_err()
            .starts_with("keys.api.rest.max_recv_window_ms")
    );
    let e = Config::parse(&(good + "recv = 1\n")).unwrap_err();
    assert!(e.contains("unknown field `recv`"), "{e}");
}
