//! Journal records: one JSON object per line, chained by hash.
//!
//! The chain hash of a record is SHA-256 over the exact bytes of its line
//! (without the newline); the next record carries it in `prev`. Hashing the
//! bytes as written, rather than a re-serialisation, means a verifier needs
//! no canonical JSON: any change to a line, however small, breaks the link
//! to the next one.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev` of the very first record.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// One journal line.
// No `deny_unknown_fields` here: serde cannot combine it with the
// flattened event. Integrity comes from the hash chain, not from parsing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1, 2, 3, ... across all segments, without gaps.
    pub seq: u64,
    /// Wall-clock time of the append, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Hex SHA-256 of the previous record's line.
    pub prev: String,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The agent started and serves these keys.
    Start {
        version: String,
        pid: u32,
        config_sha256: String,
        keys: Vec<KeySummary>,
    },
    /// The agent stopped in an orderly way.
    Stop { reason: String },
    /// A decision on a request: allowed (and about to be signed) or denied.
    Decision(Decision),
    /// The signature made for an allowed decision.
    Signature {
        decision: u64,
        key: String,
        signature: String,
    },
    /// An allowed decision whose signing failed; nothing was released.
    SignFailed {
        decision: u64,
        key: String,
        error: String,
    },
    /// A connection refused before any request (e.g. an unknown peer).
    PeerRefused {
        uid: u32,
        gid: u32,
        pid: Option<i32>,
        reason: String,
    },
    /// The chain head at `covers`, signed by the audit key in the token.
    Checkpoint {
        covers: u64,
        head: String,
        key: String,
        key_type: String,
        signature: String,
    },
    /// The bot reported an order closed (filled or cancelled) at the venue:
    /// it no longer counts as open.
    OrderClosed {
        identity: String,
        key: String,
        order: crate::order::OrderRef,
    },
    /// A heartbeat: `identity`'s dead-man's switch is armed until
    /// `deadline_ms` (the first one arms it).
    Heartbeat {
        identity: String,
        timeout_ms: u64,
        deadline_ms: u64,
    },
    /// `identity`'s switch tripped: its keys are halted.
    Trip {
        identity: String,
        deadline_ms: u64,
        reason: String,
    },
    /// The on-trip command for the trip at record `trip` ran (or could not).
    TripHook {
        identity: String,
        trip: u64,
        ok: bool,
        exit_code: Option<i32>,
        instructions: usize,
        output: String,
    },
    /// An operator halted new risk in `target`.
    Halt {
        target: crate::order::HaltScope,
        reason: String,
        reducing_allowed: bool,
        by: String,
    },
    /// An operator lifted the halt on `target`.
    Resume {
        target: crate::order::HaltScope,
        by: String,
    },
    /// An operator re-armed `identity`'s switch (clearing a trip and its
    /// halt): the new deadline is `deadline_ms`.
    Rearm {
        identity: String,
        timeout_ms: u64,
        deadline_ms: u64,
        by: String,
    },
    /// An operator paused `identity`'s switch until `until_ms`; after it,
    /// the switch is armed again with its timeout.
    Pause {
        identity: String,
        until_ms: u64,
        reason: String,
        by: String,
    },
    /// The policy was reloaded (operator `reload` or SIGHUP).
    PolicyReload { sha256: String, by: String },
    /// An operator rotated `alias` to a new token key; `from` stays on the
    /// token, disabled, for rollback.
    KeyRotated {
        alias: String,
        from: KeyRef,
        to: KeyRef,
        by: String,
    },
    /// An operator rolled `alias` back from `from` to its previous key `to`.
    KeyRolledBack {
        alias: String,
        from: KeyRef,
        to: KeyRef,
        by: String,
    },
    /// An operator zeroized `alias`: it is never served again. Written
    /// before its token objects (`keys`) are destroyed; a note follows with
    /// the outcome.
    KeyZeroized {
        alias: String,
        keys: Vec<KeyRef>,
        by: String,
    },
    /// The bot reported its position in `symbol` on `key` (signed size:
    /// above 0 long, below 0 short, 0 flat). Used to flatten at a trip.
    PositionReported {
        identity: String,
        key: String,
        symbol: String,
        size: rust_decimal::Decimal,
    },
    /// A price-feed identity's update refused by a sanity check (a move
    /// too large, the feed's rate limit): the reference did not change.
    PriceRefused {
        identity: String,
        symbol: String,
        price: rust_decimal::Decimal,
        /// The rule's code (`price_move`, `feed_rate`).
        rule: String,
        reason: String,
    },
    /// Refusals of `identity` beyond its allowance of individual records
    /// (see `crate::refusals`), counted by rule from `first_ms` to
    /// `last_ms`; `breaker_denials` of them counted towards its breaker.
    RefusalsSummarised {
        identity: String,
        count: u64,
        breaker_denials: u64,
        by_rule: std::collections::BTreeMap<String, u64>,
        first_ms: u64,
        last_ms: u64,
    },
    /// Something the journal itself did (torn-tail repair, recovery).
    Note { message: String },
}

