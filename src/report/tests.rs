//! Aggregation into the JSON report, and exports from a journal folder.

use std::collections::BTreeMap;

use super::aggregate::{KINDS, OPERATOR_KINDS};
use super::model::*;
use super::tests_csv::parse_csv;
use super::*;
use crate::journal::record::{Decision, GENESIS, KeySummary, Record};
use crate::journal::segment::Summary;
use crate::order::HaltScope;

pub(super) fn decision(
    identity: &str,
    key: Option<&str>,
    op: &str,
    allow: bool,
    rule: &str,
) -> Decision {
    Decision {
        identity: identity.into(),
        uid: 1000,
        pid: Some(42),
        request_id: 7,
        op: op.into(),
        key: key.map(String::from),
        request_sha256: "ab".repeat(32),
        allow,
        rule: rule.into(),
        reason: format!("because {rule}"),
        payload_sha256: allow.then(|| "cd".repeat(32)),
        venue: None,
        nonce: None,
        intents: None,
        request_bytes: None,
        intents_omitted: None,
    }
}

pub(super) fn rec(seq: u64, ts_ms: u64, event: Event) -> Record {
    Record {
        seq,
        ts_ms,
        prev: hex::encode(GENESIS),
        event,
    }
}

fn sample() -> Vec<Record> {
    let start = Event::Start {
        version: "0.1.0".into(),
        pid: 99,
        config_sha256: "ee".repeat(32),
        keys: vec![KeySummary {
            alias: "eth".into(),
            key_type: "secp256k1".into(),
            uri: "pkcs11:object=k1".into(),
            public_key: None,
        }],
    };
    let d = Event::Decision;
    vec![
        rec(1, 100, start),
        rec(
            2,
            110,
            d(decision("a", Some("eth"), "sign", true, "raw_signing")),
        ),
        rec(
            3,
            120,
            Event::Signature {
                decision: 2,
                key: "eth".into(),
                signature: "00".into(),
            },
        ),
        rec(
            4,
            130,
            d(decision("a", Some("nope"), "sign", false, "unknown_key")),
        ),
        rec(
            5,
            140,
            d(decision("b", Some("eth"), "sign", false, "bad_params")),
        ),
        rec(
            6,
            150,
            d(decision("b", None, "rm -rf", false, "unknown_op")),
        ),
        rec(
            7,
            160,
            d(decision("b", Some("eth"), "sign", true, "raw_signing")),
        ),
        rec(
            8,
            170,
            Event::SignFailed {
                decision: 7,
                key: "eth".into(),
                error: "token gone".into(),
            },
        ),
        rec(
            9,
            180,
            Event::PeerRefused {
                uid: 1234,
                gid: 1234,
                pid: Some(5),
                reason: "no identity".into(),
            },
        ),
        rec(
            10,
            190,
            d(decision("a", Some("ed"), "sign", true, "raw_signing")),
        ),
        rec(
            11,
            200,
            Event::Checkpoint {
                covers: 10,
                head: "11".repeat(32),
                key: "audit".into(),
                key_type: "ed25519".into(),
                signature: "22".into(),
            },
        ),
        rec(
            12,
            210,
            Event::Signature {
                decision: 10,
                key: "ed".into(),
                signature: "33".into(),
            },
        ),
        rec(
            13,
            220,
            Event::Stop {
                reason: "signal".into(),
            },
        ),
        rec(
            14,
            230,
            Event::Note {
                message: "hello, auditor".into(),
            },
        ),
        rec(
            15,
            240,
            d(decision("a", Some("eth"), "sign", true, "raw_signing")),
        ),
    ]
}

pub(super) fn summary_of(recs: &[Record]) -> Summary {
    Summary {
        records: recs.len() as u64,
        segments: 1,
        first_seq: recs.first().map(|r| r.seq),
        head: [7; 32],
        next_seq: recs.last().map_or(1, |r| r.seq + 1),
        ..Summary::default()
    }
}

fn report(period: Period) -> Report {
    let recs = sample();
    let mut agg = Aggregate::new(period);
    for r in &recs {
        agg.add(r);
    }
    agg.finish(&summary_of(&recs), 0)
}

pub(super) fn t(allowed: u64, denied: u64) -> Tally {
    Tally { allowed, denied }
}

