//! Optional shared state on PostgreSQL for several agents (`[cluster]`,
//! docs/cluster.md): the decisions that read shared limits are checked and
//! recorded in one transaction under locks scoped to what they read, and
//! committed before the token signs.
//!
//! One concept per file: [`anchor`] (the start-up check of the local
//! journal against the hashes the cluster holds), [`config`] (the `[cluster]` table and the URL),
//! [`connect`] (a connection with TLS and its session settings),
//! [`schema`] (the embedded migrations), [`inspect`] (what the operator
//! commands read), [`shared`] (the shared-decision
//! transaction: locks, catch-up, nonce mark, record, commit).
//!
//! This module knows nothing of policy rules: it stores journal decisions
//! and hands the other agents' ones back to the caller, which replays them
//! into its state with the journal's own replay code.

pub mod anchor;
pub mod config;
pub mod connect;
pub mod inspect;
pub mod schema;
pub mod shared;

use std::sync::Arc;

pub use config::ClusterConfig;
pub use shared::Txn;

/// Deadline of the first catch-up at start (ms).
pub const FIRST_CATCH_UP_TIMEOUT_MS: u64 = 60_000;

/// Why a shared decision could not be made. Every one of them means
/// "deny" for the request that needed it (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The settings, the URL or the schema: an operator must act.
    #[error("{0}")]
    Setup(String),
    #[error("cluster database: {}", pg_message(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("cluster database: no answer within {0} ms")]
    Timeout(u64),
}

/// A database error with the server's own message when there is one.
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

/// The agent's handle on the cluster: its settings, one connection (opened
/// on first use, and again after any failure: the agent recovers alone
/// when the database returns) and how far it has caught up with the other
/// agents' decisions.
pub struct Cluster {
    cfg: ClusterConfig,
    pg: tokio_postgres::Config,
    conn: Arc<tokio::sync::Mutex<shared::Conn>>,
}

impl Cluster {
    /// Read and parse the database URL once. Call before any thread
    /// exists: a URL from `cluster.url_env` is removed from the
    /// environment, so that workers and hooks never inherit it.
    pub fn new(cfg: ClusterConfig) -> Result<Cluster, ClusterError> {
        let pg = connect::settings(&cfg)?;
        if let Some(var) = &cfg.url_env {
            crate::harden::remove_env_before_threads(var);
        }
        Ok(Cluster {
            cfg,
            pg,
            conn: Arc::new(tokio::sync::Mutex::new(shared::Conn::default())),
        })
    }

    /// A new connection of its own (for `tradeward cluster ...`).
    pub async fn connect(&self) -> Result<tokio_postgres::Client, ClusterError> {
        let t = std::time::Duration::from_millis(self.cfg.timeout_ms.max(5_000));
        tokio::time::timeout(t, connect::connect(&self.cfg, &self.pg))
            .await
            .map_err(|_| ClusterError::Timeout(t.as_millis() as u64))?
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    /// At the agent's start: the database answers, its schema is this
    /// build's, and this agent is on its list. Returns the highest local
    /// record of this agent the cluster holds (seq, hex hash), for
    /// [`anchor::AnchorCheck`]. Errors name the setting.
    pub async fn check_at_start(&self) -> Result<Option<(u64, String)>, ClusterError> {
        let deadline = std::time::Duration::from_millis(self.cfg.timeout_ms.max(5_000));
        tokio::time::timeout(deadline, async {
            let client = connect::connect(&self.cfg, &self.pg).await?;
            schema::check(&client).await?;
            client
                .execute(
                    "INSERT INTO tradeward_agents (cluster, agent) VALUES ($1, $2) \
                     ON CONFLICT (cluster, agent) DO UPDATE SET last_start = now()",
                    &[&self.cfg.name, &self.cfg.agent_id],
                )
                .await?;
            inspect::anchored_tail(&client, &self.cfg.name, &self.cfg.agent_id).await
        })
        .await
        .map_err(|_| ClusterError::Timeout(deadline.as_millis() as u64))?
    }

    /// Begin a shared decision for `identity` on `key`, under their locks
    /// (see [`shared`]).
    pub async fn begin(&self, identity: &str, key: &str) -> Result<Txn, ClusterError> {
        let locks = [
            shared::lock_id(&self.cfg.name, "identity", identity),
            shared::lock_id(&self.cfg.name, "key", key),
        ];
        Txn::begin(
            &self.cfg,
            &self.pg,
            self.conn.clone(),
            &locks,
            self.cfg.timeout_ms,
        )
        .await
    }

    /// A connection of its own that listens for the cluster's operator
    /// events: each one wakes `wake`. Keep the client while it is open.
    pub async fn listen(
        &self,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<tokio_postgres::Client, ClusterError> {
        let t = std::time::Duration::from_millis(self.cfg.timeout_ms);
        tokio::time::timeout(t, async {
            let client = connect::connect_with(&self.cfg, &self.pg, Some(wake)).await?;
            client
                .batch_execute(&format!("LISTEN {}", shared::CHANNEL))
                .await?;
            Ok(client)
        })
        .await
        .map_err(|_| ClusterError::Timeout(t.as_millis() as u64))?
    }

    /// Anchor the committed decision at `cluster_seq` to its durable local
    /// journal record (see [`shared`]).
    pub async fn anchor(
        &self,
        cluster_seq: i64,
        local: crate::journal::Appended,
    ) -> Result<(), ClusterError> {
        shared::anchor(&self.conn, cluster_seq, local, self.cfg.timeout_ms).await
    }

    /// Record an operator event for every agent of the cluster and
    /// announce it (see [`shared::CHANNEL`]).
    pub async fn publish(
        &self,
        event: &crate::journal::Event,
        ts_ms: u64,
    ) -> Result<(), ClusterError> {
        let mut txn = self.begin_unlocked().await?;
        txn.publish(event, ts_ms).await?;
        txn.commit().await
    }

    /// Begin a transaction that takes no lock: catching up while idle,
    /// publishing an operator event.
    pub async fn begin_unlocked(&self) -> Result<Txn, ClusterError> {
        Txn::begin(
            &self.cfg,
            &self.pg,
            self.conn.clone(),
            &[],
            self.cfg.timeout_ms,
        )
        .await
    }

    /// At start, before serving: read the other agents' decisions of the
    /// catch-up window and every operator event of the cluster into the
    /// state through `apply`, with a deadline of its own (`FIRST_CATCH_UP`:
    /// a busy cluster's two days can take longer than one decision's
    /// deadline). Later catch-ups read only what is new.
    pub async fn first_catch_up(
        &self,
        now_ms: u64,
        apply: &mut (dyn FnMut(&crate::journal::Record) + Send),
    ) -> Result<usize, ClusterError> {
        let timeout_ms = FIRST_CATCH_UP_TIMEOUT_MS.max(self.cfg.timeout_ms);
        let mut txn = Txn::begin(&self.cfg, &self.pg, self.conn.clone(), &[], timeout_ms).await?;
        let n = txn.catch_up(now_ms, apply).await?;
        txn.commit().await?;
        Ok(n)
    }
}
