//! `AppState`: what every part of a running daemon shares (store, settings, keys,
//! folder layout, shutdown signal). Built once in `daemon.rs`, shared by `Arc`.

use crate::auth::Keys;
use crate::config::Settings;
use crate::paths::Paths;
use crate::store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Shared daemon state.
#[derive(Debug)]
pub struct AppState<S: Store> {
    /// The database.
    pub store: S,
    /// Effective settings.
    pub settings: Settings,
    /// Session token keys.
    pub keys: Keys,
    /// Folder layout under the data dir and the watch root.
    pub paths: Paths,
    /// Cancelled on SIGINT/SIGTERM.
    pub shutdown: CancellationToken,
    /// Wakes idle workers when a job becomes runnable.
    pub work_ready: Notify,
    /// Pipeline options (HU windows, models loaded once).
    pub pipeline: crate::pipeline::PipelineOptions,
}