#[test]
fn aggregates_a_whole_journal() {
    let r = report(Period::default());
    assert_eq!(r.records.total, 15);
    assert_eq!(
        (r.records.first_seq, r.records.last_seq),
        (Some(1), Some(15))
    );
    let kinds: Vec<(&str, u64)> = r
        .records
        .by_kind
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        kinds,
        [
            ("checkpoint", 1),
            ("decision", 7),
            ("halt", 0),
            ("heartbeat", 0),
            ("key_rolled_back", 0),
            ("key_rotated", 0),
            ("key_zeroized", 0),
            ("note", 1),
            ("order_closed", 0),
            ("pause", 0),
            ("peer_refused", 1),
            ("policy_reload", 0),
            ("position_reported", 0),
            ("price_refused", 0),
            ("rearm", 0),
            ("refusals_summarised", 0),
            ("resume", 0),
            ("sign_failed", 1),
            ("signature", 2),
            ("start", 1),
            ("stop", 1),
            ("trip", 0),
            ("trip_hook", 0),
        ]
    );
    let d = &r.decisions;
    assert_eq!((d.total, d.allowed, d.denied), (7, 4, 3));
    assert_eq!(
        d.by_identity,
        BTreeMap::from([("a".into(), t(3, 1)), ("b".into(), t(1, 2))])
    );
    assert_eq!(
        d.by_key,
        BTreeMap::from([
            ("ed".into(), t(1, 0)),
            ("eth".into(), t(3, 1)),
            ("nope".into(), t(0, 1)),
        ])
    );
    assert_eq!(d.without_key, t(0, 1));
    assert_eq!(
        d.by_op,
        BTreeMap::from([("rm -rf".into(), t(0, 1)), ("sign".into(), t(4, 2))])
    );
    assert_eq!(
        d.denials_by_rule,
        BTreeMap::from([
            ("bad_params".into(), 1),
            ("unknown_key".into(), 1),
            ("unknown_op".into(), 1),
        ])
    );
    // Seq 15 was allowed and the journal ends before its outcome.
    assert_eq!(d.allowed_without_outcome, 1);
    assert_eq!(d.with_intents, 0);
    let s = &r.signing;
    assert_eq!((s.signatures, s.sign_failures), (2, 1));
    assert_eq!(
        s.by_key,
        BTreeMap::from([
            (
                "ed".into(),
                KeySigning {
                    signatures: 1,
                    sign_failures: 0
                }
            ),
            (
                "eth".into(),
                KeySigning {
                    signatures: 1,
                    sign_failures: 1
                }
            ),
        ])
    );
    assert_eq!(r.peer_refusals.total, 1);
    assert_eq!(r.peer_refusals.by_uid, BTreeMap::from([(1234, 1)]));
    let l = &r.lifecycle;
    assert_eq!(l.starts.len(), 1);
    assert_eq!(l.starts[0].seq, 1);
    assert_eq!(l.starts[0].pid, 99);
    assert_eq!(l.starts[0].keys, ["eth"]);
    assert_eq!(l.starts[0].time, "1970-01-01T00:00:00.100Z");
    assert_eq!(l.stops.len(), 1);
    assert_eq!((l.stops[0].seq, l.stops[0].reason.as_str()), (13, "signal"));
    assert_eq!(l.notes.len(), 1);
    assert_eq!(l.notes[0].message, "hello, auditor");
    assert_eq!(r.checkpoints.count, 1);
    assert_eq!(r.checkpoints.last_covers, Some(10));
    assert_eq!(r.period.from, None);
    assert_eq!(r.journal.last_seq, Some(15));
    let absent: Vec<&str> = r.absent.iter().map(|a| a.section.as_str()).collect();
    assert!(absent.is_empty(), "{absent:?}");
    // No decision carries intents: the order sections are empty.
    assert_eq!(r.orders_by_symbol, OrdersOut::default());
    assert_eq!(r.notional_by_symbol, NotionalOut::default());
    assert_eq!(r.transfers, TransfersOut::default());
    assert!(d.denials_by_rule_and_symbol.is_empty());
    // No dead-man or operator records either.
    assert_eq!(r.heartbeats, HeartbeatsOut::default());
    assert_eq!(r.trips, TripsOut::default());
    assert_eq!(r.operator_actions.total, 0);
    assert_eq!(r.operator_actions.by_kind.len(), OPERATOR_KINDS.len());
    assert!(r.operator_actions.by_kind.values().all(|v| *v == 0));
}

