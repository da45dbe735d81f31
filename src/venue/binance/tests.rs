//! Canonicalisation, strictness and intents of the Binance-style REST path.
//! The timestamp is pinned here (and only here): `RestRequest::query` takes
//! it as an argument; the op always passes the agent's clock.

use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;

use super::*;
use crate::order::{NewOrder, OrderRef, Side};

/// The venue documentation's published HMAC example.
const DOC_SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const DOC_QUERY: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
const DOC_SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
const DOC_TIMESTAMP: u64 = 1_499_827_319_559;

fn cfg(toml_text: &str) -> RestKeyConfig {
    let c: RestKeyConfig = toml::from_str(toml_text).unwrap();
    c.validate().unwrap();
    c
}

fn spot() -> RestKeyConfig {
    cfg("venue = \"binance\"\nmarkets = [\"spot\"]")
}

fn both() -> RestKeyConfig {
    cfg("venue = \"binance\"\nmarkets = [\"spot\", \"usdm\"]\nmax_recv_window_ms = 10000")
}

fn usdm() -> RestKeyConfig {
    cfg("venue = \"binance\"\nmarkets = [\"usdm\"]")
}

fn req(
    c: &RestKeyConfig,
    method: &str,
    path: &str,
    params: Value,
) -> Result<RestRequest, RestError> {
    parse(c, "binance", method, path, Some(&params))
}

