//! Intake throughput and latency: a phantom series of N slices is copied file by file into
//! a user's drop folder while intake runs in-process; the figures are files and MB per
//! second from the first file dropped to the last one archived, the same copy into a plain
//! folder on the same disk for reference, and the time from the last file written to the
//! series being stable, beyond the configured quiet period.

use crate::accounts;
use crate::phantom::{PhantomOptions, write_phantom};
use crate::state::AppState;
use crate::store::Store;
use idoctor_protocol::{NewUser, Role};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the store is polled for the series' progress.
const POLL: Duration = Duration::from_millis(5);
/// Give up after this long (a stuck intake is a failed benchmark, not a hang).
const TIMEOUT: Duration = Duration::from_secs(600);

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Files dropped (one per slice).
    pub files: usize,
    /// Bytes dropped.
    pub bytes: u64,
    /// Plain copy of the same files into a folder on the same disk: MB/s (reference).
    pub copy_mb_per_s: f64,
    /// Seconds from the first file dropped to the last one archived.
    pub drop_to_archived_s: f64,
    /// Files archived per second over that span.
    pub files_per_s: f64,
    /// MB archived per second over that span.
    pub mb_per_s: f64,
    /// The configured quiet period, seconds.
    pub quiet_s: f64,
    /// Seconds from the last file written to the series leaving `receiving`.
    pub last_write_to_stable_s: f64,
    /// That latency minus the quiet period: what intake adds.
    pub beyond_quiet_s: f64,
}

/// Writes a phantom of `slices` × `matrix`² into `scratch`, then drops it for a new user of
/// `state` while intake runs, and measures. `state`'s data dir and watch root should be
/// scratch folders; its job workers are not started.
pub async fn run<S: Store>(
    state: Arc<AppState<S>>,
    slices: usize,
    matrix: usize,
    scratch: &Path,
) -> Result<IngestFigures, String> {
    let user = accounts::create_user(
        &state.store,
        &state.paths,
        NewUser {
            username: format!("ingest{:08x}", rand::random::<u32>()),
            password: "benchmark-password".into(),
            role: Role::Operator,
            plan: Some("enterprise".into()),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let staging = scratch.join("staging");
    let opts = PhantomOptions::new(11, slices, matrix);
    let written = {
        let staging = staging.clone();
        tokio::task::spawn_blocking(move || write_phantom(&opts, &staging))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot write the phantom: {e}"))?
            .1
    };
    let bytes = written.bytes;
    let mb = bytes as f64 / 1e6;

    // Reference: the same copy into a plain folder on the same disk.
    let reference = scratch.join("copy-reference");
    let copy_s = copy_all(&written.files, &reference).await?;
    let _ = std::fs::remove_dir_all(&reference);

    let intake = tokio::spawn(crate::ingest::run(state.clone()));
    // Let the watcher start before the first file lands.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let drop = state.paths.watch_dir(&user.username).join("series-1");
    let started = Instant::now();
    copy_all(&written.files, &drop).await?;
    let last_write = started.elapsed();

    let files = written.files.len();
    let (mut archived, mut stable) = (None, None);
    while archived.is_none() || stable.is_none() {
        if started.elapsed() > TIMEOUT {
            state.shutdown.cancel();
            return Err(format!(
                "intake did not finish within {} s",
                TIMEOUT.as_secs()
            ));
        }
        let series = state
            .store
            .list_series(Some(user.id))
            .await
            .map_err(|e| e.to_string())?;
        let now = started.elapsed();
        if let Some(s) = series.first() {
            if archived.is_none() && s.instances as usize >= files {
                archived = Some(now);
            }
            if stable.is_none() && s.state != "receiving" {
                stable = Some(now);
            }
        }
        tokio::time::sleep(POLL).await;
    }
    state.shutdown.cancel();
    let _ = intake.await;
    let (archived, stable) = (
        archived.unwrap_or_default().as_secs_f64(),
        stable.unwrap_or_default().as_secs_f64(),
    );
    let quiet_s = state.settings.ingest.series_quiet_s;
    let latency = stable - last_write.as_secs_f64();
    Ok(IngestFigures {
        backend: state.store.backend().as_str().to_string(),
        files,
        bytes,
        copy_mb_per_s: mb / copy_s.max(1e-9),
        drop_to_archived_s: archived,
        files_per_s: files as f64 / archived.max(1e-9),
        mb_per_s: mb / archived.max(1e-9),
        quiet_s,
        last_write_to_stable_s: latency,
        beyond_quiet_s: latency - quiet_s,
    })
}

/// Copies `files` into `dest` one by one, as a PACS export would; returns the seconds taken.
async fn copy_all(files: &[PathBuf], dest: &Path) -> Result<f64, String> {
    let files = files.to_vec();
    let dest = dest.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        let t = Instant::now();
        for f in &files {
            let name = f.file_name().ok_or("a phantom file has no name")?;
            std::fs::copy(f, dest.join(name)).map_err(|e| format!("{}: {e}", f.display()))?;
        }
        Ok(t.elapsed().as_secs_f64())
    })
    .await
    .map_err(|e| e.to_string())?
}
