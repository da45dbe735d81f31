//! Journal record parsing (`journal::record::decode`) and what reads
//! decoded records: the export's aggregation and CSV rows, and the RFC 3339
//! time format of the export.
//!
//! Input: any bytes, split into lines as a journal segment is.
//!
//! Asserts: no line panics the decoder or the export; a decoded record,
//! encoded again, decodes to the same record, and its encoding is a fixed
//! point (encode(decode(encode(r))) == encode(r)), so that a verifier and
//! the writer agree on what a record says; the export's time format parses
//! back to the same millisecond for every time in years 0 to 9999.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tradeward::journal::record::{Event, decode, encode, line_hash};
use tradeward::report::{Aggregate, Period, csv_row, format_rfc3339, intents_json, parse_time};

/// 10000-01-01T00:00:00Z in milliseconds.
const YEAR_10000_MS: u64 = 253_402_300_800_000;

fuzz_target!(|data: &[u8]| {
    let mut agg = Aggregate::new(Period::default());
    for line in data.split(|&b| b == b'\n') {
        let _ = line_hash(line);
        let Ok(rec) = decode(line) else {
            continue;
        };
        let encoded = encode(&rec);
        let again = decode(&encoded).expect("an encoded record decodes");
        assert_eq!(again, rec, "decode(encode(r)) != r");
        assert_eq!(
            encode(&again),
            encoded,
            "record encoding is not a fixed point"
        );

        let time = format_rfc3339(rec.ts_ms);
        if rec.ts_ms < YEAR_10000_MS {
            assert_eq!(parse_time(&time), Ok(rec.ts_ms), "{time}");
        }
        if let Event::Decision(d) = &rec.event {
            let _ = csv_row(rec.seq, rec.ts_ms, d);
            let _ = intents_json(d);
        }
        agg.add(&rec);
    }
});
