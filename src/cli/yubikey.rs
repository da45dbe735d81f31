//! `tradeward yubikey ...`: first set-up of a YubiKey's PIV applet, the
//! devices connected, and attestation of a slot's key. Key generation and
//! listing on a YubiKey go through `tradeward keys ... --backend yubikey`
//! (the helpers at the bottom of this file).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::backend::KeyInfo;
use crate::backend::piv::provision::{
    self, DEFAULT_PIN, DEFAULT_PUK, GenerateRequest, SetupSecrets,
};
use crate::backend::piv::{PinPolicy, PolicySource, Slot, TouchPolicy};
use crate::config::Config;
use crate::secret::{PinSource, read_pin};

#[derive(Subcommand)]
pub enum YubikeyCommand {
    /// First set-up: a new PIN and PUK, and a random management key stored
    /// PIN-protected on the device (so only the PIN is needed afterwards).
    /// Secrets come from files (mode 0600) or prompts, never the command line
    Setup {
        #[arg(long)]
        serial: Option<u32>,
        /// File with the current PIN (default: the factory PIN)
        #[arg(long)]
        pin_file: Option<PathBuf>,
        /// File with the new PIN (6 to 8 characters; asked for if absent)
        #[arg(long)]
        new_pin_file: Option<PathBuf>,
        /// File with the current PUK (default: the factory PUK)
        #[arg(long)]
        puk_file: Option<PathBuf>,
        /// File with the new PUK (6 to 8 characters; asked for if absent)
        #[arg(long)]
        new_puk_file: Option<PathBuf>,
        /// File with the current management key in hex, if it is neither
        /// the factory default nor PIN-protected
        #[arg(long)]
        management_key_file: Option<PathBuf>,
    },
    /// List the YubiKeys (PIV devices) connected
    List {
        #[arg(long)]
        json: bool,
    },
    /// Ask the device to attest a slot's key and verify the answer: chain
    /// to the device's attestation certificate (and to a CA you give), and
    /// whether the key was generated on the device
    Attest {
        #[arg(long)]
        serial: Option<u32>,
        #[arg(long)]
        slot: Slot,
        /// Yubico's PIV attestation CA certificate (PEM or DER), to check
        /// the device certificate too
        #[arg(long)]
        ca: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// Which store a `keys` command works on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The PKCS#11 token (default)
    #[default]
    Pkcs11,
    /// A YubiKey's PIV applet
    Yubikey,
}

/// `keys generate --backend yubikey` options.
#[derive(Args, Clone, Debug, Default)]
pub struct YubikeyKeyArgs {
    /// YubiKey serial number (default: the only one connected, or the one
    /// named by --device in the config)
    #[arg(long)]
    pub serial: Option<u32>,
    /// A `[yubikeys.NAME]` of the config, for its serial and PIN source
    #[arg(long)]
    pub device: Option<String>,
    /// PIV slot: 9a, 9c, 9d, 9e or 82 to 95
    #[arg(long)]
    pub slot: Option<Slot>,
    /// When the device asks for the PIN before signing
    #[arg(long, value_enum, default_value_t = PinPolicy::Default)]
    pub pin_policy: PinPolicy,
    /// When the device asks for a touch before signing
    #[arg(long, value_enum, default_value_t = TouchPolicy::Default)]
    pub touch_policy: TouchPolicy,
    /// Replace a key already in the slot (destroying it)
    #[arg(long)]
    pub force: bool,
    /// File with the management key in hex (default: the PIN-protected one
    /// that `tradeward yubikey setup` stores on the device)
    #[arg(long)]
    pub management_key_file: Option<PathBuf>,
}

fn read_file_secret(path: &Path, what: &str) -> Result<SecretString, String> {
    read_pin(PinSource::File(path)).map_err(|e| format!("{what}: {e}"))
}

fn prompt(label: &str) -> Result<SecretString, String> {
    let v = rpassword::prompt_password(label)
        .map_err(|e| format!("cannot read from the terminal: {e}"))?;
    if v.is_empty() {
        return Err("empty answer".into());
    }
    Ok(SecretString::from(v))
}

fn prompt_new(what: &str) -> Result<SecretString, String> {
    use secrecy::ExposeSecret;
    let a = prompt(&format!("New {what}: "))?;
    let b = prompt(&format!("New {what} again: "))?;
    if a.expose_secret() != b.expose_secret() {
        return Err(format!("the two {what}s differ; nothing was changed"));
    }
    Ok(a)
}

pub fn run(cmd: YubikeyCommand) -> Result<(), String> {
    match cmd {
        YubikeyCommand::Setup {
            serial,
            pin_file,
            new_pin_file,
            puk_file,
            new_puk_file,
            management_key_file,
        } => {
            let secrets = SetupSecrets {
                current_pin: match &pin_file {
                    Some(f) => read_file_secret(f, "current PIN")?,
                    None => SecretString::from(DEFAULT_PIN),
                },
                new_pin: match &new_pin_file {
                    Some(f) => read_file_secret(f, "new PIN")?,
                    None => prompt_new("PIN")?,
                },
                current_puk: match &puk_file {
                    Some(f) => read_file_secret(f, "current PUK")?,
                    None => SecretString::from(DEFAULT_PUK),
                },
                new_puk: match &new_puk_file {
                    Some(f) => read_file_secret(f, "new PUK")?,
                    None => prompt_new("PUK")?,
                },
                current_management_key: management_key_file
                    .as_deref()
                    .map(|f| read_file_secret(f, "management key"))
                    .transpose()?,
            };
            let serial = provision::setup(serial, secrets)?;
            outln!(
                "YubiKey {serial}: new PIN and PUK set; a new random management key is stored PIN-protected \
                 on the device (nobody needs to know it)."
            );
            Ok(())
        }
        YubikeyCommand::List { json } => {
            let devices = provision::list_devices()?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&devices).expect("json"));
            } else if devices.is_empty() {
                outln!("No YubiKey connected.");
            } else {
                for d in &devices {
                    outln!(
                        "YubiKey {}  firmware {}  reader {:?}",
                        d.serial,
                        d.version,
                        d.reader
                    );
                }
            }
            Ok(())
        }
        YubikeyCommand::Attest {
            serial,
            slot,
            ca,
            json,
        } => {
            let ca = ca
                .as_deref()
                .map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())))
                .transpose()?;
            let a = provision::attest_slot(serial, slot, ca.as_deref())?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&a).expect("json"));
            } else {
                outln!("Slot {slot}: attestation verified; the key was generated on the device.");
                outln!("    device certificate  {}", a.device_certificate_subject);
                outln!(
                    "    chained to the CA   {}",
                    if a.chain_to_ca {
                        "yes"
                    } else {
                        "not checked (pass --ca)"
                    }
                );
                if let Some(s) = a.serial {
                    outln!("    serial              {s}");
                }
                if let Some(f) = &a.firmware {
                    outln!("    firmware            {f}");
                }
                outln!(
                    "    PIN policy {}  touch policy {}",
                    a.pin_policy.map_or("?", |p| p.as_str()),
                    a.touch_policy.map_or("?", |t| t.as_str())
                );
            }
            Ok(())
        }
    }
}