impl Event {
    /// The record's `kind` as written in the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Start { .. } => "start",
            Event::Stop { .. } => "stop",
            Event::Decision(_) => "decision",
            Event::Signature { .. } => "signature",
            Event::SignFailed { .. } => "sign_failed",
            Event::PeerRefused { .. } => "peer_refused",
            Event::Checkpoint { .. } => "checkpoint",
            Event::OrderClosed { .. } => "order_closed",
            Event::Heartbeat { .. } => "heartbeat",
            Event::Trip { .. } => "trip",
            Event::TripHook { .. } => "trip_hook",
            Event::Halt { .. } => "halt",
            Event::Resume { .. } => "resume",
            Event::Rearm { .. } => "rearm",
            Event::Pause { .. } => "pause",
            Event::PolicyReload { .. } => "policy_reload",
            Event::KeyRotated { .. } => "key_rotated",
            Event::KeyRolledBack { .. } => "key_rolled_back",
            Event::KeyZeroized { .. } => "key_zeroized",
            Event::PositionReported { .. } => "position_reported",
            Event::PriceRefused { .. } => "price_refused",
            Event::RefusalsSummarised { .. } => "refusals_summarised",
            Event::Note { .. } => "note",
        }
    }
}

/// The rule of decisions the agent makes itself (the dead-man's switch's
/// instructions): never judged by policy, never replayed into its state.
pub const AGENT_RULE: &str = "deadman";

/// A request decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub identity: String,
    pub uid: u32,
    pub pid: Option<i32>,
    pub request_id: u64,
    pub op: String,
    pub key: Option<String>,
    /// SHA-256 of the op and its parameters as received.
    pub request_sha256: String,
    pub allow: bool,
    /// The rule behind the decision (an error code for denials).
    pub rule: String,
    pub reason: String,
    /// SHA-256 of exactly the bytes handed to the token, when allowed.
    pub payload_sha256: Option<String>,
    /// The venue of an order request (e.g. "hyperliquid").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    /// The nonce signed with it, where the venue uses nonces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
    /// What the request asked for, in typed form: replayed at start to
    /// rebuild policy state (rolling caps, open orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intents: Option<Vec<crate::order::Intent>>,
    /// The size of the request's parameters as received, for a refusal
    /// (whose record is bounded: see `crate::refusals`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<u64>,
    /// How many intents a refusal asked for when they were too large to
    /// keep in its record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intents_omitted: Option<u64>,
}

/// One token key, as rotation and zeroisation records name it. Made from
/// a token key by `KeyRef::of`, and turned back into the selector that
/// finds it by `KeyRef::selector`, both in `crate::keyring`: the journal
/// knows nothing of backends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    pub label: String,
    /// CKA_ID, hex (empty if the key has none).
    pub id: String,
    /// The public key, hex (none for HMAC).
    pub public_key: Option<String>,
}

/// A key as recorded at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySummary {
    pub alias: String,
    pub key_type: String,
    pub uri: String,
    pub public_key: Option<String>,
}

