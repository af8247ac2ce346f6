//! What operators do to a job: move L3, continue a reviewed job, re-run, cancel, upload
//! a mask. Each checks the job's state, and each new piece of work is a new run with
//! its own result version; nothing overwrites an earlier version.

use super::execute::decode_mask;
use crate::pipeline::l3::operator_l3_on;
use crate::quota::validate_amount;
use crate::rpc::Caller;
use crate::state::AppState;
use crate::store::jobs::{JobRow, QueueSpec};
use crate::store::{Charge, Store, StoreError, now_ms};
use idoctor_protocol::{JobMode, JobState, JobStep, L3Status, MaskTissue, QuotaType, ResultKind};

/// Why an action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The request is malformed (bad z, bad mask).
    #[error("{0}")]
    Invalid(String),
    /// A quota refused (mask storage).
    #[error("{0}")]
    Quota(String),
    /// The store refused (not found, wrong state).
    #[error(transparent)]
    Store(#[from] StoreError),
}

const REVIEW: &[&str] = &["awaiting_review"];
const FINISHED: &[&str] = &["done"];
const RERUNNABLE: &[&str] = &["done", "failed", "cancelled", "awaiting_review", "held"];
const CANCELLABLE: &[&str] = &["queued", "held", "awaiting_review", "failed"];

fn first_step(mode: &str) -> JobStep {
    match mode.parse::<JobMode>() {
        Ok(JobMode::Review) => JobStep::Detect,
        _ => JobStep::Full,
    }
}

/// Moves L3 to the slice nearest `z_mm`. While awaiting review it only records the
/// choice (`continue` measures); on a finished job it queues a re-measure at the new L3,
/// which becomes an `l3_corrected` version.
pub async fn set_l3<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    z_mm: f64,
) -> Result<JobRow, ActionError> {
    if !z_mm.is_finite() {
        return Err(ActionError::Invalid(
            "z must be a finite number of millimetres".into(),
        ));
    }
    let job = state.store.job(caller.id, job_id).await?;
    let geometry = job
        .geometry()
        .filter(|g| !g.z_mm.is_empty())
        .ok_or_else(|| {
            StoreError::Conflict(format!(
                "job {job_id} has not read its series yet; wait for detection"
            ))
        })?;
    let (lo, hi) = (geometry.z_mm[0], geometry.z_mm[geometry.z_mm.len() - 1]);
    if z_mm < lo - 5.0 || z_mm > hi + 5.0 {
        return Err(ActionError::Invalid(format!(
            "z {z_mm:.1} mm is outside the series ({lo:.1} to {hi:.1} mm)"
        )));
    }
    let detected = job.detected_l3();
    let finding = operator_l3_on(&geometry.z_mm, &geometry.sop_uids, detected.as_ref(), z_mm);
    let mid = finding.mid_z_mm.unwrap_or(z_mm);
    let value = serde_json::to_value(&finding).map_err(|e| ActionError::Invalid(e.to_string()))?;
    let now = now_ms();
    if job.state == JobState::AwaitingReview.as_str() {
        return Ok(state
            .store
            .set_job_l3(caller.id, job_id, &value, REVIEW, now)
            .await?);
    }
    let spec = QueueSpec {
        step: JobStep::Continue.as_str().into(),
        kind: ResultKind::L3Corrected.as_str().into(),
        reason: format!("L3 moved to z {mid:.1} mm by {}", caller.username),
        actor: caller.id,
        l3: Some(value),
        clear_l3: false,
        mask: None,
    };
    let row = state
        .store
        .queue_job(caller.id, job_id, &spec, FINISHED, now)
        .await?;
    state.work_ready.notify_waiters();
    Ok(row)
}

/// Continues a reviewed job: measures at its L3 (the detected one, or the operator's).
pub async fn continue_job<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
) -> Result<JobRow, ActionError> {
    let job = state.store.job(caller.id, job_id).await?;
    let l3 = job
        .l3()
        .filter(|f| f.status == L3Status::Found)
        .ok_or_else(|| {
            ActionError::Invalid(format!(
                "job {job_id} has no L3 to measure at; set it with set-l3 first"
            ))
        })?;
    let moved = l3.method == "operator";
    let z = l3.mid_z_mm.unwrap_or_default();
    let spec = QueueSpec {
        step: JobStep::Continue.as_str().into(),
        kind: if moved {
            ResultKind::L3Corrected
        } else {
            ResultKind::Automatic
        }
        .as_str()
        .into(),
        reason: if moved {
            format!("L3 moved to z {z:.1} mm by {}", caller.username)
        } else {
            format!("L3 at z {z:.1} mm confirmed by {}", caller.username)
        },
        actor: caller.id,
        l3: None,
        clear_l3: false,
        mask: None,
    };
    let row = state
        .store
        .queue_job(caller.id, job_id, &spec, REVIEW, now_ms())
        .await?;
    state.work_ready.notify_waiters();
    Ok(row)
}

