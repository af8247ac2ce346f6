//! Completing studies: once every receiving series of a study has been quiet for
//! `series_quiet_s` (or the study passed `study_force_complete_s`), each series is
//! checked as a whole (enough slices, axial, consistent), the study's primary series is
//! chosen by an explicit rule, and complete series are charged and queued.
//!
//! The rule: among the study's valid series, prefer slice thickness 2.5–5 mm, then the
//! most slices, then the earliest series. Other series stay listed as `archived`.

use super::archive;
use crate::dicom::{self, LoadOptions};
use crate::quota::{series_storage_key, study_case_key};
use crate::state::AppState;
use crate::store::ingest::{Finished, JobSpec, NewQuarantine, SeriesRow};
use crate::store::{Charge, Store, StoreError, now_ms};
use idoctor_protocol::{JobMode, JobStep, QuotaType, SeriesState};
use std::path::PathBuf;

/// Why a whole series is refused.
struct Refusal {
    code: String,
    reason: String,
}

fn validate(paths: &[PathBuf], min_slices: usize) -> Result<(), Refusal> {
    if paths.len() < min_slices {
        return Err(Refusal {
            code: "too_few_slices".into(),
            reason: format!(
                "only {} slice(s); at least {min_slices} are needed",
                paths.len()
            ),
        });
    }
    let instances = dicom::read_headers(paths).map_err(|e| Refusal {
        code: e.code().into(),
        reason: e.to_string(),
    })?;
    let check =
        dicom::check_stack(&instances, &LoadOptions { min_slices }).map_err(|e| Refusal {
            code: e.code().into(),
            reason: e.to_string(),
        })?;
    if check.slices < min_slices {
        return Err(Refusal {
            code: "too_few_slices".into(),
            reason: format!(
                "only {} distinct slice positions; at least {min_slices} are needed",
                check.slices
            ),
        });
    }
    Ok(())
}

/// The series a study is measured on (see the module docs for the rule).
pub fn choose_primary(series: &[SeriesRow]) -> Option<&SeriesRow> {
    series
        .iter()
        .filter(|s| {
            s.state != SeriesState::Rejected.as_str() && s.state != SeriesState::Receiving.as_str()
        })
        .max_by_key(|s| {
            let thickness_ok = s
                .slice_thickness_mm
                .is_some_and(|t| (2.5..=5.0).contains(&t));
            (thickness_ok, s.instances, std::cmp::Reverse(s.id))
        })
}

/// Completes every study that has gone quiet.
pub async fn complete_quiet<S: Store>(state: &AppState<S>) -> Result<(), StoreError> {
    let ingest = &state.settings.ingest;
    let quiet_ms = (ingest.series_quiet_s * 1000.0) as i64;
    let force_ms = (ingest.study_force_complete_s * 1000.0) as i64;
    for study_id in state
        .store
        .quiet_studies(now_ms(), quiet_ms, force_ms)
        .await?
    {
        complete_study(state, study_id).await?;
    }
    Ok(())
}

async fn complete_study<S: Store>(state: &AppState<S>, study_id: i64) -> Result<(), StoreError> {
    let min_slices = state.settings.ingest.min_slices as usize;
    for s in state.store.study_series(study_id).await? {
        if s.state != SeriesState::Receiving.as_str() {
            continue;
        }
        let paths: Vec<PathBuf> = state
            .store
            .series_paths(s.id)
            .await?
            .into_iter()
            .map(|p| state.paths.data_dir.join(p))
            .collect();
        let checked = {
            let paths = paths.clone();
            tokio::task::spawn_blocking(move || validate(&paths, min_slices))
                .await
                .map_err(|e| StoreError::Invalid(format!("validation task failed: {e}")))?
        };
        match checked {
            Ok(()) => state.store.mark_stable(s.id, now_ms()).await?,
            Err(refusal) => reject(state, &s, &paths, refusal).await?,
        }
    }
    let series = state.store.study_series(study_id).await?;
    let primary = choose_primary(&series);
    state
        .store
        .set_primary(study_id, primary.map(|p| p.id))
        .await?;
    if let Some(p) = primary {
        tracing::info!(
            study = study_id,
            series = p.id,
            slices = p.instances,
            thickness_mm = p.slice_thickness_mm,
            others = series.len() - 1,
            "primary series chosen (thickness 2.5-5 mm first, then most slices)"
        );
    }
    Ok(())
}