/// SHA-256 of a line (the chain hash).
pub fn line_hash(line: &[u8]) -> [u8; 32] {
    Sha256::digest(line).into()
}

/// Encode a record as one line (no newline).
pub fn encode(rec: &Record) -> Vec<u8> {
    serde_json::to_vec(rec).expect("records always serialise")
}

/// Decode one line.
///
/// Lines as the writer lays them out (`seq`, `ts_ms`, `prev`, then
/// `kind` first among the event's fields) of the three kinds that make up
/// almost every journal (decisions, signatures, checkpoints) take a direct
/// path: the prefix is read by hand and the event's fields go straight
/// into their struct. The general path (a flattened, internally tagged
/// enum) has serde buffer every field twice and was most of the time a
/// start spends replaying a long journal. The direct path accepts only
/// what the general one accepts with the same result; anything it is not
/// sure of (another layout, unknown or duplicate fields, a malformed
/// line) goes to the general path, which decides and words the error.
pub fn decode(line: &[u8]) -> Result<Record, String> {
    if let Some(rec) = decode_direct(line) {
        return Ok(rec);
    }
    serde_json::from_slice(line).map_err(|e| format!("not a journal record: {e}"))
}

/// The `signature` event's fields, for the direct path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFields {
    decision: u64,
    key: String,
    signature: String,
}

/// The `checkpoint` event's fields, for the direct path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFields {
    covers: u64,
    head: String,
    key: String,
    key_type: String,
    signature: String,
}

fn decode_direct(line: &[u8]) -> Option<Record> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let (seq, rest) = json_u64(rest)?;
    let rest = rest.strip_prefix(b",\"ts_ms\":")?;
    let (ts_ms, rest) = json_u64(rest)?;
    let rest = rest.strip_prefix(b",\"prev\":\"")?;
    let (prev, rest) = rest.split_at_checked(64)?;
    if !prev
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    let rest = rest.strip_prefix(b"\",\"kind\":\"")?;
    let (kind, fields) = if let Some(f) = rest.strip_prefix(b"decision\",") {
        ("decision", f)
    } else if let Some(f) = rest.strip_prefix(b"signature\",") {
        ("signature", f)
    } else if let Some(f) = rest.strip_prefix(b"checkpoint\",") {
        ("checkpoint", f)
    } else {
        return None;
    };
    // The event's own fields as one object: `{` and what follows `kind`.
    let mut object = Vec::with_capacity(fields.len() + 1);
    object.push(b'{');
    object.extend_from_slice(fields);
    let event = match kind {
        "decision" => Event::Decision(serde_json::from_slice(&object).ok()?),
        "signature" => {
            let f: SignatureFields = serde_json::from_slice(&object).ok()?;
            Event::Signature {
                decision: f.decision,
                key: f.key,
                signature: f.signature,
            }
        }
        _ => {
            let f: CheckpointFields = serde_json::from_slice(&object).ok()?;
            Event::Checkpoint {
                covers: f.covers,
                head: f.head,
                key: f.key,
                key_type: f.key_type,
                signature: f.signature,
            }
        }
    };
    Some(Record {
        seq,
        ts_ms,
        // Checked above: ASCII hex digits.
        prev: String::from_utf8(prev.to_vec()).ok()?,
        event,
    })
}