/// Runs a job again from the start (detection included).
pub async fn rerun<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
) -> Result<JobRow, ActionError> {
    let job = state.store.job(caller.id, job_id).await?;
    let spec = QueueSpec {
        step: first_step(&job.mode).as_str().into(),
        kind: ResultKind::Automatic.as_str().into(),
        reason: format!("re-run by {}", caller.username),
        actor: caller.id,
        l3: None,
        clear_l3: true,
        mask: None,
    };
    let row = state
        .store
        .queue_job(caller.id, job_id, &spec, RERUNNABLE, now_ms())
        .await?;
    state.work_ready.notify_waiters();
    Ok(row)
}

/// Cancels a job that is not running.
pub async fn cancel<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
) -> Result<JobRow, ActionError> {
    Ok(state
        .store
        .cancel_job(caller.id, job_id, CANCELLABLE, now_ms())
        .await?)
}

/// Stores an operator's mask for the mid slice (charged to `storage_results`) and queues
/// a re-measure with it, which becomes a `mask_corrected` version.
pub async fn upload_mask<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    tissue: MaskTissue,
    png: Vec<u8>,
) -> Result<JobRow, ActionError> {
    let job = state.store.job(caller.id, job_id).await?;
    if job.state != JobState::Done.as_str() {
        return Err(StoreError::Conflict(format!(
            "cannot upload a mask: job {job_id} is {} (it must be done)",
            job.state.replace('_', " ")
        ))
        .into());
    }
    if job.l3().is_none_or(|f| f.status != L3Status::Found) {
        return Err(ActionError::Invalid(
            "the job has no L3 slice to apply a mask to".into(),
        ));
    }
    let geometry = job
        .geometry()
        .ok_or_else(|| ActionError::Invalid("the job has no slice geometry yet".into()))?;
    let (rows, cols) = (geometry.rows as usize, geometry.cols as usize);
    let checked = {
        let png = png.clone();
        tokio::task::spawn_blocking(move || {
            decode_mask(&png, rows, cols).map(|m| m.iter().filter(|&&v| v).count())
        })
        .await
        .map_err(|e| ActionError::Invalid(format!("mask check failed: {e}")))?
    };
    let pixels = checked.map_err(ActionError::Invalid)?;
    let amount = png.len() as i64;
    validate_amount(amount).map_err(ActionError::Invalid)?;
    let seq = state.store.next_mask_seq(caller.id, job_id).await?;
    let name = format!("job-{job_id}-mask-{seq}-{}.png", tissue.as_str());
    let rel = format!("results/{}/masks/{name}", caller.id);
    let dir = state
        .paths
        .data_dir
        .join(format!("results/{}/masks", caller.id));
    let charge = Charge {
        user_id: caller.id,
        quota_type: QuotaType::StorageResults,
        amount,
        key: format!("mask:{job_id}:{seq}"),
        job_id: Some(job_id),
        series_id: Some(job.series_id),
        actor_id: Some(caller.id),
        metadata: serde_json::json!({ "tissue": tissue.as_str(), "pixels": pixels }),
    };
    let reserved = state.store.reserve(&charge, now_ms()).await?;
    if let Some(reason) = reserved.refusal(&charge) {
        return Err(ActionError::Quota(reason));
    }
    let written = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        crate::pipeline::outputs::write_atomic(&dir, &name, &png)
    })
    .await;
    if !matches!(written, Ok(Ok(_))) {
        let _ = state
            .store
            .refund(
                &charge.key,
                Some(caller.id),
                "mask could not be stored",
                now_ms(),
            )
            .await;
        return Err(ActionError::Invalid(
            "the mask could not be stored on the server".into(),
        ));
    }
    let spec = QueueSpec {
        step: JobStep::Remeasure.as_str().into(),
        kind: ResultKind::MaskCorrected.as_str().into(),
        reason: format!(
            "{} mask ({pixels} pixels) uploaded by {}",
            tissue.as_str(),
            caller.username
        ),
        actor: caller.id,
        l3: None,
        clear_l3: false,
        mask: Some((rel, tissue.as_str().into())),
    };
    let row = state
        .store
        .queue_job(caller.id, job_id, &spec, FINISHED, now_ms())
        .await?;
    state.work_ready.notify_waiters();
    Ok(row)
}