#[test]
fn a_period_counts_only_its_records_but_settles_outcomes_after_it() {
    // [130, 190): seq 4..=9.
    let r = report(Period::new(Some(130), Some(190)).unwrap());
    assert_eq!(r.records.total, 6);
    assert_eq!(
        (r.records.first_seq, r.records.last_seq),
        (Some(4), Some(9))
    );
    let d = &r.decisions;
    assert_eq!((d.total, d.allowed, d.denied), (4, 1, 3));
    // The allowed decision at seq 7 is settled by the failure at seq 8.
    assert_eq!(d.allowed_without_outcome, 0);
    assert_eq!(r.signing.signatures, 0);
    assert_eq!(r.signing.sign_failures, 1);
    assert_eq!(r.peer_refusals.total, 1);
    assert!(r.lifecycle.starts.is_empty() && r.lifecycle.stops.is_empty());
    assert_eq!(r.checkpoints.count, 0);
    assert_eq!(r.records.by_kind["start"], 0);
    assert_eq!(r.period.from.as_deref(), Some("1970-01-01T00:00:00.130Z"));
    assert_eq!(r.period.to_ms, Some(190));
    // [190, 200): the decision at seq 10 is settled by a signature
    // written after the period ends.
    let r = report(Period::new(Some(190), Some(200)).unwrap());
    assert_eq!(r.decisions.allowed, 1);
    assert_eq!(r.decisions.allowed_without_outcome, 0);
    assert_eq!(r.signing.signatures, 0);
    // Nothing in the period: every count is zero.
    let r = report(Period::new(Some(1000), None).unwrap());
    assert_eq!(r.records.total, 0);
    assert_eq!(r.records.first_seq, None);
    assert_eq!(r.decisions, DecisionsOut::default());
    assert!(r.records.by_kind.values().all(|v| *v == 0));
    assert_eq!(r.records.by_kind.len(), KINDS.len());
}

#[test]
fn the_json_report_has_a_stable_shape() {
    let v = serde_json::to_value(report(Period::default())).unwrap();
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "report",
        "report_version",
        "agent_version",
        "generated_at",
        "period",
        "journal",
        "records",
        "decisions",
        "signing",
        "peer_refusals",
        "lifecycle",
        "heartbeats",
        "trips",
        "operator_actions",
        "checkpoints",
        "orders_by_symbol",
        "notional_by_symbol",
        "transfers",
        "absent",
    ] {
        assert!(top.contains(&k), "missing {k}");
    }
    assert_eq!(v["report_version"], 1);
    assert_eq!(v["peer_refusals"]["by_uid"]["1234"], 1);
    assert_eq!(v["decisions"]["by_key"]["eth"]["allowed"], 3);
    assert_eq!(v["period"]["from"], serde_json::Value::Null);
    assert_eq!(v["journal"]["chain_checked"], true);
    assert_eq!(v["journal"]["checkpoint_signatures_checked"], false);
}

