//! Intake rows: studies, series, archived instances and quarantined files, plus the
//! one-transaction step that finishes a complete series (charge its storage and, for a
//! study's primary series, the patient case; then queue its job, or hold it).

use super::StoreError;
use super::quota::{Charge, Reservation};
use idoctor_protocol::{JobMode, JobStep, SeriesState};

/// Study-level facts of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyFacts {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// PatientID.
    pub patient_id: String,
    /// PatientName (stored for the owner; never logged).
    pub patient_name: String,
    /// StudyDate.
    pub study_date: Option<String>,
    /// StudyDescription.
    pub description: Option<String>,
}

/// Series-level facts of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesFacts {
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// SeriesDescription.
    pub description: Option<String>,
    /// Modality.
    pub modality: String,
    /// SliceThickness.
    pub slice_thickness_mm: Option<f64>,
    /// SeriesNumber.
    pub series_number: Option<i64>,
}

/// An instance that has been linked into the archive and is ready to be recorded.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// Owner.
    pub user_id: i64,
    /// Its study.
    pub study: StudyFacts,
    /// Its series.
    pub series: SeriesFacts,
    /// SOP Instance UID.
    pub sop_uid: String,
    /// SHA-256 of the file, hex.
    pub digest: String,
    /// File size.
    pub bytes: i64,
    /// Archive path relative to the data dir.
    pub path: String,
    /// The drop folder's own job mode (`auto`/`review`); the series' first instance sets it.
    pub mode: Option<String>,
}

/// What recording an instance did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// New instance; its series is now receiving (reopened if it had been complete).
    Added {
        /// The series.
        series_id: i64,
    },
    /// Already archived with the same bytes.
    Duplicate {
        /// Where the archived copy is (relative to the data dir).
        path: String,
    },
    /// Already archived with different bytes.
    Conflict {
        /// Digest of the archived copy.
        archived_digest: String,
    },
}

/// An archived instance, as known before recording.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct KnownInstance {
    /// SOP Instance UID.
    pub sop_uid: String,
    /// Digest.
    pub digest: String,
    /// Archive path relative to the data dir.
    pub path: String,
}

/// A series with its study and job, as listed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SeriesRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Owner's name.
    pub username: String,
    /// Study id.
    pub study_id: i64,
    /// StudyInstanceUID.
    pub study_uid: String,
    /// PatientID.
    pub patient_id: String,
    /// StudyDate.
    pub study_date: Option<String>,
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// SeriesDescription.
    pub description: Option<String>,
    /// Modality.
    pub modality: String,
    /// SliceThickness.
    pub slice_thickness_mm: Option<f64>,
    /// SeriesNumber.
    pub series_number: Option<i64>,
    /// Archived instances.
    pub instances: i64,
    /// Archived bytes.
    pub bytes: i64,
    /// Bytes already charged to `storage_dicom`.
    pub charged_bytes: i64,
    /// State name.
    pub state: String,
    /// Holding quota.
    pub held_quota: Option<String>,
    /// Why rejected, held or archived.
    pub reason: Option<String>,
    /// Chosen for measurement.
    pub is_primary: bool,
    /// Reopen count + 1.
    pub revision: i64,
    /// Last instance arrival.
    pub last_instance_ms: i64,
    /// First instance of this revision.
    pub first_instance_ms: i64,
    /// Its job.
    pub job_id: Option<i64>,
    /// Created.
    pub created_at_ms: i64,
    /// Updated.
    pub updated_at_ms: i64,
    /// The drop folder's job mode; `None` follows the user's.
    pub mode: Option<String>,
}

/// A quarantined file.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct QuarantineRow {
    /// Id.
    pub id: i64,
    /// Owner's name (`None`: the owner could not be determined).
    pub username: Option<String>,
    /// Path relative to the data dir.
    pub path: String,
    /// Why.
    pub reason: String,
    /// Stable reason code.
    pub code: String,
    /// Size.
    pub bytes: i64,
    /// When.
    pub at_ms: i64,
}

/// A quarantine record to insert.
#[derive(Debug, Clone)]
pub struct NewQuarantine {
    /// Owner, when known.
    pub user_id: Option<i64>,
    /// Path relative to the data dir.
    pub path: String,
    /// Why (a sentence).
    pub reason: String,
    /// Stable code (`not_dicom`, `conflict`, `too_few_slices`, …).
    pub code: String,
    /// Size.
    pub bytes: i64,
    /// Series UID when known.
    pub series_uid: Option<String>,
}

