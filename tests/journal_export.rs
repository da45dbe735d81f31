//! `tradeward journal export`, driven through the real agent: requests that
//! are allowed and denied, a peer that is refused, two runs; then the JSON
//! report and the CSV rows are checked against what the journal holds, for
//! the whole journal and for a period. Hyperliquid orders and transfers,
//! judged by a policy, give the per-symbol counts and the notional and
//! transfer totals.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{Env, key, path_str};
use serde_json::{Value, json};
use tradeward::report::format_rfc3339;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn uid() -> u32 {
    unsafe { libc::getuid() }
}

/// Every record of the journal, in order, read straight from the files.
fn journal_records(dir: &Path) -> Vec<Value> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("segment-") && n.ends_with(".jsonl"))
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|n| {
            std::fs::read_to_string(dir.join(n))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// A strict RFC 4180 reader: CRLF line ends, quoted fields with doubled
/// quotes inside.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    quoted = false;
                    assert!(
                        matches!(chars.peek(), Some(',') | Some('\r')),
                        "text after a closing quote"
                    );
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            '"' => panic!("a quote inside an unquoted field"),
            ',' => {
                row.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                at_field_start = true;
            }
            '\n' => panic!("a bare LF outside quotes"),
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "the last line is not terminated"
    );
    rows
}

const COLUMNS: [&str; 15] = [
    "seq",
    "time",
    "identity",
    "uid",
    "pid",
    "op",
    "key",
    "allow",
    "rule",
    "reason",
    "request_sha256",
    "payload_sha256",
    "venue",
    "nonce",
    "intents",
];

/// The CSV row a decision record must give.
fn expected_row(r: &Value) -> Vec<String> {
    let s = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    vec![
        s(&r["seq"]),
        format_rfc3339(r["ts_ms"].as_u64().unwrap()),
        s(&r["identity"]),
        s(&r["uid"]),
        s(&r["pid"]),
        s(&r["op"]),
        s(&r["key"]),
        s(&r["allow"]),
        s(&r["rule"]),
        s(&r["reason"]),
        s(&r["request_sha256"]),
        s(&r["payload_sha256"]),
        s(&r["venue"]),
        s(&r["nonce"]),
        // Compact JSON, in the journal's own key order.
        s(&r["intents"]),
    ]
}

/// A key reference that needs every kind of CSV quoting.
const AWKWARD_KEY: &str = "we,\"ird\"\r\nkey";

struct Journaled {
    env: Env,
    /// The decisions made, in order: (allow, rule, key, op).
    expected: Vec<(bool, &'static str, &'static str, &'static str)>,
}

/// Run the agent twice: once with this uid unmapped (its connection is
/// refused), once making allowed and denied requests in three phases a
/// little apart in time.
fn journaled() -> Journaled {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.generate("p256", "p2");
    let mut trading = key("trading", "p256", "p2");
    trading.raw_signing = false;
    let keys = [key("eth", "secp256k1", "k1"), trading];

    env.write_config(&keys, "", "");
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace(&format!("uids = [{}]", uid()), "uids = [4242]"),
    )
    .unwrap();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    assert_eq!(c.recv().unwrap()["error"]["code"], "unknown_peer");
    drop(c);
    assert!(agent.stop().success());

