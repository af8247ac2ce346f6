//! Routing settled files: read the header only (never the pixels), decide accept or
//! quarantine, deduplicate by SOP Instance UID and digest, archive, record, and only
//! then remove the source (see `archive.rs` for why that order never loses a file).
//!
//! Logs name users, codes and counts, never file names or header text: PACS exports
//! often name folders and files after the patient.

use super::archive;
use super::owners::Owner;
use crate::dicom::{self, DicomError, InstanceHeader};
use crate::state::AppState;
use crate::store::ingest::{NewInstance, NewQuarantine, Recorded, SeriesFacts, StudyFacts};
use crate::store::{Store, StoreError, now_ms};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    /// New instances archived.
    pub archived: usize,
    /// Copies of already archived instances removed from the watch folder.
    pub duplicates: usize,
    /// Files moved to quarantine.
    pub quarantined: usize,
    /// Bytes archived.
    pub bytes: u64,
}

/// A settled file and who it belongs to.
#[derive(Debug, Clone)]
pub struct Settled {
    /// The file.
    pub path: PathBuf,
    /// Its owner.
    pub owner: Owner,
}

enum Inspected {
    Accept {
        header: Box<InstanceHeader>,
        digest: String,
        bytes: u64,
    },
    Reject {
        code: String,
        reason: String,
    },
}

fn inspect(path: &Path) -> Inspected {
    let header = match dicom::read_header(path).and_then(|h| h.check_ct_slice(path).map(|()| h)) {
        Ok(h) => h,
        Err(e) => return reject(&e),
    };
    match archive::digest_file(path) {
        Ok((digest, bytes)) => Inspected::Accept {
            header: Box::new(header),
            digest,
            bytes,
        },
        Err(e) => Inspected::Reject {
            code: "io".into(),
            reason: format!("cannot read the file: {e}"),
        },
    }
}

fn reject(e: &DicomError) -> Inspected {
    Inspected::Reject {
        code: e.code().into(),
        reason: e.to_string(),
    }
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Moves one file into quarantine and records it.
pub async fn quarantine<S: Store>(
    state: &AppState<S>,
    path: &Path,
    owner: Option<&Owner>,
    code: &str,
    reason: &str,
    series_uid: Option<String>,
) -> Result<(), StoreError> {
    let now = now_ms();
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dir = state.paths.quarantine_dir(owner.map(|o| o.user_id), &day);
    let dest = dir.join(archive::quarantine_name(now));
    let original = owner.map_or_else(|| path.display().to_string(), |o| relative(path, &o.folder));
    let bytes = std::fs::metadata(path).map(|m| m.len() as i64).unwrap_or(0);
    let moved = {
        let (path, dest, code, reason) = (
            path.to_path_buf(),
            dest.clone(),
            code.to_string(),
            reason.to_string(),
        );
        tokio::task::spawn_blocking(move || {
            archive::move_file(&path, &dest)?;
            archive::write_reason(&dest, &code, &reason, &original, now)
        })
        .await
    };
    match moved {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            // The file stays where it is; the next scan retries.
            tracing::warn!(code, cause = %e, "could not move a file to quarantine; it stays in the watch folder");
            return Ok(());
        }
        Err(e) => {
            tracing::warn!(cause = %e, "quarantine task failed");
            return Ok(());
        }
    }
    let id = state
        .store
        .record_quarantine(
            &NewQuarantine {
                user_id: owner.map(|o| o.user_id),
                path: relative(&dest, &state.paths.data_dir),
                reason: reason.to_string(),
                code: code.to_string(),
                bytes,
                series_uid,
            },
            now,
        )
        .await?;
    tracing::info!(
        user = owner.map(|o| o.user_id),
        quarantine = id,
        code,
        "file quarantined"
    );
    Ok(())
}

fn facts(h: &InstanceHeader) -> (StudyFacts, SeriesFacts) {
    (
        StudyFacts {
            study_uid: h.study_uid.clone(),
            patient_id: h.patient_id.clone(),
            patient_name: h.patient_name.clone(),
            study_date: h.study_date.clone(),
            description: h.study_description.clone(),
        },
        SeriesFacts {
            series_uid: h.series_uid.clone(),
            description: h.series_description.clone(),
            modality: h.modality.clone(),
            slice_thickness_mm: h.slice_thickness,
            series_number: h.series_number.map(i64::from),
        },
    )
}

struct Candidate {
    source: PathBuf,
    owner: Owner,
    record: NewInstance,
}