/// The serial and PIN source for a `keys` command on a YubiKey.
fn target(
    args: &YubikeyKeyArgs,
    config: Option<&Path>,
    pin_file: Option<&Path>,
    pin_env: Option<&str>,
) -> Result<(Option<u32>, Option<SecretString>), String> {
    let cfg = config
        .map(Config::load)
        .transpose()
        .map_err(|e| e.to_string())?;
    let dev = match (&args.device, &cfg) {
        (Some(name), Some(c)) => Some(
            c.yubikeys
                .get(name)
                .ok_or_else(|| format!("no [yubikeys.{name}] in the config"))?
                .clone(),
        ),
        (Some(_), None) => return Err("--device needs --config (or TRADEWARD_CONFIG)".into()),
        (None, Some(c)) => args
            .serial
            .and_then(|s| c.yubikeys.values().find(|y| y.serial == s).cloned()),
        (None, None) => None,
    };
    let serial = args.serial.or(dev.as_ref().map(|d| d.serial));
    let pin = if let Some(f) = pin_file {
        Some(read_pin(PinSource::File(f))?)
    } else if let Some(v) = pin_env {
        Some(read_pin(PinSource::Env(v))?)
    } else if let Some(f) = dev.as_ref().and_then(|d| d.pin_file.as_deref()) {
        Some(read_pin(PinSource::File(f))?)
    } else if let Some(v) = dev.as_ref().and_then(|d| d.pin_env.as_deref()) {
        Some(read_pin(PinSource::Env(v))?)
    } else {
        None
    };
    Ok((serial, pin))
}

