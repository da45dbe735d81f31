//! `rest.sign_request` with `"venue": "okx"`: sign an OKX v5 REST request.
//! The agent parses the endpoint and its body, judges what it asks for,
//! sets the ISO 8601 timestamp itself, builds the exact prehash and only
//! then asks the token for the HMAC. The bot gets back the headers to send
//! (`OK-ACCESS-*`, the passphrase included) and the exact body.
//!
//! The passphrase is read from the key's `passphrase_file` for each
//! request (a file only the agent's user may read; see docs/okx.md for
//! why it is not in the token): it never sits in the bot's config or
//! environment, and it is useless without the secret, which never leaves
//! the token.

use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use crate::authorize::{Judge, Plan, Refusal, authorize};
use crate::keyring::{SignInput, SignOutput};
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;
use crate::venue::binance::RestError;
use crate::venue::okx::{self, OkxKeyConfig};

fn venue_error(e: RestError) -> ProtoError {
    match e {
        RestError::Param { .. } => ProtoError::new(ErrorCode::BadParams, e.to_string()),
        RestError::Endpoint(m) => ProtoError::new(ErrorCode::Forbidden, m),
    }
}

/// Read the API passphrase (checked as at start: a file only the agent's
/// user can read), trailing CR/LF removed.
async fn read_passphrase(cfg: &OkxKeyConfig) -> Result<secrecy::SecretString, String> {
    let path = cfg.passphrase_file.clone();
    tokio::task::spawn_blocking(move || {
        crate::harden::check_private_file(&path, "OKX passphrase_file", true)?;
        let raw = zeroize::Zeroizing::new(
            std::fs::read(&path)
                .map_err(|e| format!("OKX passphrase_file {}: {e}", path.display()))?,
        );
        let text = std::str::from_utf8(&raw).map_err(|_| "OKX passphrase_file is not UTF-8")?;
        let p = text.trim_end_matches(['\n', '\r']);
        if p.is_empty() || p.len() > 64 || !p.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("OKX passphrase_file does not hold a passphrase \
                        (1 to 64 printable ASCII characters)"
                .to_string());
        }
        Ok(secrecy::SecretString::from(p.to_owned()))
    })
    .await
    .map_err(|e| e.to_string())?
}

pub async fn run(
    state: &AgentState,
    who: &Identity,
    request_id: u64,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    let p = Params::new(params, &["key", "venue", "method", "path", "params"])?;
    let granted = super::sign::granted_key(state, who, p.str("key")?)?;
    let entry = &*granted;
    let Some(cfg) = &entry.config.okx else {
        return Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!(
                "key {:?} is not configured for OKX (no [keys.{}.okx] table)",
                entry.alias, entry.alias
            ),
        )
        .into());
    };
    let parsed = okx::parse(cfg, p.str("method")?, p.str("path")?, p.value("params"))
        .map_err(venue_error)?;
    // Fail closed before judging: without the passphrase the venue would
    // refuse the request anyway.
    let passphrase = read_passphrase(cfg)
        .await
        .map_err(|e| ProtoError::new(ErrorCode::Internal, e))?;
    let described = parsed.describe();
    let read_only = parsed.is_read_only();
    let signed = authorize(
        state,
        super::signing_request(who, request_id, super::Op::RestSignRequest, entry, params),
        |_, now| {
            let ts = okx::timestamp(now);
            let prehash = parsed.prehash(&ts);
            let judge = Judge::read_only_or_policy(read_only, &described);
            Ok(Plan {
                input: SignInput::Message(prehash.clone().into_bytes()),
                judge,
                venue: Some("okx".into()),
                nonce: None,
                intents: (!read_only).then(|| parsed.intents_at(now)),
                extra: (ts, prehash),
            })
        },
    )
    .await?;
    let (ts, prehash) = signed.extra;
    let SignOutput::Hmac { mac } = &signed.output else {
        return Err(Refusal::Recorded(ProtoError::new(
            ErrorCode::Internal,
            "OKX keys are hmac",
        )));
    };
    let signature = okx::signature_text(mac);
    let mut headers = json!({
        "OK-ACCESS-KEY": cfg.api_key,
        "OK-ACCESS-SIGN": signature,
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": passphrase.expose_secret(),
        "Content-Type": "application/json",
    });
    if cfg.demo {
        headers["x-simulated-trading"] = json!("1");
    }
    Ok(json!({
        "key": entry.alias,
        "type": entry.info.key_type.as_str(),
        "venue": "okx",
        "method": parsed.method,
        "request_path": parsed.request_path,
        "body": parsed.body,
        "timestamp": ts,
        "prehash": prehash,
        "signature": signature,
        "headers": headers,
    }))
}
