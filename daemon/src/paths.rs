//! The folder layout. Every path is built from database ids, validated usernames and
//! sanitised UIDs only, never from free-text DICOM strings such as patient names.

use crate::dicom::uid::sanitize_uid;
use std::path::{Path, PathBuf};

/// Roots of everything the daemon writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `<data_dir>`.
    pub data_dir: PathBuf,
    /// Per-user drop folders live under here.
    pub watch_root: PathBuf,
}

impl Paths {
    /// The layout for a data dir and a watch root.
    pub fn new(data_dir: &Path, watch_root: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            watch_root: watch_root.to_path_buf(),
        }
    }

    /// `<watch_root>/<username>/` (usernames are validated to be plain folder names).
    pub fn watch_dir(&self, username: &str) -> PathBuf {
        self.watch_root.join(username)
    }

    /// `<data_dir>/archive/<user_id>/<study>/<series>/`.
    pub fn archive_dir(&self, user_id: i64, study_uid: &str, series_uid: &str) -> PathBuf {
        self.data_dir
            .join("archive")
            .join(user_id.to_string())
            .join(sanitize_uid(study_uid))
            .join(sanitize_uid(series_uid))
    }

    /// `<data_dir>/results/<user_id>/<study>/<series>/v<N>/`.
    pub fn results_dir(
        &self,
        user_id: i64,
        study_uid: &str,
        series_uid: &str,
        version: i64,
    ) -> PathBuf {
        self.data_dir
            .join("results")
            .join(user_id.to_string())
            .join(sanitize_uid(study_uid))
            .join(sanitize_uid(series_uid))
            .join(format!("v{version}"))
    }

    /// `<data_dir>/quarantine/<user_id>/<YYYY-MM-DD>/` (`unassigned` when no user).
    pub fn quarantine_dir(&self, user_id: Option<i64>, date: &str) -> PathBuf {
        let owner = user_id.map_or_else(|| "unassigned".to_string(), |id| id.to_string());
        self.data_dir.join("quarantine").join(owner).join(date)
    }

    /// `<data_dir>/outbox/<user_id>/`.
    pub fn outbox_dir(&self, user_id: i64) -> PathBuf {
        self.data_dir.join("outbox").join(user_id.to_string())
    }
}
