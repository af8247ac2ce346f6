//! Users: creation (with their quota rows), lookup, and account changes.

use super::{NewUserRow, StoreError, UserRow};

/// User rows.
pub trait UserStore {
    /// Inserts a user and one quota row per type of their plan, in one transaction.
    /// `period_end_ms` ends the first monthly period. A taken name is `Conflict`; an
    /// unknown plan is `Invalid`.
    fn create_user(
        &self,
        user: NewUserRow,
        period_end_ms: i64,
    ) -> impl Future<Output = Result<UserRow, StoreError>> + Send;

    /// The user with this name, if any.
    fn user_by_name(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<UserRow>, StoreError>> + Send;

    /// The user with this id, if any.
    fn user_by_id(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<UserRow>, StoreError>> + Send;

    /// Every user, by name.
    fn list_users(&self) -> impl Future<Output = Result<Vec<UserRow>, StoreError>> + Send;

    /// Disables or enables a user.
    fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        now_ms: i64,
    ) -> impl Future<Output = Result<UserRow, StoreError>> + Send;

    /// Replaces the password hash and bumps the token epoch, so existing sessions end.
    fn set_password_hash(
        &self,
        username: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<UserRow, StoreError>> + Send;

    /// Sets the processing mode and outbox flag.
    fn set_user_mode(
        &self,
        username: &str,
        mode: &str,
        outbox: bool,
        now_ms: i64,
    ) -> impl Future<Output = Result<UserRow, StoreError>> + Send;

    /// Names of the plans the database knows.
    fn plan_names(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

/// Implements [`UserStore`] for a store type with a `pool` field and a
/// `begin_write()` method.
macro_rules! impl_user_store {
    ($store:ty) => {
        impl $crate::store::UserStore for $store {
            #[tracing::instrument(skip_all)]
            async fn create_user(
                &self,
                user: $crate::store::NewUserRow,
                period_end_ms: i64,
            ) -> Result<$crate::store::UserRow, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let plan_known: Option<(String,)> =
                    sqlx::query_as("SELECT name FROM plans WHERE name = $1")
                        .bind(&user.plan)
                        .fetch_optional(&mut *tx)
                        .await?;
                if plan_known.is_none() {
                    return Err($crate::store::StoreError::Invalid(format!(
                        "unknown plan {:?}",
                        user.plan
                    )));
                }
                let row: $crate::store::UserRow = sqlx::query_as(
                    "INSERT INTO users (username, password_hash, role, plan, period_anchor_ms, \
                     created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $5, $5) RETURNING *",
                )
                .bind(&user.username)
                .bind(&user.password_hash)
                .bind(user.role.as_str())
                .bind(&user.plan)
                .bind(user.now_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match $crate::store::StoreError::from(e) {
                    $crate::store::StoreError::Conflict(_) => $crate::store::StoreError::Conflict(
                        format!("user {:?} already exists", user.username),
                    ),
                    other => other,
                })?;
                sqlx::query(
                    "INSERT INTO user_quotas (user_id, quota_type, used, limit_value, \
                     period_start_ms, period_end_ms) \
                     SELECT $1, quota_type, 0, limit_value, $2, \
                     CASE WHEN quota_type IN ('storage_dicom', 'storage_results') THEN NULL ELSE $3 END \
                     FROM plan_limits WHERE plan = $4",
                )
                .bind(row.id)
                .bind(user.now_ms)
                .bind(period_end_ms)
                .bind(&user.plan)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row)
            }

            #[tracing::instrument(skip_all)]
            async fn user_by_name(
                &self,
                username: &str,
            ) -> Result<Option<$crate::store::UserRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as("SELECT * FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn user_by_id(
                &self,
                id: i64,
            ) -> Result<Option<$crate::store::UserRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as("SELECT * FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn list_users(
                &self,
            ) -> Result<Vec<$crate::store::UserRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as("SELECT * FROM users ORDER BY username")
                    .fetch_all(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn set_user_disabled(
                &self,
                username: &str,
                disabled: bool,
                now_ms: i64,
            ) -> Result<$crate::store::UserRow, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "UPDATE users SET disabled = $2, updated_at_ms = $3 WHERE username = $1 RETURNING *",
                )
                .bind(username)
                .bind(disabled)
                .bind(now_ms)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn set_password_hash(
                &self,
                username: &str,
                password_hash: &str,
                now_ms: i64,
            ) -> Result<$crate::store::UserRow, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "UPDATE users SET password_hash = $2, token_epoch = token_epoch + 1, \
                     updated_at_ms = $3 WHERE username = $1 RETURNING *",
                )
                .bind(username)
                .bind(password_hash)
                .bind(now_ms)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn set_user_mode(
                &self,
                username: &str,
                mode: &str,
                outbox: bool,
                now_ms: i64,
            ) -> Result<$crate::store::UserRow, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "UPDATE users SET mode = $2, outbox = $3, updated_at_ms = $4 \
                     WHERE username = $1 RETURNING *",
                )
                .bind(username)
                .bind(mode)
                .bind(outbox)
                .bind(now_ms)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn plan_names(&self) -> Result<Vec<String>, $crate::store::StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM plans ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(n,)| n).collect())
            }
        }
    };
}
pub(crate) use impl_user_store;
