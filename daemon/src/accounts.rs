//! Account management shared by the `idoctord user` commands and the admin RPCs:
//! validation, hashing on the blocking pool, and the user's watch folder.

use crate::auth::{self, AuthError};
use crate::paths::Paths;
use crate::quota::period_bounds;
use crate::store::{NewUserRow, Store, StoreError, UserRow, now_ms};
use idoctor_protocol::NewUser;

/// Why an account change failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The request is not acceptable (bad name, short password, unknown plan).
    #[error("{0}")]
    Invalid(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The watch folder could not be created.
    #[error("cannot create watch folder {path}: {message}")]
    Folder {
        /// The folder.
        path: String,
        /// Why.
        message: String,
    },
}

/// Hashes a password on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AccountError::Auth(AuthError::Hash(e.to_string())))?
        .map_err(AccountError::from)
}

/// Creates a user, their quota rows and their watch folder `<watch_root>/<username>/`.
pub async fn create_user<S: Store>(
    store: &S,
    paths: &Paths,
    request: NewUser,
) -> Result<UserRow, AccountError> {
    auth::validate_username(&request.username).map_err(AccountError::Invalid)?;
    auth::validate_password(&request.password).map_err(AccountError::Invalid)?;
    let plan = request.plan.unwrap_or_else(|| "free".to_string());
    let plans = store.plan_names().await?;
    if !plans.contains(&plan) {
        return Err(AccountError::Invalid(format!(
            "unknown plan {plan:?} (expected one of {})",
            plans.join(", ")
        )));
    }
    if store.user_by_name(&request.username).await?.is_some() {
        return Err(
            StoreError::Conflict(format!("user {:?} already exists", request.username)).into(),
        );
    }
    let folder = paths.watch_dir(&request.username);
    std::fs::create_dir_all(&folder).map_err(|e| AccountError::Folder {
        path: folder.display().to_string(),
        message: e.to_string(),
    })?;
    let password_hash = hash_password(request.password).await?;
    let now = now_ms();
    let (_, period_end) = period_bounds(now, now);
    let row = store
        .create_user(
            NewUserRow {
                username: request.username,
                password_hash,
                role: request.role,
                plan,
                now_ms: now,
            },
            period_end,
        )
        .await?;
    Ok(row)
}

/// Sets a new password; existing sessions of the user stop working.
pub async fn set_password<S: Store>(
    store: &S,
    username: &str,
    password: String,
) -> Result<UserRow, AccountError> {
    auth::validate_password(&password).map_err(AccountError::Invalid)?;
    let hash = hash_password(password).await?;
    Ok(store.set_password_hash(username, &hash, now_ms()).await?)
}