fn hmac_hex(secret: &[u8], msg: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn doc_order() -> Value {
    json!({"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
           "quantity": "1", "price": "0.1"})
}

fn param_err(r: Result<RestRequest, RestError>) -> (String, String) {
    match r {
        Err(RestError::Param { field, reason }) => (field, reason),
        other => panic!("expected a parameter error, got {other:?}"),
    }
}

#[test]
fn published_hmac_example_is_reproduced() {
    let r = req(&spot(), "POST", "/api/v3/order", doc_order()).unwrap();
    let q = r.query(DOC_TIMESTAMP);
    assert_eq!(q, DOC_QUERY);
    let sig = hmac_hex(DOC_SECRET, &q);
    assert_eq!(sig, DOC_SIGNATURE);
    assert_eq!(hmac_signature_text(&hex::decode(&sig).unwrap()), sig);
    assert_eq!(
        signed_query(&q, &sig),
        format!("{DOC_QUERY}&signature={DOC_SIGNATURE}")
    );
    // The same order as a query string, and with its parameters in another
    // order, or with an explicit recvWindow, gives the same canonical text.
    let as_text =
        "price=0.1&quantity=1&timeInForce=GTC&type=LIMIT&side=BUY&symbol=LTCBTC&recvWindow=5000";
    let r2 = parse(
        &spot(),
        "binance",
        "POST",
        "/api/v3/order",
        Some(&json!(as_text)),
    )
    .unwrap();
    assert_eq!(r2.query(DOC_TIMESTAMP), DOC_QUERY);
    let mut with_window = doc_order();
    with_window["recvWindow"] = json!(5000);
    let r3 = req(&spot(), "POST", "/api/v3/order", with_window).unwrap();
    assert_eq!(r3.query(DOC_TIMESTAMP), DOC_QUERY);
    // And what policy judges is exactly that order.
    assert_eq!(
        r.intents,
        vec![Intent::Place(NewOrder::limit(
            "LTCBTC",
            Side::Buy,
            Decimal::ONE,
            Decimal::new(1, 1),
        ))]
    );
    assert_eq!(r.describe(), "POST /api/v3/order");
    assert!(!r.is_read_only());
}

#[test]
fn ed25519_signature_is_base64_and_percent_encoded_when_sent() {
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    let sk = SigningKey::from_bytes(&[7u8; 32]);
    let r = req(&spot(), "POST", "/api/v3/order", doc_order()).unwrap();
    let q = r.query(DOC_TIMESTAMP);
    let sig = sk.sign(q.as_bytes());
    let text = ed25519_signature_text(&sig.to_bytes());
    assert_eq!(text.len(), 88);
    assert!(text.ends_with("=="));
    let back = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .unwrap();
    let parsed = ed25519_dalek::Signature::from_slice(&back).unwrap();
    sk.verifying_key().verify(q.as_bytes(), &parsed).unwrap();
    let sent = signed_query(&q, &text);
    let tail = sent.strip_prefix(&format!("{q}&signature=")).unwrap();
    assert!(!tail.contains(['+', '/', '=']), "{tail}");
    assert!(tail.ends_with("%3D%3D"), "{tail}");
}

#[test]
fn values_are_percent_encoded_and_normalised() {
    let r = req(
        &spot(),
        "POST",
        "/api/v3/order",
        json!({"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "IOC",
               "quantity": "0.0100", "price": "65000.50", "newClientOrderId": "bot:1/a.b_c-d"}),
    )
    .unwrap();
    assert_eq!(
        r.query(1),
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=IOC&quantity=0.01&price=65000.5\
         &newClientOrderId=bot%3A1%2Fa.b_c-d&recvWindow=5000&timestamp=1"
    );
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert!(o.aggressive);
    assert_eq!(o.client_id.as_deref(), Some("bot:1/a.b_c-d"));
    // A symbol in another script is encoded as UTF-8.
    let r = req(
        &spot(),
        "DELETE",
        "/api/v3/openOrders",
        json!({"symbol": "币安人生USDT"}),
    )
    .unwrap();
    assert_eq!(
        r.query(2),
        "symbol=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9FUSDT&recvWindow=5000&timestamp=2"
    );
    assert_eq!(percent_encode("a b+c~"), "a%20b%2Bc~");
}

#[test]
fn bad_numbers_are_refused_naming_the_field() {
    for (value, why) in [
        (json!("NaN"), "not a plain decimal"),
        (json!("inf"), "not a plain decimal"),
        (json!("-1"), "negative"),
        (json!("0"), "greater than zero"),
        (json!("0.000"), "greater than zero"),
        (json!("1e3"), "exponent"),
        (json!("1E-2"), "exponent"),
        (json!("+1"), "sign"),
        (json!(" 1"), "whitespace"),
        (json!("01"), "leading zeros"),
        (json!(".5"), "both sides"),
        (json!("1."), "both sides"),
        (json!("1.2.3"), "more than one"),
        (json!("1,5"), "separators"),
        (json!(""), "empty"),
        (json!(1.5), "JSON number is not exact"),
        (json!(1), "JSON number is not exact"),
        (json!(true), "expected a string"),
        (json!(null), "expected a string"),
    ] {
        let mut p = doc_order();
        p["price"] = value.clone();
        let (field, reason) = param_err(req(&spot(), "POST", "/api/v3/order", p));
        assert_eq!(field, "price", "{value}");
        assert!(reason.contains(why), "{value}: {reason}");
    }
    let mut p = doc_order();
    p["quantity"] = json!("-0.1");
    assert_eq!(
        param_err(req(&spot(), "POST", "/api/v3/order", p)).0,
        "quantity"
    );
}

#[test]
fn strictness_names_the_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"foo": "1"}),
            "foo",
            "unknown parameter for POST /api/v3/order",
        ),
        (json!({"timestamp": 1}), "timestamp", "set by the agent"),
        (json!({"signature": "ab"}), "signature", "never carries one"),
        (
            json!({"recvWindow": 60000}),
            "recvWindow",
            "outside (0, 5000]",
        ),
        (json!({"recvWindow": 0}), "recvWindow", "greater than zero"),
        (
            json!({"recvWindow": "5000.0001"}),
            "recvWindow",
            "more than three decimals",
        ),
        (json!({"recvWindow": "-1"}), "recvWindow", "negative"),
        (json!({"recvWindow": "1e3"}), "recvWindow", "exponent"),
        (json!({"recvWindow": "NaN"}), "recvWindow", "plain decimal"),
        (json!({"recvWindow": true}), "recvWindow", "number of ms"),
        (json!({"side": "buy"}), "side", "not one of BUY, SELL"),
        (json!({"side": 1}), "side", "expected a string"),
        (
            json!({"type": "MARKET", "timeInForce": null, "price": null, "quantity": null}),
            "quantity",
            "exactly one of quantity and quoteOrderQty",
        ),
        (
            json!({"type": "MARKET", "timeInForce": null, "price": null, "quoteOrderQty": "10"}),
            "quantity",
            "exactly one of quantity and quoteOrderQty",
        ),
        (
            json!({"type": "MARKET", "timeInForce": null}),
            "price",
            "not sent with type MARKET",
        ),
        (
            json!({"quoteOrderQty": "10"}),
            "quoteOrderQty",
            "not sent with type LIMIT",
        ),
        (json!({"trailingDelta": 100}), "trailingDelta", "trailing"),
        (
            json!({"pegPriceType": "PRIMARY_PEG"}),
            "pegPriceType",
            "pegged",
        ),
        (
            json!({"timeInForce": "GTX"}),
            "timeInForce",
            "not one of GTC, IOC, FOK",
        ),
        (
            json!({"stopPrice": "0.2"}),
            "stopPrice",
            "not sent with type LIMIT",
        ),
        (
            json!({"newClientOrderId": "has space"}),
            "newClientOrderId",
            "client order id",
        ),
        (
            json!({"newClientOrderId": "x".repeat(37)}),
            "newClientOrderId",
            "client order id",
        ),
        (json!({"symbol": "ltcbtc"}), "symbol", "upper case"),
        (json!({"symbol": "LTC-BTC"}), "symbol", "not a symbol"),
        (json!({"strategyType": 5}), "strategyType", "reserved"),
        (json!({"strategyId": -1}), "strategyId", "unsigned integer"),
        (json!({"strategyId": "007"}), "strategyId", "leading zeros"),
        (
            json!({"newOrderRespType": "ALL"}),
            "newOrderRespType",
            "not one of",
        ),
    ];
    for (patch, field, why) in cases {
        let mut p = doc_order();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                p.as_object_mut().unwrap().remove(k);
            } else {
                p[k] = v.clone();
            }
        }
        let (f, reason) = param_err(req(&spot(), "POST", "/api/v3/order", p));
        assert_eq!(f, field, "{patch}: {reason}");
        assert!(reason.contains(why), "{patch}: {reason}");
    }
    // Missing required parameters.
    for name in ["symbol", "side", "type", "quantity", "price", "timeInForce"] {
        let mut p = doc_order();
        p.as_object_mut().unwrap().remove(name);
        let (f, reason) = param_err(req(&spot(), "POST", "/api/v3/order", p));
        assert_eq!(f, name);
        assert!(
            reason.contains("missing") || reason.contains("required"),
            "{reason}"
        );
    }
}

