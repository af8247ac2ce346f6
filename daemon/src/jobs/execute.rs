//! Running one job step through the pipeline: read the archived series, detect and/or
//! measure, write the outputs of the new version, and (when the user has an outbox)
//! the DICOM Secondary Capture and SEG for the PACS.
//!
//! Everything here runs on the blocking pool. Outputs are written to `v<N>.partial` and
//! renamed to `v<N>` when complete, so a crash never leaves a half-written version that
//! looks finished; a re-run after a crash simply writes the same version again.

use super::views::Geometry;
use crate::dicom::{
    self, InstanceHeader, LabelSlice, LoadOptions, OutputSeries, RgbImage, SourceSeries, Volume,
};
use crate::pipeline::metrics::{MaskOverride, OverrideTissue};
use crate::pipeline::outputs::{OVERLAY_ALL_PNG, OutputFile};
use crate::pipeline::{self, Detection, Measurement, PipelineOptions, Stage};
use crate::store::jobs::JobRow;
use idoctor_protocol::{Analysis, JobStep, L3Finding, L3Status, Timings};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The input cannot be processed as it is (unreadable series, no L3 to continue
    /// from, malformed mask): retrying will not help.
    #[error("{0}")]
    Permanent(String),
    /// Something that may work next time (I/O, a crash): retried with backoff.
    #[error("{0}")]
    Transient(String),
}

/// What a run needs, owned, so it can move to the blocking pool.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// The step.
    pub step: JobStep,
    /// Archived files of the series.
    pub files: Vec<PathBuf>,
    /// The L3 to measure at (continue, re-measure).
    pub l3: Option<L3Finding>,
    /// The operator mask (absolute path, tissue).
    pub mask: Option<(PathBuf, OverrideTissue)>,
    /// Final folder of the new version (`…/v<N>`).
    pub out_dir: PathBuf,
    /// The user's outbox, when DICOM outputs are wanted.
    pub outbox: Option<PathBuf>,
    /// Pipeline options.
    pub opts: PipelineOptions,
}

/// A finished run's products.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The analysis written to `results.json`.
    pub analysis: Analysis,
    /// Output files (in `out_dir`).
    pub files: Vec<OutputFile>,
    /// The L3 to keep for later measurements (`None`: unchanged).
    pub l3: Option<L3Finding>,
    /// The detected L3 (detecting steps only).
    pub detected: Option<L3Finding>,
    /// Slice geometry.
    pub geometry: Geometry,
    /// Whether metrics were measured.
    pub measured: bool,
    /// Notes for the job log (outbox written or skipped, L3 not found…).
    pub notes: Vec<String>,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Where a stage's progress falls in the whole run, 0..1.
pub fn overall(stage: Stage, fraction: f64) -> f64 {
    let (start, span) = match stage {
        Stage::Decode => (0.0, 0.2),
        Stage::L3 => (0.2, 0.15),
        Stage::Segment => (0.35, 0.45),
        Stage::Metrics => (0.8, 0.1),
        Stage::Outputs => (0.9, 0.1),
    };
    start + span * fraction.clamp(0.0, 1.0)
}

/// Loads an operator mask PNG (non-zero = inside) of exactly `rows × cols`.
pub fn load_mask(path: &Path, rows: usize, cols: usize) -> Result<ndarray::Array2<bool>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the mask: {e}"))?;
    decode_mask(&bytes, rows, cols)
}

/// Decodes mask PNG bytes (non-zero = inside) of exactly `rows × cols`.
pub fn decode_mask(
    bytes: &[u8],
    rows: usize,
    cols: usize,
) -> Result<ndarray::Array2<bool>, String> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .map_err(|e| format!("the mask is not a readable PNG: {e}"))?
        .into_luma8();
    let (w, h) = img.dimensions();
    if (h as usize, w as usize) != (rows, cols) {
        return Err(format!(
            "the mask is {w}×{h} pixels but the slice is {cols}×{rows}; draw it on the slice's own grid"
        ));
    }
    let mask = ndarray::Array2::from_shape_fn((rows, cols), |(y, x)| {
        img.get_pixel(x as u32, y as u32).0[0] > 0
    });
    if !mask.iter().any(|&v| v) {
        return Err("the mask is empty (no non-zero pixel)".into());
    }
    Ok(mask)
}

fn load(files: &[PathBuf]) -> Result<(Volume, Vec<InstanceHeader>), RunError> {
    let instances = dicom::read_headers(files)
        .map_err(|e| RunError::Permanent(format!("cannot read the archived series: {e}")))?;
    let vol = dicom::assemble(&instances, &LoadOptions::default())
        .map_err(|e| RunError::Permanent(format!("cannot assemble the archived series: {e}")))?;
    Ok((vol, instances.into_iter().map(|i| i.header).collect()))
}

