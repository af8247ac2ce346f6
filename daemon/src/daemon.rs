//! Running the daemon: open the store, load keys, bind listeners, start the services,
//! and shut everything down cleanly when the cancellation token fires.

use crate::auth::{self, Keys};
use crate::config::Settings;
use crate::paths::Paths;
use crate::rpc::{self, ListenerError, RpcServer};
use crate::state::AppState;
use crate::store::{Backend, PgStore, SqliteStore, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session secret could not be loaded.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// A listener could not be bound.
    #[error(transparent)]
    Listen(#[from] ListenerError),
    /// A configured model could not be loaded.
    #[error("cannot load the configured ONNX model: {0}")]
    Model(#[from] crate::pipeline::model::ModelError),
    /// A data folder could not be created.
    #[error("cannot create {path}: {message}")]
    Folder {
        /// The folder.
        path: String,
        /// Why.
        message: String,
    },
}

/// Opens the store named by the settings (SQLite or PostgreSQL by URL scheme).
/// The caller then runs `f` with the concrete store type, statically dispatched.
pub async fn open_sqlite_or_pg(settings: &Settings) -> Result<AnyStore, StoreError> {
    let url = settings.database_url();
    Ok(match Backend::from_url(&url)? {
        Backend::Sqlite => AnyStore::Sqlite(SqliteStore::connect(&url).await?),
        Backend::Postgres => AnyStore::Postgres(PgStore::connect(&url).await?),
    })
}

/// A store of either backend, for the few places (main) that pick one at run time.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

/// Calls a generic async function with the concrete store inside an [`AnyStore`].
#[macro_export]
macro_rules! with_store {
    ($any:expr, |$s:ident| $body:expr) => {
        match $any {
            $crate::daemon::AnyStore::Sqlite($s) => $body,
            $crate::daemon::AnyStore::Postgres($s) => $body,
        }
    };
}

/// Called once the daemon listens; receives the listener descriptions.
pub type OnReady = Box<dyn FnOnce(&[String]) + Send>;

/// Builds the shared state for a store.
pub fn build_state<S: Store>(
    store: S,
    settings: Settings,
    shutdown: CancellationToken,
) -> Result<Arc<AppState<S>>, DaemonError> {
    let data_dir = settings.data_dir.clone();
    for dir in [&data_dir, &settings.ingest.watch_root] {
        std::fs::create_dir_all(dir).map_err(|e| DaemonError::Folder {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let secret = auth::load_or_create_secret(&settings.auth.jwt_secret, &data_dir)?;
    let keys = Keys::new(&secret, settings.token_ttl())?;
    let paths = Paths::new(&data_dir, &settings.ingest.watch_root);
    let pipeline = settings.pipeline.options()?;
    Ok(Arc::new(AppState {
        pipeline,
        store,
        settings,
        keys,
        paths,
        shutdown,
        work_ready: Notify::new(),
    }))
}

/// Runs the daemon on `state` until its shutdown token is cancelled.
pub async fn serve<S: Store>(
    state: Arc<AppState<S>>,
    on_ready: Option<OnReady>,
) -> Result<(), DaemonError> {
    let listeners = rpc::bind_listeners(&state.settings).await?;
    let described: Vec<String> = listeners.iter().map(|l| l.describe()).collect();
    let tasks = TaskTracker::new();
    let grace = Duration::from_secs_f64(state.settings.server.shutdown_grace_s.max(0.0));
    for listener in listeners {
        tasks.spawn(rpc::serve(
            listener,
            RpcServer::new(state.clone()),
            state.shutdown.clone(),
            grace,
        ));
    }
    if state.settings.ingest.enabled {
        tasks.spawn(crate::ingest::run(state.clone()));
    } else {
        tracing::info!("intake disabled in this daemon ([ingest] enabled = false)");
    }
    tasks.spawn(crate::jobs::run_workers(state.clone()));
    tracing::info!(
        listeners = ?described,
        database = state.store.backend().as_str(),
        data_dir = %state.settings.data_dir.display(),
        "idoctord ready"
    );
    if let Some(f) = on_ready {
        f(&described);
    }
    state.shutdown.cancelled().await;
    tracing::info!("shutting down");
    tasks.close();
    tasks.wait().await;
    state.store.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
        token.cancel();
    });
}
