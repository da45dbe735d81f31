use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::*;
use crate::order::{OrderRef, Side};

fn cfg() -> OkxKeyConfig {
    let c: OkxKeyConfig = toml::from_str(
        r#"
api_key = "a1b2c3-d4"
passphrase_file = "pp"
[instruments."BTC-USDT"]
symbol = "BTCUSDT"
[instruments."BTC-USDT-SWAP"]
symbol = "BTC-PERP"
contract_size = "0.01"
[[read_only]]
path = "/api/v5/account/balance"
params = ["ccy"]
"#,
    )
    .unwrap();
    c.validate().unwrap();
    c
}

fn post(path: &str, body: Value) -> Result<OkxRequest, RestError> {
    parse(&cfg(), "POST", path, Some(&body))
}

fn err(path: &str, body: Value) -> String {
    post(path, body).unwrap_err().to_string()
}

#[test]
fn a_swap_order_is_sized_in_base_units_and_the_body_is_canonical() {
    let r = post(
        "/api/v5/trade/order",
        json!({"sz": "2", "px": "50000.10", "side": "buy", "ordType": "limit",
               "tdMode": "cross", "instId": "BTC-USDT-SWAP", "clOrdId": "b1"}),
    )
    .unwrap();
    assert_eq!(
        r.body,
        r#"{"instId":"BTC-USDT-SWAP","tdMode":"cross","clOrdId":"b1","side":"buy","ordType":"limit","sz":"2","px":"50000.1"}"#
    );
    let ts = timestamp(1_607_418_537_715);
    assert_eq!(ts, "2020-12-08T09:08:57.715Z");
    assert_eq!(
        r.prehash(&ts),
        format!("2020-12-08T09:08:57.715ZPOST/api/v5/trade/order{}", r.body)
    );
    let Intent::Place(o) = &r.intents_at(0)[0] else {
        panic!()
    };
    assert_eq!(o.symbol, "BTC-PERP");
    assert_eq!(o.size, Some(Decimal::new(2, 2)));
    assert_eq!(o.side, Side::Buy);
    assert!(!o.aggressive);
}

#[test]
fn spot_market_buys_are_sized_in_quote() {
    let r = post(
        "/api/v5/trade/order",
        json!({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "100"}),
    )
    .unwrap();
    let Intent::Place(o) = &r.intents_at(0)[0] else {
        panic!()
    };
    assert_eq!(o.quote_size, Some(Decimal::from(100)));
    assert!(o.is_market() && o.aggressive);
}

#[test]
fn batches_cancels_amends_and_the_venues_switch() {
    let order = json!({"instId": "BTC-USDT", "tdMode": "cash", "side": "sell", "ordType": "ioc", "sz": "1", "px": "1"});
    let r = post("/api/v5/trade/batch-orders", json!([order, order])).unwrap();
    assert_eq!(r.intents_at(0).len(), 2);
    let too_many = Value::Array(vec![order.clone(); MAX_BATCH + 1]);
    assert!(err("/api/v5/trade/batch-orders", too_many).contains("1 to 20"));
    assert!(err("/api/v5/trade/batch-orders", order.clone()).contains("array"));
    let r = post(
        "/api/v5/trade/cancel-order",
        json!({"instId": "BTC-USDT", "ordId": "123"}),
    )
    .unwrap();
    assert!(matches!(
        &r.intents_at(0)[0],
        Intent::Cancel {
            order: OrderRef::Oid(123),
            ..
        }
    ));
    assert!(
        err("/api/v5/trade/cancel-order", json!({"instId": "BTC-USDT"})).contains("exactly one")
    );
    let r = post(
        "/api/v5/trade/amend-order",
        json!({"instId": "BTC-USDT-SWAP", "clOrdId": "b1", "newSz": "3", "newPx": "49000"}),
    )
    .unwrap();
    assert_eq!(r.intents_at(0).len(), 2, "judged as a buy and as a sell");
    assert!(
        err(
            "/api/v5/trade/amend-order",
            json!({"instId": "BTC-USDT-SWAP", "clOrdId": "b1", "newPx": "1"})
        )
        .contains("newSz")
    );
    let r = post("/api/v5/trade/cancel-all-after", json!({"timeOut": "10"})).unwrap();
    assert_eq!(
        r.intents_at(1000),
        vec![Intent::ScheduleCancel {
            at_ms: Some(11_000)
        }]
    );
    assert!(err("/api/v5/trade/cancel-all-after", json!({"timeOut": "5"})).contains("10 to 120"));
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let base = json!({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "1", "px": "1"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        err("/api/v5/trade/order", b)
    };
    assert!(with("sz", json!("1e3")).contains("exponent"));
    assert!(with("sz", json!(1)).contains("string"));
    assert!(with("px", json!("0.00000000000000001")).contains("decimals"));
    assert!(with("attachAlgoOrds", json!([])).contains("unknown field"));
    assert!(with("instId", json!("ETH-USDT")).contains("instruments"));
    assert!(with("reduceOnly", json!("true")).contains("bool"));
    assert!(err("/api/v5/trade/order", json!("instId=BTC-USDT")).contains("object"));
    for path in [
        "/api/v5/trade/Order",
        "/api/v5//trade/order",
        "/api/v5/trade/../trade/order",
        "/api/v5/trade/%6Frder",
        "/api/v5/trade/order/",
    ] {
        assert!(post(path, base.clone()).is_err(), "{path}");
    }
    assert!(parse(&cfg(), "PUT", "/api/v5/trade/order", Some(&base)).is_err());
    assert!(parse(&cfg(), "GET", "/api/v5/trade/order", None).is_err());
    let r = parse(
        &cfg(),
        "GET",
        "/api/v5/account/balance",
        Some(&json!({"ccy": "BTC,USDT"})),
    )
    .unwrap();
    assert_eq!(r.request_path, "/api/v5/account/balance?ccy=BTC,USDT");
    assert!(r.is_read_only());
    assert!(
        parse(
            &cfg(),
            "GET",
            "/api/v5/account/balance",
            Some(&json!({"ccy": "a b"}))
        )
        .is_err()
    );
}

#[test]
fn transfers_and_withdrawals_are_transfer_intents() {
    let r = post(
        "/api/v5/asset/withdrawal",
        json!({"ccy": "USDT", "amt": "10", "dest": "4", "toAddr": "0xabc", "chain": "USDT-ERC20"}),
    )
    .unwrap();
    assert_eq!(
        r.intents_at(0),
        vec![Intent::Transfer {
            kind: "okx/asset/withdrawal".into(),
            destination: "USDT-ERC20:0xabc".into(),
            asset: "USDT".into(),
            amount: Decimal::from(10)
        }]
    );
    let r = post(
        "/api/v5/asset/transfer",
        json!({"ccy": "USDT", "amt": "1.5", "from": "18", "to": "6"}),
    )
    .unwrap();
    assert!(
        matches!(&r.intents_at(0)[0], Intent::Transfer { destination, .. } if destination == "18->6")
    );
}
