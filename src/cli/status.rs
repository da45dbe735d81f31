//! `tradeward ctl status` for people: a summary of the agent's `status`
//! answer (docs/operations.md, "Status"). `--json` prints the answer as
//! is, for scripts.

use std::fmt::Write;

use serde_json::Value;

use crate::report::format_rfc3339;

/// The summary of a `status` answer.
pub fn render(v: &Value) -> String {
    let mut s = String::new();
    let now = v["server_time_ms"].as_u64().unwrap_or(0);
    let _ = writeln!(
        s,
        "Agent up {}, {} signing worker(s), clock skew {} ms",
        duration(v["uptime_ms"].as_u64().unwrap_or(0)),
        v["workers"],
        v["clock_skew_ms"]
    );
    let _ = writeln!(s, "Policy sha256 {}", text(&v["policy_sha256"]));

    let halts = v["halts"].as_array().map(Vec::as_slice).unwrap_or_default();
    if halts.is_empty() {
        let _ = writeln!(s, "\nHalts: none");
    } else {
        let _ = writeln!(s, "\nHalts ({}):", halts.len());
        for h in halts {
            let _ = writeln!(s, "  {}", halt(h));
        }
    }

    let _ = writeln!(s, "\nKeys (what each alias signs with now):");
    let served = v["served"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let wa = width(served, "alias");
    let wt = width(served, "type");
    for k in served {
        let mut line = format!(
            "  {:wa$}  {:wt$}  label {}",
            text(&k["alias"]),
            text(&k["type"]),
            text(&k["label"])
        );
        if let Some(id) = k["id"].as_str().filter(|i| !i.is_empty()) {
            let _ = write!(line, ", id {id}");
        }
        if let Some(a) = k["address"].as_str() {
            let _ = write!(line, ", address {a}");
        }
        if k["rotated"] == true {
            line.push_str(" (rotated)");
        }
        let _ = writeln!(s, "{line}");
    }

    let _ = writeln!(s, "\nIdentities:");
    if let Some(ids) = v["identities"].as_object() {
        for (name, i) in ids {
            let _ = writeln!(s, "  {name}");
            let _ = writeln!(s, "    switch    {}", switch(&i["switch"], now));
            let _ = writeln!(
                s,
                "    halted    {}",
                if i["halted"] == true { "yes" } else { "no" }
            );
            let _ = writeln!(
                s,
                "    open      {} order(s), notional {}; notional in the last 24 h {}",
                i["open_orders"],
                text(&i["open_notional"]),
                text(&i["notional_last_24h"])
            );
            let breaker = match i["breaker_open_until_ms"].as_u64() {
                Some(ms) => format!("open until {}", format_rfc3339(ms)),
                None => "closed".into(),
            };
            let _ = writeln!(s, "    breaker   {breaker}");
        }
    }
    s
}

/// A JSON string's text, or the value as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn width(rows: &[Value], field: &str) -> usize {
    rows.iter()
        .map(|r| text(&r[field]).len())
        .max()
        .unwrap_or(0)
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// Time until (or since) `at`.
fn relative(at: u64, now: u64) -> String {
    if at >= now {
        format!("in {}", duration(at - now))
    } else {
        format!("{} ago", duration(now - at))
    }
}

fn halt(h: &Value) -> String {
    let t = &h["target"];
    let target = match (t["scope"].as_str(), t["name"].as_str()) {
        (Some("all"), _) => "everything".to_string(),
        (Some("trip"), Some(n)) => format!("identity {n} (tripped switch)"),
        (Some(scope), Some(n)) => format!("{scope} {n}"),
        _ => t.to_string(),
    };
    let since = h["since_ms"]
        .as_u64()
        .map(|ms| format!(" since {}", format_rfc3339(ms)))
        .unwrap_or_default();
    let reducing = if h["reducing_allowed"] == true {
        "cancels and reduce-only orders allowed"
    } else {
        "nothing allowed"
    };
    format!("{target}: {}{since} ({reducing})", text(&h["reason"]))
}

fn switch(sw: &Value, now: u64) -> String {
    let timeout = sw["timeout_ms"]
        .as_u64()
        .map(|t| format!(", timeout {}", duration(t)))
        .unwrap_or_default();
    match sw["state"].as_str() {
        Some("armed") => match sw["deadline_ms"].as_u64() {
            Some(d) => format!("armed, deadline {}{timeout}", relative(d, now)),
            None => format!("armed{timeout}"),
        },
        Some("paused") => format!(
            "paused until {} ({}){timeout}",
            sw["until_ms"]
                .as_u64()
                .map(format_rfc3339)
                .unwrap_or_else(|| "?".into()),
            text(&sw["reason"])
        ),
        Some("tripped") => {
            let at = sw["at_ms"].as_u64().unwrap_or(0);
            let hook = &sw["hook"];
            let hook = match hook["hook"].as_str() {
                Some("succeeded") => "on-trip command succeeded".to_string(),
                Some("failed") => format!("on-trip command failed: {}", text(&hook["reason"])),
                Some("running") => "on-trip command running".into(),
                Some("not_configured") => "no on-trip command".into(),
                Some("recorded") if hook["ok"] == true => {
                    "on-trip command succeeded (before the last start)".into()
                }
                Some("recorded") => "on-trip command failed (before the last start)".into(),
                _ => "on-trip command's outcome not recorded: assume nobody got the cancels".into(),
            };
            format!(
                "TRIPPED {} ({}, journal record {}); {hook}; an operator must rearm it",
                relative(at, now),
                format_rfc3339(at),
                sw["record"]
            )
        }
        Some("disarmed") => "disarmed (never armed)".into(),
        _ => sw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summary_names_keys_switches_and_halts() {
        let v = json!({
            "keys": ["audit", "hl"],
            "served": [
                {"alias": "audit", "type": "ed25519", "label": "tradeward-audit", "id": "0a",
                 "uri": "pkcs11:object=tradeward-audit", "address": null, "public_key": "0x00", "rotated": false},
                {"alias": "hl", "type": "secp256k1", "label": "hl-2", "id": "0b",
                 "uri": "pkcs11:object=hl-2", "address": "0x71A3E7179B163B5cCB214ba71F490882fDF986F1",
                 "public_key": "0x04", "rotated": true}
            ],
            "server_time_ms": 1_795_473_005_976u64,
            "uptime_ms": 3_723_000,
            "clock_skew_ms": 0,
            "policy_sha256": "bff3",
            "halts": [
                {"target": {"scope": "identity", "name": "developer"}, "reason": "investigating fills",
                 "reducing_allowed": true, "since_ms": 1_795_473_002_660u64},
            ],
            "identities": {
                "developer": {
                    "switch": {"timeout_ms": 3000, "deadline_ms": 1_795_473_004_473u64, "state": "tripped",
                               "at_ms": 1_795_473_004_474u64, "record": 13,
                               "hook": {"hook": "succeeded", "exit_code": 0}},
                    "halted": true, "open_orders": 3, "open_notional": "850",
                    "notional_last_24h": "850", "breaker_open_until_ms": null
                },
                "mm": {
                    "switch": {"timeout_ms": 10000, "deadline_ms": 1_795_473_008_476u64, "state": "armed"},
                    "halted": false, "open_orders": 0, "open_notional": "0",
                    "notional_last_24h": "0", "breaker_open_until_ms": null
                }
            },
            "workers": 2
        });
        let s = render(&v);
        assert!(s.contains("Agent up 1 h 2 min, 2 signing worker(s)"), "{s}");
        assert!(
            s.contains(
                "  hl     secp256k1  label hl-2, id 0b, address \
                 0x71A3E7179B163B5cCB214ba71F490882fDF986F1 (rotated)"
            ),
            "{s}"
        );
        assert!(
            s.contains("  audit  ed25519    label tradeward-audit, id 0a\n"),
            "{s}"
        );
        assert!(
            s.contains("identity developer: investigating fills since 2026-"),
            "{s}"
        );
        assert!(s.contains("TRIPPED 1 s ago"), "{s}");
        assert!(s.contains("journal record 13"), "{s}");
        assert!(s.contains("armed, deadline in 2 s, timeout 10 s"), "{s}");
        assert!(s.contains("3 order(s), notional 850"), "{s}");
    }
}
