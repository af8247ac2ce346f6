//! Persistence: `trait Store` with a PostgreSQL and an SQLite implementation.
//!
//! The store holds rows and transactions, not policy: quota rules live in `quota.rs`,
//! job rules in `jobs/`. Every query that touches a user's studies, series, jobs or
//! results takes the caller's `user_id` and filters by it in SQL, so isolation does not
//! depend on callers remembering to filter afterwards.
//!
//! Both backends run the same SQL text (sqlx accepts `$N` placeholders on SQLite too).
//! The shared method bodies are written once, in the `impl_*_store!` macros of the
//! concern modules, and instantiated for [`SqliteStore`] and [`PgStore`]; each backend
//! file holds only what truly differs (connection options, how a write transaction
//! begins, row locking for the job claim). Callers are generic over `S: Store` and
//! dispatched statically; [`open`] picks the backend by URL scheme.

mod error;
pub mod ingest;
pub mod jobs;
pub mod postgres;
pub mod quota;
pub mod rows;
pub mod sqlite;
mod users;

pub use error::StoreError;
pub use ingest::IngestStore;
pub use jobs::JobStore;
pub use postgres::PgStore;
pub use quota::{Charge, QuotaStore, Refund, Reservation};
pub use rows::*;
pub use sqlite::SqliteStore;
pub use users::UserStore;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (the default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// Picks the backend from a URL scheme.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::Invalid(format!(
                "unsupported database URL scheme {scheme:?} (expected sqlite:// or postgres://)"
            ))),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Everything the daemon keeps in its database.
pub trait Store:
    UserStore + QuotaStore + IngestStore + JobStore + Clone + Send + Sync + 'static
{
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Closes every connection; waits for checked-out ones to come back.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
