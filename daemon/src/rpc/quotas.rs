//! Handlers for quotas and the usage ledger: the caller's own view, and the admin
//! operations (each written to the ledger with the admin as actor).

use super::Caller;
use super::errors::{internal, store_error};
use crate::quota::{self, day_label};
use crate::state::AppState;
use crate::store::quota::UsageQuery;
use crate::store::{Store, StoreError, UserRow, now_ms};
use idoctor_protocol::{
    ApiError, DayAmount, QuotaChange, QuotaStats, QuotaStatus, QuotaType, QuotaWarning, Response,
    UsageFilter, UsagePage, UserLevel,
};

const DAY_MS: i64 = 86_400_000;

async fn user_named<S: Store>(state: &AppState<S>, username: &str) -> Result<UserRow, ApiError> {
    state
        .store
        .user_by_name(username)
        .await
        .map_err(|e| store_error("user", e))?
        .ok_or_else(|| ApiError::not_found(&format!("user {username:?}")))
}

async fn statuses<S: Store>(
    state: &AppState<S>,
    user_id: i64,
) -> Result<Vec<QuotaStatus>, ApiError> {
    let rows = state
        .store
        .quotas(user_id, now_ms())
        .await
        .map_err(|e| store_error("quotas", e))?;
    rows.iter()
        .map(quota::status)
        .collect::<Result<_, _>>()
        .map_err(|e| internal("quotas", &e))
}

/// The caller's own balances.
pub async fn mine<S: Store>(state: &AppState<S>, caller: &Caller) -> Result<Response, ApiError> {
    Ok(Response::Quotas(statuses(state, caller.id).await?))
}

/// A user's balances (admin).
pub async fn show<S: Store>(state: &AppState<S>, username: &str) -> Result<Response, ApiError> {
    let user = user_named(state, username).await?;
    Ok(Response::Quotas(statuses(state, user.id).await?))
}

async fn change<S: Store>(
    state: &AppState<S>,
    user: &UserRow,
    mut notes: Vec<String>,
) -> Result<Response, ApiError> {
    let released = state
        .store
        .release_holds(user.id, now_ms())
        .await
        .map_err(|e| store_error("holds", e))?;
    if released > 0 {
        notes.push(format!(
            "{released} held job(s) or series released for a retry"
        ));
        state.work_ready.notify_waiters();
    }
    Ok(Response::QuotaChange(QuotaChange {
        quotas: statuses(state, user.id).await?,
        notes,
        released,
    }))
}

fn below_usage_note(quota_type: &str, limit: i64, used: i64) -> Option<String> {
    (limit < used).then(|| {
        format!(
            "{quota_type}: the new limit {limit} is below current usage {used}; \
             the next charge will be refused until usage falls or the period resets"
        )
    })
}

/// Sets or removes a per-user limit (admin).
pub async fn adjust<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    username: &str,
    quota_type: QuotaType,
    limit: Option<i64>,
) -> Result<Response, ApiError> {
    quota::validate_limit(limit).map_err(ApiError::invalid)?;
    let user = user_named(state, username).await?;
    let changed = state
        .store
        .adjust_limit(user.id, quota_type, limit, caller.id, now_ms())
        .await
        .map_err(|e| store_error("quota", e))?;
    tracing::info!(
        admin = caller.id,
        user = user.id,
        quota_type = quota_type.as_str(),
        old = changed.old_limit,
        new = changed.new_limit,
        "quota limit adjusted"
    );
    let notes = below_usage_note(quota_type.as_str(), changed.new_limit, changed.used)
        .into_iter()
        .collect();
    change(state, &user, notes).await
}

/// Sets balances back to zero (admin).
pub async fn reset<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    username: &str,
    quota_type: Option<QuotaType>,
) -> Result<Response, ApiError> {
    let user = user_named(state, username).await?;
    let cleared = state
        .store
        .reset(user.id, quota_type, caller.id, now_ms())
        .await
        .map_err(|e| store_error("quota", e))?;
    tracing::info!(
        admin = caller.id,
        user = user.id,
        types = cleared.len(),
        "quota reset"
    );
    let notes = cleared
        .iter()
        .map(|(t, previous)| format!("{t}: {previous} cleared"))
        .collect();
    change(state, &user, notes).await
}

