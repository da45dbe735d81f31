//! The one signing path. Every op that signs, and the dead-man's switch,
//! goes through [`authorize`]; nothing else takes the state lock to decide,
//! journals a decision or asks the keyring to sign.
//!
//! The sequence, and why each step sits where it does:
//!
//! 1. **Lock** the decision state, so that a request is judged against the
//!    effects of every request decided before it.
//! 2. **Plan** (the caller's closure, under the lock): assign or check the
//!    nonce, set the timestamp, and build the exact bytes to sign with the
//!    venue module. Done under the lock because nonces and timestamps are
//!    decision order.
//! 3. **Judge**: the policy for typed intents (market orders priced at the
//!    reference first), the halt check for opaque payloads allowed by the
//!    key's config, or the agent's own rule for its dead-man instructions.
//! 4. **Record**: the decision is queued in the journal while the lock is
//!    still held, so the journal's order is the decision order; a refusal is
//!    bounded and rate-limited (`crate::refusals`).
//! 5. **Unlock**, then **sign while the decision's group commit is in
//!    flight**, and release nothing until the decision is **durable**: a
//!    journal that cannot be written means the signature is dropped and the
//!    request denied (fail closed; docs/journal.md has the crash analysis).
//! 6. **Record the signature** (or the failure) against the decision.
//!
//! A refusal comes back as a [`Refusal`] that says whether it is already
//! on record, so the server journals exactly the ones that are not.

use sha2::{Digest, Sha256};

use crate::context::AgentState;
use crate::journal::{Decision, Event, JournalError};
use crate::keyring::{KeyEntry, SignError, SignInput, SignOutput};
use crate::order::Intent;
use crate::policy::{Halt, HaltScope, Verdict};
use crate::protocol::{ErrorCode, ProtoError};
use crate::state::State;

/// The rule of decisions the agent makes itself (the dead-man's switch's
/// cancel instructions and the heartbeat's exchange-side switch): never
/// judged by policy, never counted towards its state.
pub use crate::journal::record::AGENT_RULE;

/// Who a decision is for, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: String,
    pub uid: u32,
    pub pid: Option<i32>,
    pub request_id: u64,
}

impl Caller {
    /// The agent itself, acting for `identity` (its uid and pid, not a
    /// peer's).
    pub fn agent(identity: &str) -> Caller {
        Caller {
            identity: identity.to_string(),
            uid: nix::unistd::geteuid().as_raw(),
            pid: Some(std::process::id() as i32),
            request_id: 0,
        }
    }
}

/// Builds a journal decision: the one place its fields are filled.
#[derive(Debug, Clone)]
pub struct DecisionBuilder(Decision);

impl DecisionBuilder {
    /// A denial by default, with no payload, venue, nonce or intents.
    pub fn new(caller: &Caller, op: &str, key: Option<String>, request_sha256: String) -> Self {
        DecisionBuilder(Decision {
            identity: caller.identity.clone(),
            uid: caller.uid,
            pid: caller.pid,
            request_id: caller.request_id,
            op: op.to_string(),
            key,
            request_sha256,
            allow: false,
            rule: String::new(),
            reason: String::new(),
            payload_sha256: None,
            venue: None,
            nonce: None,
            intents: None,
            request_bytes: None,
            intents_omitted: None,
        })
    }

    pub fn allow(mut self, rule: &str, reason: impl Into<String>) -> Self {
        self.0.allow = true;
        self.0.rule = rule.to_string();
        self.0.reason = reason.into();
        self
    }

    pub fn deny(mut self, rule: &str, reason: impl Into<String>) -> Self {
        self.0.allow = false;
        self.0.rule = rule.to_string();
        self.0.reason = reason.into();
        self
    }

    /// The bytes handed to the token (recorded as their SHA-256).
    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.0.payload_sha256 = Some(hex::encode(Sha256::digest(bytes)));
        self
    }

    pub fn venue(mut self, venue: Option<String>) -> Self {
        self.0.venue = venue;
        self
    }

    pub fn nonce(mut self, nonce: Option<u64>) -> Self {
        self.0.nonce = nonce;
        self
    }

    pub fn intents(mut self, intents: Option<Vec<Intent>>) -> Self {
        self.0.intents = intents;
        self
    }

    pub fn build(self) -> Decision {
        self.0
    }
}

