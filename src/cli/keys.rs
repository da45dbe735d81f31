//! `tradeward keys ...`: provisioning and inspection on the token.
//! Keys are created inside the token (or imported once) as sensitive,
//! non-extractable token objects; nothing here ever prints secret material.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::TokenArgs;
use crate::backend::{KeyInfo, KeySelector, KeyType};
use crate::protocol::to_hex;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a key inside the token (sensitive, never extractable)
    Generate {
        /// Key type: secp256k1, p256, ed25519 or hmac
        #[arg(long = "type")]
        key_type: KeyType,
        /// Label (CKA_LABEL) for the new key; must be unused
        #[arg(long)]
        label: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Import an existing secret once (an exchange HMAC secret, or a secp256k1
    /// private key), read from stdin or a file, never from the command line
    Import {
        /// Key type: secp256k1 or hmac
        #[arg(long = "type")]
        key_type: KeyType,
        /// Label (CKA_LABEL) for the imported key; must be unused
        #[arg(long)]
        label: String,
        /// Read the secret from this file (mode 0600) instead of stdin
        #[arg(long)]
        from_file: Option<PathBuf>,
        /// How the secret is written: text (the bytes as given, minus a
        /// trailing newline; default for hmac), hex (default for secp256k1)
        /// or base64
        #[arg(long, value_enum)]
        encoding: Option<SecretEncoding>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// List the signing keys on the token with their public keys and attributes
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Destroy a key (and its public half) on the token
    Delete {
        /// Label of the key
        #[arg(long)]
        label: Option<String>,
        /// CKA_ID of the key, in hex
        #[arg(long)]
        id: Option<String>,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SecretEncoding {
    Text,
    Hex,
    Base64,
}

/// JSON description of a key, as `keys list --json` prints it.
pub fn key_json(k: &KeyInfo) -> Value {
    let mut v = json!({
        "label": k.label,
        "id": hex::encode(&k.id),
        "type": k.key_type.as_str(),
        "sensitive": k.sensitive,
        "extractable": k.extractable,
        "local": k.local,
        "always_sensitive": k.always_sensitive,
        "never_extractable": k.never_extractable,
        "uri": k.uri(),
    });
    let m = v.as_object_mut().expect("object");
    if let Some(pk) = &k.public_key {
        m.insert("public_key".into(), to_hex(pk).into());
    }
    if let Some(a) = k.eth_address() {
        m.insert("address".into(), a.into());
    }
    if let Some(b) = k.base58() {
        m.insert("public_key_base58".into(), b.into());
    }
    v
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn print_key(k: &KeyInfo) {
    println!("{}  ({}, id {})", k.label, k.key_type, hex::encode(&k.id));
    if let Some(a) = k.eth_address() {
        println!("    address     {a}");
    }
    if let Some(b) = k.base58() {
        println!("    base58      {b}");
    }
    if let Some(pk) = &k.public_key {
        println!("    public key  {}", to_hex(pk));
    }
    println!(
        "    sensitive {}  extractable {}  generated on device {}",
        yes_no(k.sensitive),
        yes_no(k.extractable),
        yes_no(k.local)
    );
    println!("    uri         {}", k.uri());
}

pub fn run(cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::Generate {
            key_type,
            label,
            json,
            token,
        } => {
            let t = token.open()?;
            let info = t.generate(key_type, &label).map_err(|e| e.to_string())?;
            if json {
                println!("{}", key_json(&info));
            } else {
                println!("Generated on the token:");
                print_key(&info);
            }
            Ok(())
        }
        KeysCommand::Import {
            key_type,
            label,
            from_file,
            encoding,
            json,
            token,
        } => {
            if !matches!(key_type, KeyType::Secp256k1 | KeyType::Hmac) {
                return Err(format!(
                    "cannot import {key_type} keys; generate them on the token instead"
                ));
            }
            let encoding = encoding.unwrap_or(if key_type == KeyType::Hmac {
                SecretEncoding::Text
            } else {
                SecretEncoding::Hex
            });
            if from_file.is_none() && std::io::stdin().is_terminal() {
                eprintln!("Paste the secret, then press Enter and Ctrl-D:");
            }
            let raw = crate::secret::read_secret(from_file.as_deref())?;
            let secret = decode_secret(&raw, encoding)?;
            let t = token.open()?;
            let info = t
                .import(key_type, &label, &secret)
                .map_err(|e| e.to_string())?;
            if json {
                println!("{}", key_json(&info));
            } else {
                println!("Imported (sensitive, not extractable; not generated on the device):");
                print_key(&info);
            }
            Ok(())
        }
        KeysCommand::List { json, token } => {
            let t = token.open()?;
            let keys = t.list_keys().map_err(|e| e.to_string())?;
            if json {
                let arr: Vec<Value> = keys.iter().map(key_json).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"token": t.label(), "serial": t.serial(), "keys": arr})
                    )
                    .expect("json")
                );
            } else {
                println!(
                    "Token {:?} (serial {}): {} key(s)",
                    t.label(),
                    t.serial(),
                    keys.len()
                );
                for k in &keys {
                    print_key(k);
                }
            }
            Ok(())
        }
        KeysCommand::Delete {
            label,
            id,
            yes,
            token,
        } => {
            let sel = KeySelector {
                label,
                id: id.as_deref().map(crate::config::parse_hex).transpose()?,
            };
            if sel.label.is_none() && sel.id.is_none() {
                return Err("give --label or --id".into());
            }
            let t = token.open()?;
            let (_, info) = t.find_key(&sel).map_err(|e| e.to_string())?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err("refusing to delete without confirmation: pass --yes".into());
                }
                eprintln!(
                    "This destroys key {:?} ({}) on the token. It cannot be undone.",
                    info.label, info.key_type
                );
                eprint!("Type the key's label to confirm: ");
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                if line.trim_end() != info.label {
                    return Err("confirmation did not match; nothing deleted".into());
                }
            }
            let info = t.delete(&sel).map_err(|e| e.to_string())?;
            println!(
                "Deleted {:?} ({}, id {})",
                info.label,
                info.key_type,
                hex::encode(&info.id)
            );
            Ok(())
        }
    }
}

fn decode_secret(raw: &[u8], enc: SecretEncoding) -> Result<Zeroizing<Vec<u8>>, String> {
    use base64::Engine;
    let text = || {
        std::str::from_utf8(raw)
            .map(str::trim)
            .map_err(|_| "secret is not UTF-8 text".to_string())
    };
    Ok(match enc {
        SecretEncoding::Text => Zeroizing::new(raw.to_vec()),
        SecretEncoding::Hex => {
            let t = text()?;
            let t = t.strip_prefix("0x").unwrap_or(t);
            Zeroizing::new(hex::decode(t).map_err(|_| "secret is not valid hex".to_string())?)
        }
        SecretEncoding::Base64 => Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text()?)
                .map_err(|_| "secret is not valid base64".to_string())?,
        ),
    })
}