#[test]
fn query_string_form_is_parsed_strictly() {
    let c = spot();
    let p = |s: &str| parse(&c, "binance", "POST", "/api/v3/order", Some(&json!(s)));
    let base = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1";
    assert_eq!(p(base).unwrap().query(DOC_TIMESTAMP), DOC_QUERY);
    let (f, r) = param_err(p(&format!("{base}&symbol=BTCUSDT")));
    assert_eq!(f, "symbol");
    assert!(r.contains("twice"), "{r}");
    let (f, r) = param_err(p(&format!("{base}&price=0.2")));
    assert_eq!((f.as_str(), r.contains("twice")), ("price", true));
    let (_, r) = param_err(p(&format!("{base}&&x=1")));
    assert!(r.contains("empty parameter"), "{r}");
    let (_, r) = param_err(p(&format!("{base}&flag")));
    assert!(r.contains("no \"=\""), "{r}");
    let (f, r) = param_err(p(&base.replace("LTCBTC", "LTC+BTC")));
    assert_eq!(f, "symbol");
    assert!(r.contains("ambiguous"), "{r}");
    let (f, r) = param_err(p(&base.replace("LTCBTC", "LTC%2")));
    assert_eq!(f, "symbol");
    assert!(r.contains("percent escape"), "{r}");
    let (f, _) = param_err(p(&base.replace("LTCBTC", "LTC%+1")));
    assert_eq!(f, "symbol");
    let (f, _) = param_err(p(&base.replace("LTCBTC", "%FF")));
    assert_eq!(f, "symbol");
    let (f, r) = param_err(p(&format!("{base}&timestamp=1")));
    assert_eq!(f, "timestamp");
    assert!(r.contains("agent"), "{r}");
    let (f, _) = param_err(p(&format!("{base}&signature=abc")));
    assert_eq!(f, "signature");
    // An escaped value is decoded, checked, and re-encoded canonically.
    let r = p(&format!("{base}&newClientOrderId=a%3ab")).unwrap();
    assert!(
        r.query(0).contains("newClientOrderId=a%3Ab"),
        "{}",
        r.query(0)
    );
    // Params of the wrong shape.
    let e = parse(&c, "binance", "POST", "/api/v3/order", Some(&json!([1]))).unwrap_err();
    assert_eq!(e.field(), "params");
}

#[test]
fn method_path_and_venue_are_checked() {
    let c = spot();
    let e = parse(&c, "binance", "post", "/api/v3/order", None).unwrap_err();
    assert_eq!(e.field(), "method");
    for bad in [
        "api/v3/order",
        "/api/v3/order?x=1",
        "/api//order",
        "/api/../order",
        "/api/v3/ord er",
    ] {
        let e = parse(&c, "binance", "POST", bad, None).unwrap_err();
        assert_eq!(e.field(), "path", "{bad}");
    }
    let e = parse(&c, "okx", "POST", "/api/v3/order", None).unwrap_err();
    assert_eq!(e.field(), "venue");
    // Not decoded and not allowlisted; PUT endpoints cannot be allowlisted.
    let e = parse(&c, "binance", "GET", "/api/v3/account", None).unwrap_err();
    assert!(matches!(e, RestError::Endpoint(_)), "{e}");
    let e = parse(&c, "binance", "PUT", "/fapi/v1/order", None).unwrap_err();
    assert!(e.to_string().contains("only GET"), "{e}");
    // A futures endpoint on a spot-only key.
    let e = req(&c, "POST", "/fapi/v1/order", json!({})).unwrap_err();
    assert!(matches!(e, RestError::Endpoint(_)), "{e}");
    assert!(e.to_string().contains("USD-M futures"), "{e}");
    let e = req(&usdm(), "DELETE", "/api/v3/order", json!({})).unwrap_err();
    assert!(e.to_string().contains("spot"), "{e}");
}

