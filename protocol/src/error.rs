//! The wire error: a stable code plus a human message.
//!
//! Clients branch on [`ErrorCode`]; the message is for people. Internal error
//! chains, SQL text and secrets never travel in an [`ApiError`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable, snake_case error codes. Scripts depend on these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No valid session: wrong credentials, expired, tampered or revoked token.
    Unauthenticated,
    /// Authenticated, but the role does not allow this request.
    Forbidden,
    /// The object does not exist, or belongs to someone else.
    NotFound,
    /// A quota refused the request; the message names the quota.
    QuotaExceeded,
    /// The request itself is malformed or out of range.
    InvalidInput,
    /// The request conflicts with the current state (duplicate name, wrong job state).
    Conflict,
    /// Client and daemon speak different protocol versions.
    VersionMismatch,
    /// The daemon cannot serve right now (database down, shutting down).
    Unavailable,
    /// A bug or an unexpected failure on the daemon; details are in its log.
    Internal,
}

impl ErrorCode {
    /// The snake_case name, as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Conflict => "conflict",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error every RPC may return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// One human-readable sentence, safe to show to the caller.
    pub message: String,
}

impl ApiError {
    /// Builds an error from a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `unauthenticated`, with one message for every credential failure so that
    /// the response never reveals whether a username exists.
    pub fn bad_credentials() -> Self {
        Self::new(ErrorCode::Unauthenticated, "invalid username or password")
    }

    /// `not_found` for an object the caller may not see, or that does not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// `invalid_input` with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// `forbidden`: the request needs the admin role.
    pub fn admin_only() -> Self {
        Self::new(ErrorCode::Forbidden, "this request requires the admin role")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
