//! The measurement result schema: what `results.json`, `idoctord analyze --json` and the
//! results RPCs all carry. One schema, so a script written against one works on the others.

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or disappears (additions do not bump it).
pub const ANALYSIS_SCHEMA_VERSION: u32 = 1;

/// The complete result of one pipeline run on one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// [`ANALYSIS_SCHEMA_VERSION`] at the time of writing.
    pub schema_version: u32,
    /// SeriesInstanceUID of the measured series.
    pub series_uid: String,
    /// StudyInstanceUID of its study.
    pub study_uid: String,
    /// PatientID (0010,0020). The patient's name is never part of a result.
    pub patient_id: String,
    /// Geometry and quality notes of the assembled volume.
    pub volume: VolumeSummary,
    /// Patient attributes that metrics depend on.
    pub patient: PatientInfo,
    /// Where L3 is, or why it was not found.
    pub l3: L3Finding,
    /// Tissue metrics over the L3 range; `None` when not measured, with the reason beside it.
    pub metrics: Option<Metrics>,
    /// Why `metrics` is `None` (L3 not found, review pending).
    pub metrics_missing_reason: Option<String>,
    /// Which method produced each part.
    pub methods: Methods,
    /// How long each stage took, in milliseconds.
    pub timings_ms: Timings,
}

/// Geometry of the assembled volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeSummary {
    /// Number of axial slices.
    pub slices: u32,
    /// Rows per slice.
    pub rows: u32,
    /// Columns per slice.
    pub columns: u32,
    /// Pixel spacing (row, column) in mm.
    pub pixel_spacing_mm: [f64; 2],
    /// Median distance between consecutive slices along the slice normal, in mm.
    pub slice_spacing_mm: f64,
    /// Position of the most inferior slice along the patient z axis (LPS), mm.
    pub z_min_mm: f64,
    /// Position of the most superior slice, mm.
    pub z_max_mm: f64,
    /// Quality findings: duplicate positions, gaps, gantry tilt.
    pub warnings: Vec<String>,
}

/// Patient attributes read from the DICOM header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PatientInfo {
    /// PatientSize (0010,1020) in metres.
    pub height_m: Option<f64>,
    /// PatientSex (0010,0040): `M`, `F` or `O`.
    pub sex: Option<String>,
    /// PatientAge (0010,1010) in years.
    pub age_years: Option<f64>,
}

/// Whether L3 was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum L3Status {
    /// L3 was located.
    Found,
    /// L3 was not located; `reason` says why.
    NotFound,
}

/// One labelled vertebra found on the way to L3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VertebraLevel {
    /// `T12`, `L1` … `L5`, `S1`.
    pub label: String,
    /// Inferior and superior z of the body, mm.
    pub z_range_mm: [f64; 2],
}

/// The L3 localisation result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct L3Finding {
    /// Found or not.
    pub status: L3Status,
    /// z of the chosen mid slice, mm.
    pub mid_z_mm: Option<f64>,
    /// Inferior and superior z of the L3 body, mm.
    pub z_range_mm: Option<[f64; 2]>,
    /// Index (inferior = 0) of the mid slice in the sorted volume.
    pub mid_slice_index: Option<u32>,
    /// SOP Instance UID of the mid slice.
    pub mid_slice_uid: Option<String>,
    /// 0..1; how much to trust the answer.
    pub confidence: f64,
    /// Set when confidence is below the review threshold: check it before using it.
    pub low_confidence: bool,
    /// What produced it: `classical`, `model`, or `operator`.
    pub method: String,
    /// Which anatomical anchors the count used (`S1`, `T12`).
    pub anchors: Vec<String>,
    /// Why L3 was not found, or what lowered confidence.
    pub reason: Option<String>,
    /// Every vertebra labelled on the way.
    pub evidence: Vec<VertebraLevel>,
}

/// Pixel count, area and HU statistics of one tissue on one slice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct TissueStats {
    /// Pixels in the mask.
    pub pixels: u64,
    /// Area in cm².
    pub area_cm2: f64,
    /// Mean HU; `None` for an empty mask.
    pub hu_mean: Option<f64>,
    /// Standard deviation of HU; `None` for an empty mask.
    pub hu_sd: Option<f64>,
    /// Minimum HU; `None` for an empty mask.
    pub hu_min: Option<f64>,
    /// Maximum HU; `None` for an empty mask.
    pub hu_max: Option<f64>,
    /// Sum of HU over the mask.
    pub hu_sum: f64,
}