/// Processes a batch of settled files.
pub async fn process<S: Store>(
    state: &AppState<S>,
    files: Vec<Settled>,
) -> Result<BatchStats, StoreError> {
    let mut stats = BatchStats::default();
    let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let inspected = tokio::task::spawn_blocking(move || {
        paths.par_iter().map(|p| inspect(p)).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("inspection task failed: {e}")))?;

    // Known SOP instances of each user in this batch, for deduplication.
    let mut sops_by_user: HashMap<i64, Vec<String>> = HashMap::new();
    for (file, result) in files.iter().zip(&inspected) {
        if let Inspected::Accept { header, .. } = result {
            sops_by_user
                .entry(file.owner.user_id)
                .or_default()
                .push(header.sop_instance_uid.clone());
        }
    }
    let mut known: HashMap<(i64, String), (String, String)> = HashMap::new();
    for (user, sops) in sops_by_user {
        for k in state.store.known_instances(user, &sops).await? {
            known.insert((user, k.sop_uid), (k.digest, k.path));
        }
    }

    let mut candidates = Vec::new();
    let mut dirs = BTreeSet::new();
    for (file, result) in files.into_iter().zip(inspected) {
        match result {
            Inspected::Reject { code, reason } => {
                quarantine(state, &file.path, Some(&file.owner), &code, &reason, None).await?;
                stats.quarantined += 1;
            }
            Inspected::Accept {
                header,
                digest,
                bytes,
            } => {
                let key = (file.owner.user_id, header.sop_instance_uid.clone());
                if let Some((archived_digest, archived_path)) = known.get(&key) {
                    if *archived_digest == digest {
                        drop_duplicate(state, &file.path, archived_path, &digest).await;
                        stats.duplicates += 1;
                    } else {
                        let reason = format!(
                            "SOP Instance UID {} is already archived with different content \
                             (archived SHA-256 {}…, this file {}…)",
                            header.sop_instance_uid,
                            &archived_digest[..12.min(archived_digest.len())],
                            &digest[..12]
                        );
                        quarantine(
                            state,
                            &file.path,
                            Some(&file.owner),
                            "conflict",
                            &reason,
                            Some(header.series_uid.clone()),
                        )
                        .await?;
                        stats.quarantined += 1;
                    }
                    continue;
                }
                let dir = state.paths.archive_dir(
                    file.owner.user_id,
                    &header.study_uid,
                    &header.series_uid,
                );
                let dest = dir.join(format!(
                    "{}.dcm",
                    dicom::sanitize_uid(&header.sop_instance_uid)
                ));
                let linked = {
                    let (src, dest, digest) = (file.path.clone(), dest.clone(), digest.clone());
                    tokio::task::spawn_blocking(move || archive::link_into(&src, &dest, &digest))
                        .await
                };
                if let Ok(Err(e)) | Err(e) = linked.map_err(std::io::Error::other) {
                    let reason = format!("could not archive: {e}");
                    quarantine(
                        state,
                        &file.path,
                        Some(&file.owner),
                        "conflict",
                        &reason,
                        Some(header.series_uid.clone()),
                    )
                    .await?;
                    stats.quarantined += 1;
                    continue;
                }
                dirs.insert(dir);
                let (study, series) = facts(&header);
                candidates.push(Candidate {
                    source: file.path,
                    owner: file.owner.clone(),
                    record: NewInstance {
                        user_id: file.owner.user_id,
                        study,
                        series,
                        sop_uid: header.sop_instance_uid.clone(),
                        digest,
                        bytes: bytes as i64,
                        path: relative(&dest, &state.paths.data_dir),
                        mode: file.owner.mode.map(|m| m.as_str().to_string()),
                    },
                });
            }
        }
    }
    if candidates.is_empty() {
        return Ok(stats);
    }
    let dirs: Vec<PathBuf> = dirs.into_iter().collect();
    let _ = tokio::task::spawn_blocking(move || {
        for d in dirs {
            if let Err(e) = archive::fsync_dir(&d) {
                tracing::warn!(cause = %e, "fsync of an archive folder failed");
            }
        }
    })
    .await;
    let records: Vec<NewInstance> = candidates.iter().map(|c| c.record.clone()).collect();
    let outcomes = state.store.record_instances(&records, now_ms()).await?;
    let mut archived_by_user: HashMap<i64, usize> = HashMap::new();
    for (candidate, outcome) in candidates.into_iter().zip(outcomes) {
        match outcome {
            Recorded::Added { .. } => {
                remove_source(&candidate.source);
                stats.archived += 1;
                stats.bytes += candidate.record.bytes as u64;
                *archived_by_user.entry(candidate.owner.user_id).or_default() += 1;
            }
            Recorded::Duplicate { path } => {
                drop_duplicate(state, &candidate.source, &path, &candidate.record.digest).await;
                stats.duplicates += 1;
            }
            Recorded::Conflict { archived_digest } => {
                let reason = format!(
                    "SOP Instance UID {} is already archived with different content (archived SHA-256 {}…)",
                    candidate.record.sop_uid,
                    &archived_digest[..12.min(archived_digest.len())]
                );
                quarantine(
                    state,
                    &candidate.source,
                    Some(&candidate.owner),
                    "conflict",
                    &reason,
                    Some(candidate.record.series.series_uid.clone()),
                )
                .await?;
                stats.quarantined += 1;
            }
        }
    }
    for (user, n) in archived_by_user {
        tracing::info!(user, instances = n, "instances archived");
    }
    Ok(stats)
}

fn remove_source(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(cause = %e, "an archived file could not be removed from the watch folder");
    }
}

/// Removes a dropped copy of an archived instance, after checking the archived copy is
/// really there; if it is missing (a crash between link and record), the dropped copy
/// becomes the archived one.
async fn drop_duplicate<S: Store>(
    state: &AppState<S>,
    source: &Path,
    archived_rel: &str,
    digest: &str,
) {
    let archived = state.paths.data_dir.join(archived_rel);
    let (source, digest) = (source.to_path_buf(), digest.to_string());
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        match archive::digest_file(&archived) {
            Ok((d, _)) if d == digest => {}
            _ => archive::copy_durably(&source, &archived)?,
        }
        std::fs::remove_file(&source)
    })
    .await;
    match result {
        Ok(Ok(())) => {
            tracing::info!("duplicate instance dropped (identical copy already archived)")
        }
        Ok(Err(e)) => tracing::warn!(cause = %e, "could not drop a duplicate instance"),
        Err(e) => tracing::warn!(cause = %e, "duplicate task failed"),
    }
}
