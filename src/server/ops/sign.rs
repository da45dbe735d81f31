//! `sign`: generic signing of caller-supplied bytes. Only for keys whose
//! config sets `raw_signing = true`: a trading key must sign only what the
//! policy has judged (the venue ops), never an opaque hash.

use serde_json::{Map, Value, json};

use sha2::{Digest, Sha256};

use super::request_digest;
use crate::backend::KeyType;
use crate::journal::{Decision, Event};
use crate::keyring::{KeyEntry, SignError, SignInput, SignOutput};
use crate::protocol::{ErrorCode, Params, ProtoError, from_hex, to_hex};
use crate::server::AgentState;
use crate::server::peer::Identity;

/// The error for a key reference the agent refuses to read (a PKCS#11 URI
/// with a PIN, a slot or an attribute it does not honour). It depends on
/// the reference alone, never on which keys exist.
/// A refused URI may carry a PIN, so the message names the attribute and
/// never repeats the reference.
pub fn refused_reference(e: crate::backend::uri::UriError) -> ProtoError {
    ProtoError::new(ErrorCode::BadParams, format!("PKCS#11 URI refused: {e}"))
}

/// Resolve a key reference the caller may use.
pub fn granted_key(
    state: &AgentState,
    who: &Identity,
    reference: &str,
) -> Result<std::sync::Arc<KeyEntry>, ProtoError> {
    let found = state
        .keyring
        .resolve(reference)
        .map_err(refused_reference)?;
    match found {
        Some(e) if who.may_use_key(&e.alias) => Ok(e),
        _ => Err(ProtoError::new(
            ErrorCode::UnknownKey,
            format!(
                "no key {reference:?} is available to identity {:?}",
                who.name
            ),
        )),
    }
}

/// The error for a decision the journal could not make durable: nothing
/// is signed (fail closed), and the caller may retry.
pub fn journal_unavailable(e: crate::journal::JournalError) -> ProtoError {
    ProtoError::new(ErrorCode::JournalUnavailable, e.to_string())
        .retry_after(1000)
        .journaled()
}

/// Sign for an allowed decision already durable at `decision_seq`, then
/// record the signature (or the failure) against it.
pub async fn sign_and_record(
    state: &AgentState,
    entry: &KeyEntry,
    input: SignInput,
    decision_seq: u64,
) -> Result<SignOutput, ProtoError> {
    match state.keyring.sign(entry, input).await {
        Ok(out) => {
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
            let err = sign_error(e);
            state
                .journal
                .append_nowait(Event::SignFailed {
                    decision: decision_seq,
                    key: entry.alias.clone(),
                    error: err.message.clone(),
                })
                .await;
            Err(err.journaled())
        }
    }
}

/// Record a policy denial and build the caller's error. The record is
/// queued while the state lock (`st`) is still held, so it keeps its place
/// in decision order; the lock is released before waiting for the disk.
/// Best effort: the answer is a denial either way.
pub async fn deny_by_policy(
    state: &AgentState,
    st: tokio::sync::MutexGuard<'_, crate::state::State>,
    mut decision: crate::journal::Decision,
    v: &crate::policy::Verdict,
    params: &serde_json::Map<String, serde_json::Value>,
) -> ProtoError {
    crate::refusals::bound(&mut decision, super::request_size(params));
    let now = crate::journal::record::now_ms();
    let events = super::admit_refusal(
        state,
        &decision.identity,
        &decision.rule,
        v.feeds_breaker(),
        now,
    )
    .into_events(Event::Decision(decision));
    let mut pending = Vec::with_capacity(events.len());
    for e in events {
        pending.push(state.journal.submit(e).await);
    }
    drop(st);
    for p in pending {
        if let Ok(p) = p
            && let Err(e) = p.durable().await
        {
            tracing::error!(error = %e, "could not journal a policy denial");
        }
    }
    let mut err = ProtoError::new(
        ErrorCode::PolicyDenied,
        format!("denied by policy: {}", v.reason()),
    );
    err.detail = serde_json::to_value(&v.denials).ok().map(Box::new);
    if let Some(ms) = v.retry_after_ms() {
        err = err.retry_after(ms);
    }
    err.journaled()
}

