//! `tradeward keys ...`: provisioning and inspection on the token.
//! Keys are created inside the token (or imported once) as sensitive,
//! non-extractable token objects; nothing here ever prints secret material.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::TokenArgs;
use super::yubikey::{Backend, YubikeyKeyArgs};
use crate::backend::{KeyInfo, KeySelector, KeyType};
use crate::protocol::to_hex;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a key inside the token (sensitive, never extractable), or
    /// with --backend yubikey in a YubiKey's PIV slot (with a self-signed
    /// certificate)
    Generate {
        /// Key type: secp256k1, p256, ed25519 or hmac (a YubiKey: p256)
        #[arg(long = "type")]
        key_type: KeyType,
        /// Label (CKA_LABEL) for the new key; must be unused. On a YubiKey,
        /// the common name of the slot's certificate
        #[arg(long)]
        label: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        /// Also print a secp256k1 or P-256 public key as PEM (an Ed25519
        /// one always is)
        #[arg(long)]
        pem: bool,
        /// Where to create the key
        #[arg(long, value_enum, default_value_t = Backend::Pkcs11)]
        backend: Backend,
        #[command(flatten)]
        yubikey: YubikeyKeyArgs,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Import an existing secret once (an exchange HMAC secret, an Ed25519
    /// API key, or a secp256k1 private key), read from stdin or a file,
    /// never from the command line
    Import {
        /// Key type: secp256k1, ed25519 or hmac
        #[arg(long = "type")]
        key_type: KeyType,
        /// Label (CKA_LABEL) for the imported key; must be unused
        #[arg(long)]
        label: String,
        /// Read the secret from this file (mode 0600) instead of stdin
        #[arg(long)]
        from_file: Option<PathBuf>,
        /// How the secret is written: text (the bytes as given, minus a
        /// trailing newline; default for hmac), hex (default for secp256k1
        /// and an ed25519 seed) or base64. An ed25519 key in a PKCS#8 PEM
        /// (-----BEGIN PRIVATE KEY-----) is recognised as such
        #[arg(long, value_enum)]
        encoding: Option<SecretEncoding>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        /// Also print a secp256k1 public key as PEM (an Ed25519 one always
        /// is)
        #[arg(long)]
        pem: bool,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// List the signing keys on the token (or, with --backend yubikey, in
    /// a YubiKey's PIV slots, with their PIN and touch policies) with their
    /// public keys and attributes
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// Also print secp256k1 and P-256 public keys as PEM (Ed25519 ones
        /// always are)
        #[arg(long)]
        pem: bool,
        /// Which store to list
        #[arg(long, value_enum, default_value_t = Backend::Pkcs11)]
        backend: Backend,
        /// YubiKey serial number (with --backend yubikey)
        #[arg(long)]
        serial: Option<u32>,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Rotate an alias in the running agent to a new key generated on the
    /// token (or to an existing key with --to-label, e.g. an imported HMAC
    /// secret); the old key stays on the token for `keys rollback`
    Rotate {
        /// Key alias from the agent's config
        alias: String,
        /// Use this existing token key instead of generating one
        #[arg(long)]
        to_label: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Switch an alias in the running agent back to its previous key
    Rollback {
        /// Key alias from the agent's config
        alias: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Emergency: stop serving a key (or all keys) in the running agent and
    /// destroy every token key the alias has used. Asks you to type the alias
    Zeroize {
        /// Key alias from the agent's config
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        alias: Option<String>,
        /// Every key the agent serves, except the journal's audit key
        #[arg(long)]
        all: bool,
        /// Skip the prompt: repeat the alias here (or ZEROIZE-ALL with --all)
        #[arg(long)]
        confirm: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
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

pub use super::output::{key_json, print_pem, public_key_pem};

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn print_key(k: &KeyInfo, pem: bool) {
    outln!("{}  ({}, id {})", k.label, k.key_type, hex::encode(&k.id));
    if let Some(a) = k.eth_address() {
        outln!("    address     {a}");
    }
    if let Some(b) = k.base58() {
        outln!("    base58      {b}");
    }
    if let Some(pk) = &k.public_key {
        outln!("    public key  {}", to_hex(pk));
    }
    print_pem(k, pem);
    outln!(
        "    sensitive {}  extractable {}  generated on device {}",
        yes_no(k.sensitive),
        yes_no(k.extractable),
        yes_no(k.local)
    );
    outln!("    uri         {}", k.uri());
}

/// How the key-management commands reach the running agent.
#[derive(clap::Args, Clone, Debug)]
pub struct AdminArgs {
    /// Agent config file (to find the admin socket)
    #[arg(long, env = "TRADEWARD_CONFIG")]
    config: Option<PathBuf>,
    /// Admin socket (overrides the config)
    #[arg(long, env = "TRADEWARD_ADMIN_SOCK")]
    admin_socket: Option<PathBuf>,
    /// TOTP code, for operators with a second factor (asked for when
    /// needed and not given)
    #[arg(long)]
    totp: Option<String>,
}

impl AdminArgs {
    fn call(&self, op: &str, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let socket = match (&self.admin_socket, &self.config) {
            (Some(s), _) => s.clone(),
            (None, Some(c)) => crate::config::Config::load(c)
                .map_err(|e| e.to_string())?
                .admin_socket(),
            (None, None) => {
                return Err("pass --config (or TRADEWARD_CONFIG) or --admin-socket".into());
            }
        };
        super::ctl::admin_call(&socket, op, params, self.totp.clone())
    }
}

/// Ask for `expected` to be typed (unless given with --confirm).
fn confirm(expected: &str, given: Option<String>, what: &str) -> Result<(), String> {
    let typed = match given {
        Some(g) => g,
        None => {
            prompt!("This destroys {what} on the token for good. Type {expected:?} to go on: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    if typed == expected {
        Ok(())
    } else {
        Err("confirmation did not match; nothing was done".into())
    }
}

pub fn run(cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::Rotate {
            alias,
            to_label,
            admin,
        } => {
            let r = admin.call(
                "rotate",
                serde_json::json!({"alias": alias, "to_label": to_label}),
            )?;
            outln!("{}", serde_json::to_string_pretty(&r).expect("json"));
            Ok(())
        }
        KeysCommand::Rollback { alias, admin } => {
            let r = admin.call("rollback", serde_json::json!({"alias": alias}))?;
            outln!("{}", serde_json::to_string_pretty(&r).expect("json"));
            Ok(())
        }
        KeysCommand::Zeroize {
            alias,
            all,
            confirm: given,
            admin,
        } => {
            let r = if all {
                confirm(
                    "ZEROIZE-ALL",
                    given,
                    "every key the agent serves (except the audit key)",
                )?;
                admin.call(
                    "zeroize",
                    serde_json::json!({"all": true, "confirm": "ZEROIZE-ALL"}),
                )?
            } else {
                let a = alias.expect("clap requires it");
                confirm(
                    &a,
                    given,
                    &format!("key {a:?} (and every key it was rotated from)"),
                )?;
                admin.call("zeroize", serde_json::json!({"alias": a, "confirm": a}))?
            };
            outln!("{}", serde_json::to_string_pretty(&r).expect("json"));
            if r["ok"] == true {
                Ok(())
            } else {
                Err("zeroisation incomplete: see above and the agent's log".into())
            }
        }
        KeysCommand::Generate {
            key_type,
            label,
            json,
            pem,
            backend: Backend::Yubikey,
            yubikey,
            token,
        } => {
            if key_type != KeyType::P256 {
                return Err(format!(
                    "a YubiKey holds p256 keys here, not {key_type} (PIV has no secp256k1; Ed25519 needs \
                     firmware 5.7 and is not supported yet)"
                ));
            }
            let info = super::yubikey::generate_key(
                &yubikey,
                &label,
                token.config.as_deref(),
                token.pin_file.as_deref(),
                token.pin_env.as_deref(),
            )?;
            if json {
                outln!("{}", key_json(&info));
            } else {
                outln!("Generated on the YubiKey:");
                super::yubikey::print_piv_key(&info, pem);
            }
            Ok(())
        }
        KeysCommand::Generate {
            key_type,
            label,
            json,
            pem,
            backend: Backend::Pkcs11,
            yubikey,
            token,
        } => {
            if yubikey.slot.is_some() || yubikey.serial.is_some() || yubikey.device.is_some() {
                return Err("--slot, --serial and --device are for --backend yubikey".into());
            }
            let t = token.open()?;
            let info = t.generate(key_type, &label).map_err(|e| e.to_string())?;
            if json {
                outln!("{}", key_json(&info));
            } else {
                outln!("Generated on the token:");
                print_key(&info, pem);
            }
            Ok(())
        }
        KeysCommand::Import {
            key_type,
            label,
            from_file,
            encoding,
            json,
            pem,
            token,
        } => {
            if key_type == KeyType::P256 {
                return Err(format!(
                    "cannot import {key_type} keys; generate them on the token instead"
                ));
            }
            if from_file.is_none() && std::io::stdin().is_terminal() {
                errln!("Paste the secret, then press Enter and Ctrl-D:");
            }
            let raw = crate::secret::read_secret(from_file.as_deref())?;
            let secret = match key_type {
                KeyType::Ed25519 => ed25519_seed(&raw, encoding)?,
                KeyType::Hmac => decode_secret(&raw, encoding.unwrap_or(SecretEncoding::Text))?,
                _ => decode_secret(&raw, encoding.unwrap_or(SecretEncoding::Hex))?,
            };
            drop(raw);
            let t = token.open()?;
            let info = t
                .import(key_type, &label, &secret)
                .map_err(|e| e.to_string())?;
            if json {
                outln!("{}", key_json(&info));
            } else {
                outln!("Imported (sensitive, not extractable; not generated on the device):");
                print_key(&info, pem);
            }
            Ok(())
        }
        KeysCommand::List {
            json,
            pem,
            backend: Backend::Yubikey,
            serial,
            token,
        } => {
            let args = YubikeyKeyArgs {
                serial,
                ..Default::default()
            };
            super::yubikey::list_keys(&args, token.config.as_deref(), json, pem)
        }
        KeysCommand::List {
            json,
            pem,
            backend: Backend::Pkcs11,
            serial: _,
            token,
        } => {
            let t = token.open()?;
            let keys = t.list_keys().map_err(|e| e.to_string())?;
            if json {
                let arr: Vec<Value> = keys.iter().map(key_json).collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"token": t.label(), "serial": t.serial(), "keys": arr})
                    )
                    .expect("json")
                );
            } else {
                outln!(
                    "Token {:?} (serial {}): {} key(s)",
                    t.label(),
                    t.serial(),
                    keys.len()
                );
                for k in &keys {
                    print_key(k, pem);
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
                errln!(
                    "This destroys key {:?} ({}) on the token. It cannot be undone.",
                    info.label,
                    info.key_type
                );
                prompt!("Type the key's label to confirm: ");
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                if line.trim_end() != info.label {
                    return Err("confirmation did not match; nothing deleted".into());
                }
            }
            let info = t.delete(&sel).map_err(|e| e.to_string())?;
            outln!(
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

/// An Ed25519 private key to import: a PKCS#8 PEM document (recognised by
/// its `-----BEGIN` line; what `openssl genpkey -algorithm ed25519` writes
/// and what Binance's key-generation instructions produce), or the raw
/// 32-byte seed of RFC 8032 in hex (default) or base64. Raw binary is not
/// accepted: the trailing-newline trimming of `read_secret` could eat a
/// seed's last byte.
fn ed25519_seed(raw: &[u8], enc: Option<SecretEncoding>) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = std::str::from_utf8(raw).map(str::trim);
    if let Ok(t) = text
        && t.starts_with("-----BEGIN")
    {
        if enc.is_some() {
            return Err("--encoding is for a raw seed; a PEM document is read as it is".into());
        }
        let seed = crate::crypto::ed25519::seed_from_pkcs8_pem(t).map_err(|e| e.to_string())?;
        return Ok(Zeroizing::new(seed.to_vec()));
    }
    let enc = enc.unwrap_or(SecretEncoding::Hex);
    if matches!(enc, SecretEncoding::Text) {
        return Err(
            "an Ed25519 key is read as a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) or as its 32-byte \
             seed in hex or base64, not as raw bytes"
                .into(),
        );
    }
    let seed = decode_secret(raw, enc)?;
    if seed.len() != 32 {
        return Err(format!(
            "an Ed25519 private key is a 32-byte seed; this is {} bytes{}",
            seed.len(),
            if seed.len() == 64 {
                " (64 bytes is the seed followed by the public key, as some libraries store it: \
                 give the first 32, or the key as a PKCS#8 PEM)"
            } else {
                ""
            }
        ));
    }
    Ok(seed)
}
