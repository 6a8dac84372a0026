//! The SQL of the cluster: workers' rows and heartbeats, and the leases on
//! accounts with their fencing epochs (tables of `migrations-postgres/4_cluster.sql`).
//!
//! Every time is the database server's (`now()`), so the workers' clocks
//! may disagree. A worker is alive while its heartbeat is younger than its
//! own TTL; a lease is free when it has no worker or its worker is not
//! alive, and taking it raises its epoch.

use std::collections::HashSet;

use sqlx_core::error::Error as SqlxError;
use sqlx_core::executor::Executor;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnection, PgPool, Postgres};

/// The channel a worker notifies when it releases leases or stops, so the
/// others take them over at once instead of at their next heartbeat.
pub(crate) const CHANNEL: &str = "ilink_cluster";

/// `w` (a `workers` row) is alive.
const ALIVE: &str = "w.heartbeat_at > now() - w.ttl_ms * interval '1 millisecond'";

/// This process as a row of `workers`.
#[derive(Clone, Debug)]
pub(crate) struct WorkerRow {
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) ttl_ms: i64,
}

/// Inserts the worker, or renews it if its row is still there; returns
/// whether the row had to be (re)created: a worker whose row was deleted
/// as dead after a long pause must check every lease it thought it held.
pub(crate) async fn heartbeat(pool: &PgPool, me: &WorkerRow) -> Result<bool, SqlxError> {
    let renewed = query("UPDATE workers SET heartbeat_at = now() WHERE id = $1")
        .bind(&me.id)
        .execute(pool)
        .await?
        .rows_affected();
    if renewed > 0 {
        return Ok(false);
    }
    query(
        "INSERT INTO workers (id, host, pid, ttl_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
    )
    .bind(&me.id)
    .bind(&me.host)
    .bind(i64::from(me.pid))
    .bind(me.ttl_ms)
    .execute(pool)
    .await?;
    Ok(true)
}

/// The leases `worker` holds, with their epochs.
pub(crate) async fn held(pool: &PgPool, worker: &str) -> Result<Vec<(String, i64)>, SqlxError> {
    query_as("SELECT account, epoch FROM leases WHERE worker = $1 ORDER BY account")
        .bind(worker)
        .fetch_all(pool)
        .await
}

/// Live workers that take accounts (alive and not stopping).
pub(crate) async fn active_workers(pool: &PgPool) -> Result<i64, SqlxError> {
    query_scalar(&format!(
        "SELECT count(*) FROM workers w WHERE {ALIVE} AND NOT w.stopping"
    ))
    .fetch_one(pool)
    .await
}

/// Up to `limit` accounts with credentials whose lease is free, in an
/// order of this worker's own (so that workers claiming at once mostly
/// try different accounts).
pub(crate) async fn claimable(
    pool: &PgPool,
    worker: &str,
    limit: i64,
) -> Result<Vec<String>, SqlxError> {
    query_scalar(&format!(
        "SELECT c.account FROM credentials c \
         LEFT JOIN leases l ON l.account = c.account \
         LEFT JOIN workers w ON w.id = l.worker \
         WHERE l.account IS NULL OR l.worker IS NULL OR w.id IS NULL OR NOT ({ALIVE}) \
         ORDER BY md5(c.account || $1) LIMIT $2"
    ))
    .bind(worker)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Takes the lease of `account` if it is free; returns its new epoch.
///
/// The lease row is locked first, which waits for the transactions of the
/// previous holder that checked their epoch (`FOR SHARE`), so everything
/// it wrote is visible to the new holder, and nothing it writes after is.
/// Then the holder's `workers` row is locked: a heartbeat it committed
/// meanwhile is seen (it is alive, the lease stays), and a later one waits
/// until this transaction ends, so its next look at its leases sees the
/// new holder. The liveness test of one statement alone would use the
/// snapshot the statement started with, from before a heartbeat committed
/// while it waited for the lease row, and take the lease of a worker that
/// has just renewed it and goes on polling.
pub(crate) async fn claim(
    pool: &PgPool,
    worker: &str,
    account: &str,
) -> Result<Option<i64>, SqlxError> {
    let mut tx = pool.begin().await?;
    let holder: Option<Option<String>> =
        query_scalar("SELECT worker FROM leases WHERE account = $1 FOR UPDATE")
            .bind(account)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(Some(holder)) = &holder {
        query("SELECT 1 FROM workers WHERE id = $1 FOR SHARE")
            .bind(holder)
            .execute(&mut *tx)
            .await?;
    }
    let epoch = query_scalar(&format!(
        "INSERT INTO leases AS l (account, worker, epoch) VALUES ($1, $2, 1) \
         ON CONFLICT (account) DO UPDATE \
         SET worker = excluded.worker, epoch = l.epoch + 1, acquired_at = now() \
         WHERE l.worker IS NULL OR NOT EXISTS \
             (SELECT 1 FROM workers w WHERE w.id = l.worker AND {ALIVE}) \
         RETURNING epoch"
    ))
    .bind(account)
    .bind(worker)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(epoch)
}

/// Gives up a lease this worker holds at `epoch`; returns whether it did.
/// The epoch stays, so the next holder's is higher.
pub(crate) async fn release(
    pool: &PgPool,
    worker: &str,
    account: &str,
    epoch: i64,
) -> Result<bool, SqlxError> {
    query("UPDATE leases SET worker = NULL WHERE account = $1 AND worker = $2 AND epoch = $3")
        .bind(account)
        .bind(worker)
        .bind(epoch)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() > 0)
}

