//! `ping`: a liveness check that touches nothing but the socket.

use serde_json::{Map, Value, json};

use crate::authorize::Refusal;
use crate::protocol::Params;

pub fn run(params: &Map<String, Value>) -> Result<Value, Refusal> {
    Params::new(params, &[])?;
    Ok(json!({"pong": true}))
}