/// A JSON unsigned integer at the start of `bytes` (no sign, no leading
/// zero, no fraction or exponent) that fits in a u64, and what follows it.
fn json_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && bytes[0] == b'0') {
        return None;
    }
    let (number, rest) = bytes.split_at(digits);
    if matches!(rest.first(), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let mut value: u64 = 0;
    for d in number {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((value, rest))
}

/// The bytes an audit key signs for a checkpoint.
pub fn checkpoint_message(covers: u64, head: &[u8; 32]) -> Vec<u8> {
    format!(
        "tradeward-journal-checkpoint:v1:{covers}:{}",
        hex::encode(head)
    )
    .into_bytes()
}

/// Now, on the agent's clock (see `crate::clock`: steps of the system
/// clock while the agent runs do not move it).
pub fn now_ms() -> u64 {
    crate::clock::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let r = Record {
            seq: 3,
            ts_ms: 1,
            prev: hex::encode(GENESIS),
            event: Event::Note {
                message: "hi".into(),
            },
        };
        let line = encode(&r);
        assert_eq!(decode(&line).unwrap(), r);
        let text = String::from_utf8(line).unwrap();
        assert!(text.contains("\"kind\":\"note\""));
        assert!(decode(text.replace("\"seq\"", "\"sq\"").as_bytes()).is_err());
        assert!(decode(text.replace("\"note\"", "\"nope\"").as_bytes()).is_err());
        assert!(decode(b"{\"seq\":1}").is_err());
        assert!(decode(b"\0\0\0").is_err());
    }

    fn general(line: &[u8]) -> Result<Record, String> {
        serde_json::from_slice(line).map_err(|e| e.to_string())
    }

    #[test]
    fn the_direct_path_agrees_with_the_general_one() {
        let decision = Decision {
            identity: "bot".into(),
            uid: 1000,
            pid: Some(42),
            request_id: 7,
            op: "hyperliquid.sign_l1_action".into(),
            key: Some("hl".into()),
            request_sha256: "ab".repeat(32),
            allow: true,
            rule: "allowed".into(),
            reason: "ok \"quoted\" \u{e9}".into(),
            payload_sha256: Some("cd".repeat(32)),
            venue: Some("hyperliquid".into()),
            nonce: Some(u64::MAX),
            intents: None,
            request_bytes: None,
            intents_omitted: None,
        };
        let events = [
            Event::Decision(decision.clone()),
            Event::Decision(Decision {
                pid: None,
                key: None,
                payload_sha256: None,
                venue: None,
                nonce: None,
                ..decision
            }),
            Event::Signature {
                decision: 9,
                key: "hl".into(),
                signature: "ef".repeat(65),
            },
            Event::Checkpoint {
                covers: 1000,
                head: "01".repeat(32),
                key: "audit".into(),
                key_type: "ed25519".into(),
                signature: "23".repeat(64),
            },
        ];
        for (i, event) in events.into_iter().enumerate() {
            let r = Record {
                seq: 1 + i as u64 * 1_000_000_007,
                ts_ms: 1_700_000_000_000,
                prev: hex::encode(line_hash(&[i as u8])),
                event,
            };
            let line = encode(&r);
            assert_eq!(decode_direct(&line).as_ref(), Some(&r));
            assert_eq!(general(&line).unwrap(), r);
            // Variations the direct path must leave to the general one, or
            // decide the same way.
            let text = String::from_utf8(line).unwrap();
            let variants = [
                text.replacen("{\"seq\":", "{ \"seq\":", 1),
                text.replacen("{\"seq\":", "{\"seq\":0", 1),
                text.replacen(",\"ts_ms\":1700000000000", ",\"ts_ms\":1.7e12", 1),
                text.replacen(
                    ",\"ts_ms\":1700000000000",
                    ",\"ts_ms\":99999999999999999999",
                    1,
                ),
                text.replacen("\",\"kind\":\"", "\",\"kind\":\"x", 1),
                text.replacen("\",\"kind\":", "\",\"ts_ms\":5,\"kind\":", 1),
                text.replacen(
                    "\",\"kind\":\"decision\",",
                    "\",\"kind\":\"decision\",\"seq\":4,",
                    1,
                ),
                text.replacen(
                    "\",\"kind\":\"signature\",",
                    "\",\"kind\":\"signature\",\"extra\":4,",
                    1,
                ),
                text.replacen(
                    "\",\"kind\":\"checkpoint\",",
                    "\",\"kind\":\"checkpoint\",\"kind\":\"note\",",
                    1,
                ),
                text.replacen(&r.prev, &r.prev.to_uppercase(), 1),
                text[..text.len() - 1].to_string(),
            ];
            for v in variants {
                match (decode(v.as_bytes()), general(v.as_bytes())) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{v}"),
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("paths disagree on {v}: {a:?} / {b:?}"),
                }
            }
        }
    }
}