    env.write_config(&keys, "", "");
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let code = |r: Result<Value, tradeward::client::ClientError>| {
        r.unwrap_err().code().unwrap().to_string()
    };
    // Phase A.
    c.sign_digest("eth", &[1; 32]).unwrap();
    assert_eq!(code(c.sign_digest("nope", &[1; 32])), "unknown_key");
    assert_eq!(
        code(c.sign_message("trading", b"x")),
        "raw_signing_disabled"
    );
    std::thread::sleep(Duration::from_millis(50));
    // Phase B, with reads that are not journaled.
    c.sign_message("eth", b"hello").unwrap();
    assert_eq!(code(c.call("sign", json!({"key": "eth"}))), "bad_params");
    assert_eq!(code(c.sign_digest(AWKWARD_KEY, &[2; 32])), "unknown_key");
    assert_eq!(code(c.call("rm -rf", json!({}))), "unknown_op");
    c.hello().unwrap();
    c.list_keys().unwrap();
    c.call("ping", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // Phase C.
    c.sign_digest("eth", &[3; 32]).unwrap();
    assert_eq!(
        code(c.call("sign", json!({"key": "eth", "digest": "00"}))),
        "bad_params"
    );
    drop(c);
    assert!(agent.stop().success());

    let expected = vec![
        (true, "raw_signing", "eth", "sign"),
        (false, "unknown_key", "nope", "sign"),
        (false, "raw_signing_disabled", "trading", "sign"),
        (true, "raw_signing", "eth", "sign"),
        (false, "bad_params", "eth", "sign"),
        (false, "unknown_key", AWKWARD_KEY, "sign"),
        (false, "unknown_op", "", "rm -rf"),
        (true, "raw_signing", "eth", "sign"),
        (false, "bad_params", "eth", "sign"),
    ];
    Journaled { env, expected }
}

fn export(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["journal", "export"];
    all.extend_from_slice(args);
    env.run(&all)
}

fn export_json(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = export(env, &all);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

fn export_csv(env: &Env, args: &[&str]) -> Vec<Vec<String>> {
    let mut all = vec!["--format", "csv"];
    all.extend_from_slice(args);
    let out = export(env, &all);
    assert!(out.status.success(), "{}", text(&out));
    let rows = parse_csv(std::str::from_utf8(&out.stdout).unwrap());
    assert_eq!(rows[0], COLUMNS);
    assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
    rows
}

fn kind_counts(recs: &[&Value]) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = [
        "start",
        "stop",
        "decision",
        "signature",
        "sign_failed",
        "peer_refused",
        "checkpoint",
        "order_closed",
        "position_reported",
        "price_refused",
        "refusals_summarised",
        "heartbeat",
        "trip",
        "trip_hook",
        "halt",
        "resume",
        "rearm",
        "pause",
        "policy_reload",
        "key_rotated",
        "key_rolled_back",
        "key_zeroized",
        "note",
    ]
    .iter()
    .map(|k| (k.to_string(), 0))
    .collect();
    for r in recs {
        *m.get_mut(r["kind"].as_str().unwrap()).unwrap() += 1;
    }
    m
}

fn tally(allowed: u64, denied: u64) -> Value {
    json!({"allowed": allowed, "denied": denied})
}

#[test]
fn export_reports_every_decision_exactly() {
    let Journaled { env, expected } = journaled();
    let recs = journal_records(&env.journal_dir());
    let all: Vec<&Value> = recs.iter().collect();
    let decisions: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "decision").collect();
    assert_eq!(decisions.len(), expected.len(), "{decisions:?}");
    for (d, (allow, rule, key, op)) in decisions.iter().zip(&expected) {
        assert_eq!(d["allow"], *allow, "{d}");
        assert_eq!(d["rule"], *rule, "{d}");
        assert_eq!(d["key"].as_str().unwrap_or(""), *key, "{d}");
        assert_eq!(d["op"], *op, "{d}");
    }
    let refusals = recs.iter().filter(|r| r["kind"] == "peer_refused").count() as u64;
    assert!(refusals >= 1);
    let checkpoints = recs.iter().filter(|r| r["kind"] == "checkpoint").count() as u64;

    // JSON, the whole journal.
    let v = export_json(&env, &[]);
    assert_eq!(v["report"], "tradeward-journal-export");
    assert_eq!(v["report_version"], 1);
    assert_eq!(
        v["period"],
        json!({"from": null, "to": null, "from_ms": null, "to_ms": null})
    );
    let j = &v["journal"];
    assert_eq!(j["records"], recs.len() as u64);
    assert_eq!(j["first_seq"], 1);
    assert_eq!(j["last_seq"], recs.len() as u64);
    assert_eq!(j["checkpoints"], checkpoints);
    assert_eq!(j["uncovered"], 0);
    assert_eq!(j["torn_tail_bytes"], Value::Null);
    assert_eq!(j["chain_checked"], true);
    assert_eq!(j["checkpoint_signatures_checked"], false);
    assert_eq!(v["records"]["total"], recs.len() as u64);
    assert_eq!(v["records"]["by_kind"], json!(kind_counts(&all)));
    assert_eq!(v["records"]["by_kind"]["decision"], 9);
    assert_eq!(v["records"]["by_kind"]["signature"], 3);
    assert_eq!(v["records"]["by_kind"]["start"], 2);
    assert_eq!(v["records"]["by_kind"]["stop"], 2);

    let d = &v["decisions"];
    assert_eq!(d["total"], 9);
    assert_eq!(d["allowed"], 3);
    assert_eq!(d["denied"], 6);
    assert_eq!(d["by_identity"], json!({"developer": tally(3, 6)}));
    assert_eq!(
        d["by_key"],
        json!({
            "eth": tally(3, 2),
            "nope": tally(0, 1),
            "trading": tally(0, 1),
            AWKWARD_KEY: tally(0, 1),
        })
    );
    assert_eq!(d["without_key"], tally(0, 1));
    // hello, ping and list_keys succeeded and decided nothing.
    assert_eq!(
        d["by_op"],
        json!({"sign": tally(3, 5), "rm -rf": tally(0, 1)})
    );
    assert_eq!(
        d["denials_by_rule"],
        json!({
            "bad_params": 2,
            "raw_signing_disabled": 1,
            "unknown_key": 2,
            "unknown_op": 1,
        })
    );
    assert_eq!(d["allowed_without_outcome"], 0);
    assert_eq!(d["with_intents"], 0);

