//! The shared-decision transaction, the one piece of SQL on the signing
//! path. `authorize` drives it, in this order, all in ONE transaction and
//! before the token signs:
//!
//! 1. **Lock** what the rules read: a transaction-scoped advisory lock on
//!    the identity, then one on the key (always in that order, so two
//!    agents cannot deadlock). Every window, bucket, breaker and open-order
//!    count the policy keeps is per identity or per key, so two decisions
//!    that read the same one are serialised across the cluster, and
//!    decisions that share nothing run side by side.
//! 2. **Catch up**: the decisions the other agents committed since this
//!    agent last looked are handed back as journal records, which the
//!    caller replays into its decision state with the journal's replay
//!    code. "Since it last looked" is tracked by transaction id, not by
//!    sequence number: a row with a smaller `seq` can commit after one
//!    with a larger one (different locks), so the agent remembers the
//!    oldest transaction still running when it last read (the snapshot's
//!    `xmin`) and the rows it applied at or above it.
//! 3. **Nonce mark**: the highest nonce any agent assigned for the key.
//! 4. The caller plans and judges; then **record** the decision and raise
//!    the key's nonce mark.
//! 5. **Commit** (synchronous commit). The caller waits until its local
//!    journal record is durable, **anchors** the row to it (its seq and
//!    chain hash, [`anchor`]), and only then signs.
//!
//! Any error or a missed deadline drops the connection (the server rolls
//! the transaction back and frees its locks); the next request connects
//! afresh. A transaction dropped without a commit is rolled back.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;
use tokio_postgres::{Client, Statement};

use super::ClusterError;
use super::config::ClusterConfig;
use crate::journal::{Appended, Decision, Event, Record};

/// How far back an agent reads the other agents' decisions when it first
/// catches up (after its start): two days, the longest any rule looks back
/// (the 24 h caps, open orders' default time-to-live) and Hyperliquid's
/// nonce window.
pub const FIRST_CATCH_UP_MS: u64 = 2 * 86_400_000;

/// The connection and what the agent has read through it.
#[derive(Default)]
pub struct Conn {
    client: Option<Client>,
    stmts: Option<Statements>,
    /// How far the other agents' decisions were read.
    cursor: Option<Cursor>,
    /// How far the other agents' operator events were read.
    events: Option<Cursor>,
}

struct Statements {
    first_catch_up: Statement,
    catch_up: Statement,
    first_events: Statement,
    events: Statement,
    nonce: Statement,
    insert: Statement,
    raise_nonce: Statement,
    publish: Statement,
    anchor: Statement,
}

/// How far this agent has read the other agents' decisions.
struct Cursor {
    /// The oldest transaction still running when it last read: every row
    /// of an older transaction has been read.
    xmin: i64,
    /// Rows read of transactions at or above `xmin` (seq → xid).
    applied: HashMap<i64, i64>,
}

const FIRST_CATCH_UP: &str = "\
WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
SELECT snap.xmin, d.seq, d.xid, d.ts_ms, d.decision
FROM snap LEFT JOIN tradeward_decisions d
  ON d.cluster = $1 AND d.agent <> $2 AND d.ts_ms >= $3
ORDER BY d.seq";

const CATCH_UP: &str = "\
WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
SELECT snap.xmin, d.seq, d.xid, d.ts_ms, d.decision
FROM snap LEFT JOIN tradeward_decisions d
  ON d.cluster = $1 AND d.agent <> $2 AND d.xid >= $3
ORDER BY d.seq";

/// Halts and resumes are few and never expire (a halt lasts until it is
/// lifted): the first read takes them all, this agent's own too, so that
/// they end up applied in the cluster's order (a halt from another agent
/// that this agent later resumed stays resumed); order reports only
/// within the catch-up window, like decisions. `$2` is unused.
const FIRST_EVENTS: &str = "\
WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
SELECT snap.xmin, e.seq, e.xid, e.ts_ms, e.event
FROM snap LEFT JOIN tradeward_events e
  ON e.cluster = $1 AND $2::text IS NOT NULL
 AND (e.kind IN ('halt', 'resume') OR e.ts_ms >= $3)
ORDER BY e.seq";

const EVENTS: &str = "\
WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
SELECT snap.xmin, e.seq, e.xid, e.ts_ms, e.event
FROM snap LEFT JOIN tradeward_events e
  ON e.cluster = $1 AND e.agent <> $2 AND e.xid >= $3
ORDER BY e.seq";

pub use super::connect::CHANNEL;

const PUBLISH: &str = "\
WITH ins AS (
  INSERT INTO tradeward_events (cluster, agent, ts_ms, kind, event)
  VALUES ($1, $2, $3, $4, $5) RETURNING seq)
SELECT ins.seq FROM ins CROSS JOIN LATERAL pg_notify('tradeward', $1::text) AS n";

