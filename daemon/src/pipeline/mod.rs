//! The measurement pipeline: `Volume` → sagittal → L3 → tissues → metrics → outputs.
//!
//! Plain synchronous Rust over `ndarray`; the daemon runs it on a blocking pool. Three
//! entry points match the job flow:
//! - [`detect`]: L3 only (review mode stops here and waits for an operator);
//! - [`measure`]: segment every slice of an L3 range (in parallel) and compute metrics,
//!   with optional operator mask overrides on the mid slice;
//! - [`analyze`] / [`analyze_files`]: everything, with timings, optionally writing the
//!   outputs.
//!
//! [`analysis_of`] and [`write_results`] let the jobs layer finish a reviewed job the
//! same way: detect → (operator) → measure → assemble → write.

pub mod l3;
pub mod labels;
pub mod metrics;
pub mod model;
pub(crate) mod morphology;
pub mod outputs;
pub mod render;
pub mod sagittal;
pub mod tissue;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use idoctor_protocol::{
    ANALYSIS_SCHEMA_VERSION, Analysis, L3Finding, L3Status, Methods, Metrics, Timings,
    VolumeSummary,
};
use ndarray::Array2;
use rayon::prelude::*;

use crate::dicom::{DicomError, Volume};
use labels::HuWindows;
use metrics::{MaskOverride, MetricsError, SliceLabels};
use model::{L3Model, ModelError, TissueModel};
use outputs::{MidSlice, OutputError, OutputFile};
use sagittal::Sagittal;

/// A stage of the pipeline, as reported to progress callbacks and job rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Reading and decoding DICOM.
    Decode,
    /// Sagittal reformat and L3 localisation.
    L3,
    /// Tissue segmentation of the L3 range.
    Segment,
    /// Metrics.
    Metrics,
    /// Writing outputs.
    Outputs,
}

impl Stage {
    /// Lower-case name (`decode`, `l3`, `segment`, `metrics`, `outputs`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::L3 => "l3",
            Stage::Segment => "segment",
            Stage::Metrics => "metrics",
            Stage::Outputs => "outputs",
        }
    }
}

/// Progress callback: the stage and its completed fraction in 0..=1. Called from worker
/// threads during segmentation, hence `Sync`.
pub type Progress<'a> = &'a (dyn Fn(Stage, f64) + Sync);

/// A progress callback that ignores everything.
pub fn no_progress(_: Stage, _: f64) {}

/// Optional ONNX models; `None` runs the classical method of that slot.
#[derive(Debug, Clone, Default)]
pub struct Models {
    /// Tissue segmentation model.
    pub tissue: Option<Arc<TissueModel>>,
    /// L3 localisation model.
    pub l3: Option<Arc<L3Model>>,
}

impl Models {
    /// Loads the configured model files (either may be absent).
    pub fn load(tissue: Option<&Path>, l3: Option<&Path>) -> Result<Self, ModelError> {
        Ok(Self {
            tissue: tissue.map(TissueModel::load).transpose()?.map(Arc::new),
            l3: l3.map(L3Model::load).transpose()?.map(Arc::new),
        })
    }
}

/// What the pipeline may be tuned with.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// HU windows of the tissues (Alberta by default).
    pub windows: HuWindows,
    /// Classical L3 localiser tunables.
    pub l3: l3::L3Params,
    /// Optional models.
    pub models: Models,
    /// L3 findings with a confidence below this are flagged `low_confidence` for review.
    pub review_threshold: f64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        let l3 = l3::L3Params::default();
        Self {
            windows: HuWindows::default(),
            review_threshold: l3.low_confidence_below,
            l3,
            models: Models::default(),
        }
    }
}

