//! Quota balances and the usage ledger.
//!
//! Every change to a balance is one conditional `UPDATE … RETURNING` plus one ledger row
//! with a unique idempotency key, in the same transaction; nothing reads a balance and
//! then writes it. A charge that finds no room records nothing; a charge whose key is
//! already in the ledger is a replay and changes nothing (see `reserve_in`). Period rollover is an
//! `UPDATE … SET last_period_used = used, used = 0 … RETURNING last_period_used`, so the
//! compensating `reset` row carries the exact amount cleared.
//!
//! On PostgreSQL a standalone [`QuotaStore::reserve`] first tries the common case, a grant,
//! as one statement (the same `UPDATE`, its ledger row and any warning, in data-modifying
//! CTEs): one round trip instead of four. Anything else (no room, a period to roll over,
//! a replayed or racing key) falls through to the transactional path, which answers
//! exactly.
//!
//! The invariant, checked by [`QuotaStore::reconcile`]: for every (user, type),
//! `user_quotas.used` equals the sum of that pair's ledger amounts.

use super::StoreError;
use idoctor_protocol::QuotaType;
use serde_json::Value;

/// One charge to reserve.
#[derive(Debug, Clone)]
pub struct Charge {
    /// Whose balance.
    pub user_id: i64,
    /// Which quota.
    pub quota_type: QuotaType,
    /// Units (> 0).
    pub amount: i64,
    /// Unique key; a replay with the same key never charges twice.
    pub key: String,
    /// The job it is for.
    pub job_id: Option<i64>,
    /// The series it is for.
    pub series_id: Option<i64>,
    /// Who caused it (`None` for the system).
    pub actor_id: Option<i64>,
    /// Details for the ledger.
    pub metadata: Value,
}

/// The outcome of a reservation.
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// Charged (or already charged under this key: `replay`).
    Granted {
        /// Balance after the charge.
        used: i64,
        /// Effective limit.
        limit: i64,
        /// The key had been charged before; nothing changed now.
        replay: bool,
        /// Warning levels (80, 100) first crossed by this charge in this period.
        warnings: Vec<i64>,
    },
    /// Refused: `used + amount` would pass `limit`.
    Exceeded {
        /// Current balance.
        used: i64,
        /// Effective limit.
        limit: i64,
    },
}

impl Reservation {
    /// Whether the charge went through (or had already).
    pub fn granted(&self) -> bool {
        matches!(self, Reservation::Granted { .. })
    }
}

/// What a refund did.
#[derive(Debug, Clone, PartialEq)]
pub enum Refund {
    /// Units given back.
    Refunded(i64),
    /// The key was refunded before; nothing changed now.
    AlreadyRefunded,
    /// The charge belongs to an earlier period or was cleared by a reset: recorded with
    /// amount 0 so the ledger still shows the attempt.
    NothingToReturn,
}

/// A balance row with its plan limit.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct QuotaRow {
    /// Quota type name.
    pub quota_type: String,
    /// Used this period.
    pub used: i64,
    /// Effective limit.
    pub limit_value: i64,
    /// Per-user override, if any.
    pub limit_override: Option<i64>,
    /// The plan's limit.
    pub plan_limit: Option<i64>,
    /// Period start.
    pub period_start_ms: i64,
    /// Period end (`None` never resets).
    pub period_end_ms: Option<i64>,
}

/// A ledger row with names resolved.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UsageRow {
    /// Row id.
    pub id: i64,
    /// When.
    pub at_ms: i64,
    /// Whose balance.
    pub username: String,
    /// Who caused it.
    pub actor: Option<String>,
    /// Quota type name.
    pub quota_type: String,
    /// Kind name.
    pub kind: String,
    /// Signed amount.
    pub amount: i64,
    /// Job reference.
    pub job_id: Option<i64>,
    /// Series reference.
    pub series_id: Option<i64>,
    /// Idempotency key.
    pub idempotency_key: String,
    /// JSON details.
    pub metadata: sqlx::types::Json<Value>,
}