const NONCE: &str = "SELECT hwm FROM tradeward_nonces WHERE cluster = $1 AND key_alias = $2";

const INSERT: &str = "\
INSERT INTO tradeward_decisions
  (cluster, agent, ts_ms, identity, key_alias, allow, rule, nonce, local_seq, local_hash, decision)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING seq";

const ANCHOR: &str =
    "UPDATE tradeward_decisions SET local_seq = $2, local_hash = $3 WHERE seq = $1";

const RAISE_NONCE: &str = "\
INSERT INTO tradeward_nonces (cluster, key_alias, hwm, agent) VALUES ($1, $2, $3, $4)
ON CONFLICT (cluster, key_alias)
DO UPDATE SET hwm = GREATEST(tradeward_nonces.hwm, EXCLUDED.hwm), agent = EXCLUDED.agent";

/// The advisory lock id of `name` of `class` ("identity" or "key") in
/// `cluster`: the first 8 bytes of a SHA-256 over the three.
pub fn lock_id(cluster: &str, class: &str, name: &str) -> i64 {
    let mut h = Sha256::new();
    for part in ["tradeward-lock", cluster, class, name] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// One shared decision in progress: the connection is this agent's while
/// it lives.
pub struct Txn {
    guard: Option<OwnedMutexGuard<Conn>>,
    cluster: String,
    agent: String,
    deadline: Instant,
    timeout_ms: u64,
    /// BEGIN was sent and neither COMMIT nor a failure followed.
    open: bool,
}

type Timed<T> = Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>;

impl Txn {
    /// Connect if needed, BEGIN, and take `locks` (advisory lock ids, in
    /// that order).
    pub(super) async fn begin(
        cfg: &ClusterConfig,
        pg: &tokio_postgres::Config,
        conn: Arc<Mutex<Conn>>,
        locks: &[i64],
        timeout_ms: u64,
    ) -> Result<Txn, ClusterError> {
        let deadline = Instant::now() + std::time::Duration::from_millis(timeout_ms);
        let mut guard = tokio::time::timeout_at(deadline, conn.lock_owned())
            .await
            .map_err(|_| ClusterError::Timeout(timeout_ms))?;
        if guard.client.as_ref().is_none_or(Client::is_closed) {
            guard.client = None;
            guard.stmts = None;
            let fresh = tokio::time::timeout_at(deadline, async {
                let client = super::connect::connect(cfg, pg).await?;
                super::schema::check(&client).await?;
                let stmts = Statements {
                    first_catch_up: client.prepare(FIRST_CATCH_UP).await?,
                    catch_up: client.prepare(CATCH_UP).await?,
                    first_events: client.prepare(FIRST_EVENTS).await?,
                    events: client.prepare(EVENTS).await?,
                    publish: client.prepare(PUBLISH).await?,
                    anchor: client.prepare(ANCHOR).await?,
                    nonce: client.prepare(NONCE).await?,
                    insert: client.prepare(INSERT).await?,
                    raise_nonce: client.prepare(RAISE_NONCE).await?,
                };
                Ok::<_, ClusterError>((client, stmts))
            })
            .await
            .map_err(|_| ClusterError::Timeout(timeout_ms))??;
            tracing::info!(cluster = %cfg.name, agent = %cfg.agent_id, "connected to the cluster database");
            guard.client = Some(fresh.0);
            guard.stmts = Some(fresh.1);
        }
        let mut txn = Txn {
            guard: Some(guard),
            cluster: cfg.name.clone(),
            agent: cfg.agent_id.clone(),
            deadline,
            timeout_ms,
            open: true,
        };
        // The ids are ours (hashes), not caller input: safe to inline, and
        // BEGIN and both locks then take one round trip.
        let mut sql = String::from("BEGIN");
        if timeout_ms != cfg.timeout_ms {
            sql.push_str(&format!("; SET LOCAL statement_timeout = {timeout_ms}"));
        }
        for id in locks {
            sql.push_str(&format!("; SELECT pg_advisory_xact_lock({id})"));
        }
        let r = tokio::time::timeout_at(deadline, txn.client().batch_execute(&sql)).await;
        txn.settle(r)?;
        Ok(txn)
    }

    fn conn(&self) -> &Conn {
        self.guard
            .as_ref()
            .expect("connection held while the transaction lives")
    }

    fn client(&self) -> &Client {
        self.conn().client.as_ref().expect("connected")
    }

    fn stmts(&self) -> &Statements {
        self.conn().stmts.as_ref().expect("prepared")
    }

    /// A step's outcome; a failure drops the connection.
    fn settle<T>(&mut self, r: Timed<T>) -> Result<T, ClusterError> {
        let err = match r {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => ClusterError::Db(e),
            Err(_) => ClusterError::Timeout(self.timeout_ms),
        };
        self.open = false;
        if let Some(g) = self.guard.as_mut() {
            g.client = None;
            g.stmts = None;
        }
        Err(err)
    }

    /// Hand the decisions and operator events the other agents committed
    /// since this agent last looked to `apply`, each in sequence order
    /// (decisions first), as journal records (seq: the cluster's). The
    /// first call after the agent's start reads the decisions of the last
    /// [`FIRST_CATCH_UP_MS`] before `now_ms` and every event. Returns how
    /// many were applied.
    pub async fn catch_up(
        &mut self,
        now_ms: u64,
        apply: &mut (dyn FnMut(&Record) + Send),
    ) -> Result<usize, ClusterError> {
        let (cluster, agent) = (self.cluster.clone(), self.agent.clone());
        let mut applied = 0;
        for events in [false, true] {
            let prev = match events {
                false => self.conn().cursor.as_ref().map(|c| c.xmin),
                true => self.conn().events.as_ref().map(|c| c.xmin),
            };
            let since = now_ms.saturating_sub(FIRST_CATCH_UP_MS) as i64;
            let stmts = self.stmts();
            let (stmt, params): (&Statement, Vec<&(dyn tokio_postgres::types::ToSql + Sync)>) =
                match (events, &prev) {
                    (false, None) => (&stmts.first_catch_up, vec![&cluster, &agent, &since]),
                    (false, Some(x)) => (&stmts.catch_up, vec![&cluster, &agent, x]),
                    (true, None) => (&stmts.first_events, vec![&cluster, &agent, &since]),
                    (true, Some(x)) => (&stmts.events, vec![&cluster, &agent, x]),
                };
            let fut = self.client().query(stmt, &params);
            let r = tokio::time::timeout_at(self.deadline, fut).await;
            let rows = self.settle(r)?;
            let guard = self.guard.as_mut().expect("held");
            let cursor = match events {
                false => &mut guard.cursor,
                true => &mut guard.events,
            };
            applied += apply_rows(cursor, &rows, events, apply)?;
        }
        Ok(applied)
    }

    /// Record an operator event (a halt, a resume) for every agent of the
    /// cluster, and announce it on [`CHANNEL`] (sent at commit).
    pub async fn publish(&mut self, event: &Event, ts_ms: u64) -> Result<i64, ClusterError> {
        let text = serde_json::to_string(event)
            .map_err(|e| ClusterError::Setup(format!("cluster: encoding an event: {e}")))?;
        let (cluster, agent) = (self.cluster.clone(), self.agent.clone());
        let (ts, kind) = (ts_ms as i64, event.kind().to_string());
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&cluster, &agent, &ts, &kind, &text];
        let fut = self.client().query_one(&self.stmts().publish, &params);
        let r = tokio::time::timeout_at(self.deadline, fut).await;
        let row = self.settle(r)?;
        Ok(row.get(0))
    }

    /// The highest nonce any agent of the cluster assigned for `key`.
    pub async fn nonce_mark(&mut self, key: &str) -> Result<Option<u64>, ClusterError> {
        let cluster = self.cluster.clone();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&cluster, &key];
        let fut = self.client().query_opt(&self.stmts().nonce, &params);
        let r = tokio::time::timeout_at(self.deadline, fut).await;
        let row = self.settle(r)?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    /// Record `decision`, made at `ts_ms`, with its local journal record
    /// (`local`: seq and chain hash) when there is one, and raise the key's
    /// nonce mark to its nonce if it was allowed. The cluster's seq.
    pub async fn record(
        &mut self,
        decision: &Decision,
        ts_ms: u64,
        local: Option<Appended>,
    ) -> Result<i64, ClusterError> {
        let text = serde_json::to_string(decision)
            .map_err(|e| ClusterError::Setup(format!("cluster: encoding a decision: {e}")))?;
        let (cluster, agent) = (self.cluster.clone(), self.agent.clone());
        let ts = ts_ms as i64;
        let nonce = decision.nonce.map(|n| n as i64);
        let local_seq = local.map(|a| a.seq as i64);
        let local_hash = local.map(|a| hex::encode(a.hash));
        let raise = match (&decision.key, nonce) {
            (Some(k), Some(n)) if decision.allow => Some((k.clone(), n)),
            _ => None,
        };
        let client = self.client();
        let stmts = self.stmts();
        // Both statements go out together (tokio-postgres pipelines
        // requests polled at the same time).
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
            &cluster,
            &agent,
            &ts,
            &decision.identity,
            &decision.key,
            &decision.allow,
            &decision.rule,
            &nonce,
            &local_seq,
            &local_hash,
            &text,
        ];
        let fut = async {
            let insert = client.query_one(&stmts.insert, &params);
            match &raise {
                Some((k, n)) => {
                    let mark_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                        [&cluster, k, n, &agent];
                    let mark = client.execute(&stmts.raise_nonce, &mark_params);
                    let (row, _) = tokio::try_join!(insert, mark)?;
                    Ok(row)
                }
                None => insert.await,
            }
        };
        let r = tokio::time::timeout_at(self.deadline, fut).await;
        let row = self.settle(r)?;
        Ok(row.get(0))
    }

    /// Commit. Only after this returns `Ok` may the decision be signed.
    pub async fn commit(mut self) -> Result<(), ClusterError> {
        let r = tokio::time::timeout_at(self.deadline, self.client().batch_execute("COMMIT")).await;
        self.settle(r)?;
        self.open = false;
        Ok(())
    }
}

