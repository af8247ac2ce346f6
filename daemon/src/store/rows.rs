//! Row types as the database returns them, and their conversion to wire types.
//!
//! Enumerations are stored as their snake_case names; a name the code does not know is
//! reported as [`StoreError::Corrupt`] rather than guessed.

use super::StoreError;
use idoctor_protocol as proto;
use std::str::FromStr;

/// Parses a stored enum name.
pub(crate) fn parse_enum<T: FromStr<Err = String>>(value: &str) -> Result<T, StoreError> {
    value.parse().map_err(StoreError::Corrupt)
}

/// A user row. Holds the password hash: never send it anywhere.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// `admin` or `operator`.
    pub role: String,
    /// Plan name.
    pub plan: String,
    /// Locked out.
    pub disabled: bool,
    /// `auto` or `review`.
    pub mode: String,
    /// Write DICOM outputs to the outbox.
    pub outbox: bool,
    /// Bumped on password change; tokens carry it, so older tokens stop working.
    pub token_epoch: i64,
    /// Start of the user's first quota period; monthly periods count from here.
    pub period_anchor_ms: i64,
    /// Created.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
}

impl UserRow {
    /// The role.
    pub fn role(&self) -> Result<proto::Role, StoreError> {
        parse_enum(&self.role)
    }

    /// The processing mode.
    pub fn mode(&self) -> Result<proto::JobMode, StoreError> {
        parse_enum(&self.mode)
    }

    /// The wire view (no hash).
    pub fn to_info(&self) -> Result<proto::UserInfo, StoreError> {
        Ok(proto::UserInfo {
            id: self.id,
            username: self.username.clone(),
            role: self.role()?,
            plan: self.plan.clone(),
            disabled: self.disabled,
            mode: self.mode()?,
            outbox: self.outbox,
            created_at_ms: self.created_at_ms,
        })
    }
}

/// What is needed to insert a user.
#[derive(Debug, Clone)]
pub struct NewUserRow {
    /// Login name (already validated).
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: proto::Role,
    /// Plan name; must exist.
    pub plan: String,
    /// Creation time; also the quota period anchor.
    pub now_ms: i64,
}