fn deadman_sample() -> Vec<Record> {
    let beat = |identity: &str| Event::Heartbeat {
        identity: identity.into(),
        timeout_ms: 30_000,
        deadline_ms: 1,
    };
    let trip = |identity: &str, deadline_ms| Event::Trip {
        identity: identity.into(),
        deadline_ms,
        reason: "no heartbeat".into(),
    };
    let hook = |trip, ok, output: String| Event::TripHook {
        identity: "a".into(),
        trip,
        ok,
        exit_code: if ok { Some(0) } else { Some(3) },
        instructions: 2,
        output,
    };
    let by = || "operator uid 0 pid 7".to_string();
    vec![
        rec(1, 100, beat("a")),
        rec(2, 110, beat("a")),
        rec(3, 120, beat("b")),
        // 50 ms late.
        rec(4, 200, trip("a", 150)),
        rec(
            5,
            210,
            Event::Halt {
                target: HaltScope::All,
                reason: "market, \"closed\"".into(),
                reducing_allowed: true,
                by: by(),
            },
        ),
        // Recorded before its deadline (a clock step): late by 0.
        rec(6, 220, trip("b", 300)),
        rec(
            7,
            230,
            Event::Pause {
                identity: "b".into(),
                until_ms: 5000,
                reason: "maintenance".into(),
                by: by(),
            },
        ),
        // 300 characters, some of them two bytes long.
        rec(8, 240, hook(4, false, "é".repeat(150) + &"x".repeat(150))),
        rec(
            9,
            250,
            Event::Resume {
                target: HaltScope::All,
                by: by(),
            },
        ),
        rec(
            10,
            260,
            Event::Rearm {
                identity: "a".into(),
                timeout_ms: 30_000,
                deadline_ms: 30_260,
                by: by(),
            },
        ),
        rec(
            11,
            270,
            Event::PolicyReload {
                sha256: "ab".repeat(32),
                by: "SIGHUP".into(),
            },
        ),
        // Its hook never recorded: the agent stopped.
        rec(12, 280, trip("a", 270)),
        rec(13, 290, beat("a")),
        // After the period below, yet it settles the trip at seq 6.
        rec(14, 400, hook(6, true, "done".into())),
    ]
}

#[test]
fn reports_trips_operator_actions_and_heartbeats() {
    let recs = deadman_sample();
    let report_over = |period| {
        let mut agg = Aggregate::new(period);
        for r in &recs {
            agg.add(r);
        }
        agg.finish(&summary_of(&recs), 0)
    };
    let r = report_over(Period::new(Some(100), Some(300)).unwrap());
    assert_eq!(r.records.total, 13);
    assert_eq!(r.records.by_kind["heartbeat"], 4);
    assert_eq!(r.records.by_kind["trip_hook"], 1);

    assert_eq!(r.heartbeats.total, 4);
    assert_eq!(
        r.heartbeats.by_identity,
        BTreeMap::from([("a".into(), 3), ("b".into(), 1)])
    );

    let t = &r.trips;
    assert_eq!(t.total, 3);
    assert_eq!(
        t.by_identity,
        BTreeMap::from([("a".into(), 2), ("b".into(), 1)])
    );
    assert_eq!(t.without_hook, 1);
    let summary: Vec<(u64, &str, u64, u64)> = t
        .list
        .iter()
        .map(|t| (t.seq, t.identity.as_str(), t.deadline_ms, t.late_ms))
        .collect();
    assert_eq!(
        summary,
        [(4, "a", 150, 50), (6, "b", 300, 0), (12, "a", 270, 10)]
    );
    assert_eq!(t.list[0].time, "1970-01-01T00:00:00.200Z");
    assert_eq!(t.list[0].reason, "no heartbeat");
    let h = t.list[0].hook.as_ref().unwrap();
    assert_eq!(
        (h.seq, h.ok, h.exit_code, h.instructions),
        (8, false, Some(3), 2)
    );
    assert_eq!(h.time, "1970-01-01T00:00:00.240Z");
    assert_eq!(h.output, "é".repeat(150) + &"x".repeat(50));
    assert!(h.output_truncated);
    // Joined from after the period.
    let h = t.list[1].hook.as_ref().unwrap();
    assert_eq!((h.seq, h.ts_ms, h.ok), (14, 400, true));
    assert_eq!(h.output, "done");
    assert!(!h.output_truncated);
    assert_eq!(t.list[2].hook, None);

    let a = &r.operator_actions;
    assert_eq!(a.total, 5);
    assert_eq!(
        a.by_kind,
        OPERATOR_KINDS
            .iter()
            .map(|k| (k.to_string(), u64::from(!k.starts_with("key_"))))
            .collect()
    );
    let kinds: Vec<(u64, &str, &str)> = a
        .list
        .iter()
        .map(|a| (a.seq, a.kind, a.by.as_str()))
        .collect();
    let op = "operator uid 0 pid 7";
    assert_eq!(
        kinds,
        [
            (5, "halt", op),
            (7, "pause", op),
            (9, "resume", op),
            (10, "rearm", op),
            (11, "policy_reload", "SIGHUP"),
        ]
    );

    // In JSON, each action's detail sits next to its kind, and a trip
    // without an outcome has a null hook.
    let v = serde_json::to_value(&r).unwrap();
    let list = &v["operator_actions"]["list"];
    assert_eq!(
        list[0],
        serde_json::json!({
            "seq": 5,
            "time": "1970-01-01T00:00:00.210Z",
            "ts_ms": 210,
            "kind": "halt",
            "by": op,
            "detail": {
                "target": {"scope": "all"},
                "reason": "market, \"closed\"",
                "reducing_allowed": true,
            },
        })
    );
    assert_eq!(
        list[1]["detail"],
        serde_json::json!({"identity": "b", "until_ms": 5000, "reason": "maintenance"})
    );
    assert_eq!(
        list[2]["detail"],
        serde_json::json!({"target": {"scope": "all"}})
    );
    assert_eq!(
        list[3]["detail"],
        serde_json::json!({"identity": "a", "timeout_ms": 30_000, "deadline_ms": 30_260})
    );
    assert_eq!(
        list[4]["detail"],
        serde_json::json!({"sha256": "ab".repeat(32)})
    );
    assert_eq!(v["trips"]["list"][2]["hook"], serde_json::Value::Null);
    assert_eq!(v["trips"]["list"][1]["hook"]["exit_code"], 0);
    assert_eq!(v["heartbeats"]["by_identity"]["a"], 3);

    // A trip before the period is not listed, even though its hook
    // falls inside it.
    let r = report_over(Period::new(Some(235), None).unwrap());
    assert_eq!(r.records.by_kind["trip_hook"], 2);
    assert_eq!(r.trips.total, 1);
    assert_eq!(r.trips.list[0].seq, 12);
    assert_eq!(r.trips.without_hook, 1);
    assert_eq!(r.operator_actions.by_kind["halt"], 0);
    assert_eq!(r.operator_actions.total, 3);
    assert_eq!(r.heartbeats.by_identity, BTreeMap::from([("a".into(), 1)]));
}