    assert_eq!(
        v["signing"],
        json!({
            "signatures": 3,
            "sign_failures": 0,
            "by_key": {"eth": {"signatures": 3, "sign_failures": 0}},
        })
    );
    assert_eq!(
        v["peer_refusals"],
        json!({"total": refusals, "by_uid": {uid().to_string(): refusals}})
    );

    let l = &v["lifecycle"];
    let starts: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "start").collect();
    assert_eq!(l["starts"].as_array().unwrap().len(), 2);
    for (s, r) in l["starts"].as_array().unwrap().iter().zip(&starts) {
        assert_eq!(s["seq"], r["seq"]);
        assert_eq!(s["ts_ms"], r["ts_ms"]);
        assert_eq!(s["time"], format_rfc3339(r["ts_ms"].as_u64().unwrap()));
        assert_eq!(s["pid"], r["pid"]);
        assert_eq!(s["config_sha256"], r["config_sha256"]);
        assert_eq!(s["keys"], json!(["audit", "eth", "trading"]));
    }
    let stops: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "stop").collect();
    let got: Vec<(&Value, &Value)> = l["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (&s["seq"], &s["reason"]))
        .collect();
    let want: Vec<(&Value, &Value)> = stops.iter().map(|s| (&s["seq"], &s["reason"])).collect();
    assert_eq!(got, want);
    assert_eq!(l["stops"][0]["reason"], "signal");
    assert_eq!(l["notes"], json!([]));
    assert_eq!(v["checkpoints"]["count"], checkpoints);
    assert_eq!(
        v["checkpoints"]["last_covers"],
        recs.iter()
            .rev()
            .find(|r| r["kind"] == "checkpoint")
            .unwrap()["covers"]
    );
    let absent: Vec<&str> = v["absent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["section"].as_str().unwrap())
        .collect();
    assert!(absent.is_empty(), "{absent:?}");
    // Raw signing carries no intents: the order sections are empty.
    assert_eq!(
        v["orders_by_symbol"]["by_symbol"],
        json!({}),
        "{}",
        v["orders_by_symbol"]
    );
    assert_eq!(v["notional_by_symbol"]["by_symbol"], json!({}));
    assert_eq!(v["transfers"]["by_key"], json!({}));
    assert_eq!(d["denials_by_rule_and_symbol"], json!({}));

    // CSV, the whole journal: one row per decision, each exactly its record.
    let rows = export_csv(&env, &[]);
    assert_eq!(rows.len(), 1 + decisions.len());
    for ((row, d), (allow, rule, key, op)) in rows[1..].iter().zip(&decisions).zip(&expected) {
        assert_eq!(*row, expected_row(d));
        assert_eq!(row[2], "developer");
        assert_eq!(row[3], uid().to_string());
        assert_eq!(row[4], std::process::id().to_string());
        assert_eq!(row[5], *op);
        assert_eq!(row[6], *key);
        assert_eq!(row[7], allow.to_string());
        assert_eq!(row[8], *rule);
        assert_eq!(row[10].len(), 64);
        assert_eq!(row[11].len(), if *allow { 64 } else { 0 });
        assert_eq!(row[12..], ["", "", ""]);
    }
    // The awkward key came through the quoting intact.
    assert_eq!(rows[6][6], AWKWARD_KEY);
    let raw = String::from_utf8(export(&env, &["--format", "csv"]).stdout).unwrap();
    assert!(raw.contains(",\"we,\"\"ird\"\"\r\nkey\","), "{raw}");

    // The same through --dir, and into a file.
    let dir = env.journal_dir();
    let by_dir = env.run(&[
        "journal",
        "export",
        "--dir",
        path_str(&dir),
        "--format",
        "csv",
    ]);
    assert!(by_dir.status.success(), "{}", text(&by_dir));
    assert_eq!(String::from_utf8(by_dir.stdout).unwrap(), raw);
    let file = env.dir.path().join("report.csv");
    let out = export(&env, &["--format", "csv", "--output", path_str(&file)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("9 of them decisions"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), raw);
}

#[test]
fn export_filters_by_period() {
    let Journaled { env, .. } = journaled();
    let recs = journal_records(&env.journal_dir());
    let decisions: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "decision").collect();
    // Phase B: from its first decision (inclusive) to phase C's first
    // (exclusive).
    let from = decisions[3]["ts_ms"].as_u64().unwrap();
    let to = decisions[7]["ts_ms"].as_u64().unwrap();
    assert!(decisions[2]["ts_ms"].as_u64().unwrap() < from);
    let in_period: Vec<&Value> = recs
        .iter()
        .filter(|r| (from..to).contains(&r["ts_ms"].as_u64().unwrap()))
        .collect();
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let args = ["--from", from_s.as_str(), "--to", to_s.as_str()];

    let v = export_json(&env, &args);
    assert_eq!(v["period"]["from_ms"], from);
    assert_eq!(v["period"]["to_ms"], to);
    assert_eq!(v["period"]["from"], format_rfc3339(from));
    assert_eq!(v["period"]["to"], format_rfc3339(to));
    assert_eq!(v["records"]["total"], in_period.len() as u64);
    assert_eq!(v["records"]["first_seq"], in_period[0]["seq"]);
    assert_eq!(v["records"]["last_seq"], in_period.last().unwrap()["seq"]);
    assert_eq!(v["records"]["by_kind"], json!(kind_counts(&in_period)));
    // Phase B is one allowed decision (and its signature) and three denials.
    let d = &v["decisions"];
    assert_eq!(
        (&d["total"], &d["allowed"], &d["denied"]),
        (&json!(4), &json!(1), &json!(3))
    );
    assert_eq!(
        d["by_key"],
        json!({"eth": tally(1, 1), AWKWARD_KEY: tally(0, 1)})
    );
    assert_eq!(d["without_key"], tally(0, 1));
    assert_eq!(
        d["denials_by_rule"],
        json!({"bad_params": 1, "unknown_key": 1, "unknown_op": 1})
    );
    assert_eq!(v["signing"]["signatures"], 1);
    assert_eq!(v["records"]["by_kind"]["signature"], 1);
    assert_eq!(v["peer_refusals"]["total"], 0);
    assert_eq!(v["lifecycle"]["starts"], json!([]));
    assert_eq!(v["lifecycle"]["stops"], json!([]));
    assert_eq!(v["checkpoints"]["count"], 0);
    // The journal section still describes the whole journal.
    assert_eq!(v["journal"]["records"], recs.len() as u64);

    let rows = export_csv(&env, &args);
    let want: Vec<Vec<String>> = decisions[3..7].iter().map(|d| expected_row(d)).collect();
    assert_eq!(rows[1..], want[..]);

    // --from alone and --to alone split the decisions between them.
    let before = export_csv(&env, &["--to", from_s.as_str()]);
    let after = export_csv(&env, &["--from", from_s.as_str()]);
    assert_eq!(before.len() - 1, 3);
    assert_eq!(after.len() - 1, 6);
    assert_eq!(after[1][0], decisions[3]["seq"].to_string());

    // Dates and UTC times: everything, or nothing.
    let everything = export_json(
        &env,
        &["--from", "2000-01-01", "--to", "9999-12-31T23:59:59Z"],
    );
    assert_eq!(everything["records"]["total"], recs.len() as u64);
    assert_eq!(everything["period"]["from"], "2000-01-01T00:00:00.000Z");
    assert_eq!(everything["period"]["to"], "9999-12-31T23:59:59.000Z");
    let nothing = export_json(&env, &["--to", "1970-01-02"]);
    assert_eq!(nothing["records"]["total"], 0);
    assert_eq!(nothing["decisions"]["total"], 0);
    assert_eq!(nothing["decisions"]["by_key"], json!({}));
    assert_eq!(export_csv(&env, &["--from", "9999-01-01"]).len(), 1);
}

#[test]
fn export_refuses_a_damaged_journal_and_bad_arguments() {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.write_config(&[key("eth", "secp256k1", "k1")], "", "");
    let mut agent = env.start_agent();
    let mut c = agent.client();
    c.sign_digest("eth", &[1; 32]).unwrap();
    assert!(c.sign_digest("nope", &[1; 32]).is_err());
    drop(c);
    assert!(agent.stop().success());
    assert!(export(&env, &["--format", "json"]).status.success());

    for (args, says) in [
        (vec!["--format", "json", "--from", "2024-13-01"], "month"),
        (
            vec!["--format", "json", "--to", "2024-01-01T00:00:00+01:00"],
            "UTC",
        ),
        (vec!["--format", "json", "--from", "yesterday"], "expected"),
        (
            vec![
                "--format",
                "csv",
                "--from",
                "2024-02-01",
                "--to",
                "2024-01-01",
            ],
            "later than",
        ),
        (vec!["--format", "xml"], "xml"),
        (vec![], "--format"),
    ] {
        let out = export(&env, &args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }

    // Turn the denial into an allow: the chain breaks and no report is made.
    let seg = env.journal_dir().join("segment-000001.jsonl");
    let body = std::fs::read_to_string(&seg).unwrap();
    assert!(body.contains("\"allow\":false"));
    std::fs::write(&seg, body.replacen("\"allow\":false", "\"allow\":true", 1)).unwrap();
    let file = env.dir.path().join("report.json");
    for format in ["json", "csv"] {
        let out = export(&env, &["--format", format, "--output", path_str(&file)]);
        assert!(!out.status.success());
        assert!(text(&out).contains("journal verify"), "{}", text(&out));
        let out = export(&env, &["--format", format]);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "{}", text(&out));
    }
    // Neither the report nor a partial file is left behind.
    let left: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("report"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

// ---------------------------------------------------------------------------
// Hyperliquid orders and transfers under a policy.

/// The published, test-only key of the Hyperliquid vectors.
const HL_TEST_KEY: &[u8] = b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const HL_VAULT: &str = "0x1719884eb866cb12b2287399b15f7db5e7d775ea";
const HL_DEST: &str = "0x5e9ee1089755c3435139848e47e6635505d5a13a";

fn hl_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperliquid")
}

/// The vectors' actions, by name.
fn hl_actions() -> BTreeMap<String, Value> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(hl_fixtures().join("vectors.json")).unwrap())
            .unwrap();
    v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_string(), v.clone()))
        .collect()
}