/// Why a request was not served, and whether the journal already holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Not on record yet (bad parameters, a key not granted, an unknown
    /// op): the server journals it as a denial.
    Unrecorded(ProtoError),
    /// Already on record: a policy denial, a signature that failed after its
    /// decision was durable, an admin change the journal refused.
    Recorded(ProtoError),
    /// About the journal itself (it cannot make anything durable): there is
    /// nothing to record it in.
    Unrecordable(ProtoError),
}

impl Refusal {
    /// The error the caller gets.
    pub fn error(&self) -> &ProtoError {
        match self {
            Refusal::Unrecorded(e) | Refusal::Recorded(e) | Refusal::Unrecordable(e) => e,
        }
    }

    pub fn into_error(self) -> ProtoError {
        match self {
            Refusal::Unrecorded(e) | Refusal::Recorded(e) | Refusal::Unrecordable(e) => e,
        }
    }
}

/// An op's own errors (parameters, grants) are not on record yet.
impl From<ProtoError> for Refusal {
    fn from(e: ProtoError) -> Self {
        Refusal::Unrecorded(e)
    }
}

/// How a request is judged.
#[derive(Debug, Clone, PartialEq)]
pub enum Judge {
    /// The policy judges the plan's intents; `reason` is the allowed
    /// decision's (e.g. "order allowed by policy").
    Policy { reason: String },
    /// Allowed by the key's config under `rule` (raw signing, a listed
    /// typed-data domain, a read-only endpoint); refused while a halt
    /// covers the identity or key if `halts_apply`.
    Config {
        rule: &'static str,
        reason: String,
        halts_apply: bool,
    },
    /// The agent's own instruction (dead-man's switch), under `AGENT_RULE`.
    Agent { reason: String },
}

impl Judge {
    /// A venue request (REST and its kin): a read-only one is allowed by
    /// the key's allowlist, asking for nothing policy judges; anything else
    /// is judged by policy. `described` names the request in the reason.
    pub fn read_only_or_policy(read_only: bool, described: &str) -> Judge {
        if read_only {
            Judge::Config {
                rule: "read_only",
                reason: format!("{described} is on the key's read-only allowlist"),
                halts_apply: false,
            }
        } else {
            Judge::Policy {
                reason: format!("{described} allowed by policy"),
            }
        }
    }
}

/// What the caller prepared under the lock.
pub struct Plan<T> {
    pub input: SignInput,
    pub judge: Judge,
    pub venue: Option<String>,
    /// The nonce signed with it: recorded in the key's nonce book once the
    /// decision is queued.
    pub nonce: Option<u64>,
    pub intents: Option<Vec<Intent>>,
    /// What the caller needs back to build its answer.
    pub extra: T,
}

/// One request to authorise and sign.
pub struct Request<'a> {
    pub caller: Caller,
    pub op: &'a str,
    pub entry: &'a KeyEntry,
    /// SHA-256 of the op and its parameters as received.
    pub request_sha256: String,
    /// The size of the parameters as received (bounds a refusal's record).
    pub request_bytes: usize,
}

/// A signature made for a durable, allowed decision.
pub struct Signed<T> {
    pub output: SignOutput,
    /// The decision's sequence number in the journal.
    pub seq: u64,
    pub extra: T,
}

fn now_ms() -> u64 {
    crate::journal::record::now_ms()
}

