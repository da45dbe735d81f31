//! The signing worker: a child process of the agent (`tradeward worker`)
//! that owns one PKCS#11 session and signs what the agent sends it.
//!
//! Why a process and not a thread: SoftHSM serialises signing threads inside
//! one process, so only processes scale across cores; and a vendor module
//! that crashes takes down one worker, which the pool restarts, instead of
//! the agent. ssh-agent isolates PKCS#11 in a helper for the same reasons.
//!
//! The channel is the worker's stdin/stdout: a 4-byte big-endian length and a
//! postcard-encoded message. The PIN arrives over that pipe (never argv or
//! the environment) and is held in a zeroizing secret.

use std::path::PathBuf;

use cryptoki::object::ObjectHandle;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::pkcs11::{Token, is_session_loss};
use super::{BackendError, KeyInfo, KeySelector, KeyType, TokenIdentity, TokenSelector};
use crate::frame::ReadFrame;

/// Largest message either side accepts on the worker pipe.
pub const MAX_WORKER_FRAME: usize = 16 * 1024 * 1024;

/// Everything a worker needs to open the token.
#[derive(Serialize, Deserialize)]
pub struct InitParams {
    pub module: PathBuf,
    pub token: TokenSelector,
    /// The user PIN, UTF-8. Zeroized by both sides after use.
    pub pin: Vec<u8>,
    pub keys: Vec<KeySelector>,
}

impl Drop for InitParams {
    fn drop(&mut self) {
        self.pin.zeroize();
    }
}

/// Agent → worker.
#[derive(Serialize, Deserialize)]
pub enum ToWorker {
    Init(InitParams),
    /// Sign `data` with the key at `key` (index into the key table:
    /// `InitParams::keys`, then each `AddKey` in order).
    Sign {
        key: u32,
        data: Vec<u8>,
    },
    /// Append a key to the table (key rotation): its index is the table's
    /// length before. Answered with `Key`.
    AddKey(KeySelector),
    /// Describe a key on the token without adding it. Answered with `Key`.
    Find(KeySelector),
    /// Generate a key on the token (sensitive, not extractable). `Key`.
    Generate {
        key_type: KeyType,
        label: String,
    },
    /// Destroy a key's objects on the token (zeroisation). `Key`.
    Destroy(KeySelector),
}

/// Worker → agent.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    Ready {
        keys: Vec<KeyInfo>,
        token: TokenIdentity,
        pid: u32,
    },
    InitFailed(BackendError),
    Signed(Vec<u8>),
    Failed(BackendError),
    Key(KeyInfo),
}

/// The worker's state: an open token and the resolved keys, plus what it
/// needs to reconnect after the session or the token is lost.
pub struct Signer {
    pin: SecretString,
    selectors: Vec<KeySelector>,
    token: Token,
    handles: Vec<ObjectHandle>,
    infos: Vec<KeyInfo>,
}

impl Signer {
    pub fn open(
        module: PathBuf,
        token: &TokenSelector,
        pin: SecretString,
        selectors: Vec<KeySelector>,
    ) -> Result<Signer, BackendError> {
        let tok = crate::harden::defer_termination(|| {
            let tok = Token::open(&module, token)?;
            tok.login(&pin)?;
            Ok::<_, BackendError>(tok)
        })?;
        let mut s = Signer {
            pin,
            selectors,
            token: tok,
            handles: Vec::new(),
            infos: Vec::new(),
        };
        s.resolve()?;
        Ok(s)
    }

    fn resolve(&mut self) -> Result<(), BackendError> {
        let mut handles = Vec::with_capacity(self.selectors.len());
        let mut infos = Vec::with_capacity(self.selectors.len());
        for sel in &self.selectors {
            let (h, info) = self.token.find_key(sel)?;
            handles.push(h);
            infos.push(info);
        }
        self.handles = handles;
        self.infos = infos;
        Ok(())
    }

    pub fn keys(&self) -> &[KeyInfo] {
        &self.infos
    }

    /// Append a key to the table.
    pub fn add_key(&mut self, sel: KeySelector) -> Result<KeyInfo, BackendError> {
        let (h, info) = self.token.find_key(&sel)?;
        self.selectors.push(sel);
        self.handles.push(h);
        self.infos.push(info.clone());
        Ok(info)
    }

    /// Run a token-management request (find, generate, destroy), with one
    /// reconnect on a lost session like signing.
    fn manage(&mut self, msg: &ToWorker) -> Result<KeyInfo, BackendError> {
        let once = |t: &Token| match msg {
            ToWorker::Find(sel) => t.find_key(sel).map(|(_, i)| i),
            ToWorker::Generate { key_type, label } => t.generate(*key_type, label),
            ToWorker::Destroy(sel) => t.delete(sel),
            _ => Err(BackendError::Invalid("not a management request".into())),
        };
        match once(&self.token) {
            Err(BackendError::Token(_)) => {
                crate::harden::defer_termination(|| self.token.reconnect(&self.pin))?;
                self.resolve()?;
                once(&self.token)
            }
            r => r,
        }
    }