/// Changes a user's plan (admin).
pub async fn set_plan<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    username: &str,
    plan: &str,
) -> Result<Response, ApiError> {
    let user = user_named(state, username).await?;
    let changes = state
        .store
        .set_plan(user.id, plan, caller.id, now_ms())
        .await
        .map_err(|e| match e {
            StoreError::Invalid(m) => ApiError::invalid(m),
            other => store_error("plan", other),
        })?;
    tracing::info!(admin = caller.id, user = user.id, plan, "plan changed");
    let mut notes = vec![format!("{username}: plan {} → {plan}", user.plan)];
    notes.extend(
        changes
            .iter()
            .filter_map(|c| below_usage_note(&c.quota_type, c.new_limit, c.used)),
    );
    change(state, &user, notes).await
}

/// A ledger page; `user_id` pins it to one user (operators always see only their own).
pub async fn usage<S: Store>(
    state: &AppState<S>,
    filter: UsageFilter,
    pinned_user: Option<i64>,
) -> Result<Response, ApiError> {
    let limit = filter.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("page size must be between 1 and 1000"));
    }
    if let (Some(s), Some(u)) = (filter.since_ms, filter.until_ms)
        && s >= u
    {
        return Err(ApiError::invalid("`since` must be before `until`"));
    }
    let user_id = match (pinned_user, &filter.username) {
        (Some(id), _) => Some(id),
        (None, Some(name)) => Some(user_named(state, name).await?.id),
        (None, None) => None,
    };
    let query = UsageQuery {
        user_id,
        quota_type: filter.quota_type.map(|t| t.as_str().to_string()),
        kind: filter.kind.map(|k| k.as_str().to_string()),
        since_ms: filter.since_ms,
        until_ms: filter.until_ms,
        before_id: filter.before_id,
        limit: i64::from(limit) + 1,
    };
    let mut rows = state
        .store
        .usage(&query)
        .await
        .map_err(|e| store_error("usage", e))?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_before_id = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let entries = rows
        .into_iter()
        .map(quota::entry)
        .collect::<Result<_, _>>()
        .map_err(|e| internal("usage", &e))?;
    Ok(Response::Usage(UsagePage {
        entries,
        next_before_id,
    }))
}

/// Statistics for one quota type (admin).
pub async fn stats<S: Store>(
    state: &AppState<S>,
    quota_type: QuotaType,
    days: u32,
) -> Result<Response, ApiError> {
    if !(1..=366).contains(&days) {
        return Err(ApiError::invalid("days must be between 1 and 366"));
    }
    let today = now_ms() / DAY_MS;
    let first = today - i64::from(days) + 1;
    let per_day_rows = state
        .store
        .usage_per_day(quota_type, first * DAY_MS)
        .await
        .map_err(|e| store_error("stats", e))?;
    let per_day = (first..=today)
        .map(|day| DayAmount {
            day: day_label(day),
            amount: per_day_rows
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, a)| *a),
        })
        .collect();
    let total_used = state
        .store
        .total_used(quota_type)
        .await
        .map_err(|e| store_error("stats", e))?;
    let levels = state
        .store
        .users_near_limit(quota_type)
        .await
        .map_err(|e| store_error("stats", e))?;
    let (mut near_limit, mut at_limit) = (Vec::new(), Vec::new());
    for row in levels {
        let percent = if row.limit_value > 0 {
            row.used as f64 * 100.0 / row.limit_value as f64
        } else {
            100.0
        };
        let level = UserLevel {
            username: row.username,
            used: row.used,
            limit: row.limit_value,
            percent,
        };
        if row.used >= row.limit_value {
            at_limit.push(level);
        } else {
            near_limit.push(level);
        }
    }
    Ok(Response::Stats(QuotaStats {
        quota_type,
        total_used,
        per_day,
        near_limit,
        at_limit,
    }))
}

/// Recent quota warnings (admin).
pub async fn warnings<S: Store>(state: &AppState<S>, limit: u32) -> Result<Response, ApiError> {
    let rows = state
        .store
        .warnings(i64::from(limit.clamp(1, 1000)))
        .await
        .map_err(|e| store_error("warnings", e))?;
    let list = rows
        .into_iter()
        .map(|w| {
            Ok(QuotaWarning {
                username: w.username,
                quota_type: crate::store::rows::parse_enum(&w.quota_type)?,
                level: w.level.clamp(0, 255) as u8,
                at_ms: w.at_ms,
            })
        })
        .collect::<Result<_, StoreError>>()
        .map_err(|e| internal("warnings", &e))?;
    Ok(Response::Warnings(list))
}