/// Lock, plan, judge, record, unlock, wait until durable, sign, record the
/// signature. The only way anything is signed.
pub async fn authorize<T>(
    state: &AgentState,
    req: Request<'_>,
    plan: impl FnOnce(&mut State, u64) -> Result<Plan<T>, ProtoError>,
) -> Result<Signed<T>, Refusal> {
    let started = std::time::Instant::now();
    let alias = req.entry.alias.clone();
    let (input, extra, durable) = {
        let mut st = state.state.lock().await;
        let now = now_ms();
        // With [cluster]: lock what the rules read across the cluster and
        // catch up with the other agents' decisions before planning (the
        // nonce) and judging.
        let shared = match &state.cluster {
            Some(_) => Some(
                begin_shared(state, &mut st, &req.caller.identity, &alias, now)
                    .await
                    .map_err(cluster_unavailable)?,
            ),
            None => None,
        };
        let plan = plan(&mut st, now)?;
        let payload = state
            .keyring
            .payload(req.entry, &plan.input)
            .map_err(sign_error)?;
        let builder = DecisionBuilder::new(
            &req.caller,
            req.op,
            Some(alias.clone()),
            req.request_sha256.clone(),
        )
        .venue(plan.venue.clone());
        let decision = match plan.judge {
            Judge::Policy { reason } => {
                let mut intents = plan.intents.unwrap_or_default();
                st.engine.price_market_orders(&alias, &mut intents, now);
                let identity = req.caller.identity.as_str();
                let was_open = st.engine.state().breaker_open_until(identity, now);
                let outcome = st.engine.decide(&crate::policy::Request {
                    identity,
                    key: &alias,
                    intents: &intents,
                    now_ms: now,
                });
                if was_open.is_none()
                    && st
                        .engine
                        .state()
                        .breaker_open_until(identity, now)
                        .is_some()
                {
                    crate::metrics::get()
                        .breaker_openings
                        .with_label_values(&[identity])
                        .inc();
                }
                if let Some(shadow) = &outcome.shadow
                    && shadow.allowed() != outcome.verdict.allowed()
                {
                    tracing::info!(identity = %req.caller.identity, key = %alias,
                        shadow = %shadow.reason(), enforced_allows = outcome.verdict.allowed(),
                        "shadow policy would decide differently");
                }
                let v = &outcome.verdict;
                if !v.allowed() {
                    let rule = v.rule().map(|r| r.code()).unwrap_or("policy");
                    let d = builder
                        .deny(rule, v.reason())
                        .intents(Some(intents))
                        .build();
                    return Err(
                        deny_by_policy(state, st, shared, d, v, req.request_bytes, now).await,
                    );
                }
                builder
                    .allow("policy", reason)
                    .payload(&payload)
                    .nonce(plan.nonce)
                    .intents(Some(intents))
            }
            Judge::Config {
                rule,
                reason,
                halts_apply,
            } => {
                if halts_apply {
                    let halts = st
                        .engine
                        .state()
                        .halts()
                        .covering(&req.caller.identity, &alias);
                    if let Some((scope, halt)) = halts.first() {
                        return Err(halted_error(scope, halt).into());
                    }
                }
                builder
                    .allow(rule, reason)
                    .payload(&payload)
                    .nonce(plan.nonce)
                    .intents(plan.intents)
            }
            Judge::Agent { reason } => builder
                .allow(AGENT_RULE, reason)
                .payload(&payload)
                .nonce(plan.nonce)
                .intents(plan.intents),
        };
        let decision = decision.build();
        let cluster_copy = shared.as_ref().map(|_| decision.clone());
        let pending = state
            .journal
            .submit(Event::Decision(decision))
            .await
            .map_err(journal_unavailable)?;
        if let Some(n) = plan.nonce {
            st.nonces.record(&alias, n);
        }
        let durable = match (shared, cluster_copy) {
            // The shared decision commits before the lock goes, so the
            // next decision (here or anywhere) sees it; the local record
            // becomes durable with the next group commit, as without
            // [cluster].
            (Some(txn), Some(d)) => match commit_shared(txn, &d, now).await {
                Ok(cluster_seq) => Durable::Shared(pending, cluster_seq),
                Err(e) => return Err(unshared(state, pending, &d, e).await),
            },
            _ => Durable::Pending(pending),
        };
        (plan.input, plan.extra, durable)
    };
    // The token signs while the decision's write (and, with [cluster], its
    // anchor in the database) is in flight: the fsync and the token's work
    // overlap. The signature stays here until the decision is durable, and
    // is dropped, unreleased, if it never becomes so (docs/journal.md).
    let settled = async {
        match durable {
            Durable::Pending(pending) => wait_durable(pending).await,
            Durable::Shared(pending, cluster_seq) => {
                let recorded = wait_durable(pending).await?;
                anchor(state, cluster_seq, recorded).await;
                Ok(recorded)
            }
        }
    };
    let (recorded, signed) = tokio::join!(settled, sign_timed(state, req.entry, input));
    let recorded = match recorded {
        Ok(r) => r,
        Err(refusal) => {
            if signed.is_ok() {
                tracing::warn!(key = %alias, "decision not durable: the signature made beside it is dropped, never released");
            }
            return Err(refusal);
        }
    };
    let metrics = crate::metrics::get();
    let output = record_signature(state, req.entry, signed, recorded.seq).await?;
    metrics
        .authorize_seconds
        .with_label_values(&[req.op])
        .observe(crate::metrics::seconds(started.elapsed()));
    tracing::debug!(identity = %req.caller.identity, key = %alias, seq = recorded.seq, "signed");
    Ok(Signed {
        output,
        seq: recorded.seq,
        extra,
    })
}

