//! The worker pool: claim a job with a lease (charging its step in the same
//! transaction), keep the lease alive, report progress, record the result, and on
//! failure retry with backoff or fail with a refund.
//!
//! No state lives only in memory: a worker that dies leaves a lease that expires, and
//! any worker of any daemon on the same database takes the job over. The quota key of
//! a run (`job:<id>:<step>:r<run>`) makes the takeover charge nothing twice.

use super::execute::{self, Executed, RunError, overall};
use crate::quota::{job_step_key, result_storage_key, step_quota};
use crate::state::AppState;
use crate::store::jobs::{Claim, JobRow, Recorded, RunDone, RunFailure};
use crate::store::{Charge, Store, now_ms};
use idoctor_protocol::{JobStep, L3Status};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// A worker name unique across daemons: host, process and slot.
pub fn worker_name(slot: usize) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{host}-{}-{slot}", std::process::id())
}

/// What a claimed job's step costs.
pub fn step_charge(job: &JobRow) -> Option<Charge> {
    let step: JobStep = job.step.parse().ok()?;
    let quota_type = step_quota(step)?;
    Some(Charge {
        user_id: job.user_id,
        quota_type,
        amount: 1,
        key: job_step_key(job.id, step, job.run_seq),
        job_id: Some(job.id),
        series_id: Some(job.series_id),
        actor_id: job.next_actor,
        metadata: serde_json::json!({ "step": step.as_str(), "run": job.run_seq }),
    })
}

/// Runs the configured number of workers until shutdown.
pub async fn run_workers<S: Store>(state: Arc<AppState<S>>) {
    let tracker = TaskTracker::new();
    for slot in 0..state.settings.jobs.workers {
        tracker.spawn(worker_loop(state.clone(), worker_name(slot)));
    }
    tracker.close();
    tracker.wait().await;
}

async fn worker_loop<S: Store>(state: Arc<AppState<S>>, worker: String) {
    let settings = state.settings.jobs.clone();
    let lease_ms = (settings.lease_s * 1000.0) as i64;
    let held_retry_ms = (settings.held_retry_s * 1000.0) as i64;
    let idle = Duration::from_millis(settings.poll_ms.max(10));
    tracing::info!(worker, "worker started");
    loop {
        if state.shutdown.is_cancelled() {
            break;
        }
        let claimed = state
            .store
            .claim_job(&worker, now_ms(), lease_ms, held_retry_ms, &step_charge)
            .await;
        match claimed {
            Ok(Some(Claim::Run(job))) => run_claimed(&state, &worker, *job).await,
            Ok(Some(Claim::Held {
                job_id,
                user_id,
                quota_type,
            })) => {
                tracing::warn!(
                    job = job_id,
                    user = user_id,
                    quota_type,
                    "job held by quota"
                );
            }
            Ok(None) => {
                tokio::select! {
                    _ = state.shutdown.cancelled() => break,
                    _ = state.work_ready.notified() => {}
                    _ = tokio::time::sleep(idle) => {}
                }
            }
            Err(e) => {
                tracing::warn!(worker, cause = %e, "claiming a job failed; retrying");
                tokio::time::sleep(idle).await;
            }
        }
    }
    tracing::info!(worker, "worker stopped");
}

async fn log<S: Store>(state: &AppState<S>, job_id: i64, level: &str, stage: &str, message: &str) {
    if let Err(e) = state
        .store
        .log_job(job_id, level, stage, message, now_ms())
        .await
    {
        tracing::warn!(job = job_id, cause = %e, "could not write the job log");
    }
}

/// Keeps the lease alive and mirrors progress into the database until `done` is set.
/// Sets `lost` when the lease has gone to someone else.
async fn keep_alive<S: Store>(
    state: Arc<AppState<S>>,
    job: (i64, i64),
    worker: String,
    mut progress: watch::Receiver<(String, f64)>,
    done: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let (job_id, run_seq) = job;
    let lease_ms = (state.settings.jobs.lease_s * 1000.0) as i64;
    let mut renew = tokio::time::interval(Duration::from_millis((lease_ms / 3).max(50) as u64));
    let mut report = tokio::time::interval(Duration::from_millis(250));
    loop {
        if done.load(Ordering::Relaxed) {
            return;
        }
        tokio::select! {
            _ = renew.tick() => {
                match state.store.renew_lease(job_id, &worker, run_seq, now_ms() + lease_ms).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::Relaxed);
                        tracing::warn!(job = job_id, worker, "lease lost to another worker");
                        return;
                    }
                    Err(e) => tracing::warn!(job = job_id, cause = %e, "lease renewal failed; retrying"),
                }
            }
            _ = report.tick() => {
                if progress.has_changed().unwrap_or(false) {
                    let (stage, fraction) = progress.borrow_and_update().clone();
                    let _ = state.store.set_progress(job_id, &worker, run_seq, &stage, fraction, now_ms()).await;
                }
            }
        }
    }
}