/// Forgets the lease of an account whose credentials are gone.
pub(crate) async fn drop_lease(pool: &PgPool, account: &str) -> Result<(), SqlxError> {
    query("DELETE FROM leases WHERE account = $1 AND NOT EXISTS (SELECT 1 FROM credentials WHERE account = $1)")
        .bind(account)
        .execute(pool)
        .await
        .map(drop)
}

/// Marks the worker as draining: the others stop counting it and take
/// its accounts as it releases them.
pub(crate) async fn set_stopping(pool: &PgPool, worker: &str) -> Result<(), SqlxError> {
    query("UPDATE workers SET stopping = true WHERE id = $1")
        .bind(worker)
        .execute(pool)
        .await
        .map(drop)
}

/// Releases whatever the worker still holds and deletes its row.
pub(crate) async fn deregister(pool: &PgPool, worker: &str) -> Result<(), SqlxError> {
    let mut tx = pool.begin().await?;
    query("UPDATE leases SET worker = NULL WHERE worker = $1")
        .bind(worker)
        .execute(&mut *tx)
        .await?;
    query("DELETE FROM workers WHERE id = $1")
        .bind(worker)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Deletes the rows of workers dead for a long time (ten TTLs); until then
/// `ilink cluster status` shows them as dead.
pub(crate) async fn forget_dead(pool: &PgPool) -> Result<(), SqlxError> {
    query("DELETE FROM workers WHERE heartbeat_at < now() - 10 * ttl_ms * interval '1 millisecond'")
        .execute(pool)
        .await
        .map(drop)
}

/// Wakes the other workers (see [`CHANNEL`]).
pub(crate) async fn notify<'e>(
    db: impl Executor<'e, Database = Postgres>,
) -> Result<(), SqlxError> {
    query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(db)
        .await
        .map(drop)
}

/// Of `leases` (account, epoch), the accounts `worker` still holds at
/// that epoch, locked `FOR SHARE` until the transaction `conn` ends: a
/// worker taking one over waits for it, then sees what it wrote.
pub(crate) async fn confirm(
    conn: &mut PgConnection,
    worker: &str,
    leases: &[(&str, i64)],
) -> Result<HashSet<String>, SqlxError> {
    let (accounts, epochs): (Vec<&str>, Vec<i64>) = leases.iter().copied().unzip();
    let rows: Vec<String> = query_scalar(
        "SELECT l.account FROM leases l \
         JOIN UNNEST($2::text[], $3::bigint[]) AS f(account, epoch) \
           ON l.account = f.account AND l.epoch = f.epoch \
         WHERE l.worker = $1 ORDER BY l.account FOR SHARE OF l",
    )
    .bind(worker)
    .bind(&accounts)
    .bind(&epochs)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}
