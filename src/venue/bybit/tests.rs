use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::*;
use crate::order::{OrderRef, Side};

fn cfg() -> BybitKeyConfig {
    let c: BybitKeyConfig = toml::from_str(
        r#"
api_key = "XXXXXXXXXXXXXXXXXX"
max_recv_window_ms = 10000
[[instruments]]
category = "linear"
symbol = "BTCUSDT"
policy_symbol = "BTC-PERP"
[[instruments]]
category = "spot"
symbol = "BTCUSDT"
policy_symbol = "BTCUSDT"
[[read_only]]
path = "/v5/order/realtime"
params = ["category", "symbol"]
"#,
    )
    .unwrap();
    c.validate().unwrap();
    c
}

fn post(path: &str, body: Value) -> Result<BybitRequest, RestError> {
    parse(&cfg(), "POST", path, Some(&body), None)
}

fn err(path: &str, body: Value) -> String {
    post(path, body).unwrap_err().to_string()
}

#[test]
fn a_linear_order_signs_its_canonical_body() {
    let r = post(
        "/v5/order/create",
        json!({"symbol": "BTCUSDT", "category": "linear", "side": "Buy", "orderType": "Limit",
               "qty": "0.010", "price": "30000", "timeInForce": "GTC", "orderLinkId": "a-1"}),
    )
    .unwrap();
    assert_eq!(
        r.payload,
        r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.01","price":"30000","timeInForce":"GTC","orderLinkId":"a-1"}"#
    );
    assert_eq!(r.recv_window_ms, 5000);
    assert_eq!(
        r.prehash(1_658_385_579_423, "XXXXXXXXXX"),
        format!("1658385579423XXXXXXXXXX5000{}", r.payload)
    );
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert_eq!(o.symbol, "BTC-PERP");
    assert_eq!(o.size, Some(Decimal::new(1, 2)));
    assert_eq!(o.side, Side::Buy);
}

#[test]
fn spot_market_buys_are_sized_in_quote_and_batches_are_bounded() {
    let r = post(
        "/v5/order/create",
        json!({"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "100"}),
    )
    .unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert_eq!(o.quote_size, Some(Decimal::from(100)));
    let item = json!({"symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit", "qty": "1", "price": "1"});
    let r = post(
        "/v5/order/create-batch",
        json!({"category": "spot", "request": [item, item]}),
    )
    .unwrap();
    assert_eq!(r.intents.len(), 2);
    assert!(
        r.payload
            .starts_with(r#"{"category":"spot","request":[{"symbol":"BTCUSDT""#)
    );
    let many = Value::Array(vec![item.clone(); 11]);
    assert!(
        err(
            "/v5/order/create-batch",
            json!({"category": "spot", "request": many})
        )
        .contains("1 to 10")
    );
    let mut with_cat = item.clone();
    with_cat["category"] = json!("spot");
    assert!(
        err(
            "/v5/order/create-batch",
            json!({"category": "spot", "request": [with_cat]})
        )
        .contains("once")
    );
}

#[test]
fn cancels_amends_and_cancel_all() {
    let r = post(
        "/v5/order/cancel",
        json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a-1"}),
    )
    .unwrap();
    assert_eq!(
        r.intents,
        vec![Intent::Cancel {
            symbol: "BTC-PERP".into(),
            order: OrderRef::Cloid("a-1".into())
        }]
    );
    let r = post(
        "/v5/order/amend",
        json!({"category": "linear", "symbol": "BTCUSDT", "orderId": "c6f055d9-7f21-4079-913d-e6523a9cfffa", "qty": "0.02", "price": "30100"}),
    )
    .unwrap();
    assert_eq!(r.intents.len(), 2, "judged as a buy and as a sell");
    assert!(
        err(
            "/v5/order/amend",
            json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a", "price": "1"})
        )
        .contains("qty")
    );
    let r = post(
        "/v5/order/cancel-all",
        json!({"category": "linear", "symbol": "BTCUSDT"}),
    )
    .unwrap();
    assert!(
        matches!(&r.intents[0], Intent::Cancel { order: OrderRef::Cloid(c), .. } if c == ALL_ORDERS)
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let base = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "1", "price": "1"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        err("/v5/order/create", b)
    };
    assert!(with("qty", json!("1E2")).contains("exponent"));
    assert!(with("qty", json!(1)).contains("string"));
    assert!(with("price", json!("1.00000000000000001")).contains("decimals"));
    assert!(with("takeProfit", json!("2")).contains("unknown field"));
    assert!(with("symbol", json!("ETHUSDT")).contains("instruments"));
    assert!(with("category", json!("inverse")).contains("linear"));
    assert!(with("isLeverage", json!(1)).contains("borrow"));
    assert!(err("/v5/order/create", json!([base])).contains("object"));
    for path in [
        "/v5/order/Create",
        "/v5//order/create",
        "/v5/order/../order/create",
        "/v5/order/cre%61te",
    ] {
        assert!(post(path, base.clone()).is_err(), "{path}");
    }
    let r = parse(
        &cfg(),
        "GET",
        "/v5/order/realtime",
        Some(&json!({"symbol": "BTCUSDT", "category": "linear"})),
        Some(&json!(10000)),
    )
    .unwrap();
    assert_eq!(r.payload, "category=linear&symbol=BTCUSDT");
    assert!(
        parse(
            &cfg(),
            "GET",
            "/v5/order/realtime",
            None,
            Some(&json!(10001))
        )
        .is_err()
    );
}
