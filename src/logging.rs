//! Where the agent's and the commands' logs go, and in what shape. Logs go
//! to standard error, which journald captures under systemd.
//!
//! - `plain` (the default): one human-readable line per event; under
//!   journald (`JOURNAL_STREAM` set) without a timestamp or colours, since
//!   journald stamps each line itself.
//! - `json`: one JSON object per line, with stable member names:
//!   `timestamp` (RFC 3339, UTC), `level` (`INFO`, `WARN`, …), `message`,
//!   and the event's own fields at the top level (e.g. `identity`, `key`,
//!   `op`, `code` — error codes spelled as on the wire, `policy_denied`).
//!
//! The level comes from `TRADEWARD_LOG` (e.g. `debug`); by default `info`
//! for the agent and `warn` for operator commands. Log lines never carry
//! PINs, key material or request payloads. Worker processes inherit the
//! agent's format through `TRADEWARD_LOG_FORMAT`.

use std::sync::OnceLock;

use serde::Deserialize;

/// The shape of log lines (`--log-format`, `[agent] log_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Plain => "plain",
            LogFormat::Json => "json",
        }
    }

    fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "plain" => Some(LogFormat::Plain),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The variable that hands the format to worker processes.
pub const FORMAT_ENV: &str = "TRADEWARD_LOG_FORMAT";

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format in force (set by `init`).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// The `[agent] log_format` of the config file at `path`, if it names a
/// known one. Read before the config is loaded (so that loading itself is
/// logged in the right shape); a file that cannot be read or a value that
/// is not a format gives `None`, and the full load then reports the error
/// with its location.
pub fn configured_format(path: &std::path::Path) -> Option<LogFormat> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: toml::Table = text.parse().ok()?;
    let v = doc.get("agent")?.get("log_format")?.as_str()?;
    LogFormat::parse(v)
}

/// Start logging in `format` (or the inherited `TRADEWARD_LOG_FORMAT`).
pub fn init(agent: bool, format: Option<LogFormat>) {
    let format = format
        .or_else(|| {
            std::env::var(FORMAT_ENV)
                .ok()
                .as_deref()
                .and_then(LogFormat::parse)
        })
        .unwrap_or_default();
    let _ = FORMAT.set(format);
    // The yubikey crate logs every failed probe of an empty reader as an
    // error; its failures reach the operator as tradeward errors instead.
    let default = if agent {
        "info,yubikey=off"
    } else {
        "warn,yubikey=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRADEWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Plain if std::env::var_os("JOURNAL_STREAM").is_some() => {
            builder.without_time().with_ansi(false).try_init()
        }
        LogFormat::Plain => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}