/// Why a pipeline run failed (as opposed to L3 being not found, which is a result).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The series could not be read.
    #[error(transparent)]
    Dicom(#[from] DicomError),
    /// Measuring needs an L3 that was found.
    #[error("cannot measure: {0}")]
    NoL3(String),
    /// Metrics failed (bad override mask, inconsistent labels).
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Writing outputs failed.
    #[error(transparent)]
    Outputs(#[from] OutputError),
    /// A configured model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// An L3 localisation with its sagittal reformat.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Where L3 is, or why it was not found.
    pub finding: L3Finding,
    /// The mid-sagittal through the spine, for review and the sagittal PNG.
    pub sagittal: Sagittal,
}

/// Locates L3 and reformats the mid-sagittal through the spine: with the L3 model when
/// one is configured, else the classical localiser. A model that fails falls back to
/// the classical localiser, and the finding's reason says so. Never panics;
/// `not_found` carries the reason.
pub fn detect(vol: &Volume, opts: &PipelineOptions) -> Detection {
    let mut params = opts.l3;
    params.low_confidence_below = opts.review_threshold;
    let (mut finding, sagittal) = match &opts.models.l3 {
        Some(model) => {
            let column = l3::find_column(vol);
            let sagittal = sagittal::mid_sagittal_through(vol, column.as_ref());
            match model.locate(vol, &sagittal) {
                Ok(f) => (f, sagittal),
                Err(e) => {
                    let mut f = l3::locate_l3(vol, &params);
                    let note = format!("L3 model failed ({e}); the classical localiser was used");
                    f.reason = Some(match f.reason {
                        Some(r) => format!("{note}; {r}"),
                        None => note,
                    });
                    (f, sagittal)
                }
            }
        }
        None => {
            let d = l3::detect(vol, &params);
            let sagittal = sagittal::mid_sagittal_through(vol, d.column.as_ref());
            (d.finding, sagittal)
        }
    };
    finding.low_confidence =
        finding.status == L3Status::Found && finding.confidence < opts.review_threshold;
    Detection { finding, sagittal }
}

/// The result of measuring one L3 range.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Final label maps of the measured slices (overrides applied), inferior first.
    pub slices: Vec<SliceLabels>,
    /// Metrics.
    pub metrics: Metrics,
    /// Which method produced the masks (`classical`, `operator:<tissue>`).
    pub tissue_method: String,
    /// Segmentation time, ms.
    pub segment_ms: f64,
    /// Metrics time, ms.
    pub metrics_ms: f64,
}

impl Measurement {
    /// The mid slice's final label map.
    pub fn mid_labels(&self) -> Option<&Array2<u8>> {
        let mid = self.metrics.middle.index as usize;
        self.slices
            .iter()
            .find(|s| s.index == mid)
            .map(|s| &s.labels)
    }
}

/// Slice indices of the L3 range (z within the range), always including the mid slice.
pub fn range_slices(vol: &Volume, finding: &L3Finding) -> Result<Vec<usize>, PipelineError> {
    if finding.status != L3Status::Found {
        return Err(PipelineError::NoL3(
            finding
                .reason
                .clone()
                .unwrap_or_else(|| "L3 not found".into()),
        ));
    }
    let mid = finding
        .mid_slice_index
        .map(|m| m as usize)
        .filter(|&m| m < vol.slices())
        .ok_or_else(|| PipelineError::NoL3("L3 finding has no mid slice in the volume".into()))?;
    let mut ks: Vec<usize> = match finding.z_range_mm {
        Some([lo, hi]) => (0..vol.slices())
            .filter(|&k| vol.z_mm[k] >= lo.min(hi) - 1e-6 && vol.z_mm[k] <= lo.max(hi) + 1e-6)
            .collect(),
        None => Vec::new(),
    };
    if !ks.contains(&mid) {
        ks.push(mid);
        ks.sort_unstable();
    }
    Ok(ks)
}

/// Segments every slice of `finding`'s L3 range in parallel, applies the operator's
/// mask overrides to the mid slice and computes the metrics.
pub fn measure(
    vol: &Volume,
    finding: &L3Finding,
    overrides: &[MaskOverride],
    opts: &PipelineOptions,
    progress: Progress<'_>,
) -> Result<Measurement, PipelineError> {
    let ks = range_slices(vol, finding)?;
    let t = Instant::now();
    progress(Stage::Segment, 0.0);
    let done = AtomicUsize::new(0);
    let total = ks.len() as f64;
    let windows = opts.windows;
    let model = opts.models.tissue.as_deref();
    // The operator's masks replace the mid slice's: its notes no longer apply.
    let replaced = finding
        .mid_slice_index
        .filter(|_| !overrides.is_empty())
        .map(|m| m as usize);
    let (mut slices, notes): (Vec<SliceLabels>, Vec<Vec<String>>) = ks
        .par_iter()
        .map(|&k| {
            let (labels, notes) = match model {
                Some(m) => (m.segment(vol.slice(k))?, Vec::new()),
                None => tissue::segment_slice_noted(vol.slice(k), vol.pixel_spacing, &windows),
            };
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(Stage::Segment, n as f64 / total);
            // Each note names its slice by index and z, as the CSV rows do.
            let z = vol.z_mm.get(k).copied().unwrap_or(f64::NAN);
            let notes = notes
                .into_iter()
                .filter(|_| replaced != Some(k))
                .map(|n| format!("slice {k} (z {z:.1} mm): {n}"))
                .collect();
            Ok((SliceLabels { index: k, labels }, notes))
        })
        .collect::<Result<Vec<_>, ModelError>>()?
        .into_iter()
        .unzip();
    let segment_ms = ms(t);
    let method = model.map_or_else(|| "classical".to_string(), TissueModel::method);
    measure_labels(vol, finding, &mut slices, overrides, &method, progress).map(
        |(mut metrics, tissue_method, metrics_ms)| {
            metrics.segmentation_notes = notes.into_iter().flatten().collect();
            Measurement {
                slices,
                metrics,
                tissue_method,
                segment_ms,
                metrics_ms,
            }
        },
    )
}