#[test]
fn spot_order_types() {
    let c = spot();
    let order = |extra: Value| {
        let mut p = json!({"symbol": "BTCUSDT", "side": "SELL", "quantity": "2"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        req(&c, "POST", "/api/v3/order", p)
    };
    // LIMIT_MAKER: post-only, no timeInForce.
    let r = order(json!({"type": "LIMIT_MAKER", "price": "10"})).unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert!(!o.aggressive);
    let e = order(json!({"type": "LIMIT_MAKER", "price": "10", "timeInForce": "GTC"}));
    assert_eq!(param_err(e).0, "timeInForce");
    // STOP_LOSS executes at market once triggered: judged at stopPrice,
    // aggressive; a price is refused.
    let r = order(json!({"type": "STOP_LOSS", "stopPrice": "9"})).unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert_eq!(
        (o.price, o.trigger_price, o.aggressive),
        (None, Some(Decimal::from(9)), true)
    );
    assert_eq!(
        param_err(order(
            json!({"type": "STOP_LOSS", "stopPrice": "9", "price": "8"})
        ))
        .0,
        "price"
    );
    assert_eq!(
        param_err(order(json!({"type": "TAKE_PROFIT"}))).0,
        "stopPrice"
    );
    // STOP_LOSS_LIMIT: both its limit and its stop price go to policy.
    let r = order(
        json!({"type": "STOP_LOSS_LIMIT", "stopPrice": "9", "price": "8.5",
                         "timeInForce": "GTC", "icebergQty": "0.5"}),
    )
    .unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert_eq!(
        (o.price, o.trigger_price, o.aggressive),
        (Some(Decimal::new(85, 1)), Some(Decimal::from(9)), false)
    );
    assert_eq!(
        param_err(order(
            json!({"type": "STOP_LOSS_LIMIT", "price": "8.5", "timeInForce": "GTC"})
        ))
        .0,
        "stopPrice"
    );
    assert_eq!(
        param_err(order(
            json!({"type": "TAKE_PROFIT", "stopPrice": "9", "icebergQty": "1"})
        ))
        .0,
        "icebergQty"
    );
    // FOK is aggressive.
    let r = order(json!({"type": "LIMIT", "price": "10", "timeInForce": "FOK"})).unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert!(o.aggressive);
}

#[test]
fn cancels_and_cancel_replace() {
    let c = spot();
    let r = req(
        &c,
        "DELETE",
        "/api/v3/order",
        json!({"symbol": "BTCUSDT", "orderId": 42}),
    )
    .unwrap();
    assert_eq!(
        r.intents,
        vec![Intent::Cancel {
            symbol: "BTCUSDT".into(),
            order: OrderRef::Oid(42)
        }]
    );
    assert_eq!(
        r.query(3),
        "symbol=BTCUSDT&orderId=42&recvWindow=5000&timestamp=3"
    );
    let r = req(
        &c,
        "DELETE",
        "/api/v3/order",
        json!({"origClientOrderId": "q1", "symbol": "BTCUSDT", "cancelRestrictions": "ONLY_NEW"}),
    )
    .unwrap();
    assert_eq!(
        r.intents,
        vec![Intent::Cancel {
            symbol: "BTCUSDT".into(),
            order: OrderRef::Cloid("q1".into())
        }]
    );
    assert_eq!(
        r.query(3),
        "symbol=BTCUSDT&origClientOrderId=q1&cancelRestrictions=ONLY_NEW&recvWindow=5000&timestamp=3"
    );
    let (f, r) = param_err(req(
        &c,
        "DELETE",
        "/api/v3/order",
        json!({"symbol": "BTCUSDT"}),
    ));
    assert_eq!(f, "orderId");
    assert!(r.contains("origClientOrderId"), "{r}");
    // Cancel all open orders on a symbol.
    let r = req(
        &c,
        "DELETE",
        "/api/v3/openOrders",
        json!({"symbol": "ETHUSDT"}),
    )
    .unwrap();
    assert_eq!(
        r.intents,
        vec![Intent::Cancel {
            symbol: "ETHUSDT".into(),
            order: OrderRef::Cloid(ALL_ORDERS.into())
        }]
    );
    assert!(r.intents[0].reduces_risk());
    // Cancel-replace: a modify.
    let r = req(
        &c,
        "POST",
        "/api/v3/order/cancelReplace",
        json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "cancelReplaceMode": "STOP_ON_FAILURE",
               "timeInForce": "GTC", "quantity": "1", "price": "100", "cancelOrigClientOrderId": "old",
               "newClientOrderId": "new"}),
    )
    .unwrap();
    assert_eq!(
        r.query(4),
        "symbol=BTCUSDT&side=BUY&type=LIMIT&cancelReplaceMode=STOP_ON_FAILURE&timeInForce=GTC&quantity=1\
         &price=100&cancelOrigClientOrderId=old&newClientOrderId=new&recvWindow=5000&timestamp=4"
    );
    let Intent::Modify { order, new } = &r.intents[0] else {
        panic!("{:?}", r.intents)
    };
    assert_eq!(order, &OrderRef::Cloid("old".into()));
    assert_eq!(new.client_id.as_deref(), Some("new"));
    let e = req(
        &c,
        "POST",
        "/api/v3/order/cancelReplace",
        json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
               "price": "100", "cancelOrderId": 5}),
    );
    assert_eq!(param_err(e).0, "cancelReplaceMode");
}

