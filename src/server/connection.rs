//! One client connection: identify the peer, then read frames and answer
//! them. Requests on one connection run concurrently (a bot may pipeline);
//! responses are written by a single writer task in completion order, each
//! carrying its request's id.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::AgentState;
use super::ops;
use super::peer::Identity;
use crate::frame::{ReadFrame, read_async as read_frame, write_async as write_frame};
use crate::journal::Event;
use crate::protocol::{ErrorCode, ProtoError, err_response, parse_request};

/// Serve one connection to the end. `slot` is the connection-limit permit;
/// `None` means the agent is full and the client only gets an error.
pub async fn run(
    stream: UnixStream,
    state: Arc<AgentState>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    slot: Option<OwnedSemaphorePermit>,
    role: super::Role,
) {
    let (rd, mut wr) = stream.into_split();
    if slot.is_none() {
        tracing::warn!("connection refused: at max_connections");
        refuse(
            &mut wr,
            ErrorCode::TooManyConnections,
            "the agent is at its connection limit; retry later".into(),
        )
        .await;
        return;
    }
    let cred = match rd.as_ref().peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read peer credentials");
            return;
        }
    };
    let resolved = match role {
        super::Role::Bot => Identity::resolve(&state.config, cred.uid(), cred.gid(), cred.pid()),
        super::Role::Operator => {
            Identity::operator(&state.config, cred.uid(), cred.gid(), cred.pid())
        }
    };
    let Some(identity) = resolved else {
        tracing::warn!(uid = cred.uid(), gid = cred.gid(), pid = ?cred.pid(), "connection from unknown peer refused");
        state
            .journal
            .append_nowait(Event::PeerRefused {
                uid: cred.uid(),
                gid: cred.gid(),
                pid: cred.pid(),
                reason: match role {
                    super::Role::Bot => "no identity for this uid/gid".into(),
                    super::Role::Operator => "not an operator uid (admin socket)".into(),
                },
            })
            .await;
        refuse(
            &mut wr,
            ErrorCode::UnknownPeer,
            format!(
                "uid {} / gid {} is not mapped to an identity",
                cred.uid(),
                cred.gid()
            ),
        )
        .await;
        return;
    };
    // One identity may not take every connection slot.
    let Some(_held) = IdentitySlot::take(&state, &identity.name) else {
        let cap = state.config.agent.max_connections_per_identity;
        tracing::warn!(identity = %identity.name, cap, "connection refused: identity at its connection limit");
        refuse(
            &mut wr,
            ErrorCode::TooManyConnections,
            format!(
                "identity {:?} already holds {cap} connections; retry later",
                identity.name
            ),
        )
        .await;
        return;
    };
    let identity = Arc::new(identity);
    let mut rd = BufReader::with_capacity(16 * 1024, rd);
    tracing::debug!(identity = %identity.name, uid = identity.uid, pid = ?identity.pid, "connected");

    let cap = state.config.agent.max_in_flight_per_connection;
    let (tx, mut rx) = mpsc::channel::<Value>(cap + 8);
    // Cancelled when the client stops taking its responses (or is gone):
    // the reader then stops too and the connection closes.
    let gone = CancellationToken::new();
    let writer_gone = gone.clone();
    let write_timeout = Duration::from_millis(state.config.agent.write_timeout_ms);
    let who = identity.name.clone();
    let writer = tokio::spawn(async move {
        while let Some(v) = rx.recv().await {
            let written = tokio::time::timeout(
                write_timeout,
                write_frame(&mut wr, v.to_string().as_bytes()),
            )
            .await;
            if !matches!(written, Ok(Ok(()))) {
                if written.is_err() {
                    tracing::info!(identity = %who, "client does not read its responses; closing connection");
                }
                writer_gone.cancel();
                // Drain silently so senders never block.
                while rx.recv().await.is_some() {}
                return;
            }
        }
    });
    let in_flight = Arc::new(Semaphore::new(cap));
    let max_frame = state.config.agent.max_frame_bytes;
    let mut stopping = false;
    loop {
        // Wait for the next frame to start. Only this wait races against
        // shutdown (filling a buffer is cancel-safe); once a frame has
        // started it is read whole, so a shutdown never splits a request.
        let idle = state.config.agent.idle_timeout_ms;
        let wait = async {
            if idle == 0 {
                Some(rd.fill_buf().await.map(|b| !b.is_empty()))
            } else {
                tokio::time::timeout(Duration::from_millis(idle), rd.fill_buf())
                    .await
                    .ok()
                    .map(|r| r.map(|b| !b.is_empty()))
            }
        };
        let more = tokio::select! {
            _ = shutdown.cancelled() => {
                stopping = true;
                break;
            }
            _ = gone.cancelled() => break,
            more = wait => more,
        };
        let Some(more) = more else {
            tracing::debug!(identity = %identity.name, "idle connection closed");
            break;
        };
        let read_timeout = Duration::from_millis(state.config.agent.read_timeout_ms);
        let frame = match more {
            Ok(true) => {
                match tokio::time::timeout(read_timeout, read_frame(&mut rd, max_frame)).await {
                    Ok(f) => f,
                    Err(_) => {
                        tracing::info!(identity = %identity.name, "request not completed in time; closing connection");
                        let e = ProtoError::new(
                            ErrorCode::BadFrame,
                            format!(
                                "request not completed within {} ms of its first byte; closing",
                                read_timeout.as_millis()
                            ),
                        );
                        let _ = tx.send(err_response(None, &e)).await;
                        break;
                    }
                }
            }
            Ok(false) => Ok(ReadFrame::Closed),
            Err(e) => Err(e),
        };
        let payload = match frame {
            Ok(ReadFrame::Frame(p)) => p,
            Ok(ReadFrame::Closed) => break,
            Ok(ReadFrame::TooLarge(n)) => {
                tracing::info!(identity = %identity.name, size = n, "oversize frame; closing connection");
                let e = ProtoError::new(
                    ErrorCode::FrameTooLarge,
                    format!("frame of {n} bytes exceeds the limit of {max_frame} bytes; closing"),
                );
                let _ = tx.send(err_response(None, &e)).await;
                break;
            }
            Err(e) => {
                tracing::debug!(identity = %identity.name, error = %e, "connection read ended");
                break;
            }
        };
        let req = match parse_request(&payload) {
            Ok(r) => r,
            Err((id, e)) => {
                tracing::info!(identity = %identity.name, code = %e.code, "malformed request");
                let _ = tx.send(err_response(id, &e)).await;
                continue;
            }
        };
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            let e = ProtoError::new(
                ErrorCode::TooManyInFlight,
                format!("more than {cap} requests in flight on this connection"),
            )
            .retry_after(10);
            let _ = tx.send(err_response(Some(req.id), &e)).await;
            continue;
        };
        let tx = tx.clone();
        let state = state.clone();
        let identity = identity.clone();
        tracker.spawn(async move {
            let response = ops::dispatch(&state, &identity, req).await;
            let _ = tx.send(response).await;
            drop(permit);
        });
    }
    if stopping {
        // Requests the client already sent but we had not read yet get a
        // clear answer instead of a silent close.
        let until = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        while let Ok(Ok(ReadFrame::Frame(p))) =
            tokio::time::timeout_at(until, read_frame(&mut rd, max_frame)).await
        {
            let id = parse_request(&p)
                .map(|r| Some(r.id))
                .unwrap_or_else(|(id, _)| id);
            let e = ProtoError::new(
                ErrorCode::ShuttingDown,
                "the agent is shutting down; not processed",
            );
            let _ = tx.send(err_response(id, &e)).await;
        }
    }
    drop(tx);
    let _ = writer.await;
    drop(slot);
}

/// A connection counted against its identity's limit while it lives.
struct IdentitySlot<'a> {
    state: &'a AgentState,
    name: String,
}

impl<'a> IdentitySlot<'a> {
    fn take(state: &'a AgentState, name: &str) -> Option<IdentitySlot<'a>> {
        let mut m = state.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(name.to_string()).or_default();
        if *n >= state.config.agent.max_connections_per_identity {
            return None;
        }
        *n += 1;
        Some(IdentitySlot {
            state,
            name: name.to_string(),
        })
    }
}

impl Drop for IdentitySlot<'_> {
    fn drop(&mut self) {
        let mut m = self
            .state
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.name) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.name);
            }
        }
    }
}

/// Send a connection-level error (no request id) before closing.
async fn refuse(wr: &mut tokio::net::unix::OwnedWriteHalf, code: ErrorCode, msg: String) {
    let body = err_response(None, &ProtoError::new(code, msg));
    let _ = write_frame(wr, body.to_string().as_bytes()).await;
}
