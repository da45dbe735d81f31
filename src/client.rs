//! A small blocking client for the agent's socket, used by
//! `tradeward sign`, by scripts and by the integration tests. It speaks the
//! protocol in docs/protocol.md and nothing more; several requests may be
//! sent before their answers are read (`send` / `recv`). With
//! [`Client::with_reconnect`], `call` survives an agent restart (see
//! [`Reconnect`] for what is sent again and what is reported lost).

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
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
    /// The request was written whole but the connection closed before its
    /// answer came (the agent restarted or was killed). It was not sent
    /// again: the agent may have decided it. Nothing it signed reached the
    /// bot, so with agent-assigned nonces there is nothing the bot could
    /// post; the journal says whether it was decided.
    #[error(
        "the answer to {op} (request {id}) was lost: {cause}; not sent again (the agent may have decided it; no signature reached this client)"
    )]
    AnswerLost {
        op: String,
        id: u64,
        cause: std::io::Error,
    },
    /// Reconnecting gave up: no agent answered within the policy's time.
    #[error("no agent at {path} within {waited_ms} ms: {last}")]
    AgentUnavailable {
        path: String,
        waited_ms: u64,
        last: String,
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

    /// An answer that says the agent did not process the request (it was
    /// stopping, or at its connection limit): safe to send again.
    fn not_processed(&self) -> bool {
        matches!(self.code(), Some("shutting_down" | "too_many_connections"))
    }
}

/// How [`Client::call`] reconnects after the agent restarts or the
/// connection drops: exponential backoff from `initial` up to `max_delay`
/// between attempts, giving up after `give_up_after`.
///
/// A request that was never written whole, or that the agent answered as
/// not processed (`shutting_down`, `too_many_connections`), is sent again on
/// the new connection. A request written whole whose answer was lost is
/// not: it comes back as [`ClientError::AnswerLost`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    pub initial: Duration,
    pub max_delay: Duration,
    pub give_up_after: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            initial: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
            give_up_after: Duration::from_secs(30),
        }
    }
}

/// One attempt's failure, by whether the request reached the agent whole.
enum Failure {
    NotSent(ClientError),
    Sent(ClientError),
}

pub struct Client {
    path: PathBuf,
    /// `None` after a connection was lost, until the next call reconnects.
    stream: Option<UnixStream>,
    next_id: u64,
    /// Kept for later connections (a `Cell` so that setting it takes
    /// `&self`, as it always has).
    timeout: std::cell::Cell<Option<Duration>>,
    reconnect: Option<Reconnect>,
}

fn connect_to(path: &Path) -> std::io::Result<UnixStream> {
    UnixStream::connect(path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot connect to {}: {e}", path.display()),
        )
    })
}

