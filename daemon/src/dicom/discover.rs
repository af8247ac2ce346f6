//! Finding CT series among arbitrary files and folders: what `idoctord analyze PATH…`
//! and ingest both start from.
//!
//! Files may sit at any depth under any name, with or without an extension, and one
//! folder may mix several series with junk (licences, reports, scouts). Grouping is by
//! (effective) SeriesInstanceUID only, never by folder. Headers are read in parallel and
//! only up to the pixel data. Every file that is not a usable CT slice is listed in
//! [`Discovery::rejected`] with its reason, so nothing disappears silently; series-level
//! problems (too few slices, mixed sizes, undecodable syntax) are left for
//! [`load_series`](super::load_series) to report per series.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::assemble::Instance;
use super::error::{DicomError, file_label};
use super::header::read_header;

/// The CT instances of one series.
#[derive(Debug, Clone)]
pub struct DiscoveredSeries {
    /// Effective Series Instance UID (see [`InstanceHeader`](super::InstanceHeader)).
    pub series_uid: String,
    /// Effective Study Instance UID.
    pub study_uid: String,
    /// Its instances, sorted by path.
    pub instances: Vec<Instance>,
}

impl DiscoveredSeries {
    /// The instances' paths, for [`load_series`](super::load_series).
    pub fn files(&self) -> Vec<PathBuf> {
        self.instances.iter().map(|i| i.path.clone()).collect()
    }

    /// Total size of the series' files in bytes.
    pub fn bytes(&self) -> u64 {
        self.instances.iter().map(|i| i.header.file_size).sum()
    }
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// CT series, ordered by study, series number and UID.
    pub series: Vec<DiscoveredSeries>,
    /// Files that are not usable CT slices, with the reason, ordered by path.
    pub rejected: Vec<(PathBuf, DicomError)>,
}

/// Walk `paths` (files and folders, recursively) and group the CT slices by series.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut files = Vec::new();
    let mut rejected = Vec::new();
    let mut seen_dirs = HashSet::new();
    for path in paths {
        collect(path, &mut files, &mut rejected, &mut seen_dirs);
    }
    files.sort();
    files.dedup();

    let read: Vec<(PathBuf, Result<Instance, DicomError>)> = files
        .into_par_iter()
        .map(|path| {
            let result = read_header(&path).and_then(|header| {
                header.check_ct_slice(&path)?;
                Ok(Instance {
                    path: path.clone(),
                    header,
                })
            });
            (path, result)
        })
        .collect();

    let mut groups: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
    for (path, result) in read {
        match result {
            Ok(inst) => groups
                .entry(inst.header.series_uid.clone())
                .or_default()
                .push(inst),
            Err(e) => rejected.push((path, e)),
        }
    }
    rejected.sort_by(|a, b| a.0.cmp(&b.0));

    let mut series: Vec<DiscoveredSeries> = groups
        .into_iter()
        .map(|(series_uid, instances)| DiscoveredSeries {
            study_uid: instances[0].header.study_uid.clone(),
            series_uid,
            instances,
        })
        .collect();
    series.sort_by(|a, b| {
        let number = |s: &DiscoveredSeries| s.instances[0].header.series_number.unwrap_or(i32::MAX);
        a.study_uid
            .cmp(&b.study_uid)
            .then(number(a).cmp(&number(b)))
            .then(a.series_uid.cmp(&b.series_uid))
    });
    Discovery { series, rejected }
}

/// Add `path` (a file, or every file below a folder) to `files`.
fn collect(
    path: &Path,
    files: &mut Vec<PathBuf>,
    rejected: &mut Vec<(PathBuf, DicomError)>,
    seen_dirs: &mut HashSet<PathBuf>,
) {
    let io = |source: std::io::Error| DicomError::Io {
        file: file_label(path),
        source,
    };
    // Follow symlinks, but visit each real folder once so link loops end.
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            rejected.push((path.to_path_buf(), io(e)));
            return;
        }
    };
    if meta.is_file() {
        files.push(path.to_path_buf());
        return;
    }
    if !meta.is_dir() {
        return;
    }
    let real = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if !seen_dirs.insert(real) {
        return;
    }
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            rejected.push((path.to_path_buf(), io(e)));
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        collect(&child, files, rejected, seen_dirs);
    }
}