/// Set the local record (seq, chain hash) of the committed decision at
/// `cluster_seq`, on the agent's connection if it is up (one statement,
/// committed by itself), within `timeout_ms`.
pub(super) async fn anchor(
    conn: &Mutex<Conn>,
    cluster_seq: i64,
    local: Appended,
    timeout_ms: u64,
) -> Result<(), ClusterError> {
    let t = std::time::Duration::from_millis(timeout_ms);
    let guard = tokio::time::timeout(t, conn.lock())
        .await
        .map_err(|_| ClusterError::Timeout(timeout_ms))?;
    let (Some(client), Some(stmts)) = (guard.client.as_ref(), guard.stmts.as_ref()) else {
        return Err(ClusterError::Setup(
            "cluster: not connected; the decision stays unanchored".into(),
        ));
    };
    let (seq, hash) = (local.seq as i64, hex::encode(local.hash));
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&cluster_seq, &seq, &hash];
    tokio::time::timeout(t, client.execute(&stmts.anchor, &params))
        .await
        .map_err(|_| ClusterError::Timeout(timeout_ms))??;
    Ok(())
}

/// Apply the rows of one catch-up read (columns: the snapshot's xmin, seq,
/// xid, ts_ms, the JSON) that `cursor` has not seen, and move it on.
fn apply_rows(
    cursor: &mut Option<Cursor>,
    rows: &[tokio_postgres::Row],
    events: bool,
    apply: &mut (dyn FnMut(&Record) + Send),
) -> Result<usize, ClusterError> {
    let cursor = cursor.get_or_insert_with(|| Cursor {
        xmin: 0,
        applied: HashMap::new(),
    });
    let mut xmin = cursor.xmin;
    let mut applied = 0;
    for row in rows {
        xmin = row.get::<_, i64>(0);
        let Some(seq) = row.get::<_, Option<i64>>(1) else {
            continue;
        };
        let xid: i64 = row.get(2);
        if cursor.applied.contains_key(&seq) {
            continue;
        }
        let ts_ms: i64 = row.get(3);
        let text: &str = row.get(4);
        let what = if events { "event" } else { "decision" };
        let event = if events {
            serde_json::from_str::<Event>(text).map_err(|e| e.to_string())
        } else {
            serde_json::from_str::<Decision>(text)
                .map(Event::Decision)
                .map_err(|e| e.to_string())
        }
        .map_err(|e| {
            ClusterError::Setup(format!(
                "cluster: {what} {seq} in the database does not parse ({e}); \
                 was it written by a newer tradeward?"
            ))
        })?;
        apply(&Record {
            seq: seq as u64,
            ts_ms: ts_ms as u64,
            prev: String::new(),
            event,
        });
        applied += 1;
        cursor.applied.insert(seq, xid);
    }
    cursor.xmin = xmin;
    cursor.applied.retain(|_, xid| *xid >= xmin);
    Ok(applied)
}

impl Drop for Txn {
    /// Not committed: roll back on the same connection before anyone else
    /// may use it (the task holds the connection's lock), or drop the
    /// connection if that fails; the server frees the locks either way.
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let ok = match guard.client.as_ref() {
                        Some(c) => matches!(
                            tokio::time::timeout(
                                std::time::Duration::from_secs(1),
                                c.batch_execute("ROLLBACK")
                            )
                            .await,
                            Ok(Ok(()))
                        ),
                        None => true,
                    };
                    if !ok {
                        guard.client = None;
                        guard.stmts = None;
                    }
                });
            }
            Err(_) => {
                guard.client = None;
                guard.stmts = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_ids_differ_by_cluster_class_and_name() {
        let a = lock_id("desk", "key", "hl");
        assert_eq!(a, lock_id("desk", "key", "hl"));
        assert_ne!(a, lock_id("desk", "identity", "hl"));
        assert_ne!(a, lock_id("other", "key", "hl"));
        assert_ne!(lock_id("d", "key", "ab"), lock_id("d", "keya", "b"));
    }
}