#[test]
fn futures_orders() {
    let c = usdm();
    let r = req(
        &c,
        "POST",
        "/fapi/v1/order",
        json!({"type": "LIMIT", "symbol": "BTCUSDT", "side": "SELL", "timeInForce": "GTX",
               "quantity": "0.5", "price": "70000", "reduceOnly": true, "priceProtect": "true",
               "positionSide": "BOTH"}),
    )
    .unwrap();
    assert_eq!(
        r.query(5),
        "symbol=BTCUSDT&side=SELL&positionSide=BOTH&type=LIMIT&timeInForce=GTX&quantity=0.5&reduceOnly=true\
         &price=70000&priceProtect=TRUE&recvWindow=5000&timestamp=5"
    );
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert!(o.reduce_only && !o.aggressive);
    // Stop-market: judged at stopPrice, aggressive.
    let r = req(
        &c,
        "POST",
        "/fapi/v1/order",
        json!({"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET", "quantity": "1",
               "stopPrice": "71000", "workingType": "MARK_PRICE"}),
    )
    .unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert_eq!(
        (o.price, o.trigger_price, o.aggressive, o.reduce_only),
        (None, Some(Decimal::from(71000)), true, false)
    );
    let base = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                      "quantity": "1", "price": "10"});
    for (patch, field, why) in [
        (
            json!({"type": "MARKET", "timeInForce": null}),
            "price",
            "not sent with type MARKET",
        ),
        (json!({"type": "TRAILING_STOP_MARKET"}), "type", "trailing"),
        (json!({"callbackRate": "1"}), "callbackRate", "trailing"),
        (
            json!({"closePosition": "true"}),
            "closePosition",
            "reduceOnly",
        ),
        (
            json!({"priceMatch": "OPPONENT"}),
            "priceMatch",
            "venue choose",
        ),
        (json!({"reduceOnly": "yes"}), "reduceOnly", "not \"true\""),
        (json!({"reduceOnly": "True"}), "reduceOnly", "not \"true\""),
        (json!({"timeInForce": "GTD"}), "goodTillDate", "required"),
        (json!({"goodTillDate": 1}), "goodTillDate", "only with"),
        (
            json!({"quoteOrderQty": "1"}),
            "quoteOrderQty",
            "unknown parameter",
        ),
        (
            json!({"type": "STOP_MARKET", "stopPrice": "1", "price": null}),
            "timeInForce",
            "not sent",
        ),
    ] {
        let mut p = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                p.as_object_mut().unwrap().remove(k);
            } else {
                p[k] = v.clone();
            }
        }
        let (f, reason) = param_err(req(&c, "POST", "/fapi/v1/order", p));
        assert_eq!(f, field, "{patch}: {reason}");
        assert!(reason.contains(why), "{patch}: {reason}");
    }
    // closePosition=false is accepted (and written as sent).
    let mut p = base.clone();
    p["closePosition"] = json!(false);
    assert!(
        req(&c, "POST", "/fapi/v1/order", p)
            .unwrap()
            .query(0)
            .contains("closePosition=false")
    );
    // Cancels.
    let r = req(
        &c,
        "DELETE",
        "/fapi/v1/order",
        json!({"symbol": "BTCUSDT", "origClientOrderId": "a"}),
    )
    .unwrap();
    assert_eq!(r.intents.len(), 1);
    let r = req(
        &c,
        "DELETE",
        "/fapi/v1/allOpenOrders",
        json!({"symbol": "BTCUSDT"}),
    )
    .unwrap();
    assert!(
        matches!(&r.intents[0], Intent::Cancel { order: OrderRef::Cloid(s), .. } if s == ALL_ORDERS)
    );
}

