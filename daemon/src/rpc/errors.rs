//! Mapping internal errors to the wire's `ApiError`.
//!
//! Internal detail (SQL, paths, causes) goes to the daemon log with a short id; the
//! caller gets a stable code and a sentence that is safe to show.

use crate::accounts::AccountError;
use crate::store::StoreError;
use idoctor_protocol::{ApiError, ErrorCode};

/// Logs an unexpected failure and returns an `internal` error that says where to look.
pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> ApiError {
    let id = rand::random::<u32>();
    tracing::error!(error_id = format!("{id:08x}"), context, cause = %cause, "request failed");
    ApiError::new(
        ErrorCode::Internal,
        format!("internal error {id:08x} in {context}; the daemon log has the details"),
    )
}

/// A store error as seen by a caller. `what` names the object for `not_found`.
pub fn store_error(what: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found(what),
        StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
        StoreError::Invalid(m) => ApiError::invalid(m),
        StoreError::Unavailable(m) => {
            tracing::warn!(cause = %m, "database unavailable");
            ApiError::new(
                ErrorCode::Unavailable,
                "the database is unavailable; try again shortly",
            )
        }
        other => internal(what, &other),
    }
}

/// An account error as seen by a caller.
pub fn account_error(what: &str, e: AccountError) -> ApiError {
    match e {
        AccountError::Invalid(m) => ApiError::invalid(m),
        AccountError::Store(s) => store_error(what, s),
        other => internal(what, &other),
    }
}
