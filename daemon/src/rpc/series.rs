//! Handlers for series (scoped to the caller) and the quarantine (admin).

use super::Caller;
use super::errors::{internal, store_error};
use crate::state::AppState;
use crate::store::Store;
use idoctor_protocol::{ApiError, QuarantineEntry, Response};

/// The caller's series, newest first.
pub async fn list<S: Store>(state: &AppState<S>, caller: &Caller) -> Result<Response, ApiError> {
    let rows = state
        .store
        .list_series(Some(caller.id))
        .await
        .map_err(|e| store_error("series", e))?;
    let list = rows
        .iter()
        .map(|r| r.to_info())
        .collect::<Result<_, _>>()
        .map_err(|e| internal("series", &e))?;
    Ok(Response::Series(list))
}

/// Quarantined files with reasons (admin), newest first.
pub async fn quarantine<S: Store>(
    state: &AppState<S>,
    username: Option<String>,
    limit: u32,
) -> Result<Response, ApiError> {
    let user_id = match username {
        Some(name) => Some(
            state
                .store
                .user_by_name(&name)
                .await
                .map_err(|e| store_error("user", e))?
                .ok_or_else(|| ApiError::not_found(&format!("user {name:?}")))?
                .id,
        ),
        None => None,
    };
    let rows = state
        .store
        .list_quarantine(user_id, i64::from(limit.clamp(1, 10_000)))
        .await
        .map_err(|e| store_error("quarantine", e))?;
    Ok(Response::Quarantine(
        rows.into_iter()
            .map(|r| QuarantineEntry {
                id: r.id,
                username: r.username.unwrap_or_else(|| "(unassigned)".into()),
                path: r.path,
                reason: r.reason,
                bytes: r.bytes,
                at_ms: r.at_ms,
            })
            .collect(),
    ))
}
