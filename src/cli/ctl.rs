//! `tradeward ctl`: operator control of a running agent over its admin
//! socket. Prints the agent's JSON answer (`status`: a summary for people,
//! the JSON with `--json`); exits non-zero with the agent's error on
//! stderr.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::Client;
use crate::config::Config;

#[derive(Args)]
pub struct CtlArgs {
    /// Agent config file (to find the admin socket)
    #[arg(long, env = "TRADEWARD_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Admin socket (overrides the config)
    #[arg(long, env = "TRADEWARD_ADMIN_SOCK", global = true)]
    admin_socket: Option<PathBuf>,
    /// TOTP code, for operators with a second factor (asked for when
    /// needed and not given)
    #[arg(long, global = true)]
    totp: Option<String>,
    #[command(subcommand)]
    command: CtlCommand,
}

/// Which identity, key, or everything.
#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// Everything: every identity and key (the kill switch)
    #[arg(long)]
    all: bool,
    /// One identity
    #[arg(long)]
    identity: Option<String>,
    /// One key (alias)
    #[arg(long)]
    key: Option<String>,
}

impl Target {
    fn params(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        if self.all {
            m.insert("scope".into(), "all".into());
        } else if let Some(i) = &self.identity {
            m.insert("scope".into(), "identity".into());
            m.insert("name".into(), i.clone().into());
        } else if let Some(k) = &self.key {
            m.insert("scope".into(), "key".into());
            m.insert("name".into(), k.clone().into());
        }
        m
    }
}

#[derive(Subcommand)]
pub enum CtlCommand {
    /// The keys each alias signs with, and per identity: dead-man's
    /// switch, halts, open orders, limits used
    Status {
        /// Print the agent's JSON answer instead of the summary
        #[arg(long)]
        json: bool,
    },
    /// Halt new risk for one identity, one key, or everything
    Halt {
        #[command(flatten)]
        target: Target,
        /// Why (recorded in the journal)
        #[arg(long)]
        reason: Option<String>,
        /// Refuse cancels and reduce-only orders too (default: from
        /// deadman.halted_allows_reducing)
        #[arg(long)]
        no_reducing: bool,
    },
    /// Lift an operator halt (a tripped switch needs `rearm`)
    Resume {
        #[command(flatten)]
        target: Target,
    },
    /// Re-arm an identity's dead-man's switch (clears its trip and halt)
    Rearm {
        #[arg(long)]
        identity: String,
        /// New timeout (ms); default: the switch's last one
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Pause an identity's switch for planned downtime (e.g. venue maintenance)
    Pause {
        #[arg(long)]
        identity: String,
        /// How long: e.g. 90s, 30m, 2h
        #[arg(long = "for", value_parser = parse_duration_ms, conflicts_with = "until_ms")]
        duration_ms: Option<u64>,
        /// Until this time (ms since the Unix epoch)
        #[arg(long)]
        until_ms: Option<u64>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reload the policy from the config file (as SIGHUP does)
    Reload,
}

/// "90s", "30m", "2h", "1d" or plain milliseconds → ms.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "ms"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (try 90s, 30m, 2h)"))?;
    let mult = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("unknown unit in {s:?}: use ms, s, m, h or d")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

pub fn run(a: CtlArgs) -> Result<(), String> {
    let socket = match (&a.admin_socket, &a.config) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => Config::load(c).map_err(|e| e.to_string())?.admin_socket(),
        (None, None) => return Err("pass --config (or TRADEWARD_CONFIG) or --admin-socket".into()),
    };
    let mut summary = false;
    let (op, params) = match a.command {
        CtlCommand::Status { json } => {
            summary = !json;
            ("status", json!({}))
        }
        CtlCommand::Halt {
            target,
            reason,
            no_reducing,
        } => {
            let mut p = target.params();
            if let Some(r) = reason {
                p.insert("reason".into(), r.into());
            }
            if no_reducing {
                p.insert("reducing_allowed".into(), false.into());
            }
            ("halt", Value::Object(p))
        }
        CtlCommand::Resume { target } => ("resume", Value::Object(target.params())),
        CtlCommand::Rearm {
            identity,
            timeout_ms,
        } => (
            "rearm",
            json!({"identity": identity, "timeout_ms": timeout_ms}),
        ),
        CtlCommand::Pause {
            identity,
            duration_ms,
            until_ms,
            reason,
        } => {
            let mut p = json!({"identity": identity, "reason": reason});
            match (duration_ms, until_ms) {
                (Some(d), None) => p["duration_ms"] = d.into(),
                (None, Some(u)) => p["until_ms"] = u.into(),
                _ => return Err("give --for DURATION or --until-ms".into()),
            }
            ("pause", p)
        }
        CtlCommand::Reload => ("reload", json!({})),
    };
    let r = admin_call(&socket, op, params, a.totp)?;
    if summary {
        outln!("{}", super::status::render(&r).trim_end());
    } else {
        outln!("{}", serde_json::to_string_pretty(&r).expect("json"));
    }
    Ok(())
}

/// Call an operator op; if the agent asks for a TOTP code that was not
/// given, prompt for it (on a terminal) and send again.
pub fn admin_call(
    socket: &std::path::Path,
    op: &str,
    mut params: Value,
    totp: Option<String>,
) -> Result<Value, String> {
    use std::io::IsTerminal;
    let mut c = Client::connect(socket)
        .map_err(|e| format!("{}: {e} (is the agent running?)", socket.display()))?;
    c.set_timeout(Some(std::time::Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    if let Some(t) = &totp {
        params["totp"] = t.clone().into();
    }
    match c.call(op, params.clone()) {
        Err(e)
            if e.code() == Some("totp_required")
                && totp.is_none()
                && std::io::stdin().is_terminal() =>
        {
            prompt!("TOTP code: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            params["totp"] = line.trim().to_string().into();
            c.call(op, params).map_err(|e| e.to_string())
        }
        r => r.map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("30m"), Ok(1_800_000));
        assert_eq!(parse_duration_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_duration_ms("250"), Ok(250));
        assert!(parse_duration_ms("2w").is_err());
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("99999999999999999999d").is_err());
    }
}
