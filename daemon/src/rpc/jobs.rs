//! Handlers for jobs: lists, detail, operator actions, result versions, images, exports
//! and the job log. Every lookup is scoped to the caller in the store, so another
//! user's job id answers `not_found`.

use super::Caller;
use super::errors::{internal, store_error};
use crate::dicom;
use crate::jobs::actions::{self, ActionError};
use crate::pipeline::outputs::{
    ALL_OUTPUTS, OVERLAY_ALL_PNG, OVERLAY_COMBO_PNG, OVERLAY_PSOAS_PNG, SAGITTAL_PNG,
};
use crate::pipeline::render;
use crate::state::AppState;
use crate::store::jobs::{JobRow, ResultRow};
use crate::store::{Store, StoreError};
use idoctor_protocol::{
    ApiError, ErrorCode, ExportFile, Image, ImageKind, JobState, LogLine, MaskTissue, Response,
};

fn action_error(e: ActionError) -> ApiError {
    match e {
        ActionError::Invalid(m) => ApiError::invalid(m),
        ActionError::Quota(m) => ApiError::new(ErrorCode::QuotaExceeded, m),
        ActionError::Store(s) => store_error("job", s),
    }
}

async fn detail<S: Store>(state: &AppState<S>, job: &JobRow) -> Result<Response, ApiError> {
    let results = state
        .store
        .results(job.id)
        .await
        .map_err(|e| store_error("job", e))?;
    let d = job.to_detail(&results).map_err(|e| internal("job", &e))?;
    Ok(Response::Job(Box::new(d)))
}

async fn job<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
) -> Result<JobRow, ApiError> {
    state
        .store
        .job(caller.id, job_id)
        .await
        .map_err(|e| store_error("job", e))
}

/// The caller's jobs.
pub async fn list<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    filter: Option<JobState>,
) -> Result<Response, ApiError> {
    let rows = state
        .store
        .list_jobs(caller.id, filter.map(JobState::as_str))
        .await
        .map_err(|e| store_error("jobs", e))?;
    let list = rows
        .iter()
        .map(JobRow::to_info)
        .collect::<Result<_, _>>()
        .map_err(|e| internal("jobs", &e))?;
    Ok(Response::Jobs(list))
}

/// One job.
pub async fn get<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
) -> Result<Response, ApiError> {
    detail(state, &job(state, caller, job_id).await?).await
}

/// Moves L3.
pub async fn set_l3<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    z_mm: f64,
) -> Result<Response, ApiError> {
    let row = actions::set_l3(state, caller, job_id, z_mm)
        .await
        .map_err(action_error)?;
    detail(state, &row).await
}

/// Continues a reviewed job.
pub async fn continue_job<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
) -> Result<Response, ApiError> {
    let row = actions::continue_job(state, caller, job_id)
        .await
        .map_err(action_error)?;
    detail(state, &row).await
}

/// Re-runs a job.
pub async fn rerun<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
) -> Result<Response, ApiError> {
    let row = actions::rerun(state, caller, job_id)
        .await
        .map_err(action_error)?;
    detail(state, &row).await
}

/// Cancels a job.
pub async fn cancel<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
) -> Result<Response, ApiError> {
    let row = actions::cancel(state, caller, job_id)
        .await
        .map_err(action_error)?;
    detail(state, &row).await
}

/// Uploads an operator mask.
pub async fn upload_mask<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    tissue: MaskTissue,
    png: Vec<u8>,
) -> Result<Response, ApiError> {
    let row = actions::upload_mask(state, caller, job_id, tissue, png)
        .await
        .map_err(action_error)?;
    detail(state, &row).await
}

/// The result row of a version (latest when `None`).
async fn version_row<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    version: Option<i64>,
) -> Result<ResultRow, ApiError> {
    job(state, caller, job_id).await?;
    let mut rows = state
        .store
        .results(job_id)
        .await
        .map_err(|e| store_error("results", e))?;
    match version {
        Some(v) => rows
            .into_iter()
            .find(|r| r.version == v)
            .ok_or_else(|| ApiError::not_found(&format!("version {v} of job {job_id}"))),
        None => rows
            .pop()
            .ok_or_else(|| ApiError::not_found(&format!("results of job {job_id} (none yet)"))),
    }
}

