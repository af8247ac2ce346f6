//! Intake: per-user watch folders → settled, grouped, deduplicated, archived series.
//!
//! One loop owns the watcher and a [`Settler`]. Watcher events and scans add candidate
//! files; every tick hands settled files to [`route::process`] (header-only parse, accept
//! or quarantine, archive, record), and studies whose series have gone quiet are
//! completed and queued ([`complete`]). A full scan runs at start (files dropped while
//! the daemon was down), when a folder appears (files written before its watch existed),
//! on watcher overflow, and every `rescan_interval_s` as a safety net.

pub mod archive;
pub mod complete;
pub mod owners;
pub mod route;
pub mod settle;
pub mod watch;

use crate::state::AppState;
use crate::store::Store;
use owners::{Owners, walk};
use route::Settled;
use settle::Settler;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use watch::WatchEvent;

/// Files handed to one `route::process` call at most.
const BATCH: usize = 512;

fn tick(ms: f64, min_ms: f64, max_ms: f64) -> Duration {
    Duration::from_secs_f64(ms.clamp(min_ms, max_ms) / 1000.0)
}

/// Runs intake until shutdown.
pub async fn run<S: Store>(state: Arc<AppState<S>>) {
    let settings = state.settings.ingest.clone();
    let mut owners = Owners::new(&settings, &state.paths.data_dir);
    let roots = owners.roots();
    for root in &roots {
        if let Err(e) = std::fs::create_dir_all(root) {
            tracing::error!(root = %root.display(), cause = %e, "cannot create a watch folder");
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let poll = Duration::from_millis(settings.poll_interval_ms.max(10));
    let watcher = match watch::start(&roots, settings.force_polling, poll, tx) {
        Ok(w) => {
            tracing::info!(
                polling = w.polling,
                roots = roots.len(),
                "watching drop folders"
            );
            Some(w)
        }
        Err(e) => {
            tracing::error!(cause = %e, "no file watcher; relying on periodic scans");
            None
        }
    };
    let settle = Duration::from_millis(settings.file_settle_ms);
    let closed_settle = Duration::from_millis(settings.close_settle_ms);
    let shortest = settings.file_settle_ms.min(settings.close_settle_ms);
    let mut settle_tick = tokio::time::interval(tick(shortest as f64 / 4.0, 20.0, 500.0));
    let mut complete_tick =
        tokio::time::interval(tick(settings.series_quiet_s * 250.0, 20.0, 1000.0));
    let rescan_every = if watcher.is_some() {
        Duration::from_secs_f64(settings.rescan_interval_s.max(1.0))
    } else {
        poll
    };
    let mut rescan_tick = tokio::time::interval(rescan_every);
    for t in [&mut settle_tick, &mut complete_tick, &mut rescan_tick] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut settler = Settler::default();
    scan(&roots, &mut settler).await;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            Some(event) = rx.recv() => match event {
                WatchEvent::Path(p) if p.is_dir() => scan(&[p], &mut settler).await,
                WatchEvent::Path(p) => settler.observe(p, Instant::now()),
                WatchEvent::Closed(p) => settler.observe_closed(p, Instant::now()),
                WatchEvent::NewFolder(p) => scan(&[p], &mut settler).await,
                WatchEvent::Rescan => scan(&roots, &mut settler).await,
            },
            _ = settle_tick.tick() => {
                let settled = settler.take_settled(Instant::now(), settle, closed_settle);
                if !settled.is_empty() {
                    route_files(&state, &mut owners, settled).await;
                }
            }
            _ = complete_tick.tick() => {
                if let Err(e) = complete::complete_quiet(&state).await {
                    tracing::warn!(cause = %e, "completing studies failed; retrying");
                }
                if let Err(e) = complete::finish_pending(&state).await {
                    tracing::warn!(cause = %e, "finishing series failed; retrying");
                }
            }
            _ = rescan_tick.tick() => {
                owners.forget_unknown();
                scan(&roots, &mut settler).await;
            }
        }
    }
    drop(watcher);
    tracing::info!("intake stopped");
}

async fn scan(roots: &[PathBuf], settler: &mut Settler) {
    let roots = roots.to_vec();
    let files =
        tokio::task::spawn_blocking(move || roots.iter().flat_map(|r| walk(r)).collect::<Vec<_>>())
            .await
            .unwrap_or_default();
    let now = Instant::now();
    for f in files {
        if !settler.contains(&f) {
            settler.observe(f, now);
        }
    }
}

async fn route_files<S: Store>(state: &AppState<S>, owners: &mut Owners, settled: Vec<PathBuf>) {
    let mut batch = Vec::new();
    for path in settled {
        match owners.resolve(&state.store, &path).await {
            Ok(Some(owner)) => batch.push(Settled { path, owner }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(cause = %e, "cannot resolve a file's owner; retrying on the next scan")
            }
        }
    }
    for chunk in batch.chunks(BATCH) {
        match route::process(state, chunk.to_vec()).await {
            Ok(stats) => tracing::debug!(?stats, "batch routed"),
            Err(e) => {
                tracing::warn!(cause = %e, "routing failed; the files stay and are retried on the next scan")
            }
        }
    }
}
