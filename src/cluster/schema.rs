//! The cluster schema: migrations embedded in the binary (refinery, from
//! `src/cluster/migrations`), applied by `tradeward cluster init`, and
//! checked at the agent's start: an older schema asks for `cluster init`,
//! a newer one (written by a newer tradeward) is refused.

use tokio_postgres::Client;

use super::ClusterError;

mod embedded {
    refinery::embed_migrations!("src/cluster/migrations");
}

/// The table refinery keeps the applied migrations in.
pub const HISTORY_TABLE: &str = "tradeward_schema_history";

/// Session advisory lock held while migrating, so two `cluster init`
/// runs do not race.
const MIGRATE_LOCK: i64 = 0x7472_6164_6577_6172; // "tradewar"

/// The schema version this build writes and reads.
pub fn latest() -> i32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
}

/// The version the database is at; `None` before `cluster init`.
pub async fn version(client: &Client) -> Result<Option<i32>, ClusterError> {
    let row = client
        .query_one(
            "SELECT to_regclass($1::text) IS NOT NULL",
            &[&HISTORY_TABLE],
        )
        .await?;
    if !row.get::<_, bool>(0) {
        return Ok(None);
    }
    let row = client
        .query_one(
            &format!("SELECT max(version)::int4 FROM {HISTORY_TABLE}"),
            &[],
        )
        .await?;
    Ok(row.get::<_, Option<i32>>(0))
}

/// Refuse a database whose schema is not the one this build uses.
pub async fn check(client: &Client) -> Result<i32, ClusterError> {
    let want = latest();
    match version(client).await? {
        Some(v) if v == want => Ok(v),
        Some(v) if v > want => Err(ClusterError::Setup(format!(
            "cluster: the database schema is at version {v}, newer than this tradeward's {want}: \
             upgrade tradeward on this host (an older agent must not write a newer schema)"
        ))),
        Some(v) => Err(ClusterError::Setup(format!(
            "cluster: the database schema is at version {v}, this tradeward needs {want}: \
             run `tradeward cluster init`"
        ))),
        None => Err(ClusterError::Setup(format!(
            "cluster: the database has no tradeward schema (no table {HISTORY_TABLE}): \
             run `tradeward cluster init`"
        ))),
    }
}

/// Apply the migrations the database lacks; the versions applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, ClusterError> {
    let want = latest();
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
        .await?;
    let result = async {
        if let Some(v) = version(client).await?
            && v > want
        {
            return Err(ClusterError::Setup(format!(
                "cluster: the database schema is at version {v}, newer than this tradeward's {want}; nothing changed"
            )));
        }
        let report = embedded::migrations::runner()
            .set_migration_table_name(HISTORY_TABLE)
            .run_async(client)
            .await
            .map_err(|e| ClusterError::Setup(format!("cluster: migration failed: {e}")))?;
        Ok(report
            .applied_migrations()
            .iter()
            .map(|m| m.version())
            .collect())
    }
    .await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
        .await;
    result
}
