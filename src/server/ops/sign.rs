//! `sign`: generic signing of caller-supplied bytes. Only for keys whose
//! config sets `raw_signing = true`: a trading key must sign only what the
//! policy has judged (the venue ops), never an opaque hash.

use serde_json::{Map, Value, json};

use crate::authorize::Refusal;
use crate::authorize::{Judge, Plan, authorize};
use crate::backend::KeyType;
use crate::keyring::{KeyEntry, SignInput, SignOutput};
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

pub async fn run(
    state: &AgentState,
    who: &Identity,
    request_id: u64,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
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
        ).into());
    }
    let bad = |m: String| ProtoError::new(ErrorCode::BadParams, m);
    let kt = entry.info.key_type;
    let scheme = p.opt_str("scheme")?;
    let format = p.opt_str("format")?;
    let input = match (p.opt_str("message")?, p.opt_str("digest")?) {
        (Some(_), Some(_)) => {
            return Err(bad("give either message or digest, not both".into()).into());
        }
        (None, None) => {
            return Err(bad("missing parameter \"message\" or \"digest\"".into()).into());
        }
        (Some(m), None) => {
            let bytes = from_hex("message", m)?;
            match scheme {
                None => SignInput::Message(bytes),
                Some("eip191") if kt == KeyType::Secp256k1 => SignInput::Eip191(bytes),
                Some("eip191") => {
                    return Err(
                        bad("scheme \"eip191\" applies to secp256k1 keys only".into()).into(),
                    );
                }
                Some(s) => return Err(bad(format!("unknown scheme {s:?} (known: eip191)")).into()),
            }
        }
        (None, Some(d)) => {
            if scheme.is_some() {
                return Err(bad("scheme applies to messages, not digests".into()).into());
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
        (Some("der"), _) => {
            return Err(bad("format \"der\" applies to p256 keys only".into()).into());
        }
        (Some(f), _) => return Err(bad(format!("unknown format {f:?} (known: raw, der)")).into()),
    };
    // A halt (kill switch, tripped switch) stops raw signing too: there is
    // no intent to judge, so nothing here counts as reducing risk.
    let signed = authorize(
        state,
        super::signing_request(who, request_id, super::Op::Sign, entry, params),
        |_, _| {
            Ok(Plan {
                input,
                judge: Judge::Config {
                    rule: "raw_signing",
                    reason: "the key's config enables generic signing".into(),
                    halts_apply: true,
                },
                venue: None,
                nonce: None,
                intents: None,
                extra: (),
            })
        },
    )
    .await?;
    let out = signed.output;
    let der_bytes = if der { out.p256_der() } else { None };
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
            let bytes = der_bytes.unwrap_or_else(|| sig.to_bytes().to_vec());
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
