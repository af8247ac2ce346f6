//! The one-shot commands behind `idoctord analyze`, `idoctord phantom` and the pipeline
//! benchmark, as plain functions (`main.rs` wires them into clap).
//!
//! `analyze` finds every CT series under the given paths, runs the whole pipeline on
//! each (no database, no quotas) and returns one outcome per series; a series that fails
//! (truncated file, no pixel data, single slice, mixed sizes, unsupported transfer
//! syntax…) gets an error and the others still complete. Files that are not CT slices at
//! all are reported too, one outcome per file, so nothing disappears silently.
//! With `--json`, [`write_report`] prints one JSON object per line: the serialised
//! `Analysis` (`series_uid`, `patient_id`, `l3`, `metrics`, …) plus `error: null`, or
//! `{series_uid, patient_id, l3: null, metrics: null, error: {code, message}}`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use idoctor_protocol::{Analysis, L3Status};
use serde_json::{Value, json};

use crate::dicom::{self, DicomError, sanitize_uid};
use crate::phantom::{self, PhantomOptions, Truth, WrittenSeries};
use crate::pipeline::outputs::OutputFile;
use crate::pipeline::{self, PipelineError, PipelineOptions, Stage};

/// Why one series (or file) could not be analysed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeriesError {
    /// Stable snake_case code (`truncated`, `not_dicom`, `no_pixel_data`,
    /// `too_few_slices`, `mixed_sizes`, `unsupported_transfer_syntax`, …).
    pub code: String,
    /// One clear line (file names only, never folders or patient names).
    pub message: String,
}

impl SeriesError {
    fn from_pipeline(e: &PipelineError) -> Self {
        let code = match e {
            PipelineError::Dicom(d) => d.code().to_string(),
            PipelineError::NoL3(_) => "l3_not_found".into(),
            PipelineError::Metrics(_) => "metrics".into(),
            PipelineError::Outputs(_) => "outputs".into(),
            PipelineError::Model(_) => "model".into(),
        };
        Self {
            code,
            message: e.to_string(),
        }
    }

    fn from_dicom(e: &DicomError) -> Self {
        Self {
            code: e.code().into(),
            message: e.to_string(),
        }
    }
}

/// A successful run on one series.
#[derive(Debug, Clone)]
pub struct SeriesRun {
    /// The result.
    pub analysis: Analysis,
    /// Where its outputs went (`--out DIR/<sanitised series uid>/`).
    pub out_dir: Option<PathBuf>,
    /// The files written there.
    pub files: Vec<OutputFile>,
}

/// What happened to one series found under the paths (or one rejected file).
#[derive(Debug, Clone)]
pub struct SeriesOutcome {
    /// SeriesInstanceUID; `None` for a file that belongs to no readable series.
    pub series_uid: Option<String>,
    /// The rejected file's name (file outcomes only).
    pub file: Option<String>,
    /// PatientID when known.
    pub patient_id: Option<String>,
    /// The run, or why it failed.
    pub result: Result<SeriesRun, SeriesError>,
}

impl SeriesOutcome {
    /// Whether this series failed.
    pub fn is_error(&self) -> bool {
        self.result.is_err()
    }

    /// The JSON object printed for this outcome.
    pub fn to_json(&self) -> Value {
        match &self.result {
            Ok(run) => {
                let mut v = serde_json::to_value(&run.analysis).unwrap_or_else(
                    |e| json!({ "series_uid": self.series_uid, "serialise_error": e.to_string() }),
                );
                if let Value::Object(map) = &mut v {
                    map.insert(
                        "output_dir".into(),
                        run.out_dir.as_ref().map_or(Value::Null, |d| json!(d)),
                    );
                    map.insert("error".into(), Value::Null);
                }
                v
            }
            Err(e) => {
                let mut v = json!({
                    "series_uid": self.series_uid,
                    "patient_id": self.patient_id,
                    "l3": Value::Null,
                    "metrics": Value::Null,
                    "error": e,
                });
                if let (Some(f), Value::Object(map)) = (&self.file, &mut v) {
                    map.insert("file".into(), json!(f));
                }
                v
            }
        }
    }