#[test]
fn futures_batches() {
    let c = usdm();
    let orders = json!([
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.010", "price": "60000",
         "timeInForce": "GTC", "newClientOrderId": "b1"},
        {"price": "61000", "symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "IOC",
         "quantity": "1", "reduceOnly": "false"}
    ]);
    let canonical = r#"[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC","quantity":"0.01","price":"60000","newClientOrderId":"b1"},{"symbol":"ETHUSDT","side":"SELL","type":"LIMIT","timeInForce":"IOC","quantity":"1","reduceOnly":"false","price":"61000"}]"#;
    let want = format!(
        "batchOrders={}&recvWindow=5000&timestamp=6",
        percent_encode(canonical)
    );
    for form in [
        json!({"batchOrders": orders}),
        json!({"batchOrders": orders.to_string()}),
    ] {
        let r = req(&c, "POST", "/fapi/v1/batchOrders", form).unwrap();
        assert_eq!(r.query(6), want);
        assert_eq!(r.intents.len(), 2);
        assert!(matches!(&r.intents[1], Intent::Place(o) if o.aggressive && o.symbol == "ETHUSDT"));
    }
    // The same as a query string.
    let text = format!("batchOrders={}", percent_encode(&orders.to_string()));
    let r = parse(
        &c,
        "binance",
        "POST",
        "/fapi/v1/batchOrders",
        Some(&json!(text)),
    )
    .unwrap();
    assert_eq!(r.query(6), want);
    // Errors name the order and field.
    let mut bad = orders.clone();
    bad[1]["price"] = json!("1e5");
    let (f, _) = param_err(req(
        &c,
        "POST",
        "/fapi/v1/batchOrders",
        json!({"batchOrders": bad}),
    ));
    assert_eq!(f, "batchOrders[1].price");
    let mut bad = orders.clone();
    bad[0]["timestamp"] = json!(1);
    let (f, r) = param_err(req(
        &c,
        "POST",
        "/fapi/v1/batchOrders",
        json!({"batchOrders": bad}),
    ));
    assert_eq!(f, "batchOrders[0].timestamp");
    assert!(r.contains("unknown parameter"), "{r}");
    let dup = r#"[{"symbol":"BTCUSDT","symbol":"ETHUSDT"}]"#;
    let (f, r) = param_err(req(
        &c,
        "POST",
        "/fapi/v1/batchOrders",
        json!({"batchOrders": dup}),
    ));
    assert_eq!(f, "batchOrders");
    assert!(r.contains("duplicate"), "{r}");
    let six: Vec<Value> = (0..6).map(|_| orders[0].clone()).collect();
    let (_, r) = param_err(req(
        &c,
        "POST",
        "/fapi/v1/batchOrders",
        json!({"batchOrders": six}),
    ));
    assert!(r.contains("at most 5"), "{r}");
    let (f, _) = param_err(req(
        &c,
        "POST",
        "/fapi/v1/batchOrders",
        json!({"batchOrders": []}),
    ));
    assert_eq!(f, "batchOrders");
    let (f, _) = param_err(req(
        &c,
        "POST",
        "/fapi/v1/batchOrders",
        json!({"batchOrders": [1]}),
    ));
    assert_eq!(f, "batchOrders[0]");
    let (f, _) = param_err(req(&c, "POST", "/fapi/v1/batchOrders", json!({})));
    assert_eq!(f, "batchOrders");
    // Batch cancels.
    let r = req(
        &c,
        "DELETE",
        "/fapi/v1/batchOrders",
        json!({"symbol": "BTCUSDT", "orderIdList": [1, 2]}),
    )
    .unwrap();
    assert_eq!(
        r.query(7),
        "symbol=BTCUSDT&orderIdList=%5B1%2C2%5D&recvWindow=5000&timestamp=7"
    );
    assert_eq!(r.intents.len(), 2);
    let r = req(
        &c,
        "DELETE",
        "/fapi/v1/batchOrders",
        json!({"symbol": "BTCUSDT", "origClientOrderIdList": "[\"a\",\"b\"]"}),
    )
    .unwrap();
    assert_eq!(
        r.intents[1],
        Intent::Cancel {
            symbol: "BTCUSDT".into(),
            order: OrderRef::Cloid("b".into())
        }
    );
    let (f, _) = param_err(req(
        &c,
        "DELETE",
        "/fapi/v1/batchOrders",
        json!({"symbol": "BTCUSDT", "orderIdList": [1], "origClientOrderIdList": ["a"]}),
    ));
    assert_eq!(f, "origClientOrderIdList");
    let (f, _) = param_err(req(
        &c,
        "DELETE",
        "/fapi/v1/batchOrders",
        json!({"symbol": "BTCUSDT", "orderIdList": [-1]}),
    ));
    assert_eq!(f, "orderIdList[0]");
}