/// Where the decision's journal record stands once the lock is released:
/// queued, to wait for the group commit without the lock; with
/// `[cluster]`, also committed there at the cluster's seq.
enum Durable {
    Pending(crate::journal::Pending),
    Shared(crate::journal::Pending, i64),
}

/// Wait until a queued decision is durable, timing the wait.
async fn wait_durable(
    pending: crate::journal::Pending,
) -> Result<crate::journal::Appended, Refusal> {
    let waited = std::time::Instant::now();
    let recorded = pending.durable().await.map_err(journal_unavailable)?;
    crate::metrics::get()
        .durable_wait_seconds
        .observe(crate::metrics::seconds(waited.elapsed()));
    Ok(recorded)
}

/// Begin the shared decision of `identity` on `key`: the cluster's locks,
/// then the other agents' decisions replayed into `st` with the journal's
/// replay code, and the key's shared nonce mark noted as used, so the plan
/// assigns above every nonce any agent handed out.
async fn begin_shared(
    state: &AgentState,
    st: &mut State,
    identity: &str,
    key: &str,
    now: u64,
) -> Result<crate::cluster::Txn, crate::cluster::ClusterError> {
    let cluster = state.cluster.as_ref().expect("called with [cluster] only");
    let mut txn = cluster.begin(identity, key).await?;
    catch_up(state, st, &mut txn, now).await?;
    if let Some(mark) = txn.nonce_mark(key).await? {
        st.nonces.record(key, mark);
    }
    Ok(txn)
}

/// Replay what the other agents committed since this agent last looked
/// into `st`. Their events (halts, resumes, order reports) also go into the
/// local journal, in the order they took effect here, so its record shows
/// why a request was refused.
async fn catch_up(
    state: &AgentState,
    st: &mut State,
    txn: &mut crate::cluster::Txn,
    now: u64,
) -> Result<(), crate::cluster::ClusterError> {
    let mut events = Vec::new();
    let caught_up = txn
        .catch_up(now, &mut |rec| {
            st.replay(rec);
            if !matches!(rec.event, Event::Decision(_)) {
                events.push(rec.event.clone());
            }
        })
        .await?;
    if caught_up > 0 {
        tracing::debug!(records = caught_up, "caught up with the cluster");
    }
    for e in events {
        if matches!(e, Event::OrderClosed { .. }) {
            tracing::debug!("order report from another agent of the cluster applied");
        } else {
            tracing::warn!(
                event = e.kind(),
                "operator event from another agent of the cluster applied"
            );
        }
        state.journal.append_nowait(e).await;
    }
    Ok(())
}

/// Catch up with the cluster while no request comes (woken by the
/// cluster's NOTIFY, and on a timer): an operator's halt on another agent
/// then shows here within a bounded time, in `status` too. Best effort: a
/// database that cannot be reached is retried at the next wake.
pub async fn catch_up_idle(state: &AgentState) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    let mut st = state.state.lock().await;
    let result = async {
        let mut txn = cluster.begin_unlocked().await?;
        catch_up(state, &mut st, &mut txn, now_ms()).await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "idle catch-up with the cluster failed");
    }
}

/// Record an allowed decision in the cluster and commit; the cluster's seq.
async fn commit_shared(
    mut txn: crate::cluster::Txn,
    decision: &Decision,
    now: u64,
) -> Result<i64, crate::cluster::ClusterError> {
    let seq = txn.record(decision, now, None).await?;
    txn.commit().await?;
    Ok(seq)
}