async fn run_claimed<S: Store>(state: &Arc<AppState<S>>, worker: &str, job: JobRow) {
    let job_id = job.id;
    tracing::info!(
        job = job_id,
        user = job.user_id,
        step = job.step,
        run = job.run_seq,
        "job started"
    );
    log(
        state,
        job_id,
        "info",
        "start",
        &format!(
            "{} step, run {}, attempt {} on {worker}",
            job.step,
            job.run_seq,
            job.attempts + 1
        ),
    )
    .await;
    let (tx, rx) = watch::channel(("starting".to_string(), 0.0));
    let done = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicBool::new(false));
    let alive = tokio::spawn(keep_alive(
        state.clone(),
        (job_id, job.run_seq),
        worker.to_string(),
        rx,
        done.clone(),
        lost.clone(),
    ));
    let result = run_step(state, &job, tx).await;
    done.store(true, Ordering::Relaxed);
    let _ = alive.await;
    if lost.load(Ordering::Relaxed) {
        log(
            state,
            job_id,
            "warn",
            "lease",
            "lease lost; another worker took the job over",
        )
        .await;
        return;
    }
    match result {
        Ok((executed, version, out_dir)) => {
            record(state, worker, &job, executed, version, &out_dir).await
        }
        Err(e) => fail(state, worker, &job, e).await,
    }
}

async fn run_step<S: Store>(
    state: &Arc<AppState<S>>,
    job: &JobRow,
    progress: watch::Sender<(String, f64)>,
) -> Result<(Executed, i64, std::path::PathBuf), RunError> {
    let transient = |e: crate::store::StoreError| RunError::Transient(e.to_string());
    let files = state
        .store
        .series_paths(job.series_id)
        .await
        .map_err(transient)?
        .into_iter()
        .map(|p| state.paths.data_dir.join(p))
        .collect();
    let user = state
        .store
        .user_by_id(job.user_id)
        .await
        .map_err(transient)?;
    let outbox = user
        .filter(|u| u.outbox)
        .map(|u| state.paths.outbox_dir(u.id));
    let version = job.version.unwrap_or(0) + 1;
    let out_dir = state
        .paths
        .results_dir(job.user_id, &job.study_uid, &job.series_uid, version);
    let input = execute::input_for(
        job,
        &state.paths.data_dir,
        files,
        out_dir.clone(),
        outbox,
        state.pipeline.clone(),
    )?;
    let executed = tokio::task::spawn_blocking(move || {
        let report = |stage: crate::pipeline::Stage, fraction: f64| {
            progress.send_replace((stage.name().to_string(), overall(stage, fraction)));
        };
        execute::execute(&input, &report)
    })
    .await
    .map_err(|e| RunError::Transient(format!("the pipeline crashed: {e}")))??;
    Ok((executed, version, out_dir))
}