impl Client {
    /// Connect once; a lost connection stays lost (see
    /// [`Client::with_reconnect`]).
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = connect_to(path)?;
        Ok(Client {
            path: path.to_path_buf(),
            stream: Some(stream),
            next_id: 1,
            timeout: std::cell::Cell::new(None),
            reconnect: None,
        })
    }

    /// Reconnect as `policy` says when the connection is lost (off by
    /// default, so a script sees a restart as an error).
    pub fn with_reconnect(mut self, policy: Reconnect) -> Client {
        self.reconnect = Some(policy);
        self
    }

    /// Read and write timeouts, for this connection and any later one.
    pub fn set_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.timeout.set(t);
        if let Some(s) = &self.stream {
            s.set_read_timeout(t)?;
            s.set_write_timeout(t)?;
        }
        Ok(())
    }

    fn stream(&mut self) -> std::io::Result<&mut UnixStream> {
        if self.stream.is_none() {
            let s = connect_to(&self.path)?;
            s.set_read_timeout(self.timeout.get())?;
            s.set_write_timeout(self.timeout.get())?;
            self.stream = Some(s);
        }
        Ok(self.stream.as_mut().expect("just connected"))
    }

    /// Send raw bytes as one frame (tests use this for malformed input).
    pub fn send_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        crate::frame::write(self.stream()?, payload)
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
        let buf = match crate::frame::read(self.stream()?, MAX_RESPONSE)? {
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

    /// Send a request and wait for its answer, reconnecting as the
    /// [`Reconnect`] policy says if one is set.
    pub fn call(&mut self, op: &str, params: Value) -> Result<Value, ClientError> {
        let Some(policy) = self.reconnect.clone() else {
            return match self.call_once(op, params) {
                Ok(v) => Ok(v),
                Err(Failure::NotSent(e) | Failure::Sent(e)) => Err(e),
            };
        };
        let started = std::time::Instant::now();
        let mut delay = policy.initial;
        loop {
            let last =
                match self.call_once(op, params.clone()) {
                    Ok(v) => return Ok(v),
                    Err(Failure::Sent(e)) if e.not_processed() => e,
                    Err(Failure::Sent(ClientError::Io(cause))) => {
                        self.stream = None;
                        return Err(ClientError::AnswerLost {
                            op: op.to_string(),
                            id: self.next_id - 1,
                            cause,
                        });
                    }
                    Err(Failure::Sent(e)) => return Err(e),
                    Err(Failure::NotSent(
                        e @ (ClientError::Io(_) | ClientError::Remote { .. }),
                    )) if e.code().is_none() || e.not_processed() => e,
                    Err(Failure::NotSent(e)) => return Err(e),
                };
            self.stream = None;
            if started.elapsed() + delay > policy.give_up_after {
                return Err(ClientError::AgentUnavailable {
                    path: self.path.display().to_string(),
                    waited_ms: started.elapsed().as_millis() as u64,
                    last: last.to_string(),
                });
            }
            tracing::debug!(op, error = %last, delay_ms = delay.as_millis() as u64, "reconnecting to the agent");
            std::thread::sleep(delay);
            delay = (delay * 2).min(policy.max_delay);
        }
    }

    /// One attempt on the current connection (made now if there is none).
    fn call_once(&mut self, op: &str, params: Value) -> Result<Value, Failure> {
        let id = match self.send(op, params) {
            Ok(id) => id,
            // The agent may have refused the connection (unknown peer, at
            // its limit) and closed it before reading: its error frame is
            // the answer worth showing, not the broken pipe.
            Err(e) => {
                return match self.stream.is_some().then(|| self.recv()) {
                    Some(Ok(v)) if v.get("ok") == Some(&Value::Bool(false)) => {
                        result_of(v).map_err(Failure::NotSent)
                    }
                    _ => Err(Failure::NotSent(e.into())),
                };
            }
        };
        let resp = self.recv().map_err(Failure::Sent)?;
        // A connection-level refusal carries no id.
        if resp.get("id").is_none_or(Value::is_null) && resp.get("ok") == Some(&Value::Bool(false))
        {
            return result_of(resp).map_err(Failure::Sent);
        }
        if resp.get("id").and_then(Value::as_u64) != Some(id) {
            return Err(Failure::Sent(ClientError::Protocol(format!(
                "response {resp} does not answer request {id}"
            ))));
        }
        result_of(resp).map_err(Failure::Sent)
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

#[cfg(test)]
mod tests {
    //! What the client does with each way a connection can end. A small
    //! socket server in a thread stands in for the agent here, because
    //! "the request arrived and the answer never came" cannot be timed with
    //! a real agent; tests/client_reconnect.rs drives the real one.

    use std::os::unix::net::UnixListener;

    use super::*;

    fn serve(
        dir: &tempfile::TempDir,
        script: impl FnOnce(UnixListener) + Send + 'static,
    ) -> PathBuf {
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || script(listener));
        path
    }

    fn answer(s: &mut UnixStream, v: Value) {
        crate::frame::write(s, v.to_string().as_bytes()).unwrap();
    }

    fn request(s: &mut UnixStream) -> Value {
        match crate::frame::read(s, 1 << 20).unwrap() {
            ReadFrame::Frame(f) => serde_json::from_slice(&f).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn quick() -> Reconnect {
        Reconnect {
            initial: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            give_up_after: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_lost_answer_is_reported_and_not_sent_again() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = serve(&dir, move |l| {
            let (mut s, _) = l.accept().unwrap();
            tx.send(request(&mut s)["op"].clone()).unwrap();
            drop(s);
            // A second request would arrive here.
            l.set_nonblocking(true).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            tx.send(json!(l.accept().is_ok())).unwrap();
        });
        let mut c = Client::connect(&path).unwrap().with_reconnect(quick());
        let e = c.call("sign", json!({})).unwrap_err();
        assert!(
            matches!(&e, ClientError::AnswerLost { op, id: 1, .. } if op == "sign"),
            "{e:?}"
        );
        assert_eq!(rx.recv().unwrap(), json!("sign"));
        assert_eq!(
            rx.recv().unwrap(),
            json!(false),
            "the request was sent again"
        );
    }

    #[test]
    fn not_processed_answers_are_sent_again_on_a_new_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = serve(&dir, |l| {
            let (mut s, _) = l.accept().unwrap();
            let r = request(&mut s);
            answer(
                &mut s,
                json!({"id": r["id"], "ok": false, "error": {"code": "shutting_down", "message": "stopping"}}),
            );
            drop(s);
            let (mut s, _) = l.accept().unwrap();
            let r = request(&mut s);
            answer(
                &mut s,
                json!({"id": r["id"], "ok": true, "result": {"op": r["op"]}}),
            );
        });
        let mut c = Client::connect(&path).unwrap().with_reconnect(quick());
        assert_eq!(c.call("ping", json!({})).unwrap(), json!({"op": "ping"}));
    }

    #[test]
    fn other_refusals_are_returned_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = serve(&dir, |l| {
            let (mut s, _) = l.accept().unwrap();
            let r = request(&mut s);
            answer(
                &mut s,
                json!({"id": r["id"], "ok": false, "error": {"code": "policy_denied", "message": "no"}}),
            );
        });
        let mut c = Client::connect(&path).unwrap().with_reconnect(quick());
        let e = c.call("sign", json!({})).unwrap_err();
        assert_eq!(e.code(), Some("policy_denied"));
    }
}