fn geometry(vol: &Volume) -> Geometry {
    Geometry {
        z_mm: vol.z_mm.clone(),
        sop_uids: vol.sop_uids.clone(),
        rows: vol.rows() as u32,
        cols: vol.cols() as u32,
    }
}

/// Runs a step synchronously (call from the blocking pool).
pub fn execute(input: &RunInput, progress: pipeline::Progress<'_>) -> Result<Executed, RunError> {
    let start = Instant::now();
    progress(Stage::Decode, 0.0);
    let (vol, headers) = load(&input.files)?;
    progress(Stage::Decode, 1.0);
    let decode = ms(start);
    let opts = &input.opts;
    let mut notes = Vec::new();
    let t = Instant::now();
    progress(Stage::L3, 0.0);
    // Detecting steps locate L3; measuring steps use the stored L3 and only need the
    // sagittal reformat for the picture.
    let (finding, detection, sagittal) = match input.step {
        JobStep::Detect | JobStep::Full => {
            let Detection { finding, sagittal } = pipeline::detect(&vol, opts);
            (finding.clone(), Some(finding), sagittal)
        }
        JobStep::Continue | JobStep::Remeasure => {
            let l3 = input
                .l3
                .clone()
                .filter(|f| f.status == L3Status::Found)
                .ok_or_else(|| {
                    RunError::Permanent("there is no L3 to measure at; set L3 first".into())
                })?;
            (l3, None, pipeline::sagittal::mid_sagittal(&vol))
        }
    };
    progress(Stage::L3, 1.0);
    let l3_ms = ms(t);
    let measure = input.step != JobStep::Detect && finding.status == L3Status::Found;
    let measurement: Option<Measurement> = if measure {
        let overrides = match &input.mask {
            Some((path, tissue)) => vec![MaskOverride {
                tissue: *tissue,
                mask: load_mask(path, vol.rows(), vol.cols()).map_err(RunError::Permanent)?,
            }],
            None => Vec::new(),
        };
        Some(
            pipeline::measure(&vol, &finding, &overrides, opts, progress).map_err(|e| match e {
                pipeline::PipelineError::Metrics(m) => RunError::Permanent(m.to_string()),
                pipeline::PipelineError::NoL3(m) => RunError::Permanent(m),
                other => RunError::Transient(other.to_string()),
            })?,
        )
    } else {
        None
    };
    if input.step == JobStep::Full && finding.status != L3Status::Found {
        notes.push(format!(
            "L3 not found ({}); set L3 and continue to measure",
            finding.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    let missing = match input.step {
        JobStep::Detect => Some("awaiting L3 review: confirm or correct L3, then continue"),
        _ => None,
    };
    let t = Instant::now();
    progress(Stage::Outputs, 0.0);
    let mut timings = Timings {
        decode,
        l3: l3_ms,
        segment: measurement.as_ref().map_or(0.0, |m| m.segment_ms),
        metrics: measurement.as_ref().map_or(0.0, |m| m.metrics_ms),
        ..Default::default()
    };
    let mut analysis =
        pipeline::analysis_of(&vol, &finding, measurement.as_ref(), missing, timings, opts);
    let partial = input.out_dir.with_extension("partial");
    let write = |analysis: &Analysis| -> Result<Vec<OutputFile>, RunError> {
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial)
            .map_err(|e| RunError::Transient(format!("cannot create the output folder: {e}")))?;
        pipeline::write_results(
            &partial,
            &vol,
            analysis,
            measurement.as_ref(),
            Some(&sagittal),
        )
        .map_err(|e| RunError::Transient(e.to_string()))
    };
    timings.outputs = ms(t);
    timings.total = ms(start);
    analysis.timings_ms = timings;
    let files = write(&analysis)?;
    if input.out_dir.exists() {
        // A run that crashed after renaming, before recording: this run replaces it.
        std::fs::remove_dir_all(&input.out_dir)
            .map_err(|e| RunError::Transient(format!("cannot replace stale outputs: {e}")))?;
    }
    std::fs::rename(&partial, &input.out_dir)
        .map_err(|e| RunError::Transient(format!("cannot publish the outputs: {e}")))?;
    let files = files
        .into_iter()
        .map(|f| OutputFile {
            path: input.out_dir.join(f.name),
            ..f
        })
        .collect();
    progress(Stage::Outputs, 1.0);
    if let (Some(outbox), Some(m)) = (&input.outbox, &measurement) {
        notes.push(
            match write_outbox(outbox, &vol, &headers, m, &input.out_dir) {
                Ok(n) => format!("{n} DICOM object(s) written to the outbox"),
                Err(e) => format!("outbox skipped: {e}"),
            },
        );
    }
    Ok(Executed {
        analysis,
        files,
        l3: detection.clone(),
        detected: detection,
        geometry: geometry(&vol),
        measured: measurement.is_some(),
        notes,
    })
}

/// Writes a Secondary Capture of the all-tissue overlay and a SEG of the measured
/// slices into the outbox, filed under the source study. Returns how many objects.
fn write_outbox(
    outbox: &Path,
    vol: &Volume,
    headers: &[InstanceHeader],
    m: &Measurement,
    out_dir: &Path,
) -> Result<usize, String> {
    std::fs::create_dir_all(outbox).map_err(|e| e.to_string())?;
    let source = SourceSeries::from_volume(vol, headers).map_err(|e| e.to_string())?;
    let overlay = image::open(out_dir.join(OVERLAY_ALL_PNG))
        .map_err(|e| e.to_string())?
        .into_rgb8();
    let mid = m.metrics.middle.index as usize;
    let sc = dicom::secondary_capture(
        &source,
        RgbImage {
            width: overlay.width(),
            height: overlay.height(),
            pixels: overlay.as_raw(),
        },
        &[mid],
        &OutputSeries {
            number: 9901,
            description: "iDoctor L3 body composition overlay".into(),
        },
    )
    .map_err(|e| e.to_string())?;
    dicom::write_atomically(&sc, outbox).map_err(|e| e.to_string())?;
    let slices: Vec<LabelSlice<'_>> = m
        .slices
        .iter()
        .map(|s| LabelSlice {
            slice: s.index,
            labels: s.labels.view(),
        })
        .collect();
    let seg = dicom::segmentation(
        &source,
        &slices,
        &OutputSeries {
            number: 9902,
            description: "iDoctor L3 tissue segmentation".into(),
        },
    )
    .map_err(|e| e.to_string())?;
    dicom::write_atomically(&seg, outbox).map_err(|e| e.to_string())?;
    Ok(2)
}

/// The run input of a claimed job.
pub fn input_for(
    job: &JobRow,
    data_dir: &Path,
    files: Vec<PathBuf>,
    out_dir: PathBuf,
    outbox: Option<PathBuf>,
    opts: PipelineOptions,
) -> Result<RunInput, RunError> {
    let step: JobStep = job
        .step
        .parse()
        .map_err(|e: String| RunError::Permanent(format!("corrupt job: {e}")))?;
    let mask = match (&job.mask_path, &job.mask_tissue, step) {
        (Some(p), Some(t), JobStep::Remeasure) => {
            let tissue = match t.as_str() {
                "muscle" => OverrideTissue::Muscle,
                "psoas" => OverrideTissue::Psoas,
                other => {
                    return Err(RunError::Permanent(format!(
                        "unknown mask tissue {other:?}"
                    )));
                }
            };
            Some((data_dir.join(p), tissue))
        }
        (_, _, JobStep::Remeasure) => {
            return Err(RunError::Permanent(
                "re-measure without an uploaded mask".into(),
            ));
        }
        _ => None,
    };
    if files.is_empty() {
        return Err(RunError::Permanent(
            "the series has no archived instances".into(),
        ));
    }
    Ok(RunInput {
        step,
        files,
        l3: job.l3(),
        mask,
        out_dir,
        outbox,
        opts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_must_match_the_slice_and_not_be_empty() {
        let mut img = image::GrayImage::new(4, 3);
        let png = |img: &image::GrayImage| {
            let mut out = std::io::Cursor::new(Vec::new());
            img.write_to(&mut out, image::ImageFormat::Png).unwrap();
            out.into_inner()
        };
        assert!(decode_mask(&png(&img), 3, 4).unwrap_err().contains("empty"));
        img.put_pixel(1, 2, image::Luma([255]));
        let mask = decode_mask(&png(&img), 3, 4).unwrap();
        assert_eq!(mask.iter().filter(|&&v| v).count(), 1);
        assert!(mask[[2, 1]]);
        assert!(decode_mask(&png(&img), 4, 4).unwrap_err().contains("4×3"));
        assert!(decode_mask(b"not a png", 3, 4).unwrap_err().contains("PNG"));
        assert!((overall(Stage::Segment, 0.5) - 0.575).abs() < 1e-9);
    }
}
