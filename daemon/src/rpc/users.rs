//! Handlers for `whoami` and the admin user requests.

use super::Caller;
use super::errors::{account_error, internal, store_error};
use crate::accounts;
use crate::state::AppState;
use crate::store::{Store, UserRow, now_ms};
use idoctor_protocol::{ApiError, JobMode, NewUser, Response, UserInfo};

fn info(row: &UserRow) -> Result<UserInfo, ApiError> {
    row.to_info().map_err(|e| internal("user", &e))
}

/// The caller's own account.
pub async fn whoami<S: Store>(state: &AppState<S>, caller: &Caller) -> Result<Response, ApiError> {
    let row = state
        .store
        .user_by_id(caller.id)
        .await
        .map_err(|e| store_error("user", e))?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Response::User(info(&row)?))
}

/// Every user.
pub async fn list<S: Store>(state: &AppState<S>) -> Result<Response, ApiError> {
    let rows = state
        .store
        .list_users()
        .await
        .map_err(|e| store_error("users", e))?;
    Ok(Response::Users(
        rows.iter().map(info).collect::<Result<_, _>>()?,
    ))
}

/// Creates a user.
pub async fn add<S: Store>(state: &AppState<S>, new: NewUser) -> Result<Response, ApiError> {
    let row = accounts::create_user(&state.store, &state.paths, new)
        .await
        .map_err(|e| account_error("user", e))?;
    tracing::info!(user = row.id, "user created");
    Ok(Response::User(info(&row)?))
}

/// Disables or enables a user. Admins cannot lock themselves out.
pub async fn set_disabled<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    username: &str,
    disabled: bool,
) -> Result<Response, ApiError> {
    if disabled && username == caller.username {
        return Err(ApiError::invalid("you cannot disable your own account"));
    }
    let row = state
        .store
        .set_user_disabled(username, disabled, now_ms())
        .await
        .map_err(|e| store_error("user", e))?;
    tracing::info!(user = row.id, disabled, "user access changed");
    Ok(Response::User(info(&row)?))
}

/// Sets a user's password (their sessions end).
pub async fn set_password<S: Store>(
    state: &AppState<S>,
    username: &str,
    password: String,
) -> Result<Response, ApiError> {
    let row = accounts::set_password(&state.store, username, password)
        .await
        .map_err(|e| account_error("user", e))?;
    tracing::info!(user = row.id, "password changed");
    Ok(Response::User(info(&row)?))
}

/// Sets a user's processing mode and outbox flag.
pub async fn set_mode<S: Store>(
    state: &AppState<S>,
    username: &str,
    mode: JobMode,
    outbox: bool,
) -> Result<Response, ApiError> {
    let row = state
        .store
        .set_user_mode(username, mode.as_str(), outbox, now_ms())
        .await
        .map_err(|e| store_error("user", e))?;
    Ok(Response::User(info(&row)?))
}
