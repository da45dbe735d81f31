//! `tradeward cluster ...`: set up and inspect the shared database of
//! `[cluster]` (docs/cluster.md).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use crate::cluster::{Cluster, inspect, schema};
use crate::config::Config;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Create or upgrade the cluster's schema in the database, and register this agent
    Init {
        /// Agent config with a [cluster] table
        #[arg(long, env = "TRADEWARD_CONFIG")]
        config: PathBuf,
    },
    /// Show the schema version, the cluster's agents and the shared nonce marks
    Status {
        #[arg(long, env = "TRADEWARD_CONFIG")]
        config: PathBuf,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check this agent's local journal against the hashes the cluster holds
    /// of it, that every signature has a decision committed there, and that
    /// no nonce was assigned twice in the cluster
    Verify {
        #[arg(long, env = "TRADEWARD_CONFIG")]
        config: PathBuf,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ClusterCommand) -> Result<(), String> {
    let path = match &cmd {
        ClusterCommand::Init { config }
        | ClusterCommand::Status { config, .. }
        | ClusterCommand::Verify { config, .. } => config.clone(),
    };
    let (cfg, cluster) = prepare(&path)?;
    runtime()?.block_on(async move {
        match cmd {
            ClusterCommand::Init { .. } => init(&cluster).await,
            ClusterCommand::Status { json, .. } => status(&cluster, json).await,
            ClusterCommand::Verify { json, .. } => verify(&cluster, &cfg.journal.dir, json).await,
        }
    })
}

/// Load the config and read the cluster's URL. Call before any thread
/// exists: a URL in the environment is taken out of it.
pub fn prepare(path: &Path) -> Result<(Config, Cluster), String> {
    let cfg = Config::load(path).map_err(|e| e.to_string())?;
    let ccfg = cfg.cluster.clone().ok_or_else(|| {
        format!(
            "config {} has no [cluster] table (docs/cluster.md)",
            path.display()
        )
    })?;
    let cluster = Cluster::new(ccfg).map_err(|e| e.to_string())?;
    Ok((cfg, cluster))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))
}

/// `journal verify --cluster`: [`verify`] on its own runtime.
pub fn verify_blocking(cluster: &Cluster, dir: &Path, as_json: bool) -> Result<(), String> {
    runtime()?.block_on(verify(cluster, dir, as_json))
}

async fn init(cluster: &Cluster) -> Result<(), String> {
    let mut client = cluster.connect().await.map_err(|e| e.to_string())?;
    let applied = schema::migrate(&mut client)
        .await
        .map_err(|e| e.to_string())?;
    let c = cluster.config();
    client
        .execute(
            "INSERT INTO tradeward_agents (cluster, agent) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&c.name, &c.agent_id],
        )
        .await
        .map_err(|e| crate::cluster::ClusterError::from(e).to_string())?;
    if applied.is_empty() {
        outln!(
            "cluster {}: schema already at version {}",
            c.name,
            schema::latest()
        );
    } else {
        outln!(
            "cluster {}: applied schema version(s) {:?}; now at {}",
            c.name,
            applied,
            schema::latest()
        );
    }
    outln!("agent {} registered", c.agent_id);
    Ok(())
}

async fn status(cluster: &Cluster, as_json: bool) -> Result<(), String> {
    let client = cluster.connect().await.map_err(|e| e.to_string())?;
    let c = cluster.config();
    let version = schema::version(&client).await.map_err(|e| e.to_string())?;
    if version.is_none() {
        return Err(format!(
            "cluster {}: the database has no tradeward schema: run `tradeward cluster init`",
            c.name
        ));
    }
    let agents = inspect::agents(&client, &c.name)
        .await
        .map_err(|e| e.to_string())?;
    let nonces = inspect::nonces(&client, &c.name)
        .await
        .map_err(|e| e.to_string())?;
    if as_json {
        outln!(
            "{}",
            json!({
                "cluster": c.name,
                "agent_id": c.agent_id,
                "schema_version": version,
                "schema_wanted": schema::latest(),
                "agents": agents,
                "nonces": nonces,
            })
        );
        return Ok(());
    }
    outln!(
        "cluster {} (this agent: {}), schema version {} (this build: {})",
        c.name,
        c.agent_id,
        version.unwrap_or(0),
        schema::latest()
    );
    for a in &agents {
        outln!(
            "  agent {}: {} shared decisions ({} allowed), last local record anchored: {}",
            a.agent,
            a.decisions,
            a.allowed,
            a.last_local_seq
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into())
        );
    }
    for n in &nonces {
        outln!("  key {}: nonce mark {} (by {})", n.key, n.hwm, n.agent);
    }
    Ok(())
}