/// Applies overrides to the mid slice's labels and computes the metrics; returns them
/// with the mask source and the metrics time.
fn measure_labels(
    vol: &Volume,
    finding: &L3Finding,
    slices: &mut [SliceLabels],
    overrides: &[MaskOverride],
    method: &str,
    progress: Progress<'_>,
) -> Result<(Metrics, String, f64), PipelineError> {
    let t = Instant::now();
    progress(Stage::Metrics, 0.0);
    let mid = finding.mid_slice_index.map(|m| m as usize);
    let mut source = method.to_string();
    if !overrides.is_empty() {
        let slice = slices
            .iter_mut()
            .find(|s| Some(s.index) == mid)
            .ok_or_else(|| PipelineError::NoL3("mid slice not segmented".into()))?;
        for ov in overrides {
            metrics::apply_override(&mut slice.labels, ov)?;
        }
        let names: Vec<&str> = overrides.iter().map(|o| o.tissue.name()).collect();
        source = format!("operator:{}", names.join("+"));
    }
    let patient = metrics::patient_info(&vol.meta);
    let m = metrics::compute(vol, slices, finding, &patient, &source)?;
    progress(Stage::Metrics, 1.0);
    Ok((m, source, ms(t)))
}

/// Measures with label maps that are already known (the phantom's truth, a stored
/// segmentation being re-measured after an override): no segmentation runs.
pub fn measure_with_labels(
    vol: &Volume,
    finding: &L3Finding,
    mut slices: Vec<SliceLabels>,
    overrides: &[MaskOverride],
    method: &str,
) -> Result<Measurement, PipelineError> {
    slices.sort_by_key(|s| s.index);
    let (metrics, tissue_method, metrics_ms) =
        measure_labels(vol, finding, &mut slices, overrides, method, &no_progress)?;
    Ok(Measurement {
        slices,
        metrics,
        tissue_method,
        segment_ms: 0.0,
        metrics_ms,
    })
}

/// Geometry summary of a volume.
pub fn volume_summary(vol: &Volume) -> VolumeSummary {
    VolumeSummary {
        slices: vol.slices() as u32,
        rows: vol.rows() as u32,
        columns: vol.cols() as u32,
        pixel_spacing_mm: vol.pixel_spacing,
        slice_spacing_mm: vol.slice_spacing,
        z_min_mm: vol.z_mm.first().copied().unwrap_or(0.0),
        z_max_mm: vol.z_mm.last().copied().unwrap_or(0.0),
        warnings: vol.warnings.clone(),
    }
}

/// Assembles the result of a run. Without a measurement, `metrics` is `None` and the
/// reason is the L3 reason (or `missing_reason` when given, e.g. review pending).
///
/// `Methods.l3` is the finding's method, with the model's file name for `model`.
pub fn analysis_of(
    vol: &Volume,
    finding: &L3Finding,
    measurement: Option<&Measurement>,
    missing_reason: Option<&str>,
    timings: Timings,
    opts: &PipelineOptions,
) -> Analysis {
    let l3_method = match (finding.method.as_str(), &opts.models.l3) {
        ("model", Some(m)) => m.method(),
        (other, _) => other.to_string(),
    };
    let metrics_missing_reason = match measurement {
        Some(_) => None,
        None => Some(
            missing_reason
                .map(str::to_string)
                .or_else(|| finding.reason.clone().map(|r| format!("L3 not found: {r}")))
                .unwrap_or_else(|| "not measured".into()),
        ),
    };
    Analysis {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        series_uid: vol.meta.series_uid.clone(),
        study_uid: vol.meta.study_uid.clone(),
        patient_id: vol.meta.patient_id.clone(),
        volume: volume_summary(vol),
        patient: metrics::patient_info(&vol.meta),
        l3: finding.clone(),
        metrics: measurement.map(|m| m.metrics.clone()),
        metrics_missing_reason,
        methods: Methods {
            l3: l3_method,
            tissue: measurement.map_or_else(|| "none".into(), |m| m.tissue_method.clone()),
        },
        timings_ms: timings,
    }
}