/// The refusal of a request without intents (raw `sign`, typed data) by a
/// halt: nothing there can count as reducing risk. Shaped like a policy
/// denial, and journaled under rule `halted`.
pub fn halted_error(scope: &crate::policy::HaltScope, halt: &crate::policy::Halt) -> ProtoError {
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

pub async fn run(
    state: &AgentState,
    who: &Identity,
    request_id: u64,
    params: &Map<String, Value>,
) -> Result<Value, ProtoError> {
    let p = Params::new(params, &["key", "message", "digest", "scheme", "format"])?;
    let granted = granted_key(state, who, p.str("key")?)?;
    let entry = &*granted;
    if !entry.config.raw_signing {
        return Err(ProtoError::new(
            ErrorCode::RawSigningDisabled,
            format!(
                "key {:?} is not enabled for generic signing (raw_signing = false); use a venue operation",
                entry.alias
            ),
        ));
    }
    let bad = |m: String| ProtoError::new(ErrorCode::BadParams, m);
    let kt = entry.info.key_type;
    let scheme = p.opt_str("scheme")?;
    let format = p.opt_str("format")?;
    let input = match (p.opt_str("message")?, p.opt_str("digest")?) {
        (Some(_), Some(_)) => return Err(bad("give either message or digest, not both".into())),
        (None, None) => return Err(bad("missing parameter \"message\" or \"digest\"".into())),
        (Some(m), None) => {
            let bytes = from_hex("message", m)?;
            match scheme {
                None => SignInput::Message(bytes),
                Some("eip191") if kt == KeyType::Secp256k1 => SignInput::Eip191(bytes),
                Some("eip191") => {
                    return Err(bad(
                        "scheme \"eip191\" applies to secp256k1 keys only".into()
                    ));
                }
                Some(s) => return Err(bad(format!("unknown scheme {s:?} (known: eip191)"))),
            }
        }
        (None, Some(d)) => {
            if scheme.is_some() {
                return Err(bad("scheme applies to messages, not digests".into()));
            }
            let bytes = from_hex("digest", d)?;
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| bad(format!("digest must be 32 bytes, got {}", bytes.len())))?;
            SignInput::Digest(arr)
        }
    };
    let der = match (format, kt) {
        (None | Some("raw"), _) => false,
        (Some("der"), KeyType::P256) => true,
        (Some("der"), _) => return Err(bad("format \"der\" applies to p256 keys only".into())),
        (Some(f), _) => return Err(bad(format!("unknown format {f:?} (known: raw, der)"))),
    };
    // Decide, and make the decision durable before the token signs.
    let payload = state.keyring.payload(entry, &input).map_err(sign_error)?;
    let decision = Decision {
        identity: who.name.clone(),
        uid: who.uid,
        pid: who.pid,
        request_id,
        op: "sign".into(),
        key: Some(entry.alias.clone()),
        request_sha256: request_digest("sign", params),
        allow: true,
        rule: "raw_signing".into(),
        reason: "the key's config enables generic signing".into(),
        payload_sha256: Some(hex::encode(Sha256::digest(&payload))),
        venue: None,
        nonce: None,
        intents: None,
        request_bytes: None,
        intents_omitted: None,
    };
    // A halt (kill switch, tripped switch) stops raw signing too: there is
    // no intent to judge, so nothing here counts as reducing risk. The
    // check and the queued record share the lock, so a halt cannot slip
    // between them.
    let pending = {
        let st = state.state.lock().await;
        let halts = st.engine.state().halts().covering(&who.name, &entry.alias);
        if let Some((scope, halt)) = halts.first() {
            return Err(halted_error(scope, halt));
        }
        state
            .journal
            .submit(Event::Decision(decision))
            .await
            .map_err(journal_unavailable)?
    };
    let recorded = pending.durable().await.map_err(journal_unavailable)?;
    let out = sign_and_record(state, entry, input, recorded.seq).await?;
    tracing::debug!(identity = %who.name, key = %entry.alias, seq = recorded.seq, "signed");
    let mut v = json!({"key": entry.alias, "type": kt.as_str()});
    let m = v.as_object_mut().expect("object");
    match out {
        SignOutput::Secp256k1 { digest, sig } => {
            m.insert("signature".into(), to_hex(&sig.to_bytes_65()).into());
            m.insert("r".into(), to_hex(&sig.r).into());
            m.insert("s".into(), to_hex(&sig.s).into());
            m.insert("v".into(), sig.v().into());
            m.insert("recovery_id".into(), sig.recovery_id.into());
            m.insert("digest".into(), to_hex(&digest).into());
            if let Some(a) = entry.info.eth_address() {
                m.insert("address".into(), a.into());
            }
        }
        SignOutput::P256 { digest, sig } => {
            let bytes = if der {
                crate::crypto::p256::to_der(&sig)
            } else {
                sig.to_bytes().to_vec()
            };
            m.insert("signature".into(), to_hex(&bytes).into());
            m.insert("format".into(), (if der { "der" } else { "raw" }).into());
            m.insert("digest".into(), to_hex(&digest).into());
        }
        SignOutput::Ed25519 { sig } => {
            m.insert("signature".into(), to_hex(&sig).into());
        }
        SignOutput::Hmac { mac } => {
            m.insert("signature".into(), to_hex(&mac).into());
        }
    }
    Ok(v)
}