async fn reject<S: Store>(
    state: &AppState<S>,
    series: &SeriesRow,
    paths: &[PathBuf],
    refusal: Refusal,
) -> Result<(), StoreError> {
    let now = now_ms();
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dir = state
        .paths
        .quarantine_dir(Some(series.user_id), &day)
        .join(format!(
            "series-{}-{}",
            series.id,
            archive::quarantine_name(now)
        ));
    let moved = {
        let (dir, paths, code, reason) = (
            dir.clone(),
            paths.to_vec(),
            refusal.code.clone(),
            refusal.reason.clone(),
        );
        let label = format!("series {} ({} files)", series.series_uid, paths.len());
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<(PathBuf, i64)>> {
            let mut moved = Vec::new();
            for (i, p) in paths.iter().enumerate() {
                let bytes = std::fs::metadata(p).map(|m| m.len() as i64).unwrap_or(0);
                let dest = dir.join(format!("{i:05}.dcm"));
                archive::move_file(p, &dest)?;
                moved.push((dest, bytes));
            }
            archive::write_reason(&dir, &code, &reason, &label, now)?;
            Ok(moved)
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("quarantine task failed: {e}")))?
    };
    let moved = match moved {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(series = series.id, cause = %e, "could not move a rejected series to quarantine; retrying later");
            return Ok(());
        }
    };
    let entries: Vec<NewQuarantine> = moved
        .into_iter()
        .map(|(dest, bytes)| NewQuarantine {
            user_id: Some(series.user_id),
            path: dest
                .strip_prefix(&state.paths.data_dir)
                .unwrap_or(&dest)
                .display()
                .to_string(),
            reason: refusal.reason.clone(),
            code: refusal.code.clone(),
            bytes,
            series_uid: Some(series.series_uid.clone()),
        })
        .collect();
    state
        .store
        .reject_series(series.id, &refusal.reason, &entries, now)
        .await?;
    tracing::info!(
        user = series.user_id,
        series = series.id,
        code = refusal.code,
        "series rejected to quarantine"
    );
    Ok(())
}

/// Charges complete series and queues their jobs (or holds them); retries held series
/// every `held_retry_s`.
pub async fn finish_pending<S: Store>(state: &AppState<S>) -> Result<(), StoreError> {
    let retry_ms = (state.settings.jobs.held_retry_s * 1000.0) as i64;
    for s in state.store.series_to_finish(now_ms() - retry_ms).await? {
        finish(state, &s).await?;
    }
    Ok(())
}

async fn finish<S: Store>(state: &AppState<S>, s: &SeriesRow) -> Result<(), StoreError> {
    let Some(user) = state.store.user_by_id(s.user_id).await? else {
        return Ok(());
    };
    let mut charges = Vec::new();
    let delta = s.bytes - s.charged_bytes;
    if delta > 0 {
        charges.push(Charge {
            user_id: s.user_id,
            quota_type: QuotaType::StorageDicom,
            amount: delta,
            key: series_storage_key(s.id, s.revision),
            job_id: None,
            series_id: Some(s.id),
            actor_id: None,
            metadata: serde_json::json!({"series_uid": s.series_uid, "revision": s.revision, "instances": s.instances}),
        });
    }
    let job = if s.is_primary {
        charges.push(Charge {
            user_id: s.user_id,
            quota_type: QuotaType::PatientCases,
            amount: 1,
            key: study_case_key(s.study_id),
            job_id: None,
            series_id: Some(s.id),
            actor_id: None,
            metadata: serde_json::json!({"study_uid": s.study_uid}),
        });
        // The drop folder's mode wins over the user's.
        let mode: JobMode = match &s.mode {
            Some(m) => crate::store::rows::parse_enum(m)?,
            None => user.mode()?,
        };
        Some(JobSpec {
            mode,
            step: match mode {
                JobMode::Auto => JobStep::Full,
                JobMode::Review => JobStep::Detect,
            },
            reason: if s.revision <= 1 {
                "first run".into()
            } else {
                format!("series changed (revision {})", s.revision)
            },
        })
    } else {
        None
    };
    let archived_reason =
        (!s.is_primary).then_some("another series of this study was chosen for measurement");
    match state
        .store
        .finish_series(s.id, &charges, job.as_ref(), archived_reason, now_ms())
        .await?
    {
        Finished::Queued { job_id } => {
            tracing::info!(user = s.user_id, series = s.id, job = job_id, "job queued");
            state.work_ready.notify_waiters();
        }
        Finished::Archived => tracing::info!(
            user = s.user_id,
            series = s.id,
            "series archived (not primary)"
        ),
        Finished::Held { quota_type, .. } => {
            tracing::warn!(
                user = s.user_id,
                series = s.id,
                quota_type,
                "series held by quota"
            )
        }
    }
    Ok(())
}