/// Writes the outputs of an analysis (see [`outputs::write_outputs`]).
pub fn write_results(
    dir: &Path,
    vol: &Volume,
    analysis: &Analysis,
    measurement: Option<&Measurement>,
    sagittal: Option<&Sagittal>,
) -> Result<Vec<OutputFile>, PipelineError> {
    let mid = mid_slice(vol, measurement);
    Ok(outputs::write_outputs(dir, analysis, mid, sagittal)?)
}

/// The mid slice's HU and final labels of a measurement, for the overlays.
fn mid_slice<'a>(vol: &'a Volume, measurement: Option<&'a Measurement>) -> Option<MidSlice<'a>> {
    measurement.and_then(|m| {
        let k = m.metrics.middle.index as usize;
        m.mid_labels().map(|l| MidSlice {
            hu: vol.slice(k),
            labels: l.view(),
        })
    })
}

/// A complete run: the analysis and the files written (empty without an output dir).
#[derive(Debug, Clone)]
pub struct Run {
    /// The result.
    pub analysis: Analysis,
    /// Output files with their sizes.
    pub files: Vec<OutputFile>,
}

/// Runs everything on a decoded volume. L3 not found is a result (metrics `None`, with
/// the reason), not an error.
pub fn analyze(
    vol: &Volume,
    opts: &PipelineOptions,
    out_dir: Option<&Path>,
    progress: Progress<'_>,
) -> Result<Run, PipelineError> {
    run(vol, opts, out_dir, progress, 0.0, Instant::now())
}

/// Reads the series from `files`, then [`analyze`]s it, timing the decode too.
pub fn analyze_files(
    files: &[PathBuf],
    opts: &PipelineOptions,
    out_dir: Option<&Path>,
    progress: Progress<'_>,
) -> Result<Run, PipelineError> {
    let start = Instant::now();
    progress(Stage::Decode, 0.0);
    let vol = crate::dicom::load_series(files)?;
    progress(Stage::Decode, 1.0);
    let decode = ms(start);
    run(&vol, opts, out_dir, progress, decode, start)
}

