//! Jobs, their runs, result versions and the per-job log.
//!
//! A run is claimed with a lease in one transaction with its quota charge
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite). Every later
//! write of the run (progress, completion, failure) is conditional on the worker still
//! holding the lease of that run (`lease_owner` and `run_seq`), so a worker that lost
//! its lease to another daemon can never overwrite newer state. Every operator action
//! that queues work bumps `run_seq`, which names the run in idempotency keys and makes
//! each result version unique per run.

use super::StoreError;
use super::quota::Charge;
use serde_json::Value;
use sqlx::types::Json;

/// A job row with its series, study and latest version.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Owner's name.
    pub username: String,
    /// Series.
    pub series_id: i64,
    /// `auto` or `review`.
    pub mode: String,
    /// State name.
    pub state: String,
    /// Step name.
    pub step: String,
    /// Running stage.
    pub stage: Option<String>,
    /// Progress 0..1.
    pub progress: Option<f64>,
    /// Holding quota.
    pub held_quota: Option<String>,
    /// Last error or hold reason.
    pub error: Option<String>,
    /// Failed attempts of this run.
    pub attempts: i64,
    /// Run number.
    pub run_seq: i64,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// Lease expiry.
    pub lease_expires_ms: Option<i64>,
    /// Not to be claimed before.
    pub not_before_ms: i64,
    /// The L3 the next measurement uses (detected or operator's).
    pub l3: Option<Json<Value>>,
    /// The L3 the pipeline detected.
    pub detected_l3: Option<Json<Value>>,
    /// Slice positions and UIDs of the series.
    pub geometry: Option<Json<Value>>,
    /// Kind of the next result version.
    pub next_kind: String,
    /// Why the next version is made.
    pub next_reason: String,
    /// Who asked for the next version.
    pub next_actor: Option<i64>,
    /// Operator mask for a re-measure (path relative to the data dir).
    pub mask_path: Option<String>,
    /// Which tissue the mask is.
    pub mask_tissue: Option<String>,
    /// Uploaded masks so far.
    pub mask_seq: i64,
    /// Created.
    pub created_at_ms: i64,
    /// Updated.
    pub updated_at_ms: i64,
    /// PatientID.
    pub patient_id: String,
    /// StudyDate.
    pub study_date: Option<String>,
    /// StudyInstanceUID.
    pub study_uid: String,
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// SeriesDescription.
    pub series_description: Option<String>,
    /// Latest result version.
    pub version: Option<i64>,
}

/// A result version row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ResultRow {
    /// Id.
    pub id: i64,
    /// Job.
    pub job_id: i64,
    /// Version number.
    pub version: i64,
    /// Kind name.
    pub kind: String,
    /// Who made it (name).
    pub created_by: Option<String>,
    /// Why.
    pub reason: String,
    /// L3 mid z used.
    pub l3_mid_z_mm: Option<f64>,
    /// The analysis JSON.
    pub analysis: Json<Value>,
    /// Output folder relative to the data dir.
    pub out_dir: String,
    /// Output bytes.
    pub bytes: i64,
    /// Created.
    pub created_at_ms: i64,
}

/// A job log line.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LogRow {
    /// When.
    pub at_ms: i64,
    /// `info`, `warn`, `error`.
    pub level: String,
    /// Stage.
    pub stage: String,
    /// Message.
    pub message: String,
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The worker holds the lease; run it.
    Run(Box<JobRow>),
    /// The job's quota refused; it is held and retried later, and its log says why.
    Held {
        /// Job.
        job_id: i64,
        /// User.
        user_id: i64,
        /// Quota.
        quota_type: String,
    },
}

/// A failed run to record, for [`JobStore::fail_run`].
#[derive(Debug, Clone, Copy)]
pub struct RunFailure<'a> {
    /// Job.
    pub job_id: i64,
    /// Worker that holds the lease.
    pub worker: &'a str,
    /// The run.
    pub run_seq: i64,
    /// What went wrong, for the job's `error` and the refund's note.
    pub error: &'a str,
    /// Back to the queue at this time; `None` fails the job for good.
    pub retry_at_ms: Option<i64>,
    /// The run's charge to refund, when the job fails for good.
    pub refund_key: Option<&'a str>,
}