/// Ledger filters (already resolved and validated by the policy layer).
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    /// Only this user.
    pub user_id: Option<i64>,
    /// Only this type.
    pub quota_type: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// At or after.
    pub since_ms: Option<i64>,
    /// Before.
    pub until_ms: Option<i64>,
    /// Rows with a smaller id (paging cursor).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A balance that disagrees with its ledger.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Drift {
    /// User.
    pub user_id: i64,
    /// Quota type name.
    pub quota_type: String,
    /// Balance.
    pub used: i64,
    /// Sum of ledger amounts.
    pub ledger_sum: i64,
}

/// A balance at or above 80 % of its limit.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LevelRow {
    /// Login name.
    pub username: String,
    /// Used.
    pub used: i64,
    /// Limit.
    pub limit_value: i64,
}

/// A recorded warning.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WarningRow {
    /// Login name.
    pub username: String,
    /// Quota type name.
    pub quota_type: String,
    /// 80 or 100.
    pub level: i64,
    /// When.
    pub at_ms: i64,
}

/// A limit change, for the audit row and the caller's notes.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitChange {
    /// Quota type name.
    pub quota_type: String,
    /// Before.
    pub old_limit: i64,
    /// After.
    pub new_limit: i64,
    /// Current usage (a new limit below it refuses the next charge).
    pub used: i64,
}