    /// One human-readable line.
    pub fn summary(&self) -> String {
        let who = self
            .series_uid
            .clone()
            .or_else(|| self.file.clone())
            .unwrap_or_else(|| "?".into());
        match &self.result {
            Err(e) => format!("{who}: error [{}] {}", e.code, e.message),
            Ok(run) => {
                let a = &run.analysis;
                let l3 = match (a.l3.status, a.l3.mid_z_mm) {
                    (L3Status::Found, Some(z)) => format!(
                        "L3 at z {z:.1} mm (slice {}, confidence {:.2}, {}{})",
                        a.l3.mid_slice_index.unwrap_or(0),
                        a.l3.confidence,
                        a.methods.l3,
                        if a.l3.low_confidence { ", review" } else { "" }
                    ),
                    _ => format!(
                        "L3 not found: {}",
                        a.l3.reason.as_deref().unwrap_or("no reason given")
                    ),
                };
                let m = a.metrics.as_ref().map(|m| {
                    let t = &m.middle.tissues;
                    let smi = m
                        .smi_cm2_m2
                        .value
                        .map_or_else(|| "SMI n/a".to_string(), |v| format!("SMI {v:.1}"));
                    format!(
                        "; muscle {:.1} cm², psoas {:.1}, SAT {:.1}, VAT {:.1}, IMAT {:.1}; {smi}",
                        t.muscle.area_cm2,
                        t.psoas.area_cm2,
                        t.sat.area_cm2,
                        t.vat.area_cm2,
                        t.imat.area_cm2
                    )
                });
                format!(
                    "{who}: {l3}{} ({:.0} ms)",
                    m.unwrap_or_default(),
                    a.timings_ms.total
                )
            }
        }
    }
}

/// Finds every CT series under `paths` and analyses each. With `out`, each series'
/// outputs go to `out/<sanitised series uid>/`.
pub fn analyze(
    paths: &[PathBuf],
    out: Option<&Path>,
    opts: &PipelineOptions,
) -> Vec<SeriesOutcome> {
    let found = dicom::discover(paths);
    let mut outcomes = Vec::with_capacity(found.series.len() + found.rejected.len());
    for s in &found.series {
        let patient_id = s.instances.first().map(|i| i.header.patient_id.clone());
        let dir = out.map(|o| o.join(sanitize_uid(&s.series_uid)));
        let result = contained(|| {
            pipeline::analyze_files(&s.files(), opts, dir.as_deref(), &pipeline::no_progress)
                .map(|run| SeriesRun {
                    analysis: run.analysis,
                    out_dir: dir.clone(),
                    files: run.files,
                })
                .map_err(|e| SeriesError::from_pipeline(&e))
        });
        outcomes.push(SeriesOutcome {
            series_uid: Some(s.series_uid.clone()),
            file: None,
            patient_id,
            result,
        });
    }
    for (path, e) in &found.rejected {
        outcomes.push(SeriesOutcome {
            series_uid: None,
            file: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            patient_id: None,
            result: Err(SeriesError::from_dicom(e)),
        });
    }
    outcomes
}

/// Runs one series' work so that a panic in it (a codec's, or a bug of ours) becomes that
/// series' `internal` error instead of ending the run: the other series still complete.
fn contained<T>(run: impl FnOnce() -> Result<T, SeriesError>) -> Result<T, SeriesError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(SeriesError {
            code: "internal".into(),
            message: format!("the pipeline crashed on this series ({what}); please report it"),
        })
    })
}

/// Prints outcomes: one JSON object per line with `json`, else one summary line each.
pub fn write_report(outcomes: &[SeriesOutcome], json: bool, mut w: impl Write) -> io::Result<()> {
    for o in outcomes {
        if json {
            serde_json::to_writer(&mut w, &o.to_json())?;
            writeln!(w)?;
        } else {
            writeln!(w, "{}", o.summary())?;
        }
    }
    w.flush()
}

/// `idoctord phantom OUT --seed N --slices N --matrix N`: writes a phantom series and
/// its `truth.json` into `out`.
pub fn write_phantom(
    out: &Path,
    seed: u64,
    slices: usize,
    matrix: usize,
) -> io::Result<(Truth, WrittenSeries)> {
    let (p, w) = phantom::write_phantom(&PhantomOptions::new(seed, slices, matrix), out)?;
    Ok((p.truth, w))
}

/// The JSON printed by `idoctord phantom --json`: what was written and where L3 is.
pub fn phantom_summary(truth: &Truth, written: &WrittenSeries) -> Value {
    json!({
        "series_uid": truth.series_uid,
        "seed": truth.seed,
        "files": written.files.len(),
        "bytes": written.bytes,
        "truth": written.truth,
        "l3": {
            "z_range_mm": truth.l3.z_range_mm,
            "mid_z_mm": truth.l3.mid_z_mm,
            "mid_slice_index": truth.l3.mid_slice_index,
        },
    })
}