/// A result version.
pub async fn results<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    version: Option<i64>,
) -> Result<Response, ApiError> {
    let row = version_row(state, caller, job_id, version).await?;
    let v = row.to_version().map_err(|e| internal("results", &e))?;
    Ok(Response::Result(Box::new(v)))
}

fn png_image(png: Vec<u8>, version: Option<i64>) -> Result<Image, ApiError> {
    let (width, height) = image::ImageReader::new(std::io::Cursor::new(&png))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok())
        .ok_or_else(|| internal("image", &"stored PNG is unreadable"))?;
    Ok(Image {
        png,
        width,
        height,
        version,
    })
}

/// A rendered image of a version, or a plain axial slice for L3 correction.
pub async fn image<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    version: Option<i64>,
    kind: ImageKind,
) -> Result<Response, ApiError> {
    let name = match kind {
        ImageKind::Sagittal => SAGITTAL_PNG,
        ImageKind::OverlayPsoas => OVERLAY_PSOAS_PNG,
        ImageKind::OverlayCombo => OVERLAY_COMBO_PNG,
        ImageKind::OverlayAll => OVERLAY_ALL_PNG,
        ImageKind::Axial { index } => {
            return axial(state, caller, job_id, index)
                .await
                .map(Response::Image);
        }
    };
    let row = version_row(state, caller, job_id, version).await?;
    let path = state.paths.data_dir.join(&row.out_dir).join(name);
    let png = tokio::fs::read(&path).await.map_err(|_| {
        ApiError::not_found(&format!(
            "{name} of version {} (not produced by that run)",
            row.version
        ))
    })?;
    Ok(Response::Image(png_image(png, Some(row.version))?))
}

async fn axial<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    index: u32,
) -> Result<Image, ApiError> {
    let job = job(state, caller, job_id).await?;
    let geometry = job
        .geometry()
        .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "the series has not been read yet"))?;
    let uid = geometry.sop_uids.get(index as usize).ok_or_else(|| {
        ApiError::invalid(format!(
            "slice {index} does not exist (the series has {})",
            geometry.sop_uids.len()
        ))
    })?;
    let path = state
        .paths
        .archive_dir(job.user_id, &job.study_uid, &job.series_uid)
        .join(format!("{}.dcm", dicom::sanitize_uid(uid)));
    let png = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let slice = dicom::load_slice(&path).map_err(|e| e.to_string())?;
        render::axial_png(slice.hu.view(), render::SOFT_TISSUE).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| internal("image", &e))?
    .map_err(|e| internal("image", &e))?;
    png_image(png, None)
}

/// Every output file of a version.
pub async fn export<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    version: Option<i64>,
) -> Result<Response, ApiError> {
    let row = version_row(state, caller, job_id, version).await?;
    let dir = state.paths.data_dir.join(&row.out_dir);
    let mut files = Vec::new();
    for name in ALL_OUTPUTS {
        if let Ok(bytes) = tokio::fs::read(dir.join(name)).await {
            files.push(ExportFile {
                name: name.to_string(),
                bytes,
            });
        }
    }
    if files.is_empty() {
        return Err(internal(
            "export",
            &StoreError::Corrupt(format!("version {} has no files", row.version)),
        ));
    }
    Ok(Response::Export(files))
}

/// The job's log tail.
pub async fn log<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    job_id: i64,
    tail: u32,
) -> Result<Response, ApiError> {
    job(state, caller, job_id).await?;
    let rows = state
        .store
        .job_log(job_id, i64::from(tail.clamp(1, 10_000)))
        .await
        .map_err(|e| store_error("log", e))?;
    Ok(Response::Log(
        rows.into_iter()
            .map(|r| LogLine {
                at_ms: r.at_ms,
                level: r.level,
                stage: r.stage,
                message: r.message,
            })
            .collect(),
    ))
}