/// An allowed decision the cluster did not commit is never signed: once
/// its local record is durable it gets a `SignFailed` saying why, and the
/// caller a retryable `cluster_unavailable`.
async fn unshared(
    state: &AgentState,
    pending: crate::journal::Pending,
    decision: &Decision,
    e: crate::cluster::ClusterError,
) -> Refusal {
    let err = cluster_error(e);
    if let Ok(recorded) = pending.durable().await {
        state
            .journal
            .append_nowait(Event::SignFailed {
                decision: recorded.seq,
                key: decision.key.clone().unwrap_or_default(),
                error: err.message.clone(),
            })
            .await;
    }
    Refusal::Recorded(err)
}

/// Anchor a committed shared decision to its durable local record (seq and
/// chain hash), before signing. Best effort: the decision is committed
/// either way; a decision left unanchored shows in `cluster verify`.
async fn anchor(state: &AgentState, cluster_seq: i64, recorded: crate::journal::Appended) {
    if let Some(c) = &state.cluster
        && let Err(e) = c.anchor(cluster_seq, recorded).await
    {
        tracing::warn!(error = %e, cluster_seq, seq = recorded.seq, "could not anchor a decision in the cluster");
    }
}

/// The error for a decision the cluster's database could not take part
/// in: nothing is signed (fail closed), and the caller may retry; the
/// agent reconnects by itself on the next request.
pub fn cluster_unavailable(e: crate::cluster::ClusterError) -> Refusal {
    Refusal::Unrecorded(cluster_error(e))
}

fn cluster_error(e: crate::cluster::ClusterError) -> ProtoError {
    tracing::warn!(error = %e, "shared decision failed; denied");
    ProtoError::new(
        ErrorCode::ClusterUnavailable,
        format!("{e}; nothing was signed"),
    )
    .retry_after(1000)
}

/// The error for a decision the journal could not make durable: nothing
/// is signed (fail closed), and the caller may retry.
pub fn journal_unavailable(e: JournalError) -> Refusal {
    Refusal::Unrecordable(
        ProtoError::new(ErrorCode::JournalUnavailable, e.to_string()).retry_after(1000),
    )
}

/// Sign through the keyring (which verifies the token's signature), timed.
/// Nothing is released here: the caller holds the result until the
/// decision is durable.
async fn sign_timed(
    state: &AgentState,
    entry: &KeyEntry,
    input: SignInput,
) -> Result<SignOutput, SignError> {
    let started = std::time::Instant::now();
    let signed = state.keyring.sign(entry, input).await;
    crate::metrics::get()
        .token_sign_seconds
        .with_label_values(&[entry.info.key_type.as_str()])
        .observe(crate::metrics::seconds(started.elapsed()));
    signed
}

/// Record the signature made for the decision durable at `decision_seq`
/// (or the failure) against it.
async fn record_signature(
    state: &AgentState,
    entry: &KeyEntry,
    signed: Result<SignOutput, SignError>,
    decision_seq: u64,
) -> Result<SignOutput, Refusal> {
    let key_type = entry.info.key_type.as_str();
    let metrics = crate::metrics::get();
    match signed {
        Ok(out) => {
            metrics
                .signatures
                .with_label_values(&[entry.alias.as_str(), key_type])
                .inc();
            state
                .journal
                .append_nowait(Event::Signature {
                    decision: decision_seq,
                    key: entry.alias.clone(),
                    signature: hex::encode(out.signature_bytes()),
                })
                .await;
            Ok(out)
        }
        Err(e) => {
            let kind = match &e {
                SignError::Input(_) => "input",
                SignError::Backend(b) if b.retryable() => "backend_unavailable",
                SignError::Backend(_) => "backend",
                SignError::Crypto(_) => "bad_signature",
            };
            metrics.backend_errors.with_label_values(&[kind]).inc();
            let err = sign_error(e);
            state
                .journal
                .append_nowait(Event::SignFailed {
                    decision: decision_seq,
                    key: entry.alias.clone(),
                    error: err.message.clone(),
                })
                .await;
            Err(Refusal::Recorded(err))
        }
    }
}

