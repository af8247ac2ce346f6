//! Series, jobs, result versions, images and job logs, as the wire shows them.

use crate::analysis::{Analysis, L3Finding};
use crate::quota::QuotaType;
use crate::users::JobMode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a series is in intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesState {
    /// Instances are still arriving; the quiet period has not passed.
    Receiving,
    /// Complete and archived; waiting for its quota charge and job.
    Stable,
    /// A storage or case quota refused it; it is archived and waits for the quota.
    Held,
    /// A job exists for it.
    Queued,
    /// Complete and stored, but another series of its study was chosen for measurement.
    Archived,
    /// Unusable as a whole (too few slices, not axial); its files are in quarantine.
    Rejected,
}

impl SeriesState {
    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesState::Receiving => "receiving",
            SeriesState::Stable => "stable",
            SeriesState::Held => "held",
            SeriesState::Queued => "queued",
            SeriesState::Archived => "archived",
            SeriesState::Rejected => "rejected",
        }
    }
}

impl FromStr for SeriesState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            SeriesState::Receiving,
            SeriesState::Stable,
            SeriesState::Held,
            SeriesState::Queued,
            SeriesState::Archived,
            SeriesState::Rejected,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown series state {s:?}"))
    }
}

impl fmt::Display for SeriesState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One CT series as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesInfo {
    /// Database id.
    pub id: i64,
    /// StudyInstanceUID.
    pub study_uid: String,
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// PatientID.
    pub patient_id: String,
    /// StudyDate as `YYYYMMDD`, when present.
    pub study_date: Option<String>,
    /// SeriesDescription, when present.
    pub description: Option<String>,
    /// Archived instances.
    pub instances: i64,
    /// Archived bytes.
    pub bytes: i64,
    /// Intake state.
    pub state: SeriesState,
    /// The quota holding it, when `state` is `held`.
    pub held_quota: Option<QuotaType>,
    /// Why it was rejected or held.
    pub reason: Option<String>,
    /// Whether this is the series the study is measured on.
    pub primary: bool,
    /// Increases each time late instances reopen the series.
    pub revision: i64,
    /// Slice thickness in mm, when present.
    pub slice_thickness_mm: Option<f64>,
    /// The job measuring it, once one exists.
    pub job_id: Option<i64>,
    /// Owner's login name (shown to admins).
    pub username: String,
    /// First seen (ms since the epoch).
    pub created_at_ms: i64,
    /// Last change (ms since the epoch).
    pub updated_at_ms: i64,
}

/// A file set aside by intake, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// Database id.
    pub id: i64,
    /// Owner's login name.
    pub username: String,
    /// Path relative to the quarantine root.
    pub path: String,
    /// Why it was set aside.
    pub reason: String,
    /// Size in bytes.
    pub bytes: i64,
    /// When (ms since the epoch).
    pub at_ms: i64,
}

/// A job's state. Details live in separate fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker is on it; see `stage` and `progress`.
    Running,
    /// L3 was detected; waiting for an operator to confirm or correct it.
    AwaitingReview,
    /// Finished; results exist.
    Done,
    /// Stopped by an error; see `error`. Can be re-run.
    Failed,
    /// A quota refused it; see `held_quota`. Resumes by itself when the quota allows.
    Held,
    /// Cancelled by an operator.
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Running,
        JobState::AwaitingReview,
        JobState::Done,
        JobState::Failed,
        JobState::Held,
        JobState::Cancelled,
    ];

    /// The lowercase name used in the database, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::AwaitingReview => "awaiting_review",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Held => "held",
            JobState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!("unknown job state {s:?} (expected queued, running, awaiting_review, done, failed, held or cancelled)")
            })
    }
}

/// What a job does when a worker next takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStep {
    /// Detect L3 only, then wait for review (charges `api_calls_l3_detect`).
    Detect,
    /// Run everything (charges `api_calls_full_process`).
    Full,
    /// Segment and measure at the reviewed L3 (charges `api_calls_continue`).
    Continue,
    /// Re-measure with an operator's mask (no call charge; the mask is charged as storage).
    Remeasure,
}

impl JobStep {
    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStep::Detect => "detect",
            JobStep::Full => "full",
            JobStep::Continue => "continue",
            JobStep::Remeasure => "remeasure",
        }
    }
}

impl FromStr for JobStep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            JobStep::Detect,
            JobStep::Full,
            JobStep::Continue,
            JobStep::Remeasure,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown job step {s:?}"))
    }
}

