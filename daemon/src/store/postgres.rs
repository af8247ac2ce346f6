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
super::jobs::impl_job_store!(PgStore);
super::users::impl_user_store!(PgStore);
super::quota::impl_quota_store!(PgStore, sqlx::Postgres);
