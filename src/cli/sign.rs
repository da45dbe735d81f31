//! `tradeward sign`: get a signature from a running agent, for scripts.
//! Prints the agent's JSON result on stdout; exits non-zero with the agent's
//! error code and message on stderr.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value};

use crate::client::Client;

#[derive(Args)]
pub struct SignArgs {
    /// Key alias from the agent's config, or a PKCS#11 URI
    #[arg(long)]
    key: String,
    /// Message to sign, in hex
    #[arg(long, conflicts_with_all = ["message_file", "digest"])]
    message: Option<String>,
    /// File whose contents are the message to sign
    #[arg(long, conflicts_with = "digest")]
    message_file: Option<PathBuf>,
    /// 32-byte digest to sign, in hex (ECDSA keys)
    #[arg(long)]
    digest: Option<String>,
    /// Message scheme: eip191 (Ethereum personal_sign, secp256k1 keys)
    #[arg(long)]
    scheme: Option<String>,
    /// Output format for P-256: raw (r||s, default) or der
    #[arg(long)]
    format: Option<String>,
    /// Agent socket
    #[arg(long, env = "TRADEWARD_SOCK")]
    socket: PathBuf,
}

pub fn run(a: SignArgs) -> Result<(), String> {
    let mut params = Map::new();
    params.insert("key".into(), a.key.into());
    if let Some(m) = a.message {
        params.insert("message".into(), m.into());
    }
    if let Some(f) = a.message_file {
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        params.insert("message".into(), hex::encode(bytes).into());
    }
    if let Some(d) = a.digest {
        params.insert("digest".into(), d.into());
    }
    if let Some(s) = a.scheme {
        params.insert("scheme".into(), s.into());
    }
    if let Some(f) = a.format {
        params.insert("format".into(), f.into());
    }
    let mut c = Client::connect(&a.socket).map_err(|e| e.to_string())?;
    let r = c
        .call("sign", Value::Object(params))
        .map_err(|e| e.to_string())?;
    outln!("{}", serde_json::to_string_pretty(&r).expect("json"));
    Ok(())
}
