//! A small blocking client for the agent's socket, used by
//! `tradeward sign`, by scripts and by the integration tests. It speaks the
//! protocol in docs/protocol.md and nothing more; several requests may be
//! sent before their answers are read (`send` / `recv`).

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::frame::ReadFrame;

/// Environment variable naming the agent's socket (like SSH_AUTH_SOCK).
pub const SOCK_ENV: &str = "TRADEWARD_SOCK";

/// The largest response the client reads; a bigger length prefix is a
/// protocol error, not an allocation.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("{code}: {message}")]
    Remote {
        code: String,
        message: String,
        retryable: bool,
        retry_after_ms: Option<u64>,
    },
}

impl ClientError {
    /// The agent's error code, if the agent answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Remote { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub struct Client {
    stream: UnixStream,
    next_id: u64,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot connect to {}: {e}", path.display()),
            )
        })?;
        Ok(Client { stream, next_id: 1 })
    }

    pub fn set_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.stream.set_read_timeout(t)?;
        self.stream.set_write_timeout(t)
    }

    /// Send raw bytes as one frame (tests use this for malformed input).
    pub fn send_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        crate::frame::write(&mut self.stream, payload)
    }

    /// Send a request without waiting; returns its id.
    pub fn send(&mut self, op: &str, params: Value) -> std::io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"id": id, "op": op, "params": params}).to_string();
        self.send_frame(body.as_bytes())?;
        Ok(id)
    }

    /// Read the next response frame, whatever request it answers.
    pub fn recv(&mut self) -> Result<Value, ClientError> {
        let buf = match crate::frame::read(&mut self.stream, MAX_RESPONSE)? {
            ReadFrame::Frame(buf) => buf,
            ReadFrame::Closed => {
                return Err(ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the agent closed the connection",
                )));
            }
            ReadFrame::TooLarge(len) => {
                return Err(ClientError::Protocol(format!("response of {len} bytes")));
            }
        };
        serde_json::from_slice(&buf)
            .map_err(|e| ClientError::Protocol(format!("bad JSON from agent: {e}")))
    }

    /// Send a request and wait for its answer.
    pub fn call(&mut self, op: &str, params: Value) -> Result<Value, ClientError> {
        let id = match self.send(op, params) {
            Ok(id) => id,
            // The agent may have refused the connection (unknown peer, at
            // its limit) and closed it before reading: its error frame is
            // the answer worth showing, not the broken pipe.
            Err(e) => {
                return match self.recv() {
                    Ok(v) if v.get("ok") == Some(&Value::Bool(false)) => result_of(v),
                    _ => Err(e.into()),
                };
            }
        };
        let resp = self.recv()?;
        // A connection-level refusal carries no id.
        if resp.get("id").is_none_or(Value::is_null) && resp.get("ok") == Some(&Value::Bool(false))
        {
            return result_of(resp);
        }
        if resp.get("id").and_then(Value::as_u64) != Some(id) {
            return Err(ClientError::Protocol(format!(
                "response {resp} does not answer request {id}"
            )));
        }
        result_of(resp)
    }

    pub fn hello(&mut self) -> Result<Value, ClientError> {
        self.call("hello", json!({"client": "tradeward-rust"}))
    }

    pub fn list_keys(&mut self) -> Result<Vec<Value>, ClientError> {
        let r = self.call("list_keys", json!({}))?;
        r.get("keys")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| ClientError::Protocol("list_keys result has no keys".into()))
    }

    /// Sign a message (hex-encoded on the wire).
    pub fn sign_message(&mut self, key: &str, message: &[u8]) -> Result<Value, ClientError> {
        self.call("sign", json!({"key": key, "message": hex::encode(message)}))
    }

    /// Sign a 32-byte digest.
    pub fn sign_digest(&mut self, key: &str, digest: &[u8; 32]) -> Result<Value, ClientError> {
        self.call("sign", json!({"key": key, "digest": hex::encode(digest)}))
    }
}

/// Turn a response into its result or a `Remote` error.
pub fn result_of(resp: Value) -> Result<Value, ClientError> {
    match resp.get("ok").and_then(Value::as_bool) {
        Some(true) => Ok(resp.get("result").cloned().unwrap_or(Value::Null)),
        Some(false) => {
            let e = resp.get("error").cloned().unwrap_or(Value::Null);
            Err(ClientError::Remote {
                code: e
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                message: e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                retryable: e.get("retryable").and_then(Value::as_bool).unwrap_or(false),
                retry_after_ms: e.get("retry_after_ms").and_then(Value::as_u64),
            })
        }
        None => Err(ClientError::Protocol(format!(
            "response without ok: {resp}"
        ))),
    }
}

/// Decode a `0x`-prefixed hex field of a result.
pub fn hex_field(v: &Value, name: &str) -> Result<Vec<u8>, ClientError> {
    let s = v
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ClientError::Protocol(format!("result has no {name}")))?;
    crate::config::parse_hex(s).map_err(ClientError::Protocol)
}
