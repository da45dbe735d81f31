//! Request parsing (`protocol::parse_request`): the JSON envelope of every
//! frame a bot sends.
//!
//! Asserts: no input panics; an accepted request, written back as JSON and
//! parsed again, gives the same request (the envelope loses nothing and
//! invents nothing); a refusal can always be turned into an error response
//! that is valid JSON, and echoes only an id the payload really carried.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tradeward::protocol::{err_response, ok_response, parse_request};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(req) => {
            let mut obj = Map::new();
            obj.insert("id".into(), Value::from(req.id));
            obj.insert("op".into(), Value::String(req.op.clone()));
            obj.insert("params".into(), Value::Object(req.params.clone()));
            let text = serde_json::to_vec(&Value::Object(obj)).unwrap();
            let again = parse_request(&text).expect("a re-encoded request parses");
            assert_eq!(again, req);
            let reply = ok_response(req.id, Value::Null);
            assert_eq!(reply["id"], Value::from(req.id));
        }
        Err((id, err)) => {
            let reply = err_response(id, &err);
            let text = serde_json::to_string(&reply).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, reply);
            if let Some(id) = id {
                // The id echoed must be one the payload spelled out.
                let text = std::str::from_utf8(data).expect("an id implies UTF-8");
                assert!(
                    text.contains(&id.to_string()),
                    "echoed id {id} not in the payload"
                );
            }
        }
    }
});
