//! Users, roles, sessions and the login handshake.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user may do. Admins manage users, plans and quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users, plans, quotas; sees the usage log and quarantine.
    Admin,
    /// Follows jobs, corrects L3, reviews results; sees only their own data.
    Operator,
}

impl Role {
    /// The lowercase name stored in the database and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            other => Err(format!(
                "unknown role {other:?} (expected admin or operator)"
            )),
        }
    }
}

/// How a user's new series are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobMode {
    /// The full pipeline runs without stopping.
    #[default]
    Auto,
    /// L3 detection runs, then the job waits for an operator to confirm or correct L3.
    Review,
}

impl JobMode {
    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobMode::Auto => "auto",
            JobMode::Review => "review",
        }
    }
}

impl fmt::Display for JobMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(JobMode::Auto),
            "review" => Ok(JobMode::Review),
            other => Err(format!("unknown mode {other:?} (expected auto or review)")),
        }
    }
}

/// A user as the API shows it. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Database id; stable, used in archive and result paths.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Admin or operator.
    pub role: Role,
    /// Plan name (`free`, `pro`, `enterprise`).
    pub plan: String,
    /// A disabled user cannot log in and their tokens stop working at once.
    pub disabled: bool,
    /// Processing mode for this user's new series.
    pub mode: JobMode,
    /// Whether DICOM outputs are written to this user's outbox for the PACS.
    pub outbox: bool,
    /// When the user was created (ms since the Unix epoch).
    pub created_at_ms: i64,
}

/// The first thing a client sends; carries its protocol version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Plain-text password; travels only over the Unix socket or TLS.
    pub password: String,
    /// The client's [`crate::PROTOCOL_VERSION`].
    pub protocol_version: u32,
}

/// A successful login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The bearer token (a JWT) to send with every request.
    pub token: String,
    /// When the token stops working (ms since the Unix epoch).
    pub expires_at_ms: i64,
    /// Who logged in.
    pub user: UserInfo,
}

/// What the daemon says about itself; needs no login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The daemon's [`crate::PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The daemon's crate version.
    pub daemon_version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// An admin's request to create a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewUser {
    /// Login name: 1–64 characters of `[A-Za-z0-9._-]`, not starting with a dot.
    pub username: String,
    /// Initial password (at least 8 characters).
    pub password: String,
    /// Admin or operator.
    pub role: Role,
    /// Plan name; `free` when absent.
    pub plan: Option<String>,
}
