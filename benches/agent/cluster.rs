//! `[cluster]`: the Hyperliquid order path at 1 and 16 clients with the
//! shared database on a local PostgreSQL, next to the same agent set-up
//! without `[cluster]`, in the same run (docs/cluster.md). Needs the libpq
//! variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) that
//! scripts/bench.sh gets from `pg_virtualenv`; without them the section
//! says it was skipped.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::load::{Sampler, TwConn, Window, closed_loop};
use crate::setup::{Env, start_agent};
use crate::{hl_payload, line, say};

/// Client counts measured.
const LEVELS: [usize; 2] = [1, 16];

pub fn bench(env: &Env, window: Window, bin: &Path) -> Result<Value, String> {
    let Ok(host) = std::env::var("PGHOST") else {
        say("cluster: skipped (no PGHOST; scripts/bench.sh runs under pg_virtualenv)");
        return Ok(json!({"skipped": "no PostgreSQL: PGHOST is not set"}));
    };
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let url = format!(
        "host={host} port={} user={} password={} dbname={}",
        var("PGPORT", "5432"),
        var("PGUSER", "postgres"),
        var("PGPASSWORD", ""),
        var("PGDATABASE", "postgres"),
    );
    let url_file = env.root.join("cluster.url");
    std::fs::write(&url_file, format!("{url}\n")).map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
    }
    let payload = hl_payload()?;
    let mut out = serde_json::Map::new();
    for (mode, cluster) in [("local", false), ("cluster", true)] {
        let sock = env.root.join(format!("run-{mode}")).join("agent.sock");
        let config = env.root.join(format!("agent-{mode}.toml"));
        env.write_agent_config(
            &config,
            &sock,
            &env.root.join(format!("journal-{mode}")),
            "max_connections_per_identity = 1024",
        )?;
        if cluster {
            let mut text = std::fs::read_to_string(&config).map_err(|e| e.to_string())?;
            text.push_str(&format!(
                "\n[cluster]\nname = \"bench-{}\"\nagent_id = \"bench\"\nurl_file = {:?}\nsslmode = \"disable\"\n",
                std::process::id(),
                url_file.display().to_string()
            ));
            std::fs::write(&config, text).map_err(|e| e.to_string())?;
            let init = std::process::Command::new(bin)
                .args(["cluster", "init", "--config"])
                .arg(&config)
                .output()
                .map_err(|e| e.to_string())?;
            if !init.status.success() {
                return Err(format!(
                    "cluster init: {}",
                    String::from_utf8_lossy(&init.stderr)
                ));
            }
        }
        let agent = start_agent(
            bin,
            &config,
            &sock,
            &env.root.join(format!("agent-{mode}.log")),
            Duration::from_secs(120),
        )?;
        let sampler = Sampler::new(agent.pid());
        let mut runs = Vec::new();
        for c in LEVELS {
            let r = closed_loop(
                c,
                window,
                |_| {
                    TwConn::connect(&sock, &payload)
                        .map(|c| Box::new(c) as Box<dyn crate::load::Conn>)
                },
                || {},
                Some(&sampler),
            );
            line(&format!("hyperliquid L1 {mode}"), &r);
            runs.push(r.to_json());
        }
        drop(agent);
        out.insert(mode.into(), Value::Array(runs));
    }
    Ok(Value::Object(out))
}