async fn verify(cluster: &Cluster, dir: &Path, as_json: bool) -> Result<(), String> {
    let client = cluster.connect().await.map_err(|e| e.to_string())?;
    let c = cluster.config();
    schema::check(&client).await.map_err(|e| e.to_string())?;
    let held = inspect::local_hashes(&client, &c.name, &c.agent_id)
        .await
        .map_err(|e| e.to_string())?;
    let duplicates = inspect::duplicate_nonces(&client, &c.name)
        .await
        .map_err(|e| e.to_string())?;
    // The hash of record N is the `prev` of record N+1; the last one's is
    // the scan's head.
    let mut hashes = std::collections::HashMap::new();
    let mut last: Option<u64> = None;
    // Every signature must have a decision committed in the cluster (from
    // the first decision the cluster holds on: the agent may have run
    // without [cluster] before).
    let anchored: std::collections::HashSet<u64> = held.iter().map(|(s, _)| *s).collect();
    let first_anchored = held.first().map(|(s, _)| *s).unwrap_or(u64::MAX);
    let mut unshared = Vec::new();
    let summary = crate::journal::segment::scan(dir, &mut |rec, _| {
        if let Some(p) = last {
            hashes.insert(p, rec.prev.clone());
        }
        last = Some(rec.seq);
        if let crate::journal::Event::Signature { decision, .. } = &rec.event
            && *decision >= first_anchored
            && !anchored.contains(decision)
        {
            unshared.push(*decision);
        }
    })
    .map_err(|e| format!("local journal {}: {e}", dir.display()))?;
    if let Some(p) = last {
        hashes.insert(p, hex::encode(summary.head));
    }
    let local_last = last.unwrap_or(0);
    let mut missing = Vec::new();
    let mut differing = Vec::new();
    for (seq, hash) in &held {
        match hashes.get(seq) {
            None => missing.push(*seq),
            Some(h) if h != hash => differing.push(*seq),
            Some(_) => {}
        }
    }
    let ok =
        missing.is_empty() && differing.is_empty() && duplicates.is_empty() && unshared.is_empty();
    if as_json {
        outln!(
            "{}",
            json!({
                "ok": ok,
                "anchored": held.len(),
                "local_last_seq": local_last,
                "missing_locally": missing,
                "hash_differs": differing,
                "signed_without_shared_decision": unshared,
                "duplicate_nonces": duplicates.iter().map(|(k, n, c)| json!({"key": k, "nonce": n, "count": c})).collect::<Vec<_>>(),
            })
        );
    } else {
        outln!(
            "agent {}: {} decisions anchored in cluster {}; local journal ends at seq {}",
            c.agent_id,
            held.len(),
            c.name,
            local_last
        );
        if !missing.is_empty() {
            outln!(
                "MISSING locally: {} anchored record(s), first seq {} (the local journal was cut or replaced)",
                missing.len(),
                missing[0]
            );
        }
        if !differing.is_empty() {
            outln!(
                "DIFFERENT locally: {} record(s), first seq {} (the local journal was rewritten)",
                differing.len(),
                differing[0]
            );
        }
        if !unshared.is_empty() {
            outln!(
                "UNSHARED: {} signature(s) whose decision the cluster does not hold, first decision seq {}",
                unshared.len(),
                unshared[0]
            );
        }
        for (k, n, cnt) in &duplicates {
            outln!("DUPLICATE nonce {n} for key {k}: allowed {cnt} times");
        }
        if ok {
            outln!("ok");
        }
    }
    if ok {
        Ok(())
    } else {
        Err("the local journal does not match what the cluster holds of it".into())
    }
}