/// A finished run to record.
#[derive(Debug, Clone)]
pub struct RunDone {
    /// Job.
    pub job_id: i64,
    /// Worker that holds the lease.
    pub worker: String,
    /// The run.
    pub run_seq: i64,
    /// The new version number.
    pub version: i64,
    /// Kind name.
    pub kind: String,
    /// Who asked for it.
    pub created_by: Option<i64>,
    /// Why.
    pub reason: String,
    /// L3 mid z used.
    pub l3_mid_z_mm: Option<f64>,
    /// The analysis.
    pub analysis: Value,
    /// Output folder relative to the data dir.
    pub out_dir: String,
    /// Output bytes.
    pub bytes: i64,
    /// The storage charge for the outputs.
    pub storage: Option<Charge>,
    /// When that charge is refused and the job held: the earliest time (ms) it is claimed
    /// again (a held-retry period from now), so it does not re-run at once, again and again.
    pub held_until_ms: i64,
    /// `done` or `awaiting_review`.
    pub next_state: String,
    /// The L3 to keep for the next measurement (when it changed).
    pub l3: Option<Value>,
    /// The detected L3 (when this run detected).
    pub detected_l3: Option<Value>,
    /// Slice geometry (when this run read the series).
    pub geometry: Option<Value>,
    /// The job-log line (level `info`, stage `done`) written with the version, in the same
    /// transaction: a client that sees the job finished finds the line in its log too.
    pub log: String,
}

/// What recording a run did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The version exists now.
    Version(i64),
    /// The worker no longer holds the lease of this run; nothing was written.
    Stale,
    /// The storage quota refused the outputs; the job is held, and its log says why.
    Held {
        /// Why.
        reason: String,
    },
}

/// Work an operator queues.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    /// What to do.
    pub step: String,
    /// Kind of the version it will make.
    pub kind: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: i64,
    /// A new L3 to use (operator correction).
    pub l3: Option<Value>,
    /// Forget the L3 (a full re-run detects again).
    pub clear_l3: bool,
    /// An operator mask (path, tissue).
    pub mask: Option<(String, String)>,
}

/// Job tables.
pub trait JobStore {
    /// A user's jobs (optionally in one state), newest first.
    fn list_jobs(
        &self,
        user_id: i64,
        state: Option<&str>,
    ) -> impl Future<Output = Result<Vec<JobRow>, StoreError>> + Send;

    /// One job of a user (`NotFound` for anyone else's).
    fn job(
        &self,
        user_id: i64,
        job_id: i64,
    ) -> impl Future<Output = Result<JobRow, StoreError>> + Send;

    /// Claims the next runnable job for `worker` and charges its step in the same
    /// transaction (`charge_for` says what the step costs).
    fn claim_job(
        &self,
        worker: &str,
        now_ms: i64,
        lease_ms: i64,
        held_retry_ms: i64,
        charge_for: &(dyn Fn(&JobRow) -> Option<Charge> + Send + Sync),
    ) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send;