/// One value per tissue. The same shape serves stats, volumes and masks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct TissueSet<T> {
    /// All skeletal muscle.
    pub muscle: T,
    /// Both psoas muscles.
    pub psoas: T,
    /// Left psoas (patient's left).
    pub psoas_left: T,
    /// Right psoas.
    pub psoas_right: T,
    /// Erector spinae and quadratus lumborum.
    pub paraspinal: T,
    /// Rectus, obliques and transversus.
    pub abdominal_wall: T,
    /// Subcutaneous fat.
    pub sat: T,
    /// Visceral fat.
    pub vat: T,
    /// Intermuscular fat.
    pub imat: T,
}

/// Metrics of one axial slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceMetrics {
    /// Index (inferior = 0) in the sorted volume.
    pub index: u32,
    /// z of the slice, mm.
    pub z_mm: f64,
    /// SOP Instance UID of the slice.
    pub sop_instance_uid: String,
    /// Per-tissue statistics.
    pub tissues: TissueSet<TissueStats>,
}

/// A derived number that may be missing; when it is, `reason` says why. Never 0 for unknown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Derived<T> {
    /// The value, or `None`.
    pub value: Option<T>,
    /// Why the value is missing.
    pub reason: Option<String>,
}

impl<T> Derived<T> {
    /// A present value.
    pub fn known(value: T) -> Self {
        Self {
            value: Some(value),
            reason: None,
        }
    }

    /// A missing value with its reason.
    pub fn missing(reason: impl Into<String>) -> Self {
        Self {
            value: None,
            reason: Some(reason.into()),
        }
    }
}

/// Volume and mass of one tissue over the L3 range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct TissueVolume {
    /// Volume in cm³ (area × slice spacing, summed).
    pub volume_cm3: f64,
    /// Mean HU over the range; `None` when empty.
    pub hu_mean: Option<f64>,
    /// Mass in g = volume × (1 + 0.001 × mean HU).
    pub mass_g: Option<f64>,
}

/// Tissue metrics over the L3 range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The L3 mid slice.
    pub middle: SliceMetrics,
    /// Every slice of the L3 range, inferior first.
    pub slices: Vec<SliceMetrics>,
    /// Volume and mass per tissue over the range.
    pub volumes: TissueSet<TissueVolume>,
    /// Skeletal muscle index: mid-slice muscle area / height², cm²/m².
    pub smi_cm2_m2: Derived<f64>,
    /// Psoas muscle index: mid-slice psoas area / height², cm²/m².
    pub psoas_index_cm2_m2: Derived<f64>,
    /// Sarcopenia by the Prado 2008 cut-offs (men < 52.4, women < 38.5 cm²/m²).
    pub sarcopenic: Derived<bool>,
    /// Where the masks came from: `classical`, `model`, or `operator:<tissue>`.
    pub mask_source: String,
    /// What the classical segmenter adjusted and a reviewer should check on the overlays,
    /// one line per slice and adjustment (a psoas cut back to its fellow's mirror image).
    /// Empty for model and operator masks; absent in results written before it existed.
    #[serde(default)]
    pub segmentation_notes: Vec<String>,
}

/// Which method produced each part of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Methods {
    /// L3 localisation: `classical`, `model:<file>`, or `operator`.
    pub l3: String,
    /// Tissue segmentation: `classical`, `model:<file>`, or `operator:<tissue>`.
    pub tissue: String,
}

/// Stage timings in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Timings {
    /// Reading and decoding the DICOM files.
    pub decode: f64,
    /// Sagittal reconstruction and L3 localisation.
    pub l3: f64,
    /// Tissue segmentation of the L3 range.
    pub segment: f64,
    /// Metrics.
    pub metrics: f64,
    /// Writing outputs (PNG, CSV, JSON).
    pub outputs: f64,
    /// Wall time of the whole run.
    pub total: f64,
}
