//! Property-style tests: random sequences of requests, close reports, clock
//! steps (forward, far forward, backward) against an independent model,
//! checking that nothing committed ever exceeds a rolling cap or the open
//! exposure caps, that replaying the journal rebuilds the same state, and
//! that a partial replay is never more permissive than a full one.

// Test output: a failing seed is reported on stderr.
#![allow(clippy::print_stderr)]

use rust_decimal::Decimal;

use super::{
    DAY_MS, Engine, Policy, PolicyConfig, PolicyState, Request, Verdict, rule_feeds_breaker,
};
use crate::order::{Intent, NewOrder, OrderRef, Side};

/// SplitMix64: small, deterministic, good enough to shake out sequences.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in lo..=hi.
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.range(1, 100) <= percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.range(0, xs.len() as u64 - 1) as usize]
    }
}

const IDENTITIES: [&str; 2] = ["bot", "mm"];
const KEYS: [&str; 2] = ["hl", "bn"];
const TTL: u64 = 600_000;

/// The full policy: every cap at once (they bind together).
const ALL: &str = r#"
[identity_defaults]
orders_rate = { burst = 8, per_sec = 4 }
max_notional_per_minute = "1000"
max_notional_per_hour = "4000"
max_notional_per_day = "12000"
max_open_orders = 9
max_open_notional = "2500"
breaker = { denials = 20, window_ms = 10000, cooldown_ms = 5000 }

[key_defaults]
max_notional_per_minute = "800"
max_notional_per_hour = "3000"
max_notional_per_day = "9000"
max_open_orders = 7
max_open_notional = "2000"
open_order_ttl_ms = 600000
[key_defaults.symbols.ETH]
[key_defaults.symbols.BTC]
"#;

/// Rolling caps only, so that each is often the only one binding.
const WINDOWS_ONLY: &str = r#"
[identity_defaults]
max_notional_per_minute = "1000"
max_notional_per_hour = "6000"
max_notional_per_day = "30000"
[key_defaults]
max_notional_per_minute = "800"
max_notional_per_hour = "5000"
max_notional_per_day = "20000"
open_order_ttl_ms = 600000
[key_defaults.symbols.ETH]
[key_defaults.symbols.BTC]
"#;

/// Open exposure only.
const OPEN_ONLY: &str = r#"
[identity_defaults]
max_open_orders = 12
max_open_notional = "4000"
[key_defaults]
max_open_orders = 9
max_open_notional = "3000"
open_order_ttl_ms = 600000
[key_defaults.symbols.ETH]
[key_defaults.symbols.BTC]
"#;

