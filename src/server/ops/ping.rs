//! `ping`: a liveness check that touches nothing but the socket.

use serde_json::{Map, Value, json};

use crate::protocol::{Params, ProtoError};

pub fn run(params: &Map<String, Value>) -> Result<Value, ProtoError> {
    Params::new(params, &[])?;
    Ok(json!({"pong": true}))
}