/// Timings and memory of one benchmark case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchCase {
    /// What was measured.
    pub name: String,
    /// Slices in the volume.
    pub slices: usize,
    /// Rows × columns.
    pub matrix: [usize; 2],
    /// Decode (read + decode files into the volume), ms.
    pub decode_ms: f64,
    /// L3 localisation and sagittal, ms.
    pub l3_ms: f64,
    /// Segmentation of the L3 range, ms.
    pub segment_ms: f64,
    /// Metrics, ms.
    pub metrics_ms: f64,
    /// Wall time from the first file read to the metrics, ms.
    pub total_ms: f64,
    /// Whether the localiser found L3.
    pub l3_found: bool,
    /// Whether the segmented range came from a known truth because the localiser refused.
    pub segmented_truth_range: bool,
    /// Slices segmented.
    pub segmented_slices: usize,
    /// Peak resident memory during the case, bytes (`VmHWM`, reset before the case).
    pub peak_rss_bytes: Option<u64>,
    /// Size of the HU volume, bytes.
    pub volume_bytes: u64,
}

/// Peak resident set size of this process so far (`VmHWM`), bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the kernel's peak-RSS mark so the next [`peak_rss`] covers only what follows
/// (Linux `clear_refs` 5). Returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Benchmarks the whole pipeline on the series made of `files`: decode, L3, segmentation
/// of the L3 range and metrics, with the peak memory of just this run. When the
/// localiser refuses and a `truth` is given (a phantom's), the truth range is segmented
/// so the segmentation is still timed; the case says so.
pub fn bench_series(
    name: &str,
    files: &[PathBuf],
    opts: &PipelineOptions,
    truth: Option<&Truth>,
) -> Result<BenchCase, PipelineError> {
    let reset = reset_peak_rss();
    let start = Instant::now();
    let vol = dicom::load_series(files)?;
    let decode_ms = ms(start);
    let t = Instant::now();
    let det = pipeline::detect(&vol, opts);
    let l3_ms = ms(t);
    let found = det.finding.status == L3Status::Found;
    let range = match (found, truth) {
        (true, _) => Some(det.finding.clone()),
        (false, Some(t)) => Some(t.finding_for(&vol)),
        (false, None) => None,
    };
    let (segment_ms, metrics_ms, segmented) = match &range {
        Some(f) => {
            let m = pipeline::measure(&vol, f, &[], opts, &|_: Stage, _| {})?;
            (m.segment_ms, m.metrics_ms, m.slices.len())
        }
        None => (0.0, 0.0, 0),
    };
    let total_ms = ms(start);
    Ok(BenchCase {
        name: name.into(),
        slices: vol.slices(),
        matrix: [vol.rows(), vol.cols()],
        decode_ms,
        l3_ms,
        segment_ms,
        metrics_ms,
        total_ms,
        l3_found: found,
        segmented_truth_range: !found && range.is_some(),
        segmented_slices: segmented,
        peak_rss_bytes: if reset { peak_rss() } else { None },
        volume_bytes: (vol.hu.len() * std::mem::size_of::<i16>()) as u64,
    })
}

/// The benchmark's cases: every series under `real` (the pancreas case) and a 300-slice
/// 512² phantom written to `scratch` first (so its decode is measured from files too).
pub fn bench(
    real: &[PathBuf],
    scratch: &Path,
    opts: &PipelineOptions,
) -> Vec<Result<BenchCase, String>> {
    let mut cases = Vec::new();
    let found = dicom::discover(real);
    for s in &found.series {
        cases.push(
            bench_series(&format!("series {}", s.series_uid), &s.files(), opts, None)
                .map_err(|e| e.to_string()),
        );
    }
    // The phantom is dropped before its case runs, so only the truth tables stay.
    let written = phantom::write_phantom(&PhantomOptions::new(1, 300, 512), scratch)
        .map(|(p, w)| (p.truth, w))
        .map_err(|e| e.to_string());
    cases.push(written.and_then(|(truth, w)| {
        bench_series("phantom seed 1, 300 × 512²", &w.files, opts, Some(&truth))
            .map_err(|e| e.to_string())
    }));
    cases
}

