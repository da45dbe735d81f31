//! The `tradeward` command: the agent itself, operator provisioning and
//! inspection, and a scripting client. Argument types mirror what an
//! operator types; the work is done by the library modules.

/// `println!` for the CLI: a closed pipe ends the command quietly (see
/// [`out`]).
macro_rules! outln {
    () => {
        $crate::out::stdout_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stdout_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` for the CLI, best effort (see [`out`]).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::stderr_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// A prompt on standard error, without a newline (see [`out`]).
macro_rules! prompt {
    ($($arg:tt)*) => {
        $crate::out::stderr_fmt(format_args!($($arg)*))
    };
}

pub mod cluster;
pub mod ctl;
pub mod journal;
pub mod keys;

pub mod output;
pub mod sign;
pub mod status;
pub mod token;
pub mod yubikey;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::backend::TokenSelector;
use crate::backend::pkcs11::{Token, check_module_path};
use crate::config::Config;
use crate::secret::{PinSource, read_pin};

#[derive(Parser)]
#[command(
    name = "tradeward",
    version,
    about = "Signing agent for trading bots: keys stay in hardware, policy decides what gets signed",
    long_about = "tradeward keeps trading keys inside PKCS#11 tokens and signs for bots over a Unix socket \
(ssh-agent style). Operators use the same binary to create a development token, generate, import, list \
and delete keys, and to run the agent.\n\nPINs are never taken on the command line: use a PIN file \
(mode 0600), an environment variable name, or the interactive prompt."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the agent (reads the config, opens the token, listens on the socket)
    Agent {
        /// Agent config file (TOML)
        #[arg(long, env = "TRADEWARD_CONFIG")]
        config: PathBuf,
        /// Check the config, keys and self-test, then exit without listening
        #[arg(long)]
        check: bool,
        /// Shape of log lines: plain (journald-friendly) or json (one object
        /// per line); overrides [agent] log_format
        #[arg(long, value_enum)]
        log_format: Option<crate::logging::LogFormat>,
    },
    /// Manage tokens (development token set-up)
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Generate, import, list and delete keys on the token
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Verify, export, or recover the journal
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// The shared database of [cluster]: create its schema, show and verify it
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Ask a running agent for a signature (for scripts); prints JSON
    Sign(sign::SignArgs),
    /// Operator control of a running agent: status, halt (kill switch),
    /// resume, rearm, pause, reload
    Ctl(ctl::CtlArgs),
    /// YubiKey PIV devices: first set-up, listing, attestation
    #[command(subcommand)]
    Yubikey(yubikey::YubikeyCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `tradeward man > tradeward.1`
    Man,
    /// Internal: a signing worker process started by the agent
    #[command(hide = true)]
    Worker,
}

/// How operator commands find the token and its PIN.
#[derive(Args, Clone, Debug)]
pub struct TokenArgs {
    /// Take module, token and PIN settings from this agent config file
    #[arg(long, env = "TRADEWARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// PKCS#11 module (overrides the config)
    #[arg(long, env = "TRADEWARD_PKCS11_MODULE")]
    pub module: Option<PathBuf>,
    /// Token label (overrides the config)
    #[arg(long)]
    pub token_label: Option<String>,
    /// Token serial number (overrides the config)
    #[arg(long)]
    pub token_serial: Option<String>,
    /// File holding the user PIN (must be mode 0600)
    #[arg(long, env = "TRADEWARD_PIN_FILE")]
    pub pin_file: Option<PathBuf>,
    /// Name of an environment variable holding the user PIN
    #[arg(long)]
    pub pin_env: Option<String>,
}

impl TokenArgs {
    /// Open and log in to the token these arguments describe.
    pub fn open(&self) -> Result<Token, String> {
        let cfg = match &self.config {
            Some(p) => Some(Config::load(p).map_err(|e| e.to_string())?),
            None => None,
        };
        let pk = cfg.as_ref().map(|c| &c.pkcs11);
        let module = self
            .module
            .clone()
            .or_else(|| pk.map(|p| p.module.clone()))
            .ok_or("no PKCS#11 module: pass --module or --config")?;
        let allowed = pk
            .map(|p| p.allowed_module_dirs.clone())
            .unwrap_or_else(|| {
                crate::backend::pkcs11::DEFAULT_MODULE_DIRS
                    .iter()
                    .map(PathBuf::from)
                    .collect()
            });
        let module = check_module_path(&module, &allowed).map_err(|e| e.to_string())?;
        if let Some(p) = pk {
            for (k, v) in &p.env {
                // The CLI is single-threaded here.
                crate::harden::set_env_before_threads(k, v);
            }
        }
        let selector = TokenSelector {
            label: self
                .token_label
                .clone()
                .or_else(|| pk.and_then(|p| p.token_label.clone())),
            serial: self
                .token_serial
                .clone()
                .or_else(|| pk.and_then(|p| p.token_serial.clone())),
        };
        let pin = if let Some(f) = &self.pin_file {
            read_pin(PinSource::File(f))?
        } else if let Some(v) = &self.pin_env {
            read_pin(PinSource::Env(v))?
        } else if let Some(f) = pk.and_then(|p| p.pin_file.as_ref()) {
            read_pin(PinSource::File(f))?
        } else if let Some(v) = pk.and_then(|p| p.pin_env.as_ref()) {
            read_pin(PinSource::Env(v))?
        } else {
            read_pin(PinSource::Prompt)?
        };
        let token = Token::open(&module, &selector).map_err(|e| e.to_string())?;
        token.login(&pin).map_err(|e| e.to_string())?;
        Ok(token)
    }
}

/// Parse arguments and run; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help, version and usage errors: printed like any other output.
        Err(e) => return crate::out::clap_exit(&e),
    };
    match &cli.command {
        Command::Agent {
            config, log_format, ..
        } => crate::logging::init(
            true,
            log_format.or_else(|| crate::logging::configured_format(config)),
        ),
        Command::Worker => crate::logging::init(true, None),
        _ => crate::logging::init(false, None),
    }
    let result = match cli.command {
        Command::Worker => return crate::backend::worker::run(),
        Command::Agent { config, check, .. } => crate::agent::run(&config, check),
        Command::Token(c) => token::run(c),
        Command::Keys(c) => keys::run(c),
        Command::Journal(c) => journal::run(c),
        Command::Cluster(c) => cluster::run(c),
        Command::Sign(a) => sign::run(a),
        Command::Ctl(a) => ctl::run(a),
        Command::Yubikey(c) => yubikey::run(c),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "tradeward",
                &mut buf,
            );
            crate::out::stdout_bytes(&buf)
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut buf)
                .map_err(|e| e.to_string())
                .and_then(|()| crate::out::stdout_bytes(&buf))
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            errln!("tradeward: {e}");
            1
        }
    }
}
