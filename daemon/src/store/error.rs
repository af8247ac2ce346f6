//! `StoreError`: what the persistence layer can tell its callers.

/// A store failure. `Database` keeps the sqlx error for logs; it never goes on the wire.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row (or not the caller's).
    #[error("not found")]
    NotFound,
    /// A uniqueness or state conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request cannot be stored as given.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row holds a value the code does not understand.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            sqlx::Error::Io(ref io) => StoreError::Unavailable(io.to_string()),
            sqlx::Error::PoolTimedOut => {
                StoreError::Unavailable("timed out waiting for a database connection".into())
            }
            sqlx::Error::PoolClosed => StoreError::Unavailable("the store is closed".into()),
            other => StoreError::Database(other),
        }
    }
}