/// `keys generate --backend yubikey`.
pub fn generate_key(
    args: &YubikeyKeyArgs,
    label: &str,
    config: Option<&Path>,
    pin_file: Option<&Path>,
    pin_env: Option<&str>,
) -> Result<KeyInfo, String> {
    let slot = args
        .slot
        .ok_or("--backend yubikey needs --slot (9a, 9c, 9d, 9e or 82 to 95)")?;
    let (serial, pin) = target(args, config, pin_file, pin_env)?;
    let pin = match pin {
        Some(p) => p,
        None => prompt("YubiKey PIN: ")?,
    };
    let mgm = args
        .management_key_file
        .as_deref()
        .map(|f| read_file_secret(f, "management key"))
        .transpose()?;
    provision::generate(GenerateRequest {
        serial,
        pin: &pin,
        management_key: mgm.as_ref(),
        slot,
        pin_policy: args.pin_policy,
        touch_policy: args.touch_policy,
        label,
        force: args.force,
    })
}

/// `keys list --backend yubikey`: every key on one device (no PIN).
pub fn list_keys(
    args: &YubikeyKeyArgs,
    config: Option<&Path>,
    json: bool,
    pem: bool,
) -> Result<(), String> {
    let serial = match target(args, config, None, None)?.0 {
        Some(s) => s,
        None => {
            let devices = provision::list_devices()?;
            match devices.as_slice() {
                [one] => one.serial,
                [] => return Err("no YubiKey is connected".into()),
                _ => return Err("more than one YubiKey is connected: pass --serial".into()),
            }
        }
    };
    let keys = provision::list_keys(serial)?;
    if json {
        let arr: Vec<Value> = keys
            .iter()
            .map(|k| match k {
                Ok(k) => super::output::key_json(k),
                Err((slot, e)) => json!({"slot": slot.to_string(), "error": e}),
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"yubikey": serial, "keys": arr})).expect("json")
        );
    } else {
        outln!("YubiKey {serial}: {} key(s)", keys.len());
        for k in &keys {
            match k {
                Ok(k) => print_piv_key(k, pem),
                Err((slot, e)) => outln!("slot {slot}: {e}"),
            }
        }
    }
    Ok(())
}

/// Print one YubiKey key for people.
pub fn print_piv_key(k: &KeyInfo, pem: bool) {
    let Some(p) = &k.piv else { return };
    outln!(
        "slot {} ({})  {}  ({})",
        p.slot,
        p.slot.purpose(),
        k.label,
        k.key_type
    );
    if let Some(pk) = &k.public_key {
        outln!("    public key  {}", crate::protocol::to_hex(pk));
    }
    super::output::print_pem(k, pem);
    let source = match p.policy_source {
        PolicySource::Device => "reported by the device",
        PolicySource::Certificate => {
            "requested at generation, read from its certificate; not vouched for by the device"
        }
        PolicySource::Unknown => "not reported by this device",
    };
    outln!(
        "    PIN policy {}  touch policy {}  ({source})",
        p.pin_policy.map_or("unknown", |x| x.as_str()),
        p.touch_policy.map_or("unknown", |x| x.as_str())
    );
    outln!(
        "    generated on device {}",
        match p.origin {
            Some(crate::backend::piv::card::Origin::Generated) => "yes",
            Some(crate::backend::piv::card::Origin::Imported) => "no (imported)",
            None => "not reported (see `tradeward yubikey attest`)",
        }
    );
    outln!("    reference   {}", k.uri());
}