/// The quota tables.
pub trait QuotaStore {
    /// Rolls expired monthly periods over, then returns every balance of a user.
    fn quotas(
        &self,
        user_id: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<QuotaRow>, StoreError>> + Send;

    /// Reserves units in its own transaction.
    fn reserve(
        &self,
        charge: &Charge,
        now_ms: i64,
    ) -> impl Future<Output = Result<Reservation, StoreError>> + Send;

    /// Gives back the units of the consume row with `key`, at most once.
    fn refund(
        &self,
        key: &str,
        actor_id: Option<i64>,
        reason: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Refund, StoreError>> + Send;

    /// Sets (or, with `None`, removes) a per-user limit.
    fn adjust_limit(
        &self,
        user_id: i64,
        quota_type: QuotaType,
        limit: Option<i64>,
        actor_id: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<LimitChange, StoreError>> + Send;

    /// Sets balances to zero (one type or all); returns the types reset and their old usage.
    fn reset(
        &self,
        user_id: i64,
        quota_type: Option<QuotaType>,
        actor_id: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;

    /// Changes a user's plan; limits without an override follow the new plan.
    fn set_plan(
        &self,
        user_id: i64,
        plan: &str,
        actor_id: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<LimitChange>, StoreError>> + Send;

    /// A page of the ledger, newest first.
    fn usage(
        &self,
        query: &UsageQuery,
    ) -> impl Future<Output = Result<Vec<UsageRow>, StoreError>> + Send;

    /// Net consumption per UTC day index (`at_ms / 86 400 000`) since `since_ms`.
    fn usage_per_day(
        &self,
        quota_type: QuotaType,
        since_ms: i64,
    ) -> impl Future<Output = Result<Vec<(i64, i64)>, StoreError>> + Send;

    /// Sum of current balances of a type.
    fn total_used(
        &self,
        quota_type: QuotaType,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Balances of a type at or above 80 % of their limit.
    fn users_near_limit(
        &self,
        quota_type: QuotaType,
    ) -> impl Future<Output = Result<Vec<LevelRow>, StoreError>> + Send;

    /// Recent warnings, newest first.
    fn warnings(
        &self,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<WarningRow>, StoreError>> + Send;

    /// Balances that disagree with the ledger (empty when consistent).
    fn reconcile(&self) -> impl Future<Output = Result<Vec<Drift>, StoreError>> + Send;

    /// Puts a user's held jobs back in the queue and held series back to `stable`, so
    /// they retry their quota at once (after an admin raised a limit or reset a balance).
    /// Returns how many were released.
    fn release_holds(
        &self,
        user_id: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Logs a warning level first crossed by `charge`: ids and numbers only, the log never
/// carries names.
pub(crate) fn log_warning(charge: &Charge, level: i64, used: i64, limit: i64) {
    tracing::warn!(
        user_id = charge.user_id,
        quota_type = charge.quota_type.as_str(),
        level,
        used,
        limit,
        "quota warning: {level}% of the limit reached"
    );
}

/// Implements [`QuotaStore`] and the in-transaction quota helpers for a store type.
/// `$fast`, when given, names an inherent method that tries a reservation in one
/// statement (`Ok(None)`: not granted there, so the transactional path answers).
macro_rules! impl_quota_store {
    ($store:ty, $db:ty $(, $fast:ident)?) => {
        impl $store {
            /// Rolls every expired monthly period of a user over, writing one `reset` row each.
            pub(crate) async fn rollover_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                user_id: i64,
                now_ms: i64,
            ) -> Result<usize, $crate::store::StoreError> {
                let anchor: Option<(i64,)> = sqlx::query_as("SELECT period_anchor_ms FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let (anchor,) = anchor.ok_or($crate::store::StoreError::NotFound)?;
                let (start, end) = $crate::quota::period_bounds(anchor, now_ms);
                let rolled: Vec<(String, i64)> = sqlx::query_as(
                    "UPDATE user_quotas SET last_period_used = used, used = 0, \
                     period_start_ms = $3, period_end_ms = $4 \
                     WHERE user_id = $1 AND period_end_ms IS NOT NULL AND period_end_ms <= $2 \
                     RETURNING quota_type, last_period_used",
                )
                .bind(user_id)
                .bind(now_ms)
                .bind(start)
                .bind(end)
                .fetch_all(&mut *conn)
                .await?;
                let count = rolled.len();
                for (quota_type, previous) in rolled {
                    sqlx::query(
                        "INSERT INTO usage_log (at_ms, user_id, quota_type, kind, amount, \
                         idempotency_key, metadata) VALUES ($1, $2, $3, 'reset', $4, $5, $6) \
                         ON CONFLICT (idempotency_key) DO NOTHING",
                    )
                    .bind(now_ms)
                    .bind(user_id)
                    .bind(&quota_type)
                    .bind(-previous)
                    .bind(format!("rollover:{user_id}:{quota_type}:{start}"))
                    .bind(sqlx::types::Json(serde_json::json!({
                        "reason": "monthly period rollover",
                        "previous_used": previous,
                        "period_start_ms": start,
                    })))
                    .execute(&mut *conn)
                    .await?;
                    tracing::info!(user = user_id, quota_type, previous, "quota period rolled over");
                }
                Ok(count)
            }

            async fn balance_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                user_id: i64,
                quota_type: &str,
            ) -> Result<(i64, i64), $crate::store::StoreError> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT used, limit_value FROM user_quotas WHERE user_id = $1 AND quota_type = $2",
                )
                .bind(user_id)
                .bind(quota_type)
                .fetch_optional(&mut *conn)
                .await?;
                row.ok_or($crate::store::StoreError::NotFound)
            }

            /// Gives back the units of the consume row with `key`, at most once, inside the
            /// caller's transaction.
            pub(crate) async fn refund_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                key: &str,
                actor_id: Option<i64>,
                reason: &str,
                now_ms: i64,
            ) -> Result<$crate::store::quota::Refund, $crate::store::StoreError> {
                use $crate::store::quota::Refund;
                let consume: Option<(i64, String, i64, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT user_id, quota_type, amount, at_ms, job_id, series_id FROM usage_log \
                     WHERE idempotency_key = $1 AND kind = 'consume'",
                )
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
                let (user_id, quota_type, amount, consumed_at, job_id, series_id) =
                    consume.ok_or($crate::store::StoreError::NotFound)?;
                Self::rollover_in(&mut *conn, user_id, now_ms).await?;
                let refund_key = format!("refund:{key}");
                let mut sp = sqlx::Connection::begin(&mut *conn).await?;
                let given: Option<(i64,)> = sqlx::query_as(
                    "UPDATE user_quotas SET used = used - $3 WHERE user_id = $1 AND quota_type = $2 \
                     AND used >= $3 AND period_start_ms <= $4 RETURNING used",
                )
                .bind(user_id)
                .bind(&quota_type)
                .bind(amount)
                .bind(consumed_at)
                .fetch_optional(&mut *sp)
                .await?;
                let returned = if given.is_some() { amount } else { 0 };
                let inserted: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO usage_log (at_ms, user_id, actor_id, quota_type, kind, amount, job_id, \
                     series_id, idempotency_key, metadata) \
                     VALUES ($1, $2, $3, $4, 'refund', $5, $6, $7, $8, $9) \
                     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                )
                .bind(now_ms)
                .bind(user_id)
                .bind(actor_id)
                .bind(&quota_type)
                .bind(-returned)
                .bind(job_id)
                .bind(series_id)
                .bind(&refund_key)
                .bind(sqlx::types::Json(serde_json::json!({
                    "reason": reason,
                    "refunds": key,
                    "charged": amount,
                    "returned": returned,
                })))
                .fetch_optional(&mut *sp)
                .await?;
                if inserted.is_none() {
                    sp.rollback().await?;
                    return Ok(Refund::AlreadyRefunded);
                }
                sp.commit().await?;
                Ok(if returned > 0 { Refund::Refunded(returned) } else { Refund::NothingToReturn })
            }

            /// Reserves inside the caller's transaction (see the module docs).
            ///
            /// The common case is two statements: the conditional `UPDATE` (which also
            /// requires the period to be current) and the ledger `INSERT`. Only when the
            /// update matches nothing does it look further: an expired period is rolled
            /// over and the charge retried once; a key already in the ledger is a replay;
            /// otherwise the quota is exceeded. A replay that got past the update undoes
            /// its increment before the transaction ends, so nobody ever sees it.
            pub(crate) async fn reserve_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                charge: &$crate::store::quota::Charge,
                now_ms: i64,
            ) -> Result<$crate::store::quota::Reservation, $crate::store::StoreError> {
                use $crate::store::quota::Reservation;
                if charge.amount <= 0 {
                    return Err($crate::store::StoreError::Invalid(format!(
                        "amount must be positive, got {}",
                        charge.amount
                    )));
                }
                let quota_type = charge.quota_type.as_str();
                let mut rolled_over = false;
                loop {
                    let updated: Option<(i64, i64, i64)> = sqlx::query_as(
                        "UPDATE user_quotas SET used = used + $3 \
                         WHERE user_id = $1 AND quota_type = $2 AND used + $3 <= limit_value \
                         AND (period_end_ms IS NULL OR period_end_ms > $4) \
                         RETURNING used, limit_value, period_start_ms",
                    )
                    .bind(charge.user_id)
                    .bind(quota_type)
                    .bind(charge.amount)
                    .bind(now_ms)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some((used, limit, period_start)) = updated {
                        let inserted: Option<(i64,)> = sqlx::query_as(
                            "INSERT INTO usage_log (at_ms, user_id, actor_id, quota_type, kind, amount, \
                             job_id, series_id, idempotency_key, metadata) \
                             VALUES ($1, $2, $3, $4, 'consume', $5, $6, $7, $8, $9) \
                             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                        )
                        .bind(now_ms)
                        .bind(charge.user_id)
                        .bind(charge.actor_id)
                        .bind(quota_type)
                        .bind(charge.amount)
                        .bind(charge.job_id)
                        .bind(charge.series_id)
                        .bind(&charge.key)
                        .bind(sqlx::types::Json(&charge.metadata))
                        .fetch_optional(&mut *conn)
                        .await?;
                        if inserted.is_none() {
                            sqlx::query(
                                "UPDATE user_quotas SET used = used - $3 WHERE user_id = $1 AND quota_type = $2",
                            )
                            .bind(charge.user_id)
                            .bind(quota_type)
                            .bind(charge.amount)
                            .execute(&mut *conn)
                            .await?;
                            return Self::replay_in(&mut *conn, charge).await;
                        }
                        let warnings = Self::warn_in(&mut *conn, charge, used, limit, period_start, now_ms).await?;
                        return Ok(Reservation::Granted { used, limit, replay: false, warnings });
                    }
                    if !rolled_over && Self::rollover_in(&mut *conn, charge.user_id, now_ms).await? > 0 {
                        rolled_over = true;
                        continue;
                    }
                    let prior: Option<(i64,)> =
                        sqlx::query_as("SELECT id FROM usage_log WHERE idempotency_key = $1")
                            .bind(&charge.key)
                            .fetch_optional(&mut *conn)
                            .await?;
                    if prior.is_some() {
                        return Self::replay_in(&mut *conn, charge).await;
                    }
                    let (used, limit) = Self::balance_in(&mut *conn, charge.user_id, quota_type).await?;
                    return Ok(Reservation::Exceeded { used, limit });
                }
            }

            /// The answer for a key that was charged before: the same charge again is a
            /// replay; a different charge under the same key is a conflict.
            async fn replay_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                charge: &$crate::store::quota::Charge,
            ) -> Result<$crate::store::quota::Reservation, $crate::store::StoreError> {
                let quota_type = charge.quota_type.as_str();
                let prior: (i64, String, String) = sqlx::query_as(
                    "SELECT user_id, quota_type, kind FROM usage_log WHERE idempotency_key = $1",
                )
                .bind(&charge.key)
                .fetch_one(&mut *conn)
                .await?;
                if prior != (charge.user_id, quota_type.to_string(), "consume".to_string()) {
                    return Err($crate::store::StoreError::Conflict(format!(
                        "idempotency key {:?} was used for a different charge",
                        charge.key
                    )));
                }
                let (used, limit) = Self::balance_in(&mut *conn, charge.user_id, quota_type).await?;
                Ok($crate::store::quota::Reservation::Granted { used, limit, replay: true, warnings: Vec::new() })
            }

            /// Records the 80 % and 100 % warnings this charge crossed, once per period.
            async fn warn_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                charge: &$crate::store::quota::Charge,
                used: i64,
                limit: i64,
                period_start: i64,
                now_ms: i64,
            ) -> Result<Vec<i64>, $crate::store::StoreError> {
                let before = used - charge.amount;
                let mut warnings = Vec::new();
                for level in [80_i64, 100] {
                    let crossed = limit > 0 && before * 100 < level * limit && used * 100 >= level * limit;
                    if !crossed {
                        continue;
                    }
                    let new: Option<(i64,)> = sqlx::query_as(
                        "INSERT INTO quota_warnings (user_id, quota_type, period_start_ms, level, used, \
                         limit_value, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT DO NOTHING RETURNING level",
                    )
                    .bind(charge.user_id)
                    .bind(charge.quota_type.as_str())
                    .bind(period_start)
                    .bind(level)
                    .bind(used)
                    .bind(limit)
                    .bind(now_ms)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if new.is_some() {
                        $crate::store::quota::log_warning(charge, level, used, limit);
                        warnings.push(level);
                    }
                }
                Ok(warnings)
            }
        }

        impl $crate::store::quota::QuotaStore for $store {
            #[tracing::instrument(skip_all)]
            async fn quotas(
                &self,
                user_id: i64,
                now_ms: i64,
            ) -> Result<Vec<$crate::store::quota::QuotaRow>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::rollover_in(&mut *tx, user_id, now_ms).await?;
                let rows = sqlx::query_as(
                    "SELECT q.quota_type, q.used, q.limit_value, q.limit_override, \
                     (SELECT pl.limit_value FROM plan_limits pl WHERE pl.plan = u.plan \
                      AND pl.quota_type = q.quota_type) AS plan_limit, \
                     q.period_start_ms, q.period_end_ms \
                     FROM user_quotas q JOIN users u ON u.id = q.user_id \
                     WHERE q.user_id = $1 ORDER BY q.quota_type",
                )
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }

            #[tracing::instrument(skip_all)]
            async fn reserve(
                &self,
                charge: &$crate::store::quota::Charge,
                now_ms: i64,
            ) -> Result<$crate::store::quota::Reservation, $crate::store::StoreError> {
                $(
                    if let Some(granted) = self.$fast(charge, now_ms).await? {
                        return Ok(granted);
                    }
                )?
                let mut tx = self.begin_write().await?;
                let outcome = Self::reserve_in(&mut *tx, charge, now_ms).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            #[tracing::instrument(skip_all)]
            async fn refund(
                &self,
                key: &str,
                actor_id: Option<i64>,
                reason: &str,
                now_ms: i64,
            ) -> Result<$crate::store::quota::Refund, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let outcome = Self::refund_in(&mut *tx, key, actor_id, reason, now_ms).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            #[tracing::instrument(skip_all)]
            async fn adjust_limit(
                &self,
                user_id: i64,
                quota_type: idoctor_protocol::QuotaType,
                limit: Option<i64>,
                actor_id: i64,
                now_ms: i64,
            ) -> Result<$crate::store::quota::LimitChange, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let changed: Option<(i64, i64, i64)> = sqlx::query_as(
                    "UPDATE user_quotas SET previous_limit = limit_value, limit_override = $3, \
                     limit_value = COALESCE($3, (SELECT pl.limit_value FROM plan_limits pl \
                       JOIN users u ON u.plan = pl.plan WHERE u.id = $1 AND pl.quota_type = $2)) \
                     WHERE user_id = $1 AND quota_type = $2 \
                     RETURNING previous_limit, limit_value, used",
                )
                .bind(user_id)
                .bind(quota_type.as_str())
                .bind(limit)
                .fetch_optional(&mut *tx)
                .await?;
                let (old_limit, new_limit, used) = changed.ok_or($crate::store::StoreError::NotFound)?;
                sqlx::query(
                    "INSERT INTO usage_log (at_ms, user_id, actor_id, quota_type, kind, amount, \
                     idempotency_key, metadata) VALUES ($1, $2, $3, $4, 'adjust', 0, $5, $6)",
                )
                .bind(now_ms)
                .bind(user_id)
                .bind(actor_id)
                .bind(quota_type.as_str())
                .bind(format!("adjust:{user_id}:{}:{now_ms}:{:08x}", quota_type.as_str(), rand::random::<u32>()))
                .bind(sqlx::types::Json(serde_json::json!({
                    "old_limit": old_limit,
                    "new_limit": new_limit,
                    "override": limit,
                    "used": used,
                })))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::store::quota::LimitChange {
                    quota_type: quota_type.as_str().to_string(),
                    old_limit,
                    new_limit,
                    used,
                })
            }

            #[tracing::instrument(skip_all)]
            async fn reset(
                &self,
                user_id: i64,
                quota_type: Option<idoctor_protocol::QuotaType>,
                actor_id: i64,
                now_ms: i64,
            ) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let cleared: Vec<(String, i64)> = sqlx::query_as(
                    "UPDATE user_quotas SET last_period_used = used, used = 0 \
                     WHERE user_id = $1 AND ($2 IS NULL OR quota_type = $2) \
                     RETURNING quota_type, last_period_used",
                )
                .bind(user_id)
                .bind(quota_type.map(|t| t.as_str()))
                .fetch_all(&mut *tx)
                .await?;
                if cleared.is_empty() {
                    return Err($crate::store::StoreError::NotFound);
                }
                let nonce = rand::random::<u32>();
                for (t, previous) in &cleared {
                    sqlx::query(
                        "INSERT INTO usage_log (at_ms, user_id, actor_id, quota_type, kind, amount, \
                         idempotency_key, metadata) VALUES ($1, $2, $3, $4, 'reset', $5, $6, $7)",
                    )
                    .bind(now_ms)
                    .bind(user_id)
                    .bind(actor_id)
                    .bind(t)
                    .bind(-previous)
                    .bind(format!("reset:{user_id}:{t}:{now_ms}:{nonce:08x}"))
                    .bind(sqlx::types::Json(serde_json::json!({
                        "reason": "admin reset",
                        "previous_used": previous,
                    })))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(cleared)
            }

            #[tracing::instrument(skip_all)]
            async fn set_plan(
                &self,
                user_id: i64,
                plan: &str,
                actor_id: i64,
                now_ms: i64,
            ) -> Result<Vec<$crate::store::quota::LimitChange>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let known: Option<(String,)> = sqlx::query_as("SELECT name FROM plans WHERE name = $1")
                    .bind(plan)
                    .fetch_optional(&mut *tx)
                    .await?;
                if known.is_none() {
                    return Err($crate::store::StoreError::Invalid(format!("unknown plan {plan:?}")));
                }
                let old: Option<(String,)> = sqlx::query_as("SELECT plan FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (old_plan,) = old.ok_or($crate::store::StoreError::NotFound)?;
                let moved = sqlx::query("UPDATE users SET plan = $2, updated_at_ms = $3 WHERE id = $1 AND plan = $4")
                    .bind(user_id)
                    .bind(plan)
                    .bind(now_ms)
                    .bind(&old_plan)
                    .execute(&mut *tx)
                    .await?;
                if moved.rows_affected() != 1 {
                    return Err($crate::store::StoreError::Conflict("the plan was changed concurrently; retry".into()));
                }
                let rows: Vec<(String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
                    "UPDATE user_quotas SET previous_limit = limit_value, \
                     limit_value = COALESCE(limit_override, (SELECT pl.limit_value FROM plan_limits pl \
                       WHERE pl.plan = $2 AND pl.quota_type = user_quotas.quota_type), limit_value) \
                     WHERE user_id = $1 \
                     RETURNING quota_type, previous_limit, limit_value, used, limit_override",
                )
                .bind(user_id)
                .bind(plan)
                .fetch_all(&mut *tx)
                .await?;
                let nonce = rand::random::<u32>();
                let mut changes = Vec::new();
                for (t, old_limit, new_limit, used, overridden) in rows {
                    sqlx::query(
                        "INSERT INTO usage_log (at_ms, user_id, actor_id, quota_type, kind, amount, \
                         idempotency_key, metadata) VALUES ($1, $2, $3, $4, 'plan_change', 0, $5, $6)",
                    )
                    .bind(now_ms)
                    .bind(user_id)
                    .bind(actor_id)
                    .bind(&t)
                    .bind(format!("plan:{user_id}:{t}:{now_ms}:{nonce:08x}"))
                    .bind(sqlx::types::Json(serde_json::json!({
                        "old_plan": old_plan,
                        "new_plan": plan,
                        "old_limit": old_limit,
                        "new_limit": new_limit,
                        "override_kept": overridden.is_some(),
                    })))
                    .execute(&mut *tx)
                    .await?;
                    changes.push($crate::store::quota::LimitChange { quota_type: t, old_limit, new_limit, used });
                }
                tx.commit().await?;
                Ok(changes)
            }

            #[tracing::instrument(skip_all)]
            async fn usage(
                &self,
                q: &$crate::store::quota::UsageQuery,
            ) -> Result<Vec<$crate::store::quota::UsageRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT l.id, l.at_ms, u.username, a.username AS actor, l.quota_type, l.kind, \
                     l.amount, l.job_id, l.series_id, l.idempotency_key, l.metadata \
                     FROM usage_log l JOIN users u ON u.id = l.user_id \
                     LEFT JOIN users a ON a.id = l.actor_id \
                     WHERE ($1 IS NULL OR l.user_id = $1) AND ($2 IS NULL OR l.quota_type = $2) \
                     AND ($3 IS NULL OR l.kind = $3) AND ($4 IS NULL OR l.at_ms >= $4) \
                     AND ($5 IS NULL OR l.at_ms < $5) AND ($6 IS NULL OR l.id < $6) \
                     ORDER BY l.id DESC LIMIT $7",
                )
                .bind(q.user_id)
                .bind(q.quota_type.as_deref())
                .bind(q.kind.as_deref())
                .bind(q.since_ms)
                .bind(q.until_ms)
                .bind(q.before_id)
                .bind(q.limit)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn usage_per_day(
                &self,
                quota_type: idoctor_protocol::QuotaType,
                since_ms: i64,
            ) -> Result<Vec<(i64, i64)>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT at_ms / 86400000 AS day, CAST(SUM(amount) AS BIGINT) FROM usage_log \
                     WHERE quota_type = $1 AND kind IN ('consume', 'refund') AND at_ms >= $2 \
                     GROUP BY at_ms / 86400000 ORDER BY day",
                )
                .bind(quota_type.as_str())
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn total_used(&self, quota_type: idoctor_protocol::QuotaType) -> Result<i64, $crate::store::StoreError> {
                let (total,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COALESCE(SUM(used), 0) AS BIGINT) FROM user_quotas WHERE quota_type = $1",
                )
                .bind(quota_type.as_str())
                .fetch_one(&self.pool)
                .await?;
                Ok(total)
            }

            #[tracing::instrument(skip_all)]
            async fn users_near_limit(
                &self,
                quota_type: idoctor_protocol::QuotaType,
            ) -> Result<Vec<$crate::store::quota::LevelRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT u.username, q.used, q.limit_value FROM user_quotas q \
                     JOIN users u ON u.id = q.user_id \
                     WHERE q.quota_type = $1 AND q.used * 100 >= q.limit_value * 80 \
                     ORDER BY u.username",
                )
                .bind(quota_type.as_str())
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn warnings(&self, limit: i64) -> Result<Vec<$crate::store::quota::WarningRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT u.username, w.quota_type, w.level, w.at_ms FROM quota_warnings w \
                     JOIN users u ON u.id = w.user_id ORDER BY w.at_ms DESC, w.level DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn release_holds(&self, user_id: i64, now_ms: i64) -> Result<u64, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let jobs = sqlx::query(
                    "UPDATE jobs SET state = 'queued', not_before_ms = 0, updated_at_ms = $2 \
                     WHERE user_id = $1 AND state = 'held'",
                )
                .bind(user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let series = sqlx::query(
                    "UPDATE series SET state = 'stable', updated_at_ms = $2 \
                     WHERE user_id = $1 AND state = 'held'",
                )
                .bind(user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(jobs + series)
            }

            #[tracing::instrument(skip_all)]
            async fn reconcile(&self) -> Result<Vec<$crate::store::quota::Drift>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT q.user_id, q.quota_type, q.used, \
                     CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) AS ledger_sum \
                     FROM user_quotas q LEFT JOIN usage_log l \
                       ON l.user_id = q.user_id AND l.quota_type = q.quota_type \
                     GROUP BY q.user_id, q.quota_type, q.used \
                     HAVING q.used <> COALESCE(SUM(l.amount), 0)",
                )
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}
pub(crate) use impl_quota_store;
