//! The PostgreSQL backend, for sites that run several daemons on one database.

use super::{Backend, Store, StoreError};
use crate::config::redact_url;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use std::time::Duration;

/// A store on a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and migrates the database.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            // Broken connections surface as errors on use; a ping per acquire would add a
            // round trip to every transaction.
            .test_before_acquire(false)
            .max_connections(24)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at {}: {e}",
                    redact_url(url)
                ))
            })?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Row locking for the job claim: concurrent daemons skip rows another one holds.
    pub(crate) const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";

    /// Starts a transaction (row locks are taken by the statements themselves).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// The common case of a reservation as one statement, so one round trip instead of
    /// four (`BEGIN`, charge, ledger row, `COMMIT`): the conditional charge, its ledger
    /// row and any 80 %/100 % warning it crosses, in data-modifying CTEs that commit
    /// together. `None` when the charge was not granted here (over the limit, a period to
    /// roll over, a key already used, or a concurrent retry of the same key, which the
    /// ledger's unique key turns into an error that undoes the whole statement): the
    /// transactional path then gives the exact answer.
    pub(crate) async fn reserve_one_statement(
        &self,
        charge: &super::Charge,
        now_ms: i64,
    ) -> Result<Option<super::Reservation>, StoreError> {
        if charge.amount <= 0 {
            return Ok(None);
        }
        let row: Result<Option<(i64, i64, bool, bool)>, sqlx::Error> = sqlx::query_as(
            "WITH charged AS ( \
               UPDATE user_quotas SET used = used + $5 \
               WHERE user_id = $2 AND quota_type = $4 AND used + $5 <= limit_value \
               AND (period_end_ms IS NULL OR period_end_ms > $1) \
               AND NOT EXISTS (SELECT 1 FROM usage_log WHERE idempotency_key = $8) \
               RETURNING used, limit_value, period_start_ms), \
             logged AS ( \
               INSERT INTO usage_log (at_ms, user_id, actor_id, quota_type, kind, amount, \
               job_id, series_id, idempotency_key, metadata) \
               SELECT $1, $2, $3, $4, 'consume', $5, $6, $7, $8, $9 FROM charged \
               RETURNING id), \
             warned AS ( \
               INSERT INTO quota_warnings (user_id, quota_type, period_start_ms, level, used, \
               limit_value, at_ms) \
               SELECT $2, $4, c.period_start_ms, lv.level, c.used, c.limit_value, $1 \
               FROM charged c, (VALUES (80::BIGINT), (100::BIGINT)) AS lv(level) \
               WHERE c.limit_value > 0 AND (c.used - $5) * 100 < lv.level * c.limit_value \
               AND c.used * 100 >= lv.level * c.limit_value \
               ON CONFLICT DO NOTHING RETURNING level) \
             SELECT c.used, c.limit_value, \
               EXISTS (SELECT 1 FROM warned WHERE level = 80), \
               EXISTS (SELECT 1 FROM warned WHERE level = 100) \
             FROM charged c, logged",
        )
        .bind(now_ms)
        .bind(charge.user_id)
        .bind(charge.actor_id)
        .bind(charge.quota_type.as_str())
        .bind(charge.amount)
        .bind(charge.job_id)
        .bind(charge.series_id)
        .bind(&charge.key)
        .bind(sqlx::types::Json(&charge.metadata))
        .fetch_optional(&self.pool)
        .await;
        let (used, limit, w80, w100) = match row {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            // The same key charged concurrently: the statement was undone as a whole.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let warnings: Vec<i64> = [(80, w80), (100, w100)]
            .into_iter()
            .filter_map(|(level, crossed)| crossed.then_some(level))
            .collect();
        for &level in &warnings {
            super::quota::log_warning(charge, level, used, limit);
        }
        Ok(Some(super::Reservation::Granted {
            used,
            limit,
            replay: false,
            warnings,
        }))
    }
}

impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

super::ingest::impl_ingest_store!(PgStore);
super::jobs::impl_job_store!(PgStore, sqlx::Postgres);
super::users::impl_user_store!(PgStore);
super::quota::impl_quota_store!(PgStore, sqlx::Postgres, reserve_one_statement);