/// The job a finished primary series should have.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Auto or review.
    pub mode: JobMode,
    /// First step.
    pub step: JobStep,
    /// Why this run happens (`first run`, `series changed (revision 2)`).
    pub reason: String,
}

/// What finishing a series did.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// Charged; its job is queued.
    Queued {
        /// The job.
        job_id: i64,
    },
    /// Charged; not the primary series, so stored without a job.
    Archived,
    /// A quota refused; the series waits.
    Held {
        /// Which quota.
        quota_type: String,
        /// The refusal, for people.
        reason: String,
    },
}

/// Intake tables.
pub trait IngestStore {
    /// Archived instances of a user with these SOP Instance UIDs.
    fn known_instances(
        &self,
        user_id: i64,
        sop_uids: &[String],
    ) -> impl Future<Output = Result<Vec<KnownInstance>, StoreError>> + Send;

    /// Records archived instances in one transaction (studies and series are created or
    /// reopened as needed). Outcomes are in input order.
    fn record_instances(
        &self,
        batch: &[NewInstance],
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<Recorded>, StoreError>> + Send;

    /// Records a quarantined file.
    fn record_quarantine(
        &self,
        entry: &NewQuarantine,
        now_ms: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Quarantined files, newest first (optionally of one user).
    fn list_quarantine(
        &self,
        user_id: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<QuarantineRow>, StoreError>> + Send;

    /// A user's series (or everyone's with `None`), newest first.
    fn list_series(
        &self,
        user_id: Option<i64>,
    ) -> impl Future<Output = Result<Vec<SeriesRow>, StoreError>> + Send;

    /// One series of a user.
    fn series(
        &self,
        user_id: i64,
        series_id: i64,
    ) -> impl Future<Output = Result<SeriesRow, StoreError>> + Send;

    /// Studies with a receiving series where every receiving series has been quiet for
    /// `quiet_ms`, or whose receiving series started more than `force_ms` ago.
    fn quiet_studies(
        &self,
        now_ms: i64,
        quiet_ms: i64,
        force_ms: i64,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Every series of a study.
    fn study_series(
        &self,
        study_id: i64,
    ) -> impl Future<Output = Result<Vec<SeriesRow>, StoreError>> + Send;

    /// Archive paths (relative to the data dir) of a series' instances.
    fn series_paths(
        &self,
        series_id: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Marks a receiving series complete and valid (`stable`).
    fn mark_stable(
        &self,
        series_id: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rejects a series whose files were moved to quarantine: drops its instance rows
    /// and records the quarantine entries, in one transaction.
    fn reject_series(
        &self,
        series_id: i64,
        reason: &str,
        quarantined: &[NewQuarantine],
        now_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets which series of a study is measured (exactly one, or none with `None`).
    fn set_primary(
        &self,
        study_id: i64,
        series_id: Option<i64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Series waiting for their charge: `stable` ones, and `held` ones last tried
    /// before `held_before_ms`.
    fn series_to_finish(
        &self,
        held_before_ms: i64,
    ) -> impl Future<Output = Result<Vec<SeriesRow>, StoreError>> + Send;

    /// Charges a complete series and queues its job (when `job` is given), or holds it,
    /// in one transaction with the charges.
    fn finish_series(
        &self,
        series_id: i64,
        charges: &[Charge],
        job: Option<&JobSpec>,
        archived_reason: Option<&str>,
        now_ms: i64,
    ) -> impl Future<Output = Result<Finished, StoreError>> + Send;
}

/// The select list shared by every series query.
pub(crate) const SERIES_SELECT: &str = "SELECT s.id, s.user_id, u.username, s.study_id, st.study_uid, \
     st.patient_id, st.study_date, s.series_uid, s.description, s.modality, s.slice_thickness_mm, \
     s.series_number, s.instances, s.bytes, s.charged_bytes, s.state, s.held_quota, s.reason, \
     s.is_primary, s.revision, s.last_instance_ms, s.first_instance_ms, j.id AS job_id, \
     s.created_at_ms, s.updated_at_ms, s.mode \
     FROM series s JOIN studies st ON st.id = s.study_id JOIN users u ON u.id = s.user_id \
     LEFT JOIN jobs j ON j.series_id = s.id";

impl SeriesRow {
    /// The state.
    pub fn state(&self) -> Result<SeriesState, StoreError> {
        super::rows::parse_enum(&self.state)
    }

    /// The wire view.
    pub fn to_info(&self) -> Result<idoctor_protocol::SeriesInfo, StoreError> {
        Ok(idoctor_protocol::SeriesInfo {
            id: self.id,
            study_uid: self.study_uid.clone(),
            series_uid: self.series_uid.clone(),
            patient_id: self.patient_id.clone(),
            study_date: self.study_date.clone(),
            description: self.description.clone(),
            instances: self.instances,
            bytes: self.bytes,
            state: self.state()?,
            held_quota: self
                .held_quota
                .as_deref()
                .map(super::rows::parse_enum)
                .transpose()?,
            reason: self.reason.clone(),
            primary: self.is_primary,
            revision: self.revision,
            slice_thickness_mm: self.slice_thickness_mm,
            job_id: self.job_id,
            username: self.username.clone(),
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

impl Reservation {
    /// A sentence explaining a refusal.
    pub fn refusal(&self, charge: &Charge) -> Option<String> {
        match self {
            Reservation::Exceeded { used, limit } => Some(format!(
                "{} quota exceeded: {used} used of {limit}, {} more needed",
                charge.quota_type, charge.amount
            )),
            Reservation::Granted { .. } => None,
        }
    }
}

/// Implements [`IngestStore`] for a store type.
macro_rules! impl_ingest_store {
    ($store:ty) => {
        impl $crate::store::ingest::IngestStore for $store {
            #[tracing::instrument(skip_all)]
            async fn known_instances(
                &self,
                user_id: i64,
                sop_uids: &[String],
            ) -> Result<Vec<$crate::store::ingest::KnownInstance>, $crate::store::StoreError> {
                let mut found = Vec::new();
                let mut conn = self.pool.acquire().await?;
                for sop in sop_uids {
                    let row: Option<$crate::store::ingest::KnownInstance> = sqlx::query_as(
                        "SELECT sop_uid, digest, path FROM instances WHERE user_id = $1 AND sop_uid = $2",
                    )
                    .bind(user_id)
                    .bind(sop)
                    .fetch_optional(&mut *conn)
                    .await?;
                    found.extend(row);
                }
                Ok(found)
            }

            #[tracing::instrument(skip_all)]
            async fn record_instances(
                &self,
                batch: &[$crate::store::ingest::NewInstance],
                now_ms: i64,
            ) -> Result<Vec<$crate::store::ingest::Recorded>, $crate::store::StoreError> {
                use $crate::store::ingest::Recorded;
                let mut tx = self.begin_write().await?;
                let mut out = Vec::with_capacity(batch.len());
                for inst in batch {
                    let (study_id,): (i64,) = sqlx::query_as(
                        "INSERT INTO studies (user_id, study_uid, patient_id, patient_name, study_date, \
                         description, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                         ON CONFLICT (user_id, study_uid) DO UPDATE SET updated_at_ms = excluded.updated_at_ms \
                         RETURNING id",
                    )
                    .bind(inst.user_id)
                    .bind(&inst.study.study_uid)
                    .bind(&inst.study.patient_id)
                    .bind(&inst.study.patient_name)
                    .bind(&inst.study.study_date)
                    .bind(&inst.study.description)
                    .bind(now_ms)
                    .fetch_one(&mut *tx)
                    .await?;
                    let (series_id,): (i64,) = sqlx::query_as(
                        "INSERT INTO series (user_id, study_id, series_uid, description, modality, \
                         slice_thickness_mm, series_number, state, last_instance_ms, first_instance_ms, \
                         created_at_ms, updated_at_ms, mode) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'receiving', $8, $8, $8, $8, $9) \
                         ON CONFLICT (user_id, series_uid) DO UPDATE SET updated_at_ms = series.updated_at_ms \
                         RETURNING id",
                    )
                    .bind(inst.user_id)
                    .bind(study_id)
                    .bind(&inst.series.series_uid)
                    .bind(&inst.series.description)
                    .bind(&inst.series.modality)
                    .bind(inst.series.slice_thickness_mm)
                    .bind(inst.series.series_number)
                    .bind(now_ms)
                    .bind(&inst.mode)
                    .fetch_one(&mut *tx)
                    .await?;
                    let inserted: Option<(i64,)> = sqlx::query_as(
                        "INSERT INTO instances (user_id, series_id, sop_uid, digest, bytes, path, created_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, sop_uid) DO NOTHING RETURNING id",
                    )
                    .bind(inst.user_id)
                    .bind(series_id)
                    .bind(&inst.sop_uid)
                    .bind(&inst.digest)
                    .bind(inst.bytes)
                    .bind(&inst.path)
                    .bind(now_ms)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if inserted.is_none() {
                        let (digest, path): (String, String) = sqlx::query_as(
                            "SELECT digest, path FROM instances WHERE user_id = $1 AND sop_uid = $2",
                        )
                        .bind(inst.user_id)
                        .bind(&inst.sop_uid)
                        .fetch_one(&mut *tx)
                        .await?;
                        out.push(if digest == inst.digest {
                            Recorded::Duplicate { path }
                        } else {
                            Recorded::Conflict { archived_digest: digest }
                        });
                        continue;
                    }
                    // A new instance reopens a series that had been completed: a new revision.
                    sqlx::query(
                        "UPDATE series SET instances = instances + 1, bytes = bytes + $2, \
                         last_instance_ms = $3, \
                         revision = revision + CASE WHEN state = 'receiving' THEN 0 ELSE 1 END, \
                         first_instance_ms = CASE WHEN state = 'receiving' THEN first_instance_ms ELSE $3 END, \
                         state = 'receiving', held_quota = NULL, reason = NULL, updated_at_ms = $3 \
                         WHERE id = $1",
                    )
                    .bind(series_id)
                    .bind(inst.bytes)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                    out.push(Recorded::Added { series_id });
                }
                tx.commit().await?;
                Ok(out)
            }

            #[tracing::instrument(skip_all)]
            async fn record_quarantine(
                &self,
                e: &$crate::store::ingest::NewQuarantine,
                now_ms: i64,
            ) -> Result<i64, $crate::store::StoreError> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO quarantine (user_id, path, reason, code, bytes, series_uid, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(e.user_id)
                .bind(&e.path)
                .bind(&e.reason)
                .bind(&e.code)
                .bind(e.bytes)
                .bind(&e.series_uid)
                .bind(now_ms)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            #[tracing::instrument(skip_all)]
            async fn list_quarantine(
                &self,
                user_id: Option<i64>,
                limit: i64,
            ) -> Result<Vec<$crate::store::ingest::QuarantineRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT q.id, u.username, q.path, q.reason, q.code, q.bytes, q.at_ms \
                     FROM quarantine q LEFT JOIN users u ON u.id = q.user_id \
                     WHERE ($1 IS NULL OR q.user_id = $1) ORDER BY q.id DESC LIMIT $2",
                )
                .bind(user_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn list_series(
                &self,
                user_id: Option<i64>,
            ) -> Result<Vec<$crate::store::ingest::SeriesRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} WHERE ($1 IS NULL OR s.user_id = $1) ORDER BY s.id DESC",
                    $crate::store::ingest::SERIES_SELECT
                )))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn series(
                &self,
                user_id: i64,
                series_id: i64,
            ) -> Result<$crate::store::ingest::SeriesRow, $crate::store::StoreError> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} WHERE s.user_id = $1 AND s.id = $2",
                    $crate::store::ingest::SERIES_SELECT
                )))
                .bind(user_id)
                .bind(series_id)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn quiet_studies(
                &self,
                now_ms: i64,
                quiet_ms: i64,
                force_ms: i64,
            ) -> Result<Vec<i64>, $crate::store::StoreError> {
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "SELECT study_id FROM series WHERE state = 'receiving' GROUP BY study_id \
                     HAVING MAX(last_instance_ms) <= $1 OR MIN(first_instance_ms) <= $2",
                )
                .bind(now_ms - quiet_ms)
                .bind(now_ms - force_ms)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            #[tracing::instrument(skip_all)]
            async fn study_series(
                &self,
                study_id: i64,
            ) -> Result<Vec<$crate::store::ingest::SeriesRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} WHERE s.study_id = $1 ORDER BY s.id",
                    $crate::store::ingest::SERIES_SELECT
                )))
                .bind(study_id)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn series_paths(&self, series_id: i64) -> Result<Vec<String>, $crate::store::StoreError> {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT path FROM instances WHERE series_id = $1 ORDER BY id")
                        .bind(series_id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(|(p,)| p).collect())
            }

            #[tracing::instrument(skip_all)]
            async fn mark_stable(&self, series_id: i64, now_ms: i64) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE series SET state = 'stable', updated_at_ms = $2 WHERE id = $1 AND state = 'receiving'",
                )
                .bind(series_id)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn reject_series(
                &self,
                series_id: i64,
                reason: &str,
                quarantined: &[$crate::store::ingest::NewQuarantine],
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM instances WHERE series_id = $1")
                    .bind(series_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE series SET state = 'rejected', reason = $2, is_primary = FALSE, instances = 0, \
                     bytes = 0, updated_at_ms = $3 WHERE id = $1",
                )
                .bind(series_id)
                .bind(reason)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                for e in quarantined {
                    sqlx::query(
                        "INSERT INTO quarantine (user_id, path, reason, code, bytes, series_uid, at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(e.user_id)
                    .bind(&e.path)
                    .bind(&e.reason)
                    .bind(&e.code)
                    .bind(e.bytes)
                    .bind(&e.series_uid)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn set_primary(&self, study_id: i64, series_id: Option<i64>) -> Result<(), $crate::store::StoreError> {
                sqlx::query("UPDATE series SET is_primary = (id = $2) WHERE study_id = $1")
                    .bind(study_id)
                    .bind(series_id.unwrap_or(-1))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn series_to_finish(
                &self,
                held_before_ms: i64,
            ) -> Result<Vec<$crate::store::ingest::SeriesRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} WHERE s.state = 'stable' OR (s.state = 'held' AND s.updated_at_ms <= $1) ORDER BY s.id",
                    $crate::store::ingest::SERIES_SELECT
                )))
                .bind(held_before_ms)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn finish_series(
                &self,
                series_id: i64,
                charges: &[$crate::store::quota::Charge],
                job: Option<&$crate::store::ingest::JobSpec>,
                archived_reason: Option<&str>,
                now_ms: i64,
            ) -> Result<$crate::store::ingest::Finished, $crate::store::StoreError> {
                use $crate::store::ingest::Finished;
                let mut tx = self.begin_write().await?;
                for charge in charges {
                    let outcome = Self::reserve_in(&mut *tx, charge, now_ms).await?;
                    if let Some(reason) = outcome.refusal(charge) {
                        sqlx::query(
                            "UPDATE series SET state = 'held', held_quota = $2, reason = $3, updated_at_ms = $4 \
                             WHERE id = $1",
                        )
                        .bind(series_id)
                        .bind(charge.quota_type.as_str())
                        .bind(&reason)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                        tx.commit().await?;
                        return Ok(Finished::Held { quota_type: charge.quota_type.as_str().into(), reason });
                    }
                }
                let state = if job.is_some() { "queued" } else { "archived" };
                sqlx::query(
                    "UPDATE series SET state = $2, charged_bytes = bytes, held_quota = NULL, reason = $3, \
                     updated_at_ms = $4 WHERE id = $1",
                )
                .bind(series_id)
                .bind(state)
                .bind(archived_reason)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                let Some(spec) = job else {
                    tx.commit().await?;
                    return Ok(Finished::Archived);
                };
                let (job_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO jobs (user_id, series_id, mode, state, step, next_kind, next_reason, \
                     created_at_ms, updated_at_ms) \
                     SELECT user_id, id, $2, 'queued', $3, 'automatic', $4, $5, $5 FROM series WHERE id = $1 \
                     ON CONFLICT (series_id) DO UPDATE SET state = 'queued', mode = excluded.mode, \
                     step = excluded.step, run_seq = jobs.run_seq + 1, attempts = 0, error = NULL, \
                     held_quota = NULL, stage = NULL, progress = NULL, not_before_ms = 0, \
                     next_kind = 'automatic', next_reason = excluded.next_reason, next_actor = NULL, \
                     l3 = NULL, detected_l3 = NULL, updated_at_ms = excluded.updated_at_ms \
                     RETURNING id",
                )
                .bind(series_id)
                .bind(spec.mode.as_str())
                .bind(spec.step.as_str())
                .bind(&spec.reason)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Finished::Queued { job_id })
            }
        }
    };
}
pub(crate) use impl_ingest_store;