fn write_journal(dir: &Path, recs: &[Record]) {
    let mut prev = GENESIS;
    let mut text = Vec::new();
    for r in recs {
        let mut r = r.clone();
        r.prev = hex::encode(prev);
        let line = crate::journal::record::encode(&r);
        prev = crate::journal::record::line_hash(&line);
        text.extend_from_slice(&line);
        text.push(b'\n');
    }
    std::fs::write(dir.join(segment::segment_name(1)), text).unwrap();
}

fn no_checkpoints(recs: Vec<Record>) -> Vec<Record> {
    recs.into_iter()
        .filter(|r| !matches!(r.event, Event::Checkpoint { .. }))
        .enumerate()
        .map(|(i, mut r)| {
            r.seq = i as u64 + 1;
            r
        })
        .collect()
}

#[test]
fn exports_from_a_folder_and_refuses_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let recs = no_checkpoints(sample());
    write_journal(dir.path(), &recs);
    let mut out = Vec::new();
    let n = export(dir.path(), Period::default(), Format::Csv, &mut out).unwrap();
    assert_eq!(n.decisions, 7);
    let rows = parse_csv(std::str::from_utf8(&out).unwrap());
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[0], CSV_COLUMNS);
    let mut out = Vec::new();
    let n = export(
        dir.path(),
        Period::new(Some(130), None).unwrap(),
        Format::Json,
        &mut out,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["decisions"]["total"], n.decisions);
    assert_eq!(v["journal"]["records"], recs.len() as u64);
    assert_eq!(v["journal"]["uncovered"], recs.len() as u64);

    // Edit a decision in the middle: no report, and a pointer to verify.
    let seg = dir.path().join(segment::segment_name(1));
    let text = std::fs::read_to_string(&seg).unwrap();
    std::fs::write(&seg, text.replacen("\"allow\":false", "\"allow\":true", 1)).unwrap();
    for format in [Format::Csv, Format::Json] {
        let mut out = Vec::new();
        let e = export(dir.path(), Period::default(), format, &mut out).unwrap_err();
        assert!(matches!(e, ExportError::Damaged(_)), "{e}");
        assert!(e.to_string().contains("journal verify"), "{e}");
        assert!(out.is_empty(), "wrote {} bytes", out.len());
    }
    let e = export(
        &dir.path().join("missing"),
        Period::default(),
        Format::Json,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(e, ExportError::Read(_)), "{e}");
}