/// The caps a scenario's policy sets, per scope kind, for the model.
#[derive(Clone, Copy)]
struct Caps {
    windows: [(u64, Option<&'static str>); 3],
    open_orders: Option<usize>,
    open_notional: Option<&'static str>,
}

const NO_WINDOWS: [(u64, Option<&str>); 3] = [(60_000, None), (3_600_000, None), (DAY_MS, None)];

fn scenarios() -> [(&'static str, Caps, Caps); 3] {
    [
        (
            ALL,
            Caps {
                windows: [
                    (60_000, Some("1000")),
                    (3_600_000, Some("4000")),
                    (DAY_MS, Some("12000")),
                ],
                open_orders: Some(9),
                open_notional: Some("2500"),
            },
            Caps {
                windows: [
                    (60_000, Some("800")),
                    (3_600_000, Some("3000")),
                    (DAY_MS, Some("9000")),
                ],
                open_orders: Some(7),
                open_notional: Some("2000"),
            },
        ),
        (
            WINDOWS_ONLY,
            Caps {
                windows: [
                    (60_000, Some("1000")),
                    (3_600_000, Some("6000")),
                    (DAY_MS, Some("30000")),
                ],
                open_orders: None,
                open_notional: None,
            },
            Caps {
                windows: [
                    (60_000, Some("800")),
                    (3_600_000, Some("5000")),
                    (DAY_MS, Some("20000")),
                ],
                open_orders: None,
                open_notional: None,
            },
        ),
        (
            OPEN_ONLY,
            Caps {
                windows: NO_WINDOWS,
                open_orders: Some(12),
                open_notional: Some("4000"),
            },
            Caps {
                windows: NO_WINDOWS,
                open_orders: Some(9),
                open_notional: Some("3000"),
            },
        ),
    ]
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// One journal record.
#[derive(Clone)]
enum Record {
    Decision {
        identity: &'static str,
        key: &'static str,
        intents: Vec<Intent>,
        at: u64,
        allowed: bool,
        rule: Option<&'static str>,
    },
    Closed {
        key: &'static str,
        cid: String,
        at: u64,
    },
}

impl Record {
    fn at(&self) -> u64 {
        match self {
            Record::Decision { at, .. } | Record::Closed { at, .. } => *at,
        }
    }
}

fn replay(engine: &mut Engine, records: &[Record]) {
    for r in records {
        match r {
            Record::Decision {
                identity,
                key,
                intents,
                at,
                allowed,
                rule,
            } => engine.replay(
                &Request {
                    identity,
                    key,
                    intents,
                    now_ms: *at,
                },
                *allowed,
                rule.is_some_and(rule_feeds_breaker),
            ),
            Record::Closed { key, cid, at } => {
                engine.report_closed(key, &OrderRef::Cloid(cid.clone()), *at);
            }
        }
    }
}

fn random_batch(rng: &mut Rng) -> Vec<Intent> {
    let n = rng.range(1, 4);
    (0..n)
        .map(|_| {
            if rng.chance(10) {
                return Intent::Cancel {
                    symbol: "ETH".into(),
                    order: OrderRef::Cloid(format!("c{}", rng.range(0, 15))),
                };
            }
            let o = NewOrder {
                reduce_only: rng.chance(15),
                aggressive: rng.chance(30),
                client_id: (!rng.chance(20)).then(|| format!("c{}", rng.range(0, 15))),
                ..NewOrder::limit(
                    rng.pick::<&str>(&["ETH", "BTC"]),
                    *rng.pick(&[Side::Buy, Side::Sell]),
                    Decimal::new(rng.range(1, 300) as i64, 2),
                    Decimal::new(rng.range(100, 60_000) as i64, 2),
                )
            };
            if rng.chance(15) {
                Intent::Modify {
                    order: OrderRef::Oid(rng.range(1, 99)),
                    new: o,
                }
            } else {
                Intent::Place(o)
            }
        })
        .collect()
}

/// An authorised opening order, as the model sees it.
struct Placed {
    identity: &'static str,
    key: &'static str,
    cid: Option<String>,
    notional: Decimal,
    /// The policy's (never decreasing) time when it was authorised.
    at_ms: u64,
    closed: bool,
}

fn openings(intents: &[Intent]) -> impl Iterator<Item = &NewOrder> {
    intents.iter().filter_map(|i| match i {
        Intent::Place(o) | Intent::Modify { new: o, .. } if !o.reduce_only => Some(o),
        _ => None,
    })
}

fn in_scope(p: &Placed, identity_scope: bool, name: &str) -> bool {
    if identity_scope {
        p.identity == name
    } else {
        p.key == name
    }
}

fn run(text: &str, id_caps: Caps, key_caps: Caps, seed: u64, steps: usize) {
    let policy = Policy::from_config(PolicyConfig::parse(text).unwrap()).unwrap();
    let caps = |identity_scope: bool| if identity_scope { id_caps } else { key_caps };
    let mut engine = Engine::new(policy.clone());
    let mut rng = Rng(seed);
    let mut raw: u64 = 1_700_000_000_000;
    let mut now = raw;
    let mut journal: Vec<Record> = Vec::new();
    let mut placed: Vec<Placed> = Vec::new();
    let mut allowed_count = 0;

    for _ in 0..steps {
        // Move the clock: mostly a little, sometimes a lot, now and then
        // backwards (a clock step the agent must survive).
        raw = match rng.range(1, 100) {
            1..=3 => raw.saturating_sub(rng.range(0, 5_000)),
            4..=8 => raw + rng.range(60_000, 2 * 3_600_000),
            _ => raw + rng.range(0, 4_000),
        };
        // The policy's time never runs backwards: the model's neither.
        now = now.max(raw);
        if rng.chance(15) {
            let key = *rng.pick(&KEYS);
            let cid = format!("c{}", rng.range(0, 15));
            engine.report_closed(key, &OrderRef::Cloid(cid.clone()), raw);
            for p in placed.iter_mut() {
                if p.key == key && p.cid.as_deref() == Some(cid.as_str()) {
                    p.closed = true;
                }
            }
            journal.push(Record::Closed { key, cid, at: raw });
            continue;
        }
        let identity = *rng.pick(&IDENTITIES);
        let key = *rng.pick(&KEYS);
        let intents = random_batch(&mut rng);
        let req = Request {
            identity,
            key,
            intents: &intents,
            now_ms: raw,
        };
        let verdict = engine.decide(&req).verdict;
        journal.push(Record::Decision {
            identity,
            key,
            intents: intents.clone(),
            at: raw,
            allowed: verdict.allowed(),
            rule: verdict.rule().map(|r| r.code()),
        });
        if !verdict.allowed() {
            continue;
        }
        allowed_count += 1;
        for o in openings(&intents) {
            placed.push(Placed {
                identity,
                key,
                cid: o.client_id.clone(),
                notional: o.notional().expect("an allowed order has a notional"),
                at_ms: now,
                closed: false,
            });
        }
        // Open exposure right after this commit, in every scope.
        for (identity_scope, names) in [(true, &IDENTITIES), (false, &KEYS)] {
            let c = caps(identity_scope);
            for name in names.iter() {
                let open: Vec<&Placed> = placed
                    .iter()
                    .filter(|p| in_scope(p, identity_scope, name))
                    .filter(|p| !p.closed && now < p.at_ms + TTL)
                    .collect();
                let notional: Decimal = open.iter().map(|p| p.notional).sum();
                if let Some(max) = c.open_orders {
                    assert!(
                        open.len() <= max,
                        "seed {seed}: {name}: {} open orders",
                        open.len()
                    );
                }
                if let Some(max) = c.open_notional {
                    assert!(
                        notional <= dec(max),
                        "seed {seed}: {name}: open notional {notional}"
                    );
                }
            }
        }
    }
    assert!(
        allowed_count > steps / 10,
        "seed {seed}: too few allowed ({allowed_count})"
    );

    // Every window ending at an authorised order holds at most the cap.
    for (identity_scope, names) in [(true, &IDENTITIES), (false, &KEYS)] {
        let c = caps(identity_scope);
        for name in names.iter() {
            let mine: Vec<&Placed> = placed
                .iter()
                .filter(|p| in_scope(p, identity_scope, name))
                .collect();
            for (span, cap) in &c.windows {
                let Some(cap) = cap.map(dec) else { continue };
                for end in &mine {
                    let sum: Decimal = mine
                        .iter()
                        .filter(|p| p.at_ms + span > end.at_ms && p.at_ms <= end.at_ms)
                        .map(|p| p.notional)
                        .sum();
                    assert!(
                        sum <= cap,
                        "seed {seed}: {name}: {sum} within {span} ms before {}",
                        end.at_ms
                    );
                }
            }
        }
    }

    // Replaying the journal rebuilds exactly the live state.
    let mut rebuilt = Engine::new(policy.clone());
    replay(&mut rebuilt, &journal);
    assert_eq!(
        rebuilt.state(),
        engine.state(),
        "seed {seed}: replay differs"
    );

    // A replay from the horizon on is never more permissive than the full
    // state, for any probe.
    let start = now.saturating_sub(policy.replay_horizon_ms());
    let first = journal
        .iter()
        .position(|r| r.at() >= start)
        .unwrap_or(journal.len());
    let mut partial = Engine::with_state(policy.clone(), PolicyState::for_partial_replay(start));
    replay(&mut partial, &journal[first..]);
    let mut looser = 0;
    for _ in 0..200 {
        let intents = random_batch(&mut rng);
        let at = now + rng.range(0, 120_000);
        let identity = *rng.pick(&IDENTITIES);
        let key = *rng.pick(&KEYS);
        let req = Request {
            identity,
            key,
            intents: &intents,
            now_ms: at,
        };
        let full: Verdict = policy.evaluate(engine.state(), &req);
        let part: Verdict = policy.evaluate(partial.state(), &req);
        if part.allowed() && !full.allowed() {
            looser += 1;
            eprintln!(
                "seed {seed}: partial allows, full denies: {}",
                full.reason()
            );
        }
    }
    assert_eq!(looser, 0, "seed {seed}");
}

#[test]
fn no_sequence_exceeds_a_cap() {
    for (text, id_caps, key_caps) in scenarios() {
        for seed in 1..=8 {
            run(text, id_caps, key_caps, seed, 1500);
        }
    }
}

#[test]
fn a_batch_is_all_or_nothing() {
    // Ten orders that each fit but together break the minute cap are denied
    // and nothing of them is counted.
    let policy = Policy::from_config(PolicyConfig::parse(ALL).unwrap()).unwrap();
    let mut engine = Engine::new(policy);
    let one = |price: i64| {
        Intent::Place(NewOrder::limit(
            "ETH",
            Side::Buy,
            Decimal::ONE,
            Decimal::new(price, 0),
        ))
    };
    let mut rng = Rng(99);
    for round in 0..200u64 {
        let n = rng.range(2, 10) as usize;
        // Each order fits the key's minute cap (800) alone; together they
        // may not.
        let intents: Vec<Intent> = (0..n).map(|_| one(rng.range(1, 150) as i64)).collect();
        let total: i64 = intents
            .iter()
            .map(|i| match i {
                Intent::Place(o) => o.price.map_or(0, |p| p.mantissa() as i64),
                _ => 0,
            })
            .sum();
        let t = 1_000_000 + round * DAY_MS; // a fresh day each round
        let before = engine.state().clone();
        let v = engine
            .decide(&Request {
                identity: "bot",
                key: "hl",
                intents: &intents,
                now_ms: t,
            })
            .verdict;
        // The key's minute cap (800) and open-order count (7) bind first.
        let fits = total <= 800 && n <= 7;
        assert_eq!(
            v.allowed(),
            fits,
            "round {round}: {n} orders, {total}: {}",
            v.reason()
        );
        if !v.allowed() {
            // Only the breaker may have moved; nothing was counted.
            let ids = super::Scope::Identity("bot".into());
            assert_eq!(
                engine.state().notional_within(&ids, t, DAY_MS),
                before.notional_within(&ids, t, DAY_MS)
            );
            assert_eq!(
                engine.state().open_exposure(&ids, t),
                before.open_exposure(&ids, t)
            );
        }
        // Close everything for the next round (no client ids: wait for TTL).
        let later = t + TTL;
        assert_eq!(
            engine
                .state()
                .open_exposure(&super::Scope::Key("hl".into()), later)
                .0,
            0
        );
    }
}
