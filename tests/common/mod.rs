//! Shared test helpers: the real binaries, a database per test on each backend, and a
//! real `idoctord` process on a temporary data dir.
//!
//! Integration tests cannot see another package's binaries, so [`binaries`] builds
//! `idoctord` and `idoctor` once per run with `cargo build --workspace --bins` (the same
//! feature set as `cargo test --workspace`, so nothing is compiled twice).

#![allow(
    dead_code,
    reason = "each test module uses a different subset of the helpers"
)]

pub mod daemon;
pub mod db;
pub mod fixtures;

pub use daemon::Daemon;
pub use db::{TestDb, backends};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Paths of the built binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `idoctord`.
    pub daemon: PathBuf,
    /// `idoctor`.
    pub console: PathBuf,
}

/// Builds (once per test run) and returns the binaries of this profile.
pub fn binaries() -> &'static Binaries {
    static BINS: OnceLock<Binaries> = OnceLock::new();
    BINS.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/integration-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--workspace", "--bins", "--quiet"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for the binaries");
        assert!(status.success(), "building idoctord/idoctor failed");
        Binaries {
            daemon: profile_dir.join("idoctord"),
            console: profile_dir.join("idoctor"),
        }
    })
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data` from the repository root (read in place, never copied into the repo).
pub fn shared_data() -> PathBuf {
    repo_root().join("../shared/data")
}

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Fast intake for tests: a file settles 1 s after its last write (100 ms after its writer
/// closes it), a series completes after 1 s of quiet, held work is retried every second.
/// Loose enough that a loaded CI machine's pauses do not split a series.
pub const FAST_INGEST: &[(&str, &str)] = &[
    ("IDOCTOR_INGEST__FILE_SETTLE_MS", "1000"),
    ("IDOCTOR_INGEST__SERIES_QUIET_S", "1.0"),
    ("IDOCTOR_INGEST__RESCAN_INTERVAL_S", "2"),
    ("IDOCTOR_JOBS__HELD_RETRY_S", "1"),
    ("IDOCTOR_JOBS__POLL_MS", "100"),
];

/// Drops a phantom series (written elsewhere, then renamed in) into `user`'s watch
/// folder of `daemon`; returns its truth.
pub fn drop_phantom(
    daemon: &Daemon,
    user: &str,
    seed: u64,
    slices: usize,
    matrix: usize,
) -> idoctor_daemon::phantom::Truth {
    let staging = daemon.root.path().join("staging");
    let opts = idoctor_daemon::phantom::PhantomOptions::new(seed, slices, matrix);
    idoctor_daemon::demo::drop_phantom(&opts, &staging, &daemon.watch_root.join(user))
        .expect("drop a phantom")
        .0
}