    /// Extends the lease; false when the worker no longer holds it.
    fn renew_lease(
        &self,
        job_id: i64,
        worker: &str,
        run_seq: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records the running stage and progress.
    fn set_progress(
        &self,
        job_id: i64,
        worker: &str,
        run_seq: i64,
        stage: &str,
        progress: f64,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a finished run: charge its outputs, insert the version, move the job on.
    fn complete_run(
        &self,
        done: &RunDone,
        now_ms: i64,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Records a failed run: back to the queue at `retry_at_ms`, or `failed` with the
    /// run's charge refunded (`refund_key`).
    fn fail_run(
        &self,
        failure: &RunFailure<'_>,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores an operator's L3 on a job in one of `states`, without queueing.
    fn set_job_l3(
        &self,
        user_id: i64,
        job_id: i64,
        l3: &Value,
        states: &[&str],
        now_ms: i64,
    ) -> impl Future<Output = Result<JobRow, StoreError>> + Send;

    /// Queues work on a job in one of `states` (a new run).
    fn queue_job(
        &self,
        user_id: i64,
        job_id: i64,
        spec: &QueueSpec,
        states: &[&str],
        now_ms: i64,
    ) -> impl Future<Output = Result<JobRow, StoreError>> + Send;

    /// Cancels a job in one of `states`.
    fn cancel_job(
        &self,
        user_id: i64,
        job_id: i64,
        states: &[&str],
        now_ms: i64,
    ) -> impl Future<Output = Result<JobRow, StoreError>> + Send;

    /// Takes the next mask number of a job.
    fn next_mask_seq(
        &self,
        user_id: i64,
        job_id: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Every version of a job, oldest first.
    fn results(
        &self,
        job_id: i64,
    ) -> impl Future<Output = Result<Vec<ResultRow>, StoreError>> + Send;

    /// Appends to the job's log.
    fn log_job(
        &self,
        job_id: i64,
        level: &str,
        stage: &str,
        message: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The last `tail` lines of a job's log, oldest first.
    fn job_log(
        &self,
        job_id: i64,
        tail: i64,
    ) -> impl Future<Output = Result<Vec<LogRow>, StoreError>> + Send;
}

/// The select list shared by every job query.
pub(crate) const JOB_SELECT: &str = "SELECT j.id, j.user_id, u.username, j.series_id, j.mode, j.state, \
     j.step, j.stage, j.progress, j.held_quota, j.error, j.attempts, j.run_seq, j.lease_owner, \
     j.lease_expires_ms, j.not_before_ms, j.l3, j.detected_l3, j.geometry, j.next_kind, \
     j.next_reason, j.next_actor, j.mask_path, j.mask_tissue, j.mask_seq, j.created_at_ms, \
     j.updated_at_ms, st.patient_id, st.study_date, st.study_uid, s.series_uid, \
     s.description AS series_description, \
     (SELECT MAX(r.version) FROM results r WHERE r.job_id = j.id) AS version \
     FROM jobs j JOIN series s ON s.id = j.series_id JOIN studies st ON st.id = s.study_id \
     JOIN users u ON u.id = j.user_id";

/// `'a', 'b'` for an `IN (…)` list of trusted state names.
pub(crate) fn state_list(states: &[&str]) -> String {
    debug_assert!(
        states
            .iter()
            .all(|s| s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
    states
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Implements [`JobStore`] for a store type with a `CLAIM_LOCK` constant.
macro_rules! impl_job_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Appends a line to a job's log on `conn` (the pool's, or a transaction's).
            async fn log_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                job_id: i64,
                level: &str,
                stage: &str,
                message: &str,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query("INSERT INTO job_log (job_id, at_ms, level, stage, message) VALUES ($1, $2, $3, $4, $5)")
                    .bind(job_id)
                    .bind(now_ms)
                    .bind(level)
                    .bind(stage)
                    .bind(message)
                    .execute(conn)
                    .await?;
                Ok(())
            }

            /// Why a conditional job update matched nothing: the job is not the
            /// caller's (`NotFound`) or is in another state (`Conflict`).
            async fn job_not_updated(&self, user_id: i64, job_id: i64, action: &str) -> $crate::store::StoreError {
                use $crate::store::jobs::JobStore;
                match self.job(user_id, job_id).await {
                    Ok(job) => $crate::store::StoreError::Conflict(format!(
                        "cannot {action}: job {job_id} is {}",
                        job.state.replace('_', " ")
                    )),
                    Err(e) => e,
                }
            }
        }

        impl $crate::store::jobs::JobStore for $store {
            #[tracing::instrument(skip_all)]
            async fn list_jobs(
                &self,
                user_id: i64,
                state: Option<&str>,
            ) -> Result<Vec<$crate::store::jobs::JobRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} WHERE j.user_id = $1 AND ($2 IS NULL OR j.state = $2) ORDER BY j.id DESC",
                    $crate::store::jobs::JOB_SELECT
                )))
                .bind(user_id)
                .bind(state)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn job(&self, user_id: i64, job_id: i64) -> Result<$crate::store::jobs::JobRow, $crate::store::StoreError> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} WHERE j.user_id = $1 AND j.id = $2",
                    $crate::store::jobs::JOB_SELECT
                )))
                .bind(user_id)
                .bind(job_id)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn claim_job(
                &self,
                worker: &str,
                now_ms: i64,
                lease_ms: i64,
                held_retry_ms: i64,
                charge_for: &(dyn Fn(&$crate::store::jobs::JobRow) -> Option<$crate::store::Charge> + Send + Sync),
            ) -> Result<Option<$crate::store::jobs::Claim>, $crate::store::StoreError> {
                use $crate::store::jobs::Claim;
                let mut tx = self.begin_write().await?;
                let claimed: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_ms = $2, \
                     stage = 'starting', progress = 0, updated_at_ms = $3 \
                     WHERE id = (SELECT id FROM jobs WHERE \
                       (state IN ('queued', 'held') AND not_before_ms <= $3) \
                       OR (state = 'running' AND lease_expires_ms < $3) \
                     ORDER BY CASE WHEN state = 'held' THEN 1 ELSE 0 END, not_before_ms, id LIMIT 1{}) \
                     RETURNING id",
                    Self::CLAIM_LOCK
                )))
                .bind(worker)
                .bind(now_ms + lease_ms)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((job_id,)) = claimed else {
                    return Ok(None);
                };
                let job: $crate::store::jobs::JobRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} WHERE j.id = $1",
                    $crate::store::jobs::JOB_SELECT
                )))
                .bind(job_id)
                .fetch_one(&mut *tx)
                .await?;
                if let Some(charge) = charge_for(&job) {
                    let outcome = Self::reserve_in(&mut *tx, &charge, now_ms).await?;
                    if let Some(reason) = outcome.refusal(&charge) {
                        sqlx::query(
                            "UPDATE jobs SET state = 'held', held_quota = $2, error = $3, lease_owner = NULL, \
                             lease_expires_ms = NULL, stage = NULL, progress = NULL, not_before_ms = $4, \
                             updated_at_ms = $5 WHERE id = $1",
                        )
                        .bind(job_id)
                        .bind(charge.quota_type.as_str())
                        .bind(&reason)
                        .bind(now_ms + held_retry_ms)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                        // In the same transaction, so a held job's log says why.
                        let line = format!(
                            "held: the {} quota is used up; it resumes by itself when the quota allows",
                            charge.quota_type.as_str()
                        );
                        Self::log_in(&mut tx, job_id, "warn", "quota", &line, now_ms).await?;
                        tx.commit().await?;
                        return Ok(Some(Claim::Held {
                            job_id,
                            user_id: job.user_id,
                            quota_type: charge.quota_type.as_str().into(),
                        }));
                    }
                }
                sqlx::query("UPDATE jobs SET held_quota = NULL WHERE id = $1")
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(Claim::Run(Box::new(job))))
            }

            #[tracing::instrument(skip_all)]
            async fn renew_lease(
                &self,
                job_id: i64,
                worker: &str,
                run_seq: i64,
                until_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let r = sqlx::query(
                    "UPDATE jobs SET lease_expires_ms = $4 \
                     WHERE id = $1 AND lease_owner = $2 AND run_seq = $3 AND state = 'running'",
                )
                .bind(job_id)
                .bind(worker)
                .bind(run_seq)
                .bind(until_ms)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn set_progress(
                &self,
                job_id: i64,
                worker: &str,
                run_seq: i64,
                stage: &str,
                progress: f64,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let r = sqlx::query(
                    "UPDATE jobs SET stage = $4, progress = $5, updated_at_ms = $6 \
                     WHERE id = $1 AND lease_owner = $2 AND run_seq = $3 AND state = 'running'",
                )
                .bind(job_id)
                .bind(worker)
                .bind(run_seq)
                .bind(stage)
                .bind(progress)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn complete_run(
                &self,
                d: &$crate::store::jobs::RunDone,
                now_ms: i64,
            ) -> Result<$crate::store::jobs::Recorded, $crate::store::StoreError> {
                use $crate::store::jobs::Recorded;
                let mut tx = self.begin_write().await?;
                if let Some(charge) = &d.storage {
                    let outcome = Self::reserve_in(&mut *tx, charge, now_ms).await?;
                    if let Some(reason) = outcome.refusal(charge) {
                        let held = sqlx::query(
                            "UPDATE jobs SET state = 'held', held_quota = $4, error = $5, lease_owner = NULL, \
                             lease_expires_ms = NULL, stage = NULL, progress = NULL, not_before_ms = $7, \
                             updated_at_ms = $6 \
                             WHERE id = $1 AND lease_owner = $2 AND run_seq = $3 AND state = 'running'",
                        )
                        .bind(d.job_id)
                        .bind(&d.worker)
                        .bind(d.run_seq)
                        .bind(charge.quota_type.as_str())
                        .bind(&reason)
                        .bind(now_ms)
                        .bind(d.held_until_ms)
                        .execute(&mut *tx)
                        .await?;
                        if held.rows_affected() != 1 {
                            return Ok(Recorded::Stale);
                        }
                        let line = format!(
                            "held: {reason}; outputs will be written again when the quota allows"
                        );
                        Self::log_in(&mut tx, d.job_id, "warn", "quota", &line, now_ms).await?;
                        tx.commit().await?;
                        return Ok(Recorded::Held { reason });
                    }
                }
                let moved: Option<(i64,)> = sqlx::query_as(
                    "UPDATE jobs SET state = $4, stage = NULL, progress = 1, lease_owner = NULL, \
                     lease_expires_ms = NULL, error = NULL, attempts = 0, held_quota = NULL, \
                     l3 = COALESCE($5, l3), detected_l3 = COALESCE($6, detected_l3), \
                     geometry = COALESCE($7, geometry), updated_at_ms = $8 \
                     WHERE id = $1 AND lease_owner = $2 AND run_seq = $3 AND state = 'running' RETURNING id",
                )
                .bind(d.job_id)
                .bind(&d.worker)
                .bind(d.run_seq)
                .bind(&d.next_state)
                .bind(d.l3.as_ref().map(sqlx::types::Json))
                .bind(d.detected_l3.as_ref().map(sqlx::types::Json))
                .bind(d.geometry.as_ref().map(sqlx::types::Json))
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                if moved.is_none() {
                    return Ok(Recorded::Stale);
                }
                sqlx::query(
                    "INSERT INTO results (job_id, user_id, version, kind, created_by, reason, l3_mid_z_mm, \
                     analysis, out_dir, bytes, run_seq, created_at_ms) \
                     SELECT $1, user_id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM jobs WHERE id = $1",
                )
                .bind(d.job_id)
                .bind(d.version)
                .bind(&d.kind)
                .bind(d.created_by)
                .bind(&d.reason)
                .bind(d.l3_mid_z_mm)
                .bind(sqlx::types::Json(&d.analysis))
                .bind(&d.out_dir)
                .bind(d.bytes)
                .bind(d.run_seq)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                Self::log_in(&mut tx, d.job_id, "info", "done", &d.log, now_ms).await?;
                tx.commit().await?;
                Ok(Recorded::Version(d.version))
            }

            #[tracing::instrument(skip_all)]
            async fn fail_run(
                &self,
                failure: &$crate::store::jobs::RunFailure<'_>,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let $crate::store::jobs::RunFailure { job_id, worker, run_seq, error, retry_at_ms, refund_key } = *failure;
                let mut tx = self.begin_write().await?;
                let (state, not_before) = match retry_at_ms {
                    Some(t) => ("queued", t),
                    None => ("failed", 0),
                };
                let r = sqlx::query(
                    "UPDATE jobs SET state = $4, error = $5, attempts = attempts + 1, not_before_ms = $6, \
                     lease_owner = NULL, lease_expires_ms = NULL, stage = NULL, progress = NULL, \
                     updated_at_ms = $7 \
                     WHERE id = $1 AND lease_owner = $2 AND run_seq = $3 AND state = 'running'",
                )
                .bind(job_id)
                .bind(worker)
                .bind(run_seq)
                .bind(state)
                .bind(error)
                .bind(not_before)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() != 1 {
                    return Ok(false);
                }
                if let Some(key) = refund_key {
                    match Self::refund_in(&mut *tx, key, None, error, now_ms).await {
                        Ok(_) | Err($crate::store::StoreError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
                tx.commit().await?;
                Ok(true)
            }

            #[tracing::instrument(skip_all)]
            async fn set_job_l3(
                &self,
                user_id: i64,
                job_id: i64,
                l3: &serde_json::Value,
                states: &[&str],
                now_ms: i64,
            ) -> Result<$crate::store::jobs::JobRow, $crate::store::StoreError> {
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE jobs SET l3 = $3, updated_at_ms = $4 WHERE id = $2 AND user_id = $1 AND state IN ({})",
                    $crate::store::jobs::state_list(states)
                )))
                .bind(user_id)
                .bind(job_id)
                .bind(sqlx::types::Json(l3))
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                if r.rows_affected() != 1 {
                    return Err(self.job_not_updated(user_id, job_id, "set L3").await);
                }
                self.job(user_id, job_id).await
            }

            #[tracing::instrument(skip_all)]
            async fn queue_job(
                &self,
                user_id: i64,
                job_id: i64,
                spec: &$crate::store::jobs::QueueSpec,
                states: &[&str],
                now_ms: i64,
            ) -> Result<$crate::store::jobs::JobRow, $crate::store::StoreError> {
                let (mask_path, mask_tissue) = spec.mask.clone().unzip();
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE jobs SET state = 'queued', step = $3, next_kind = $4, next_reason = $5, \
                     next_actor = $6, run_seq = run_seq + 1, attempts = 0, error = NULL, held_quota = NULL, \
                     not_before_ms = 0, stage = NULL, progress = NULL, \
                     l3 = CASE WHEN $8 THEN NULL ELSE COALESCE($7, l3) END, \
                     mask_path = $9, mask_tissue = $10, updated_at_ms = $11 \
                     WHERE id = $2 AND user_id = $1 AND state IN ({})",
                    $crate::store::jobs::state_list(states)
                )))
                .bind(user_id)
                .bind(job_id)
                .bind(&spec.step)
                .bind(&spec.kind)
                .bind(&spec.reason)
                .bind(spec.actor)
                .bind(spec.l3.as_ref().map(sqlx::types::Json))
                .bind(spec.clear_l3)
                .bind(mask_path)
                .bind(mask_tissue)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                if r.rows_affected() != 1 {
                    return Err(self.job_not_updated(user_id, job_id, &format!("queue {}", spec.step)).await);
                }
                self.job(user_id, job_id).await
            }

            #[tracing::instrument(skip_all)]
            async fn cancel_job(
                &self,
                user_id: i64,
                job_id: i64,
                states: &[&str],
                now_ms: i64,
            ) -> Result<$crate::store::jobs::JobRow, $crate::store::StoreError> {
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE jobs SET state = 'cancelled', stage = NULL, progress = NULL, updated_at_ms = $3 \
                     WHERE id = $2 AND user_id = $1 AND state IN ({})",
                    $crate::store::jobs::state_list(states)
                )))
                .bind(user_id)
                .bind(job_id)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                if r.rows_affected() != 1 {
                    return Err(self.job_not_updated(user_id, job_id, "cancel").await);
                }
                self.job(user_id, job_id).await
            }

            #[tracing::instrument(skip_all)]
            async fn next_mask_seq(&self, user_id: i64, job_id: i64) -> Result<i64, $crate::store::StoreError> {
                let (seq,): (i64,) = sqlx::query_as(
                    "UPDATE jobs SET mask_seq = mask_seq + 1 WHERE id = $2 AND user_id = $1 RETURNING mask_seq",
                )
                .bind(user_id)
                .bind(job_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(seq)
            }

            #[tracing::instrument(skip_all)]
            async fn results(&self, job_id: i64) -> Result<Vec<$crate::store::jobs::ResultRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT r.id, r.job_id, r.version, r.kind, u.username AS created_by, r.reason, r.l3_mid_z_mm, \
                     r.analysis, r.out_dir, r.bytes, r.created_at_ms \
                     FROM results r LEFT JOIN users u ON u.id = r.created_by \
                     WHERE r.job_id = $1 ORDER BY r.version",
                )
                .bind(job_id)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn log_job(
                &self,
                job_id: i64,
                level: &str,
                stage: &str,
                message: &str,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                let mut conn = self.pool.acquire().await?;
                Self::log_in(&mut conn, job_id, level, stage, message, now_ms).await
            }

            #[tracing::instrument(skip_all)]
            async fn job_log(&self, job_id: i64, tail: i64) -> Result<Vec<$crate::store::jobs::LogRow>, $crate::store::StoreError> {
                let mut rows: Vec<$crate::store::jobs::LogRow> = sqlx::query_as(
                    "SELECT at_ms, level, stage, message FROM job_log WHERE job_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(job_id)
                .bind(tail)
                .fetch_all(&self.pool)
                .await?;
                rows.reverse();
                Ok(rows)
            }
        }
    };
}
pub(crate) use impl_job_store;