/// BTC up to 0.01 an order and SOL are allowed, every other symbol is
/// denied; USDC may go to one destination.
const HL_POLICY: &str = r#"
[policy.keys.main.symbols.BTC]
max_size = "0.01"
[policy.keys.main.symbols.SOL]
[[policy.keys.main.transfers]]
destination = "0x5e9ee1089755c3435139848e47e6635505d5a13a"
asset = "USDC"
max_amount = "10"
max_per_day = "100"
"#;

/// One mainnet Hyperliquid key, "main", for the developer identity, with
/// `HL_POLICY`.
fn hl_env() -> Env {
    let env = Env::new();
    let out = env.import("secp256k1", "hl-main", HL_TEST_KEY);
    assert!(out.status.success(), "{}", text(&out));
    let mut main = key("main", "secp256k1", "hl-main");
    main.raw_signing = false;
    env.write_config(
        &[main],
        "",
        "ops = [\"list_keys\", \"hyperliquid.sign_l1_action\", \"hyperliquid.sign_user_action\"]",
    );
    // Replace the harness's grants with the Hyperliquid ones above.
    let mut config = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]\n",
        "",
        1,
    );
    config.push_str(&format!(
        "\n[keys.main.hyperliquid]\nnetwork = \"mainnet\"\nvaults = [\"{HL_VAULT}\"]\nmeta = {:?}\nspot_meta = {:?}\n",
        hl_fixtures().join("meta.json").display().to_string(),
        hl_fixtures().join("spot_meta.json").display().to_string(),
    ));
    config.push_str(HL_POLICY);
    std::fs::write(&env.config, config).unwrap();
    env
}

