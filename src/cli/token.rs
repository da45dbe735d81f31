//! `tradeward token init-dev`: a project-local SoftHSM token for development
//! and the quickstart. Everything lives in one folder (git-ignored): the
//! SoftHSM config, the token files, random PINs in 0600 files, and a starter
//! agent config that points at them.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use secrecy::SecretString;

use crate::backend::pkcs11::{DEFAULT_MODULE_DIRS, Token, check_module_path, init_token};
use crate::backend::{KeyType, TokenSelector};

/// Label of the development token's journal audit key.
pub const AUDIT_LABEL: &str = "tradeward-audit";

/// Where SoftHSM's module lives on common distributions.
const SOFTHSM_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
];

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a project-local SoftHSM token with random PINs and a starter agent config
    InitDev {
        /// Folder for the token, its config, PIN files and the agent config
        #[arg(long, default_value = "softhsm/dev")]
        dir: PathBuf,
        /// Token label
        #[arg(long, default_value = "tradeward-dev")]
        label: String,
        /// SoftHSM module (found automatically when installed from packages)
        #[arg(long)]
        module: Option<PathBuf>,
        /// Delete an existing token in that folder first
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: TokenCommand) -> Result<(), String> {
    match cmd {
        TokenCommand::InitDev {
            dir,
            label,
            module,
            force,
        } => init_dev(&dir, &label, module, force),
    }
}

/// Find the SoftHSM module.
pub fn find_softhsm() -> Option<PathBuf> {
    SOFTHSM_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn random_pin() -> Result<String, String> {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(hex::encode(b))
}

fn write_private(path: &Path, contents: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn init_dev(dir: &Path, label: &str, module: Option<PathBuf>, force: bool) -> Result<(), String> {
    let module = module
        .or_else(find_softhsm)
        .ok_or("SoftHSM is not installed (apt-get install softhsm2), or pass --module")?;
    let allowed: Vec<PathBuf> = DEFAULT_MODULE_DIRS.iter().map(PathBuf::from).collect();
    let module = check_module_path(&module, &allowed).map_err(|e| e.to_string())?;
    let conf = dir.join("softhsm2.conf");
    if conf.exists() {
        if !force {
            return Err(format!(
                "{} already holds a development token; pass --force to replace it",
                dir.display()
            ));
        }
        for f in ["softhsm2.conf", "user.pin", "so.pin", "tradeward.toml"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let _ = std::fs::remove_dir_all(dir.join("journal"));
        let _ = std::fs::remove_dir_all(dir.join("tokens"));
        let _ = std::fs::remove_dir_all(dir.join("run"));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir.join("tokens"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let tokendir = dir.join("tokens");
    let template = include_str!("../../softhsm/softhsm2.conf.in");
    write_private(
        &conf_path(&dir),
        &template.replace("@TOKENDIR@", &tokendir.display().to_string()),
    )?;
    let user_pin = random_pin()?;
    let so_pin = random_pin()?;
    write_private(&dir.join("user.pin"), &user_pin)?;
    write_private(&dir.join("so.pin"), &so_pin)?;
    // The CLI is single-threaded here.
    crate::harden::set_env_before_threads("SOFTHSM2_CONF", conf_path(&dir));
    let user_pin = SecretString::from(user_pin);
    let (label, serial) = init_token(&module, label, &SecretString::from(so_pin), &user_pin)
        .map_err(|e| e.to_string())?;
    // The journal's audit key: signs checkpoints over the journal's chain.
    let token = Token::open(
        &module,
        &TokenSelector {
            label: Some(label.clone()),
            serial: None,
        },
    )
    .map_err(|e| e.to_string())?;
    token.login(&user_pin).map_err(|e| e.to_string())?;
    token
        .generate(KeyType::Ed25519, AUDIT_LABEL)
        .map_err(|e| e.to_string())?;
    let uid = nix::unistd::getuid().as_raw();
    let agent_toml = format!(
        r#"# Starter agent config for the development token (written by `tradeward token init-dev`).
# Add [keys.ALIAS] sections and grant them to an identity; see docs/config.md.

[agent]
socket = "{run}/agent.sock"

[pkcs11]
module = "{module}"
token_label = "{label}"
pin_file = "{dir}/user.pin"

[pkcs11.env]
SOFTHSM2_CONF = "{conf}"

[journal]
dir = "{dir}/journal"
audit_key = "audit"

# Signs the journal's checkpoints; never granted to an identity.
[keys.audit]
type = "ed25519"
label = "{audit}"

# Operator control (`tradeward ctl`) on run/admin.sock. On this development
# token the developer is both the bot identity and the operator; in
# production run bots under their own uids and drop this line.
[admin]
allow_shared_uid = true

[identities.developer]
uids = [{uid}]
keys = []
ops = ["list_keys", "sign", "heartbeat"]
"#,
        run = dir.join("run").display(),
        module = module.display(),
        dir = dir.display(),
        conf = conf_path(&dir).display(),
        audit = AUDIT_LABEL,
    );
    write_private(&dir.join("tradeward.toml"), &agent_toml)?;
    outln!(
        "Created SoftHSM token {label:?} (serial {serial}) in {}",
        dir.display()
    );
    outln!("  SoftHSM config : {}", conf_path(&dir).display());
    outln!("  user PIN file  : {}/user.pin (mode 0600)", dir.display());
    outln!("  agent config   : {}/tradeward.toml", dir.display());
    outln!(
        "  journal        : {}/journal (checkpoints signed by key {AUDIT_LABEL:?})",
        dir.display()
    );
    outln!();
    outln!(
        "Next: export TRADEWARD_CONFIG={}/tradeward.toml",
        dir.display()
    );
    outln!("      tradeward keys generate --type secp256k1 --label my-key");
    Ok(())
}

fn conf_path(dir: &Path) -> PathBuf {
    dir.join("softhsm2.conf")
}