#[test]
fn transfers_are_decoded() {
    let c = spot();
    let r = req(
        &c,
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        json!({"coin": "USDT", "address": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4", "amount": "100.50",
               "network": "ETH"}),
    )
    .unwrap();
    assert_eq!(
        r.intents,
        vec![Intent::Transfer {
            kind: "capital/withdraw/apply".into(),
            destination: "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4".into(),
            asset: "USDT".into(),
            amount: Decimal::new(1005, 1),
        }]
    );
    assert_eq!(
        r.query(8),
        "coin=USDT&network=ETH&address=0x5B38Da6a701c568545dCfcB03FcB875f56beddC4&amount=100.5\
         &recvWindow=5000&timestamp=8"
    );
    // The tag is part of the destination.
    let r = req(
        &c,
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        json!({"coin": "XRP", "address": "rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh", "addressTag": "123", "amount": "5"}),
    )
    .unwrap();
    assert!(
        matches!(&r.intents[0], Intent::Transfer { destination, .. } if destination == "rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh:123")
    );
    let (f, _) = param_err(req(
        &c,
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        json!({"coin": "USDT", "address": "0xabc", "amount": "0"}),
    ));
    assert_eq!(f, "amount");
    let (f, _) = param_err(req(
        &c,
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        json!({"coin": "USDT", "address": "0x abc", "amount": "1"}),
    ));
    assert_eq!(f, "address");
    let r = req(
        &c,
        "POST",
        "/sapi/v1/asset/transfer",
        json!({"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "10"}),
    )
    .unwrap();
    assert!(
        matches!(&r.intents[0], Intent::Transfer { kind, destination, .. } if kind == "asset/transfer" && destination == "MAIN_UMFUTURE")
    );
    let r = req(
        &c,
        "POST",
        "/sapi/v1/futures/transfer",
        json!({"asset": "USDT", "amount": "10", "type": 2}),
    )
    .unwrap();
    assert!(
        matches!(&r.intents[0], Intent::Transfer { destination, .. } if destination == "UMFUTURE_MAIN")
    );
    let (f, _) = param_err(req(
        &c,
        "POST",
        "/sapi/v1/futures/transfer",
        json!({"asset": "USDT", "amount": "10", "type": 5}),
    ));
    assert_eq!(f, "type");
    // Wallet endpoints do not depend on the key's markets.
    assert!(
        req(
            &usdm(),
            "POST",
            "/sapi/v1/futures/transfer",
            json!({"asset": "USDT", "amount": "1", "type": 1})
        )
        .is_ok()
    );
}

#[test]
fn a_key_for_both_markets_judges_a_shared_order_on_both() {
    let c = both();
    let r = req(&c, "POST", "/api/v3/order", doc_order()).unwrap();
    assert_eq!(r.intents.len(), 2, "{:?}", r.intents);
    assert_eq!(r.intents[0], r.intents[1]);
    let r = req(&c, "POST", "/fapi/v1/order", doc_order()).unwrap();
    assert_eq!(r.intents.len(), 2);
    // An order only one market accepts is judged once.
    let mut p = doc_order();
    p["type"] = json!("LIMIT_MAKER");
    p.as_object_mut().unwrap().remove("timeInForce");
    assert_eq!(
        req(&c, "POST", "/api/v3/order", p).unwrap().intents.len(),
        1
    );
    let mut p = doc_order();
    p["reduceOnly"] = json!("true");
    assert_eq!(
        req(&c, "POST", "/fapi/v1/order", p).unwrap().intents.len(),
        1
    );
    // The ceiling of this key's recvWindow.
    let mut p = doc_order();
    p["recvWindow"] = json!("10000");
    assert_eq!(
        req(&c, "POST", "/api/v3/order", p).unwrap().recv_window_ms,
        Decimal::from(10000)
    );
    // Up to three decimals, as a string or a JSON number; sent as given.
    for (w, text) in [(json!("5000.5"), "5000.5"), (json!(2500.125), "2500.125")] {
        let mut p = doc_order();
        p["recvWindow"] = w;
        let r = req(&c, "POST", "/api/v3/order", p).unwrap();
        assert!(
            r.query(1).contains(&format!("&recvWindow={text}&")),
            "{}",
            r.query(1)
        );
    }
}

#[test]
fn read_only_allowlist() {
    let c = cfg(r#"
venue = "binance"
markets = []
recv_window_ms = 3000

[[read_only]]
method = "GET"
path = "/api/v3/account"
params = ["omitZeroBalances"]

[[read_only]]
method = "GET"
path = "/api/v3/openOrders"
params = ["symbol"]
"#);
    let r = req(
        &c,
        "GET",
        "/api/v3/account",
        json!({"omitZeroBalances": true}),
    )
    .unwrap();
    assert!(r.is_read_only() && r.intents.is_empty());
    assert_eq!(
        r.query(9),
        "omitZeroBalances=true&recvWindow=3000&timestamp=9"
    );
    let r = parse(&c, "binance", "GET", "/api/v3/account", None).unwrap();
    assert_eq!(r.query(9), "recvWindow=3000&timestamp=9");
    let (f, reason) = param_err(req(
        &c,
        "GET",
        "/api/v3/account",
        json!({"symbol": "BTCUSDT"}),
    ));
    assert_eq!(f, "symbol");
    assert!(reason.contains("omitZeroBalances"), "{reason}");
    let (f, _) = param_err(req(&c, "GET", "/api/v3/account", json!({"timestamp": 1})));
    assert_eq!(f, "timestamp");
    let (f, _) = param_err(req(
        &c,
        "GET",
        "/api/v3/account",
        json!({"omitZeroBalances": 1.5}),
    ));
    assert_eq!(f, "omitZeroBalances");
    let (f, _) = param_err(req(
        &c,
        "GET",
        "/api/v3/account",
        json!({"omitZeroBalances": [1]}),
    ));
    assert_eq!(f, "omitZeroBalances");
    // DELETE on the same path is the decoded cancel-all, for markets the
    // key is enabled for only.
    assert!(
        req(
            &c,
            "DELETE",
            "/api/v3/openOrders",
            json!({"symbol": "BTCUSDT"})
        )
        .is_err()
    );
    let r = req(
        &c,
        "GET",
        "/api/v3/openOrders",
        json!({"symbol": "BTCUSDT"}),
    )
    .unwrap();
    assert!(r.is_read_only());
    // Not listed.
    assert!(matches!(
        parse(
            &c,
            "binance",
            "GET",
            "/sapi/v1/capital/withdraw/history",
            None
        ),
        Err(RestError::Endpoint(_))
    ));
}

#[test]
fn config_validation() {
    let bad = |text: &str| {
        toml::from_str::<RestKeyConfig>(text)
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate())
            .unwrap_err()
    };
    let head = "venue = \"binance\"\nmarkets = [\"spot\"]\n";
    assert!(bad("venue = \"kraken\"\nmarkets = []").contains("unknown variant"));
    assert!(bad("venue = \"binance\"").contains("missing field `markets`"));
    assert!(bad(&format!("{head}recv_window = 1")).contains("unknown field"));
    assert!(bad("venue = \"binance\"\nmarkets = [\"spot\", \"spot\"]").contains("twice"));
    assert!(bad(&format!("{head}recv_window_ms = 0")).contains("recv_window_ms"));
    assert!(bad(&format!("{head}recv_window_ms = 60001")).contains("recv_window_ms"));
    assert!(
        bad(&format!(
            "{head}recv_window_ms = 6000\nmax_recv_window_ms = 5000"
        ))
        .contains("max_recv_window_ms")
    );
    assert!(bad(&format!("{head}max_recv_window_ms = 70000")).contains("max_recv_window_ms"));
    let entry = |body: &str| format!("{head}[[read_only]]\n{body}\n");
    assert!(bad(&entry("method = \"POST\"\npath = \"/sapi/v1/x\"")).contains("only GET"));
    assert!(bad(&entry("method = \"GET\"\npath = \"sapi\"")).contains("read_only[0].path"));
    assert!(
        bad(&entry(
            "method = \"GET\"\npath = \"/x\"\nparams = [\"amount\"]"
        ))
        .contains("replayed")
    );
    assert!(
        bad(&entry(
            "method = \"GET\"\npath = \"/x\"\nparams = [\"side\"]"
        ))
        .contains("replayed")
    );
    assert!(
        bad(&entry(
            "method = \"GET\"\npath = \"/x\"\nparams = [\"timestamp\"]"
        ))
        .contains("set by the agent")
    );
    assert!(
        bad(&entry(
            "method = \"GET\"\npath = \"/x\"\nparams = [\"recvWindow\"]"
        ))
        .contains("always allowed")
    );
    assert!(
        bad(&entry(
            "method = \"GET\"\npath = \"/x\"\nparams = [\"a\", \"a\"]"
        ))
        .contains("twice")
    );
    assert!(
        bad(&entry(
            "method = \"GET\"\npath = \"/x\"\nparams = [\"a-b\"]"
        ))
        .contains("parameter name")
    );
    assert!(bad(&entry("method = \"GET\"\npath = \"/x\"\nextra = 1")).contains("unknown field"));
    let twice = format!(
        "{head}[[read_only]]\nmethod = \"GET\"\npath = \"/x\"\n[[read_only]]\nmethod = \"GET\"\npath = \"/x\"\n"
    );
    assert!(bad(&twice).contains("listed twice"));
    let c = cfg(head);
    assert_eq!(c.max_recv_window(), DEFAULT_RECV_WINDOW_MS);
}

/// A read may not carry the value-moving parameters; without them, no
/// request to a decoded endpoint that places an order or moves funds is
/// complete, so a signed read cannot be replayed as one.
#[test]
fn no_order_or_transfer_is_complete_without_a_value_moving_parameter() {
    let c = both();
    let samples = [
        ("POST", "/api/v3/order", doc_order()),
        (
            "POST",
            "/api/v3/order/cancelReplace",
            json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "cancelReplaceMode": "ALLOW_FAILURE",
                   "timeInForce": "GTC", "quantity": "1", "price": "1", "cancelOrderId": 1}),
        ),
        ("POST", "/fapi/v1/order", doc_order()),
        (
            "POST",
            "/fapi/v1/batchOrders",
            json!({"batchOrders": [doc_order()]}),
        ),
        (
            "POST",
            "/sapi/v1/capital/withdraw/apply",
            json!({"coin": "BTC", "address": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", "amount": "1"}),
        ),
        (
            "POST",
            "/sapi/v1/asset/transfer",
            json!({"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "1"}),
        ),
        (
            "POST",
            "/sapi/v1/futures/transfer",
            json!({"type": 1, "asset": "USDT", "amount": "1"}),
        ),
    ];
    for (m, path, params) in samples {
        let full = req(&c, m, path, params.clone()).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!full.intents.is_empty());
        let mut stripped = params.clone();
        for name in VALUE_MOVING_PARAMS {
            stripped.as_object_mut().unwrap().remove(*name);
        }
        assert!(req(&c, m, path, stripped).is_err(), "{path}");
    }
    // Every decoded endpoint is listed once.
    for (i, (m, p, e)) in ENDPOINTS.iter().enumerate() {
        assert_eq!(Endpoint::find(*m, p), Some(*e));
        assert!(!ENDPOINTS[..i].iter().any(|(_, _, o)| o == e));
        assert!(check_path(p).is_ok());
    }
}

#[test]
fn market_orders_by_quantity_and_by_quote_amount() {
    let c = spot();
    let market = |extra: Value| {
        let mut p = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        req(&c, "POST", "/api/v3/order", p)
    };
    let r = market(json!({"quantity": "0.5"})).unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert!(o.is_market() && o.aggressive);
    assert_eq!((o.size, o.quote_size), (Some(Decimal::new(5, 1)), None));
    assert_eq!(
        r.query(7),
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.5&recvWindow=5000&timestamp=7"
    );
    let r = market(json!({"quoteOrderQty": "100"})).unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert_eq!((o.size, o.quote_size), (None, Some(Decimal::from(100))));
    assert_eq!(o.notional(), Some(Decimal::from(100)));
    assert_eq!(
        r.query(7),
        "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=100&recvWindow=5000&timestamp=7"
    );
    for bad in [
        json!({"quoteOrderQty": "-1"}),
        json!({"quoteOrderQty": "NaN"}),
        json!({"quoteOrderQty": "1e9"}),
        json!({"quantity": "0"}),
    ] {
        assert!(market(bad.clone()).is_err(), "{bad}");
    }
    // Futures MARKET: by quantity only.
    let f = both();
    let r = req(
        &f,
        "POST",
        "/fapi/v1/order",
        json!({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "2"}),
    )
    .unwrap();
    let Intent::Place(o) = &r.intents[0] else {
        panic!()
    };
    assert!(o.is_market() && o.size == Some(Decimal::from(2)));
}