#[test]
fn export_summarises_orders_notional_and_transfers() {
    let env = hl_env();
    let vs = hl_actions();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    // An L1 action from the vectors (or changed), with an agent-assigned
    // nonce; Ok(()) or the error code.
    let mut l1 = |name: &str, change: &dyn Fn(&mut Value)| -> Result<(), String> {
        let v = &vs[name];
        assert_eq!(v["is_mainnet"], true, "{name}");
        let mut action = v["action"].clone();
        change(&mut action);
        let mut params = json!({"key": "main", "action": action, "is_mainnet": true});
        if !v["vault"].is_null() {
            params["vault_address"] = v["vault"].clone();
        }
        c.call("hyperliquid.sign_l1_action", params)
            .map(|_| ())
            .map_err(|e| e.code().unwrap_or("?").to_string())
    };
    let same = &|_: &mut Value| {};
    let denied = |code: &str| Err(code.to_string());
    // BTC 0.001 @ 50000, twice: 50 + 50.
    assert_eq!(l1("order_btc_gtc_mainnet", same), Ok(()));
    assert_eq!(l1("order_btc_gtc_mainnet", same), Ok(()));
    // A gap, for a period that starts after these two.
    std::thread::sleep(Duration::from_millis(20));
    // BTC 0.02: above max_size.
    assert_eq!(
        l1("order_btc_gtc_mainnet", &|a| a["orders"][0]["s"] =
            json!("0.02")),
        denied("policy_denied")
    );
    // Three BTC orders of 0.002 @ 60000, 66000 (trigger 65000) and 55000
    // (trigger 56000), each at its highest price: 120 + 132 + 112.
    assert_eq!(l1("order_normal_tpsl_group", same), Ok(()));
    // SOL 1.25 @ 145.37 for the vault: 181.7125.
    assert_eq!(l1("order_sol_ioc_cloid_vault", same), Ok(()));
    // ETH is not in the allowlist: a place, a modify, and a batch of a BTC
    // and an ETH modify (judged as a whole).
    assert_eq!(l1("order_builder_fee", same), denied("policy_denied"));
    assert_eq!(l1("modify_single", same), denied("policy_denied"));
    assert_eq!(l1("batch_modify", same), denied("policy_denied"));
    // SOL modified to 3.5 @ 160.25: 560.875.
    assert_eq!(l1("modify_via_sdk", same), Ok(()));
    // Cancels: two on BTC, one on SOL.
    assert_eq!(l1("cancel_single", same), Ok(()));
    assert_eq!(l1("cancel_by_cloid", same), Ok(()));
    assert_eq!(l1("cancel_expires", same), Ok(()));
    // Not an order at all: denied before any intent is known.
    assert_eq!(
        l1("order_btc_gtc_mainnet", &|a| a["orders"][0]["p"] =
            json!("NaN")),
        denied("bad_params")
    );
    // Transfers: 1.0 and 2.5 USDC to the allowed destination, PURR denied.
    let fresh = tradeward::journal::record::now_ms() + 10_000;
    let mut transfers = Vec::new();
    for (i, name) in ["usd_send_mainnet", "withdraw", "spot_send"]
        .iter()
        .enumerate()
    {
        let mut action = vs[*name]["action"].clone();
        action["time"] = json!(fresh + i as u64);
        transfers.push(
            c.call(
                "hyperliquid.sign_user_action",
                json!({"key": "main", "action": action, "is_mainnet": true}),
            )
            .map(|_| ())
            .map_err(|e| e.code().unwrap_or("?").to_string()),
        );
    }
    assert_eq!(
        transfers,
        [Ok(()), Ok(()), denied("policy_denied")],
        "{transfers:?}"
    );
    drop(c);
    assert!(agent.stop().success());

    let recs = journal_records(&env.journal_dir());
    let decisions: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "decision").collect();
    let got: Vec<(bool, &str)> = decisions
        .iter()
        .map(|d| (d["allow"].as_bool().unwrap(), d["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (true, "policy"),
            (true, "policy"),
            (false, "max_order_size"),
            (true, "policy"),
            (true, "policy"),
            (false, "symbol_not_allowed"),
            (false, "symbol_not_allowed"),
            (false, "symbol_not_allowed"),
            (true, "policy"),
            (true, "policy"),
            (true, "policy"),
            (true, "policy"),
            (false, "bad_params"),
            (true, "policy"),
            (true, "policy"),
            (false, "transfer_not_allowed"),
        ],
        "{decisions:#?}"
    );

    let v = export_json(&env, &[]);
    assert_eq!(v["absent"], json!([]));
    let d = &v["decisions"];
    assert_eq!((&d["allowed"], &d["denied"]), (&json!(10), &json!(6)));
    assert_eq!(d["with_intents"], 15);
    assert_eq!(
        d["denials_by_rule"],
        json!({
            "bad_params": 1,
            "max_order_size": 1,
            "symbol_not_allowed": 3,
            "transfer_not_allowed": 1,
        })
    );
    // The batch modify names BTC and ETH; the transfer and the bad
    // request name no symbol.
    assert_eq!(
        d["denials_by_rule_and_symbol"],
        json!({
            "max_order_size": {"BTC": 1},
            "symbol_not_allowed": {"BTC": 1, "ETH": 3},
        })
    );

    let counts = |placed: (u64, u64), modified: (u64, u64), cancelled: (u64, u64)| {
        json!({
            "placed": tally(placed.0, placed.1),
            "modified": tally(modified.0, modified.1),
            "cancelled": tally(cancelled.0, cancelled.1),
        })
    };
    let by_symbol = json!({
        "BTC": counts((5, 1), (0, 1), (2, 0)),
        "ETH": counts((0, 1), (0, 2), (0, 0)),
        "SOL": counts((1, 0), (1, 0), (1, 0)),
    });
    let o = &v["orders_by_symbol"];
    assert_eq!(o["total"], counts((6, 2), (1, 3), (3, 0)), "{o}");
    assert_eq!(o["by_symbol"], by_symbol, "{o}");
    assert_eq!(o["by_identity"], json!({"developer": {"main": by_symbol}}));

    // BTC: 50 + 50 + 120 + 132 + 112; SOL: 181.7125 + 560.875. Denied
    // orders add nothing.
    let notional = json!({
        "BTC": {"orders": 5, "notional": "464", "unrepresentable": 0},
        "SOL": {"orders": 2, "notional": "742.5875", "unrepresentable": 0},
    });
    let n = &v["notional_by_symbol"];
    assert_eq!(n["by_symbol"], notional, "{n}");
    assert_eq!(n["by_identity"], json!({"developer": {"main": notional}}));
    assert_eq!(n["unrepresentable"], 0);

    assert_eq!(
        v["transfers"],
        json!({
            "allowed": 2,
            "denied": 1,
            "by_key": {"main": {HL_DEST: {"USDC": {
                "transfers": 2, "amount": "3.5", "unrepresentable": 0,
            }}}},
        })
    );

    // A period that starts at the third decision leaves out the first two
    // orders: 100 less BTC notional.
    let from = decisions[2]["ts_ms"].as_u64().unwrap();
    assert!(decisions[1]["ts_ms"].as_u64().unwrap() < from);
    let later = export_json(&env, &["--from", &from.to_string()]);
    let n = &later["notional_by_symbol"]["by_symbol"]["BTC"];
    assert_eq!(n["notional"], "364", "{later}");
    assert_eq!(n["orders"], 3);
    assert_eq!(
        later["orders_by_symbol"]["by_symbol"]["BTC"]["placed"],
        tally(3, 1)
    );
    assert_eq!(
        later["notional_by_symbol"]["by_symbol"]["SOL"],
        notional["SOL"]
    );

    // CSV: venue, nonce and the intents, exactly as journaled.
    let rows = export_csv(&env, &[]);
    assert_eq!(rows.len(), 1 + decisions.len());
    for (row, d) in rows[1..].iter().zip(&decisions) {
        assert_eq!(*row, expected_row(d));
        let allowed = d["allow"] == true;
        assert_eq!(row[13].is_empty(), !allowed, "{row:?}");
        if d["rule"] == "bad_params" {
            // Refused before the venue parsed it: no venue, no intents.
            assert_eq!(row[12..], ["", "", ""]);
        } else {
            assert_eq!(row[12], "hyperliquid", "{row:?}");
            let intents: Value = serde_json::from_str(&row[14]).unwrap();
            assert_eq!(intents, d["intents"]);
        }
    }
    assert_eq!(rows[1][13], decisions[0]["nonce"].to_string());
    assert!(
        rows[1][14].starts_with(r#"[{"intent":"place","symbol":"BTC","side":"buy","#),
        "{}",
        rows[1][14]
    );
    // The intents field is quoted, with its quotes doubled.
    let raw = String::from_utf8(export(&env, &["--format", "csv"]).stdout).unwrap();
    assert!(raw.contains(",\"[{\"\"intent\"\":\"\"place\"\",\"\"symbol\"\":\"\"BTC\"\","));
}

// ---------------------------------------------------------------------------
// Dead-man's switch and operator records, written straight into a journal
// folder (no agent needed), then exported with `--dir`.

/// Chain `events` into one segment in `dir`, record `i` at `t0 + 10 * i`
/// ms; returns the records as written.
fn write_journal(
    dir: &Path,
    t0: u64,
    events: Vec<tradeward::journal::Event>,
) -> Vec<tradeward::journal::Record> {
    use tradeward::journal::record::{GENESIS, encode, line_hash};
    let mut prev = GENESIS;
    let mut text = Vec::new();
    let mut recs = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        let rec = tradeward::journal::Record {
            seq: i as u64 + 1,
            ts_ms: t0 + 10 * i as u64,
            prev: hex::encode(prev),
            event,
        };
        let line = encode(&rec);
        prev = line_hash(&line);
        text.extend_from_slice(&line);
        text.push(b'\n');
        recs.push(rec);
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(tradeward::journal::segment::segment_name(1)), text).unwrap();
    recs
}

