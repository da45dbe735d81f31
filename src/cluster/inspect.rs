//! Read-only queries for the operator's `tradeward cluster status` and
//! `cluster verify`.

use tokio_postgres::Client;

use super::ClusterError;

/// One agent of the cluster, as the database knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AgentRow {
    pub agent: String,
    pub decisions: i64,
    pub allowed: i64,
    /// Time of its last shared decision (ms since the epoch).
    pub last_decision_ms: Option<i64>,
    /// Its highest local journal seq the cluster holds a hash of.
    pub last_local_seq: Option<i64>,
}

/// A key's shared nonce mark.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NonceRow {
    pub key: String,
    pub hwm: i64,
    pub agent: String,
}

/// The agents of `cluster` (registered or with decisions).
pub async fn agents(client: &Client, cluster: &str) -> Result<Vec<AgentRow>, ClusterError> {
    let rows = client
        .query(
            "SELECT a.agent, count(d.seq), count(d.seq) FILTER (WHERE d.allow), max(d.ts_ms), max(d.local_seq)
             FROM (SELECT agent FROM tradeward_agents WHERE cluster = $1
                   UNION SELECT DISTINCT agent FROM tradeward_decisions WHERE cluster = $1) a
             LEFT JOIN tradeward_decisions d ON d.cluster = $1 AND d.agent = a.agent
             GROUP BY a.agent ORDER BY a.agent",
            &[&cluster],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AgentRow {
            agent: r.get(0),
            decisions: r.get(1),
            allowed: r.get(2),
            last_decision_ms: r.get(3),
            last_local_seq: r.get(4),
        })
        .collect())
}

/// The shared nonce marks of `cluster`.
pub async fn nonces(client: &Client, cluster: &str) -> Result<Vec<NonceRow>, ClusterError> {
    let rows = client
        .query(
            "SELECT key_alias, hwm, agent FROM tradeward_nonces WHERE cluster = $1 ORDER BY key_alias",
            &[&cluster],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| NonceRow {
            key: r.get(0),
            hwm: r.get(1),
            agent: r.get(2),
        })
        .collect())
}

/// The local journal records (seq, hex hash) of `agent`'s allowed
/// decisions the cluster holds, in seq order.
pub async fn local_hashes(
    client: &Client,
    cluster: &str,
    agent: &str,
) -> Result<Vec<(u64, String)>, ClusterError> {
    let rows = client
        .query(
            "SELECT local_seq, local_hash FROM tradeward_decisions
             WHERE cluster = $1 AND agent = $2 AND local_seq IS NOT NULL ORDER BY local_seq",
            &[&cluster, &agent],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, String>(1)))
        .collect())
}

/// Nonces allowed more than once for one key in `cluster`: (key, nonce,
/// how often). Empty when no nonce was assigned twice.
pub async fn duplicate_nonces(
    client: &Client,
    cluster: &str,
) -> Result<Vec<(String, i64, i64)>, ClusterError> {
    let rows = client
        .query(
            "SELECT key_alias, nonce, count(*) FROM tradeward_decisions
             WHERE cluster = $1 AND allow AND nonce IS NOT NULL
             GROUP BY key_alias, nonce HAVING count(*) > 1 ORDER BY key_alias, nonce",
            &[&cluster],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The highest local record of `agent` the cluster holds: (seq, hex hash).
pub async fn anchored_tail(
    client: &Client,
    cluster: &str,
    agent: &str,
) -> Result<Option<(u64, String)>, ClusterError> {
    let row = client
        .query_opt(
            "SELECT local_seq, local_hash FROM tradeward_decisions
             WHERE cluster = $1 AND agent = $2 AND local_seq IS NOT NULL
             ORDER BY local_seq DESC LIMIT 1",
            &[&cluster, &agent],
        )
        .await?;
    Ok(row.map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, String>(1))))
}