async fn record<S: Store>(
    state: &AppState<S>,
    worker: &str,
    job: &JobRow,
    executed: Executed,
    version: i64,
    out_dir: &std::path::Path,
) {
    let bytes: i64 = executed.files.iter().map(|f| f.bytes as i64).sum();
    let step: JobStep = job.step.parse().unwrap_or(JobStep::Full);
    let finding = &executed.analysis.l3;
    let found = finding.status == L3Status::Found;
    for note in &executed.notes {
        log(state, job.id, "info", "outputs", note).await;
    }
    log(
        state,
        job.id,
        "info",
        "l3",
        &match (found, finding.mid_z_mm) {
            (true, Some(z)) => format!(
                "L3 at z {z:.1} mm (slice {}), confidence {:.2}, {}{}",
                finding.mid_slice_index.unwrap_or_default(),
                finding.confidence,
                finding.method,
                if finding.low_confidence {
                    " (low confidence: review)"
                } else {
                    ""
                }
            ),
            _ => format!(
                "L3 not found: {}",
                finding.reason.as_deref().unwrap_or("no reason")
            ),
        },
    )
    .await;
    let next_state = if step == JobStep::Detect {
        "awaiting_review"
    } else {
        "done"
    };
    let reason = if step == JobStep::Detect {
        format!("{}; L3 detected, awaiting review", job.next_reason)
    } else {
        job.next_reason.clone()
    };
    let to_value = |f: &Option<idoctor_protocol::L3Finding>| {
        f.as_ref().and_then(|f| serde_json::to_value(f).ok())
    };
    let done = RunDone {
        job_id: job.id,
        worker: worker.to_string(),
        run_seq: job.run_seq,
        version,
        kind: job.next_kind.clone(),
        created_by: job.next_actor,
        reason,
        l3_mid_z_mm: finding.mid_z_mm,
        analysis: serde_json::to_value(&executed.analysis).unwrap_or_default(),
        out_dir: out_dir
            .strip_prefix(&state.paths.data_dir)
            .unwrap_or(out_dir)
            .display()
            .to_string(),
        bytes,
        storage: (bytes > 0).then(|| Charge {
            user_id: job.user_id,
            quota_type: idoctor_protocol::QuotaType::StorageResults,
            amount: bytes,
            key: result_storage_key(job.id, version),
            job_id: Some(job.id),
            series_id: Some(job.series_id),
            actor_id: job.next_actor,
            metadata: serde_json::json!({ "version": version, "files": executed.files.len() }),
        }),
        held_until_ms: now_ms() + (state.settings.jobs.held_retry_s * 1000.0) as i64,
        next_state: next_state.into(),
        l3: to_value(&executed.l3),
        detected_l3: to_value(&executed.detected),
        geometry: serde_json::to_value(&executed.geometry).ok(),
        log: format!(
            "version {version} written ({} files, {bytes} bytes); {next_state}",
            executed.files.len()
        ),
    };
    match state.store.complete_run(&done, now_ms()).await {
        Ok(Recorded::Version(v)) => {
            // The job log's line was written with the version.
            tracing::info!(job = job.id, version = v, bytes, "job finished");
        }
        Ok(Recorded::Held { reason }) => {
            let _ = std::fs::remove_dir_all(out_dir);
            // The job log's line was written with the hold.
            tracing::warn!(job = job.id, reason = %reason, "job held: results storage quota");
        }
        Ok(Recorded::Stale) => {
            log(
                state,
                job.id,
                "warn",
                "lease",
                "finished after losing the lease; the other worker's result stands",
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(job = job.id, cause = %e, "recording the result failed; the lease will expire and the job re-run");
        }
    }
}

async fn fail<S: Store>(state: &AppState<S>, worker: &str, job: &JobRow, error: RunError) {
    let settings = &state.settings.jobs;
    let attempt = job.attempts + 1;
    let refund_key = step_charge(job).map(|c| c.key);
    let (retry_at, level) = match &error {
        RunError::Transient(_) if attempt < i64::from(settings.max_attempts) => {
            let backoff = settings.retry_backoff_s * 2f64.powi(job.attempts as i32);
            (Some(now_ms() + (backoff * 1000.0) as i64), "warn")
        }
        _ => (None, "error"),
    };
    let message = error.to_string();
    let outcome = state
        .store
        .fail_run(
            &RunFailure {
                job_id: job.id,
                worker,
                run_seq: job.run_seq,
                error: &message,
                retry_at_ms: retry_at,
                refund_key: if retry_at.is_none() {
                    refund_key.as_deref()
                } else {
                    None
                },
            },
            now_ms(),
        )
        .await;
    let what = match retry_at {
        Some(t) => format!(
            "failed (attempt {attempt}): {message}; retrying in {:.0} s",
            (t - now_ms()) as f64 / 1000.0
        ),
        None => format!("failed: {message}; the call was refunded"),
    };
    tracing::warn!(
        job = job.id,
        attempt,
        permanent = retry_at.is_none(),
        "job failed"
    );
    log(state, job.id, level, "failed", &what).await;
    if let Err(e) = outcome {
        tracing::warn!(job = job.id, cause = %e, "recording the failure failed; the lease will expire");
    }
}