/// What to journal for one refusal of `identity`: its own record, a summary
/// of earlier ones, or both (see `crate::refusals`).
pub fn admit_refusal(
    state: &AgentState,
    identity: &str,
    rule: &str,
    feeds_breaker: bool,
    now_ms: u64,
) -> crate::refusals::Admit {
    crate::metrics::get()
        .denials
        .with_label_values(&[identity, rule])
        .inc();
    state
        .refusals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .admit(identity, rule, feeds_breaker, now_ms)
}

/// Journal a refusal of `identity` (its record, or its count in a summary:
/// `crate::refusals`), queued while the state lock `st` is held so it keeps
/// its place in decision order, then wait for the disk without the lock.
/// Best effort: the answer is a refusal either way.
pub async fn record_refusal(
    state: &AgentState,
    st: tokio::sync::MutexGuard<'_, State>,
    identity: &str,
    rule: &str,
    feeds_breaker: bool,
    record: Event,
) {
    let events = admit_refusal(state, identity, rule, feeds_breaker, now_ms()).into_events(record);
    let mut pending = Vec::with_capacity(events.len());
    for e in events {
        pending.push(state.journal.submit(e).await);
    }
    drop(st);
    for p in pending {
        if let Ok(p) = p
            && let Err(e) = p.durable().await
        {
            tracing::error!(error = %e, rule, "could not journal a refusal");
        }
    }
}

/// Record a policy denial and build the caller's error. The record is
/// queued while the state lock (`st`) is still held, so it keeps its place
/// in decision order; the lock is released before waiting for the disk.
/// Best effort: the answer is a denial either way.
/// With `[cluster]`, the denial is recorded there too and committed
/// before the lock goes: denials count towards what rules read (breakers)
/// on every agent, as they do in a replay of the journal.
async fn deny_by_policy(
    state: &AgentState,
    st: tokio::sync::MutexGuard<'_, State>,
    shared: Option<crate::cluster::Txn>,
    mut decision: Decision,
    v: &Verdict,
    request_bytes: usize,
    now: u64,
) -> Refusal {
    crate::refusals::bound(&mut decision, request_bytes);
    if let Some(mut txn) = shared {
        let committed = match txn.record(&decision, now, None).await {
            Ok(_) => txn.commit().await,
            Err(e) => Err(e),
        };
        if let Err(e) = committed {
            tracing::warn!(error = %e, "a policy denial could not be recorded in the cluster");
        }
    }
    let (identity, rule) = (decision.identity.clone(), decision.rule.clone());
    record_refusal(
        state,
        st,
        &identity,
        &rule,
        v.feeds_breaker(),
        Event::Decision(decision),
    )
    .await;
    let mut err = ProtoError::new(
        ErrorCode::PolicyDenied,
        format!("denied by policy: {}", v.reason()),
    );
    err.detail = serde_json::to_value(&v.denials).ok().map(Box::new);
    if let Some(ms) = v.retry_after_ms() {
        err = err.retry_after(ms);
    }
    Refusal::Recorded(err)
}

/// The refusal of a request without intents (raw `sign`, typed data) by a
/// halt: nothing there can count as reducing risk. Shaped like a policy
/// denial; the server journals it under rule `halted`.
fn halted_error(scope: &HaltScope, halt: &Halt) -> ProtoError {
    let mut err = ProtoError::new(
        ErrorCode::PolicyDenied,
        format!(
            "denied by policy: halted ({scope}: {}); nothing is signed for this identity or key while halted",
            halt.reason
        ),
    );
    err.rule = Some("halted");
    err.detail = Some(Box::new(serde_json::json!([{
        "rule": "halted",
        "scope": scope,
        "subject": halt.reason,
    }])));
    err
}

/// Map a signing failure to a protocol error. Nothing was signed in any of
/// these cases.
pub fn sign_error(e: SignError) -> ProtoError {
    match e {
        SignError::Input(m) => ProtoError::new(ErrorCode::BadParams, m),
        SignError::Backend(b) if b.retryable() => {
            ProtoError::new(ErrorCode::BackendUnavailable, b.to_string()).retry_after(100)
        }
        SignError::Backend(b) => ProtoError::new(ErrorCode::BackendError, b.to_string()),
        SignError::Crypto(c) => ProtoError::new(
            ErrorCode::BackendError,
            format!(
                "the token returned a signature that does not verify ({c}); nothing was released"
            ),
        ),
    }
}