fn run(
    vol: &Volume,
    opts: &PipelineOptions,
    out_dir: Option<&Path>,
    progress: Progress<'_>,
    decode_ms: f64,
    start: Instant,
) -> Result<Run, PipelineError> {
    let t = Instant::now();
    progress(Stage::L3, 0.0);
    let det = detect(vol, opts);
    progress(Stage::L3, 1.0);
    let l3_ms = ms(t);
    let measurement = if det.finding.status == L3Status::Found {
        Some(measure(vol, &det.finding, &[], opts, progress)?)
    } else {
        None
    };
    let mut timings = Timings {
        decode: decode_ms,
        l3: l3_ms,
        segment: measurement.as_ref().map_or(0.0, |m| m.segment_ms),
        metrics: measurement.as_ref().map_or(0.0, |m| m.metrics_ms),
        outputs: 0.0,
        total: 0.0,
    };
    let mut files = Vec::new();
    if let Some(dir) = out_dir {
        let t = Instant::now();
        progress(Stage::Outputs, 0.0);
        // Pictures and CSVs first; results.json last, carrying the final timings.
        let draft = analysis_of(vol, &det.finding, measurement.as_ref(), None, timings, opts);
        let mid = mid_slice(vol, measurement.as_ref());
        files = outputs::write_artifacts(dir, &draft, mid, Some(&det.sagittal))?;
        timings.outputs = ms(t);
        timings.total = ms(start);
        let analysis = analysis_of(vol, &det.finding, measurement.as_ref(), None, timings, opts);
        files.push(outputs::write_results_json(dir, &analysis)?);
        progress(Stage::Outputs, 1.0);
        return Ok(Run { analysis, files });
    }
    timings.total = ms(start);
    let analysis = analysis_of(vol, &det.finding, measurement.as_ref(), None, timings, opts);
    Ok(Run { analysis, files })
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomOptions, generate};
    use metrics::OverrideTissue;

    fn truth_slices(p: &crate::phantom::Phantom, ks: &[usize]) -> Vec<SliceLabels> {
        ks.iter()
            .map(|&k| SliceLabels {
                index: k,
                labels: p.labels_of(k).to_owned(),
            })
            .collect()
    }

    #[test]
    fn range_covers_the_truth_l3_slices() {
        let p = generate(&PhantomOptions::new(4, 120, 96));
        let f = p.truth_finding();
        let ks = range_slices(&p.volume, &f).unwrap();
        let [a, b] = p.truth.l3.slice_range.unwrap();
        assert_eq!(ks, (a..=b).collect::<Vec<_>>());
        let mut nf = f.clone();
        nf.status = L3Status::NotFound;
        assert!(matches!(
            range_slices(&p.volume, &nf),
            Err(PipelineError::NoL3(_))
        ));
    }

    #[test]
    fn truth_labels_reproduce_truth_areas() {
        let p = generate(&PhantomOptions::new(8, 100, 128));
        let f = p.truth_finding();
        let ks = range_slices(&p.volume, &f).unwrap();
        let m = measure_with_labels(&p.volume, &f, truth_slices(&p, &ks), &[], "truth").unwrap();
        for s in &m.metrics.slices {
            let t = &p.truth.slices[s.index as usize].areas_cm2;
            assert!((s.tissues.muscle.area_cm2 - t.muscle).abs() < 1e-9);
            assert!((s.tissues.vat.area_cm2 - t.vat).abs() < 1e-9);
            assert!((s.tissues.psoas_left.area_cm2 - t.psoas_left).abs() < 1e-9);
        }
        let h = p.volume.meta.height_m.unwrap();
        let smi = m.metrics.smi_cm2_m2.value.unwrap();
        let mid = &p.truth.slices[p.truth.l3.mid_slice_index].areas_cm2;
        assert!((smi - mid.muscle / (h * h)).abs() < 1e-9);
        assert!(m.metrics.sarcopenic.value.is_some());
        assert_eq!(m.tissue_method, "truth");
    }

    #[test]
    fn muscle_mask_override_area_is_exact() {
        let p = generate(&PhantomOptions::new(9, 100, 128));
        let f = p.truth_finding();
        let ks = range_slices(&p.volume, &f).unwrap();
        let k = p.truth.l3.mid_slice_index;
        // An operator's mask: a disc that has nothing to do with HU.
        let (h, w) = (p.volume.rows(), p.volume.cols());
        let mask = Array2::from_shape_fn((h, w), |(i, j)| {
            let (di, dj) = (i as f64 - h as f64 / 2.0, j as f64 - w as f64 / 3.0);
            di * di + dj * dj < 400.0
        });
        let n = mask.iter().filter(|&&b| b).count();
        let ov = MaskOverride {
            tissue: OverrideTissue::Muscle,
            mask: mask.clone(),
        };
        let m = measure_with_labels(&p.volume, &f, truth_slices(&p, &ks), &[ov], "truth").unwrap();
        let mid = &m.metrics.middle.tissues.muscle;
        assert_eq!(mid.pixels, n as u64);
        assert_eq!(mid.area_cm2, n as f64 * p.volume.pixel_area_cm2());
        let hu_sum: f64 = p
            .volume
            .slice(k)
            .iter()
            .zip(mask.iter())
            .filter(|(_, m)| **m)
            .map(|(h, _)| f64::from(*h))
            .sum();
        assert_eq!(mid.hu_sum, hu_sum);
        assert_eq!(m.metrics.mask_source, "operator:muscle");
        // Other slices are untouched.
        let other = m
            .metrics
            .slices
            .iter()
            .find(|s| s.index as usize != k)
            .unwrap();
        let t = &p.truth.slices[other.index as usize].areas_cm2;
        assert!((other.tissues.muscle.area_cm2 - t.muscle).abs() < 1e-9);
        // A psoas mask adds to muscle and splits at the midline.
        let psoas = MaskOverride {
            tissue: OverrideTissue::Psoas,
            mask,
        };
        let m =
            measure_with_labels(&p.volume, &f, truth_slices(&p, &ks), &[psoas], "truth").unwrap();
        let t = &m.metrics.middle.tissues;
        assert_eq!(t.psoas.pixels, n as u64);
        assert_eq!(t.psoas.area_cm2, n as f64 * p.volume.pixel_area_cm2());
        assert!(
            t.psoas_right.pixels > t.psoas_left.pixels,
            "mask lies on the image left"
        );
    }

    #[test]
    fn analyze_runs_end_to_end_and_reports_stages() {
        let p = generate(&PhantomOptions::new(13, 150, 160));
        let seen = std::sync::Mutex::new(Vec::new());
        let progress = |s: Stage, f: f64| seen.lock().unwrap().push((s, f));
        let dir = tempfile::tempdir().unwrap();
        let run = analyze(
            &p.volume,
            &PipelineOptions::default(),
            Some(dir.path()),
            &progress,
        )
        .unwrap();
        let a = &run.analysis;
        assert_eq!(a.series_uid, p.volume.meta.series_uid);
        assert!(a.timings_ms.total >= a.timings_ms.l3);
        let stages: Vec<Stage> = seen.lock().unwrap().iter().map(|(s, _)| *s).collect();
        assert!(stages.contains(&Stage::L3) && stages.contains(&Stage::Outputs));
        match a.l3.status {
            L3Status::Found => {
                let m = a.metrics.as_ref().unwrap();
                assert!(m.middle.tissues.muscle.pixels > 0);
                assert_eq!(a.methods.tissue, "classical");
                assert!(stages.contains(&Stage::Segment));
                assert_eq!(run.files.len(), outputs::ALL_OUTPUTS.len());
            }
            L3Status::NotFound => {
                assert!(a.metrics.is_none());
                assert!(a.metrics_missing_reason.is_some());
                assert_eq!(run.files.len(), 2);
            }
        }
        let json: Analysis =
            serde_json::from_slice(&std::fs::read(dir.path().join(outputs::RESULTS_JSON)).unwrap())
                .unwrap();
        // JSON keeps the value to within serde_json's float parsing (one ulp).
        let (read, kept) = (json.timings_ms.outputs, a.timings_ms.outputs);
        assert!(
            (read - kept).abs() <= 1e-9 * kept.abs().max(1.0),
            "{read} vs {kept}"
        );
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use crate::phantom::{PhantomOptions, generate};

    #[test]
    fn configured_models_replace_the_classical_methods_and_are_recorded() {
        let p = generate(&PhantomOptions::new(6, 90, 128));
        let w = HuWindows::default();
        let tissue = model::TissueModel::from_bytes(
            "muscle_window.onnx",
            &model::testmodels::window_tissue_model(w.muscle, labels::ABDOMINAL_WALL),
        )
        .unwrap();
        let l3m = model::L3Model::from_bytes(
            "bone_rows.onnx",
            &model::testmodels::bright_rows_l3_model(200.0, true),
        )
        .unwrap();
        let opts = PipelineOptions {
            models: Models {
                tissue: Some(Arc::new(tissue)),
                l3: Some(Arc::new(l3m)),
            },
            ..Default::default()
        };
        // The tissue model is applied verbatim on every slice of the truth range.
        let f = p.truth_finding();
        let m = measure(&p.volume, &f, &[], &opts, &no_progress).unwrap();
        assert_eq!(m.tissue_method, "model:muscle_window.onnx");
        assert_eq!(m.metrics.mask_source, "model:muscle_window.onnx");
        for s in &m.slices {
            let want = p.volume.slice(s.index).mapv(|h| w.muscle.contains(h));
            assert_eq!(s.labels.mapv(labels::is_muscle), want);
        }
        // The L3 model runs instead of the classical localiser and is named in Methods.
        let run = analyze(&p.volume, &opts, None, &no_progress).unwrap();
        assert_eq!(run.analysis.l3.method, "model");
        assert_eq!(run.analysis.methods.l3, "model:bone_rows.onnx");
        if run.analysis.metrics.is_some() {
            assert_eq!(run.analysis.methods.tissue, "model:muscle_window.onnx");
        }
        // Without models: classical.
        let plain = analyze(&p.volume, &PipelineOptions::default(), None, &no_progress).unwrap();
        assert_eq!(plain.analysis.methods.l3, "classical");
    }
}
