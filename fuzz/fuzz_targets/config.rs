//! Configuration parsing: the agent's TOML config (`config::Config`) and a
//! `[policy]` section on its own (`policy::PolicyConfig`), with their
//! validation and the lookups the agent makes from a loaded config.
//!
//! Asserts: no input panics, in parsing, in validation, or in building the
//! key selectors and identity lookups of a config that validates; parsing
//! and validation are deterministic (same text, same config and verdict);
//! a policy nested in a full config parses to the same policy as the
//! section given on its own.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tradeward::config::{Config, parse_hex};
use tradeward::policy::PolicyConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let policy = PolicyConfig::parse(text);
    assert_eq!(
        PolicyConfig::parse(text),
        policy,
        "policy parse not deterministic"
    );
    if let Ok(p) = &policy {
        let verdict = p.validate();
        assert_eq!(p.validate(), verdict);
        let _ = p.check_names(["hl", "binance"], ["bot"]);
    }

    if let Ok(cfg) = Config::parse(text) {
        let again = Config::parse(text).expect("second parse of the same text");
        assert_eq!(format!("{cfg:?}"), format!("{again:?}"));
        let verdict = cfg.validate();
        assert_eq!(again.validate(), verdict);
        // The policy inside the config, re-parsed from the config's own
        // [policy] table, is the same policy.
        if let Ok(toml::Value::Table(mut root)) = toml::from_str::<toml::Value>(text)
            && let Some(section) = root.remove("policy")
            && let Ok(section_text) = toml::to_string(&section)
        {
            let alone = PolicyConfig::parse(&section_text)
                .expect("a [policy] table a config accepts parses on its own");
            assert_eq!(alone, cfg.policy);
        }
        if verdict.is_ok() {
            let _ = cfg.token_selector();
            let _ = cfg.admin_socket();
            for alias in cfg.keys.keys() {
                let _ = cfg.key_selector(alias);
                let _ = cfg.piv_location(alias);
            }
            let _ = cfg.identity_for(1000, 1000);
        }
    }
    let _ = parse_hex(text);
});