/// A fixed-width table of benchmark cases.
pub fn bench_table(cases: &[Result<BenchCase, String>]) -> String {
    let mut s = format!(
        "{:<40} {:>6} {:>9} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6}  {}\n",
        "case",
        "slices",
        "decode",
        "l3",
        "segment",
        "metrics",
        "total",
        "peak MB",
        "volume MB",
        "ratio",
        "L3"
    );
    for c in cases {
        match c {
            Ok(c) => {
                let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
                let peak = c
                    .peak_rss_bytes
                    .map_or("n/a".to_string(), |p| format!("{:.0}", mb(p)));
                let ratio = c.peak_rss_bytes.map_or("n/a".to_string(), |p| {
                    format!("{:.2}", p as f64 / c.volume_bytes.max(1) as f64)
                });
                let name: String = c.name.chars().take(40).collect();
                s.push_str(&format!(
                    "{:<40} {:>6} {:>7.0}ms {:>6.0}ms {:>6.0}ms {:>6.0}ms {:>7.0}ms {:>9} {:>9.0} {:>6}  {}\n",
                    name,
                    c.slices,
                    c.decode_ms,
                    c.l3_ms,
                    c.segment_ms,
                    c.metrics_ms,
                    c.total_ms,
                    peak,
                    mb(c.volume_bytes),
                    ratio,
                    match (c.l3_found, c.segmented_truth_range) {
                        (true, _) => format!("found, {} slices segmented", c.segmented_slices),
                        (false, true) => format!(
                            "not found; truth range ({} slices) segmented",
                            c.segmented_slices
                        ),
                        (false, false) => "not found".into(),
                    }
                ));
            }
            Err(e) => s.push_str(&format!("error: {e}\n")),
        }
    }
    s
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::tags;
    use std::fs;

    fn phantom_into(dir: &Path, seed: u64, slices: usize, matrix: usize) -> WrittenSeries {
        phantom::write_phantom(&PhantomOptions::new(seed, slices, matrix), dir)
            .unwrap()
            .1
    }

    #[test]
    fn a_panicking_series_becomes_its_own_internal_error() {
        let ok: Result<u32, SeriesError> = contained(|| Ok(7));
        assert_eq!(ok, Ok(7));
        let crashed: Result<u32, SeriesError> = contained(|| {
            let v: Vec<u32> = Vec::new();
            Ok(v[3])
        });
        let e = crashed.unwrap_err();
        assert_eq!(e.code, "internal");
        assert!(e.message.contains("index out of bounds"), "{}", e.message);
        let refused: Result<u32, SeriesError> = contained(|| {
            Err(SeriesError {
                code: "not_dicom".into(),
                message: "x".into(),
            })
        });
        assert_eq!(refused.unwrap_err().code, "not_dicom");
    }

    #[test]
    fn analyze_reports_every_series_and_isolates_bad_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("in");
        let good = phantom_into(&root.join("a/b"), 31, 70, 96);
        phantom_into(&root.join("c"), 32, 70, 96);
        // A truncated file inside an otherwise good series: that file is rejected, the
        // series completes without it.
        let cut = phantom_into(&root.join("d"), 34, 30, 64);
        let bytes = fs::read(&cut.files[10]).unwrap();
        fs::write(&cut.files[10], &bytes[..bytes.len() / 2]).unwrap();
        fs::write(root.join("notes.txt"), "not an image").unwrap();
        // A single-slice series.
        phantom_into(&root.join("e"), 33, 1, 64);
        // An unknown transfer syntax: real encapsulated JPEG 2000 slices whose meta
        // Transfer Syntax UID is rewritten (same length, so the meta group stays valid).
        let j2k =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/dicom/jpeg2000-t11-t12");
        let mut j2k_files: Vec<PathBuf> = fs::read_dir(&j2k)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        j2k_files.sort();
        fs::create_dir_all(root.join("f")).unwrap();
        for (i, f) in j2k_files.iter().filter(|p| p.is_file()).take(3).enumerate() {
            let mut b = fs::read(f).unwrap();
            let from = b"1.2.840.10008.1.2.4.90";
            let at = b.windows(from.len()).position(|w| w == from).unwrap();
            b[at..at + from.len()].copy_from_slice(b"1.2.840.10008.1.2.4.99");
            fs::write(root.join("f").join(format!("j{i}")), b).unwrap();
        }
        // Mixed sizes: two slices of a 48² version joined to the 64² series.
        phantom_into(&root.join("g"), 36, 6, 64);
        let other = phantom_into(&tmp.path().join("scratch"), 36, 8, 48);
        for f in &other.files[..2] {
            fs::copy(
                f,
                root.join("g")
                    .join(format!("x{}", f.file_name().unwrap().to_string_lossy())),
            )
            .unwrap();
        }
        // A CT object without pixel data.
        let mut obj = dicom_object::open_file(&good.files[0]).unwrap();
        assert!(obj.remove_element(tags::PIXEL_DATA));
        obj.put(dicom_core::DataElement::new(
            tags::SERIES_INSTANCE_UID,
            dicom_core::VR::UI,
            dicom_core::PrimitiveValue::from("2.25.1234"),
        ));
        obj.write_to_file(root.join("no-pixels.dcm")).unwrap();

        // The phantoms' truth.json files would be reported as non-DICOM: keep one only.
        let cut_series = cut_uid(&cut);
        for sub in ["a/b", "c", "d", "e", "g"] {
            let _ = fs::remove_file(root.join(sub).join(phantom::TRUTH_FILE));
        }
        let out = tmp.path().join("out");
        let outcomes = analyze(
            std::slice::from_ref(&root),
            Some(&out),
            &PipelineOptions::default(),
        );
        let series_ok: Vec<&SeriesOutcome> = outcomes
            .iter()
            .filter(|o| o.series_uid.is_some() && !o.is_error())
            .collect();
        assert_eq!(
            series_ok.len(),
            3,
            "{:#?}",
            outcomes.iter().map(|o| o.summary()).collect::<Vec<_>>()
        );
        let mut series_err: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.series_uid.is_some())
            .filter_map(|o| o.result.as_ref().err().map(|e| e.code.as_str()))
            .collect();
        series_err.sort();
        assert_eq!(
            series_err,
            [
                "mixed_sizes",
                "too_few_slices",
                "unsupported_transfer_syntax"
            ]
        );
        let mut file_err: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.series_uid.is_none())
            .filter_map(|o| o.result.as_ref().err().map(|e| e.code.as_str()))
            .collect();
        file_err.sort();
        assert_eq!(file_err, ["no_pixel_data", "not_dicom", "truncated"]);

        // The truncated series lost one slice, no more.
        let cut_run = series_ok
            .iter()
            .find(|o| o.series_uid.as_deref() == Some(cut_series.as_str()))
            .unwrap();
        assert_eq!(cut_run.result.as_ref().unwrap().analysis.volume.slices, 29);

        // Outputs per series under out/<uid>/, results.json always.
        for o in &series_ok {
            let run = o.result.as_ref().unwrap();
            let dir = run.out_dir.as_ref().unwrap();
            assert!(dir.starts_with(&out));
            assert!(dir.join(crate::pipeline::outputs::RESULTS_JSON).is_file());
        }

        // JSON: one object per line, the Analysis keys or an error object.
        let mut buf = Vec::new();
        write_report(&outcomes, true, &mut buf).unwrap();
        let lines: Vec<Value> = String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), outcomes.len());
        for v in &lines {
            assert!(v.get("series_uid").is_some() && v.get("error").is_some());
            if v["error"].is_null() {
                let status = v["l3"]["status"].as_str().unwrap();
                assert!(status == "found" || status == "not_found");
                assert!(v.get("metrics").is_some() && v.get("patient_id").is_some());
            } else {
                assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string());
                assert!(v["l3"].is_null());
            }
        }
        let mut text = Vec::new();
        write_report(&outcomes, false, &mut text).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap().lines().count(),
            outcomes.len()
        );
    }

    fn cut_uid(w: &WrittenSeries) -> String {
        let truth: Truth = serde_json::from_slice(&fs::read(&w.truth).unwrap()).unwrap();
        truth.series_uid
    }

    #[test]
    fn phantom_command_writes_a_series_and_truth() {
        let tmp = tempfile::tempdir().unwrap();
        let (truth, written) = write_phantom(tmp.path(), 5, 20, 64).unwrap();
        assert_eq!(written.files.len(), 20);
        let s = phantom_summary(&truth, &written);
        assert_eq!(s["files"], 20);
        assert_eq!(s["seed"], 5);
        assert!(s["l3"]["mid_z_mm"].is_number());
    }

    #[test]
    fn peak_memory_is_readable_and_resettable() {
        let p = peak_rss().expect("VmHWM on Linux");
        assert!(p > 0);
        let _ = reset_peak_rss();
        assert!(peak_rss().unwrap() > 0);
    }
}
