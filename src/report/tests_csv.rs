//! CSV quoting and rows.

use super::tests::decision;
use super::tests_orders::{cancel, order_decision, place};
use super::*;
use crate::order::Intent;

/// One field as the export writes it (the first of a row of two).
fn csv_field(s: &str) -> String {
    let mut w = super::csv::writer(Vec::new());
    w.write_record([s, ""]).unwrap();
    let line = String::from_utf8(w.into_inner().unwrap()).unwrap();
    line.strip_suffix(",\r\n").unwrap().to_string()
}

#[test]
fn csv_quoting_follows_rfc_4180() {
    assert_eq!(csv_field("plain"), "plain");
    assert_eq!(csv_field(""), "");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("\""), "\"\"\"\"");
    assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");
    assert_eq!(csv_field("crlf\r\n"), "\"crlf\r\n\"");
    // Spaces, quotes-free punctuation and non-ASCII stay as they are.
    assert_eq!(csv_field(" padded ; x'y "), " padded ; x'y ");
    assert_eq!(csv_field("ключ"), "ключ");
}

/// A minimal RFC 4180 reader, to check rows round-trip.
pub(super) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
        } else {
            match c {
                '"' => quoted = true,
                ',' => row.push(std::mem::take(&mut field)),
                '\r' => {
                    assert_eq!(chars.next(), Some('\n'), "bare CR outside quotes");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                c => field.push(c),
            }
        }
    }
    assert!(field.is_empty() && row.is_empty(), "unterminated last line");
    rows
}

#[test]
fn csv_rows_carry_every_column_and_survive_hostile_text() {
    let mut d = decision("bot", Some("k,\"1\"\r\nx"), "sign", false, "unknown_key");
    d.reason = "no key \"k,\\\"1\\\"\" here,\nsecond line".into();
    d.pid = None;
    let header = csv_header();
    assert_eq!(
        header,
        "seq,time,identity,uid,pid,op,key,allow,rule,reason,request_sha256,payload_sha256,venue,nonce,intents\r\n"
    );
    let allowed = decision("bot", Some("eth"), "sign", true, "raw_signing");
    let text = header + &csv_row(5, 1_709_251_199_123, &d) + &csv_row(6, 0, &allowed);
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == CSV_COLUMNS.len()));
    assert_eq!(
        rows[1],
        [
            "5",
            "2024-02-29T23:59:59.123Z",
            "bot",
            "1000",
            "",
            "sign",
            "k,\"1\"\r\nx",
            "false",
            "unknown_key",
            d.reason.as_str(),
            &"ab".repeat(32),
            "",
            "",
            "",
            "",
        ]
    );
    assert_eq!(
        rows[2],
        [
            "6",
            "1970-01-01T00:00:00.000Z",
            "bot",
            "1000",
            "42",
            "sign",
            "eth",
            "true",
            "raw_signing",
            "because raw_signing",
            &"ab".repeat(32),
            &"cd".repeat(32),
            "",
            "",
            "",
        ]
    );
    // An unquoted row is plain comma-joined text.
    assert_eq!(
        csv_row(6, 0, &allowed),
        format!(
            "6,1970-01-01T00:00:00.000Z,bot,1000,42,sign,eth,true,raw_signing,because raw_signing,{},{},,,\r\n",
            "ab".repeat(32),
            "cd".repeat(32)
        )
    );
}

#[test]
fn csv_rows_carry_venue_nonce_and_intents() {
    let d = order_decision(
        "a",
        Some("hl"),
        true,
        "",
        vec![place("PURR/USDC", "100", "0.2"), cancel("BTC")],
    );
    let line = csv_row(9, 0, &d);
    let rows = parse_csv(&line);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.len(), CSV_COLUMNS.len());
    assert_eq!(row[12], "hyperliquid");
    assert_eq!(row[13], "1700000000000");
    // Compact JSON, the same as the journal's, and it reads back.
    assert_eq!(row[14], serde_json::to_string(&d.intents).unwrap());
    assert!(!row[14].contains(' '));
    let back: Vec<Intent> = serde_json::from_str(&row[14]).unwrap();
    assert_eq!(Some(back), d.intents);
    // It holds commas and quotes, so it is quoted with quotes doubled.
    assert!(line.ends_with(&format!(
        ",hyperliquid,1700000000000,\"{}\"\r\n",
        row[14].replace('"', "\"\"")
    )));
    assert!(row[14].starts_with(r#"[{"intent":"place","symbol":"PURR/USDC","#));
    // An empty batch is "[]"; a denial has no nonce.
    let denied = order_decision("a", Some("hl"), false, "empty_request", vec![]);
    let rows = parse_csv(&csv_row(10, 0, &denied));
    assert_eq!(rows[0][12..], ["hyperliquid", "", "[]"]);
}