    /// The token itself, for tests that break its session on purpose.
    #[cfg(feature = "test-hooks")]
    pub fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }

    /// Sign with key `idx`. On a lost session, logged-out token, a token
    /// that went away and came back or a module that failed the call,
    /// reconnect, log in again, re-find the keys and retry once.
    pub fn sign(&mut self, idx: usize, data: &[u8]) -> Result<Vec<u8>, BackendError> {
        let (Some(&h), Some(info)) = (self.handles.get(idx), self.infos.get(idx)) else {
            return Err(BackendError::Invalid(format!("no key at index {idx}")));
        };
        let mech = info.key_type.mechanism();
        match self.token.sign_raw(h, mech, data) {
            Ok(sig) => Ok(sig),
            Err(e) if is_session_loss(&e) || is_module_failure(&e) => {
                tracing::warn!(error = %e, "token session lost or module failed; reconnecting");
                crate::harden::defer_termination(|| self.token.reconnect(&self.pin))?;
                self.resolve()?;
                self.token
                    .sign_raw(self.handles[idx], mech, data)
                    .map_err(|e| classify(&e))
            }
            Err(e) => Err(classify(&e)),
        }
    }
}

/// The module failed the call for reasons of its own (CKR_GENERAL_ERROR,
/// CKR_FUNCTION_FAILED): nothing about the request is wrong, nothing was
/// released, and a fresh session or a later attempt may well succeed.
fn is_module_failure(e: &cryptoki::error::Error) -> bool {
    use cryptoki::error::{Error, RvError};
    matches!(
        e,
        Error::Pkcs11(RvError::GeneralError | RvError::FunctionFailed, _)
    )
}

/// A signing error that survived one reconnect: transient device trouble
/// is worth a retry; anything else (a key that may not sign, a bad
/// mechanism) is not.
fn classify(e: &cryptoki::error::Error) -> BackendError {
    if is_session_loss(e) || is_module_failure(e) {
        BackendError::Token(e.to_string())
    } else {
        BackendError::Rejected(e.to_string())
    }
}

/// `tradeward worker`: serve the agent on stdin/stdout until it closes the
/// pipe. Returns the process exit code.
pub fn run() -> i32 {
    crate::harden::process_hardening();
    crate::harden::die_with_parent();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    // Replies go straight to the pipe: the standard library's stdout is
    // line-buffered and would split a binary frame at every newline byte.
    // SAFETY: descriptor 1 is the pipe to the agent for the whole life of
    // the process; ManuallyDrop keeps it from being closed here.
    let mut output = std::mem::ManuallyDrop::new(unsafe {
        <std::fs::File as std::os::unix::io::FromRawFd>::from_raw_fd(1)
    });
    let mut signer: Option<Signer> = None;
    loop {
        let frame = match crate::frame::read(&mut input, MAX_WORKER_FRAME) {
            Ok(ReadFrame::Frame(f)) => f,
            Ok(ReadFrame::Closed) => return 0,
            Ok(ReadFrame::TooLarge(n)) => {
                tracing::error!(size = n, "worker frame over the limit");
                return 1;
            }
            Err(e) => {
                tracing::error!(error = %e, "worker pipe read failed");
                return 1;
            }
        };
        let msg: ToWorker = match postcard::from_bytes(&frame) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "undecodable message from agent");
                return 1;
            }
        };
        let reply = match msg {
            ToWorker::Init(mut p) => {
                let pin = SecretString::from(String::from_utf8_lossy(&p.pin).into_owned());
                p.pin.zeroize();
                match Signer::open(p.module.clone(), &p.token, pin, std::mem::take(&mut p.keys))
                    .and_then(|s| Ok((s.token.identity()?, s)))
                {
                    Ok((token, s)) => {
                        let keys = s.keys().to_vec();
                        signer = Some(s);
                        FromWorker::Ready {
                            keys,
                            token,
                            pid: std::process::id(),
                        }
                    }
                    Err(e) => FromWorker::InitFailed(e),
                }
            }
            ToWorker::AddKey(sel) => match signer.as_mut() {
                Some(s) => match s.add_key(sel) {
                    Ok(info) => FromWorker::Key(info),
                    Err(e) => FromWorker::Failed(e),
                },
                None => FromWorker::Failed(BackendError::Invalid("worker not initialised".into())),
            },
            m @ (ToWorker::Find(_) | ToWorker::Generate { .. } | ToWorker::Destroy(_)) => {
                match signer.as_mut() {
                    // Writes to the token: not interrupted half-way.
                    Some(s) => match crate::harden::defer_termination(|| s.manage(&m)) {
                        Ok(info) => FromWorker::Key(info),
                        Err(e) => FromWorker::Failed(e),
                    },
                    None => {
                        FromWorker::Failed(BackendError::Invalid("worker not initialised".into()))
                    }
                }
            }
            ToWorker::Sign { key, data } => match signer.as_mut() {
                Some(s) => match s.sign(key as usize, &data) {
                    Ok(sig) => FromWorker::Signed(sig),
                    Err(e) => FromWorker::Failed(e),
                },
                None => FromWorker::Failed(BackendError::Invalid("worker not initialised".into())),
            },
        };
        let bytes = match postcard::to_allocvec(&reply) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode reply");
                return 1;
            }
        };
        // Length and body in one `write`, so the agent is woken once per
        // reply.
        if crate::frame::write(&mut *output, &bytes).is_err() {
            return 1;
        }
    }
}