/// One job, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Database id.
    pub id: i64,
    /// The series it measures.
    pub series_id: i64,
    /// Plain state.
    pub state: JobState,
    /// What it does next (or is doing).
    pub step: JobStep,
    /// The running pipeline stage (`decode`, `l3`, `segment`, `metrics`, `outputs`).
    pub stage: Option<String>,
    /// Progress of the current run, 0..1.
    pub progress: Option<f64>,
    /// The quota holding it, when `state` is `held`.
    pub held_quota: Option<QuotaType>,
    /// The last error, when `state` is `failed` (or a retry is pending).
    pub error: Option<String>,
    /// Auto or review.
    pub mode: JobMode,
    /// Failed attempts of the current step.
    pub attempts: i64,
    /// PatientID of the series.
    pub patient_id: String,
    /// StudyDate `YYYYMMDD`.
    pub study_date: Option<String>,
    /// SeriesDescription.
    pub series_description: Option<String>,
    /// Confidence of the current L3, when known.
    pub l3_confidence: Option<f64>,
    /// The current L3 mid slice z, mm.
    pub l3_mid_z_mm: Option<f64>,
    /// Latest result version, when any.
    pub version: Option<i64>,
    /// Owner's login name.
    pub username: String,
    /// Created (ms since the epoch).
    pub created_at_ms: i64,
    /// Last change (ms since the epoch).
    pub updated_at_ms: i64,
}

/// Why a result version exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// The pipeline's own run.
    Automatic,
    /// An operator moved L3.
    L3Corrected,
    /// An operator uploaded a mask.
    MaskCorrected,
}

impl ResultKind {
    /// The snake_case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultKind::Automatic => "automatic",
            ResultKind::L3Corrected => "l3_corrected",
            ResultKind::MaskCorrected => "mask_corrected",
        }
    }
}

impl FromStr for ResultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ResultKind::Automatic,
            ResultKind::L3Corrected,
            ResultKind::MaskCorrected,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown result kind {s:?}"))
    }
}

/// One result version's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// 1, 2, 3 …
    pub version: i64,
    /// Why it exists.
    pub kind: ResultKind,
    /// Who made it; `None` for the pipeline itself.
    pub created_by: Option<String>,
    /// A sentence on why (`L3 moved to z=…`, `muscle mask uploaded`).
    pub reason: String,
    /// L3 mid slice z used, mm.
    pub l3_mid_z_mm: Option<f64>,
    /// Bytes of its outputs.
    pub bytes: i64,
    /// When (ms since the epoch).
    pub created_at_ms: i64,
}

/// A full result version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultVersion {
    /// Header.
    pub info: VersionInfo,
    /// The analysis as written to `results.json`.
    pub analysis: Analysis,
}

/// Everything the console needs about one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    /// The job.
    pub job: JobInfo,
    /// Every result version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// The L3 the job will use next: detected, or set by an operator.
    pub l3: Option<L3Finding>,
    /// z of every slice in the series (inferior first), for stepping L3 by one slice.
    pub slice_z_mm: Vec<f64>,
}

/// Which picture to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// Mid-sagittal reformat with L3 and the other levels drawn.
    Sagittal,
    /// Axial mid slice with the psoas overlay.
    OverlayPsoas,
    /// Axial mid slice with all muscle (the "combo" overlay).
    OverlayCombo,
    /// Axial mid slice with every tissue.
    OverlayAll,
    /// A plain axial slice (soft-tissue window) by index, for L3 correction previews.
    Axial {
        /// Slice index, inferior = 0.
        index: u32,
    },
}

/// A PNG and what it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// PNG bytes.
    pub png: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Result version it belongs to; `None` for live images (axial previews, pending review).
    pub version: Option<i64>,
}

/// A tissue an operator can correct with a mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskTissue {
    /// All skeletal muscle.
    Muscle,
    /// Both psoas muscles.
    Psoas,
}

impl MaskTissue {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            MaskTissue::Muscle => "muscle",
            MaskTissue::Psoas => "psoas",
        }
    }
}

impl FromStr for MaskTissue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "muscle" => Ok(MaskTissue::Muscle),
            "psoas" => Ok(MaskTissue::Psoas),
            other => Err(format!(
                "unknown tissue {other:?} (expected muscle or psoas)"
            )),
        }
    }
}

/// One file of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportFile {
    /// A plain file name (no directories).
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// One line of a job's structured log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// Pipeline stage or workflow step.
    pub stage: String,
    /// What happened.
    pub message: String,
}