fn export_dir(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(common::BIN)
        .args(["journal", "export", "--dir", path_str(dir)])
        .args(args)
        .env_remove("TRADEWARD_CONFIG")
        .output()
        .expect("run tradeward")
}

#[test]
fn export_reports_trips_and_operator_actions() {
    use tradeward::journal::Event;
    use tradeward::policy::HaltScope;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let t0 = 1_740_000_000_000;
    let by = "operator uid 0 pid 7";
    let beat = |identity: &str| Event::Heartbeat {
        identity: identity.into(),
        timeout_ms: 30_000,
        deadline_ms: t0 + 30_000,
    };
    let decision = tradeward::journal::Decision {
        identity: "bot-a".into(),
        uid: 1000,
        pid: Some(4),
        request_id: 2,
        op: "sign".into(),
        key: Some("eth".into()),
        request_sha256: "ab".repeat(32),
        allow: false,
        rule: "halted".into(),
        reason: "new risk is halted".into(),
        payload_sha256: None,
        venue: None,
        nonce: None,
        intents: None,
        request_bytes: None,
        intents_omitted: None,
    };
    // Record n is at t0 + 10 * (n - 1).
    let recs = write_journal(
        &dir,
        t0,
        vec![
            beat("bot-a"),
            beat("bot-b"),
            beat("bot-a"),
            Event::Trip {
                identity: "bot-a".into(),
                deadline_ms: t0 + 5,
                reason: "no heartbeat for 30000 ms".into(),
            },
            Event::TripHook {
                identity: "bot-a".into(),
                trip: 4,
                ok: false,
                exit_code: Some(2),
                instructions: 3,
                output: "line, \"one\"\n".repeat(40),
            },
            Event::Decision(decision),
            Event::Halt {
                target: HaltScope::Key("eth".into()),
                reason: "venue outage".into(),
                reducing_allowed: false,
                by: by.into(),
            },
            Event::Pause {
                identity: "bot-b".into(),
                until_ms: t0 + 3_600_000,
                reason: "deploy".into(),
                by: by.into(),
            },
            Event::Rearm {
                identity: "bot-a".into(),
                timeout_ms: 30_000,
                deadline_ms: t0 + 30_080,
                by: by.into(),
            },
            Event::Resume {
                target: HaltScope::Key("eth".into()),
                by: by.into(),
            },
            Event::PolicyReload {
                sha256: "cd".repeat(32),
                by: "SIGHUP".into(),
            },
            Event::Trip {
                identity: "bot-b".into(),
                deadline_ms: t0 + 100,
                reason: "no heartbeat for 30000 ms".into(),
            },
            Event::TripHook {
                identity: "bot-b".into(),
                trip: 12,
                ok: true,
                exit_code: Some(0),
                instructions: 0,
                output: String::new(),
            },
        ],
    );

    let json_of = |args: &[&str]| -> Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let out = export_dir(&dir, &all);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = json_of(&[]);
    let all: Vec<Value> = recs
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(
        v["records"]["by_kind"],
        json!(kind_counts(&all.iter().collect::<Vec<_>>()))
    );
    assert_eq!(
        v["heartbeats"],
        json!({"total": 3, "by_identity": {"bot-a": 2, "bot-b": 1}})
    );

    let t = &v["trips"];
    assert_eq!(t["total"], 2);
    assert_eq!(t["by_identity"], json!({"bot-a": 1, "bot-b": 1}));
    assert_eq!(t["without_hook"], 0);
    let first = &t["list"][0];
    assert_eq!(first["seq"], 4);
    assert_eq!(first["time"], format_rfc3339(t0 + 30));
    assert_eq!(first["ts_ms"], t0 + 30);
    assert_eq!(first["identity"], "bot-a");
    assert_eq!(first["deadline_ms"], t0 + 5);
    assert_eq!(first["late_ms"], 25);
    assert_eq!(first["reason"], "no heartbeat for 30000 ms");
    let hook = &first["hook"];
    assert_eq!(
        (
            &hook["seq"],
            &hook["ok"],
            &hook["exit_code"],
            &hook["instructions"]
        ),
        (&json!(5), &json!(false), &json!(2), &json!(3))
    );
    // 480 characters recorded, 200 reported.
    let output = hook["output"].as_str().unwrap();
    assert_eq!(output.chars().count(), 200);
    assert!("line, \"one\"\n".repeat(40).starts_with(output));
    assert_eq!(hook["output_truncated"], true);
    assert_eq!(t["list"][1]["late_ms"], 10);
    assert_eq!(t["list"][1]["hook"]["ok"], true);
    assert_eq!(t["list"][1]["hook"]["output_truncated"], false);

    let a = &v["operator_actions"];
    assert_eq!(a["total"], 5);
    assert_eq!(
        a["by_kind"],
        json!({"halt": 1, "pause": 1, "policy_reload": 1, "rearm": 1, "resume": 1,
               "key_rotated": 0, "key_rolled_back": 0, "key_zeroized": 0})
    );
    let got: Vec<(&Value, &Value, &Value, &Value)> = a["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (&a["seq"], &a["kind"], &a["by"], &a["detail"]))
        .collect();
    let key_eth = json!({"scope": "key", "name": "eth"});
    let want = [
        (
            json!(7),
            json!("halt"),
            json!(by),
            json!({"target": key_eth, "reason": "venue outage", "reducing_allowed": false}),
        ),
        (
            json!(8),
            json!("pause"),
            json!(by),
            json!({"identity": "bot-b", "until_ms": t0 + 3_600_000, "reason": "deploy"}),
        ),
        (
            json!(9),
            json!("rearm"),
            json!(by),
            json!({"identity": "bot-a", "timeout_ms": 30_000, "deadline_ms": t0 + 30_080}),
        ),
        (
            json!(10),
            json!("resume"),
            json!(by),
            json!({"target": key_eth}),
        ),
        (
            json!(11),
            json!("policy_reload"),
            json!("SIGHUP"),
            json!({"sha256": "cd".repeat(32)}),
        ),
    ];
    let want: Vec<(&Value, &Value, &Value, &Value)> =
        want.iter().map(|(a, b, c, d)| (a, b, c, d)).collect();
    assert_eq!(got, want);
    for (action, rec) in a["list"].as_array().unwrap().iter().zip(&all[6..11]) {
        assert_eq!(action["ts_ms"], rec["ts_ms"]);
        assert_eq!(
            action["time"],
            format_rfc3339(rec["ts_ms"].as_u64().unwrap())
        );
    }

    // A period ending before the first trip's hook still joins it; one
    // starting after the first trip leaves it out.
    let to = (t0 + 35).to_string();
    let early = json_of(&["--to", &to]);
    assert_eq!(early["trips"]["total"], 1);
    assert_eq!(early["trips"]["list"][0]["hook"]["seq"], 5);
    assert_eq!(early["operator_actions"]["total"], 0);
    let from = (t0 + 65).to_string();
    let late = json_of(&["--from", &from]);
    assert_eq!(late["trips"]["total"], 1);
    assert_eq!(late["trips"]["list"][0]["seq"], 12);
    assert_eq!(late["operator_actions"]["total"], 4);
    assert_eq!(late["heartbeats"]["total"], 0);

    // The CSV stays one row per decision: these records add no rows.
    let out = export_dir(&dir, &["--format", "csv"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows = parse_csv(std::str::from_utf8(&out.stdout).unwrap());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], COLUMNS);
    assert_eq!(rows[1], expected_row(&all[5]));
}
