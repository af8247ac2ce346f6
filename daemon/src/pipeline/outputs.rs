//! The files of one result: `results.json`, the HU statistics CSVs, the overlay PNGs and
//! the sagittal PNG, written into one output directory.
//!
//! Every file is written to a temporary name in the same directory, synced, then renamed,
//! so a reader (the RPC layer serving a file, a crash-restart) never sees half a file.
//! The returned list carries byte sizes because the jobs layer charges them to the
//! user's `storage_results` quota. File names are public constants: the jobs layer and
//! the console ask for files by these names.
//!
//! The CSV columns follow the original tool (`psoas_*`, `combo_*`, `sat_*`, `vat_*`, each
//! `pixels, hu_mean, hu_min, hu_max, hu_sum, area_mm2`), with `imat_*` added and the
//! slice's index, z and SOP Instance UID first. "combo" is all skeletal muscle. Empty
//! tissues leave mean/min/max cells empty (never 0).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use idoctor_protocol::{Analysis, SliceMetrics, TissueStats};
use ndarray::ArrayView2;

use crate::pipeline::render::{self, Overlay, RenderError};
use crate::pipeline::sagittal::Sagittal;

/// The full analysis as JSON.
pub const RESULTS_JSON: &str = "results.json";
/// One CSV row per L3-range slice.
pub const HU_STATISTICS_CSV: &str = "hu_statistics.csv";
/// The mid slice's CSV row.
pub const HU_STATISTICS_MIDDLE_CSV: &str = "hu_statistics_middle.csv";
/// Psoas overlay on the mid slice.
pub const OVERLAY_PSOAS_PNG: &str = "overlay_psoas.png";
/// All-muscle overlay on the mid slice.
pub const OVERLAY_COMBO_PNG: &str = "overlay_combo.png";
/// All-tissue overlay on the mid slice.
pub const OVERLAY_ALL_PNG: &str = "overlay_all.png";
/// Mid-sagittal with the L3 lines.
pub const SAGITTAL_PNG: &str = "sagittal.png";
/// Every output name, in writing order (`results.json` last).
pub const ALL_OUTPUTS: [&str; 7] = [
    HU_STATISTICS_CSV,
    HU_STATISTICS_MIDDLE_CSV,
    OVERLAY_PSOAS_PNG,
    OVERLAY_COMBO_PNG,
    OVERLAY_ALL_PNG,
    SAGITTAL_PNG,
    RESULTS_JSON,
];

/// CSV tissue prefixes, in column order.
const CSV_TISSUES: [&str; 5] = ["psoas", "combo", "sat", "vat", "imat"];
/// CSV statistics per tissue, in column order.
const CSV_STATS: [&str; 6] = [
    "pixels", "hu_mean", "hu_min", "hu_max", "hu_sum", "area_mm2",
];

/// Why outputs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file could not be written.
    #[error("writing {name}: {source}")]
    Io {
        /// The output's name.
        name: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A picture could not be made.
    #[error("rendering {name}: {source}")]
    Render {
        /// The output's name.
        name: &'static str,
        /// The cause.
        #[source]
        source: RenderError,
    },
    /// The analysis could not be serialised.
    #[error("serialising results: {0}")]
    Json(#[from] serde_json::Error),
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Its name (one of [`ALL_OUTPUTS`]).
    pub name: &'static str,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The mid slice's pixels and labels, for the overlays.
#[derive(Debug, Clone, Copy)]
pub struct MidSlice<'a> {
    /// HU.
    pub hu: ArrayView2<'a, i16>,
    /// Final labels (overrides applied).
    pub labels: ArrayView2<'a, u8>,
}

/// The CSV header columns, in order.
pub fn csv_columns() -> Vec<String> {
    let mut cols = vec![
        "slice_index".to_string(),
        "z_mm".into(),
        "sop_instance_uid".into(),
    ];
    for t in CSV_TISSUES {
        for s in CSV_STATS {
            cols.push(format!("{t}_{s}"));
        }
    }
    cols
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}")).unwrap_or_default()
}

fn csv_row(s: &SliceMetrics) -> String {
    let t = &s.tissues;
    let mut cells = vec![
        s.index.to_string(),
        format!("{:.3}", s.z_mm),
        s.sop_instance_uid.clone(),
    ];
    let stats: [&TissueStats; 5] = [&t.psoas, &t.muscle, &t.sat, &t.vat, &t.imat];
    for st in stats {
        cells.push(st.pixels.to_string());
        cells.push(opt(st.hu_mean, 4));
        cells.push(opt(st.hu_min, 0));
        cells.push(opt(st.hu_max, 0));
        cells.push(format!("{:.0}", st.hu_sum));
        cells.push(format!("{:.4}", st.area_cm2 * 100.0));
    }
    cells.join(",")
}

/// The CSV text for `rows`.
pub fn csv(rows: &[&SliceMetrics]) -> String {
    let mut out = csv_columns().join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&csv_row(r));
        out.push('\n');
    }
    out
}

/// Writes `bytes` to `dir/name` atomically (temp file, fsync, rename).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|_| path)
}

fn io_err(name: &str) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        name: name.to_string(),
        source,
    }
}

fn put(
    dir: &Path,
    name: &'static str,
    bytes: &[u8],
    files: &mut Vec<OutputFile>,
) -> Result<(), OutputError> {
    let path = write_atomic(dir, name, bytes).map_err(io_err(name))?;
    files.push(OutputFile {
        name,
        path,
        bytes: bytes.len() as u64,
    });
    Ok(())
}

/// Writes every output of `analysis` into `dir` (created if needed): the pictures and
/// CSVs first, `results.json` last, so its presence marks a complete set.
///
/// Without metrics (L3 not found, review pending) only the sagittal and `results.json`
/// are written; without a sagittal (`None`) the sagittal PNG is skipped. `mid` is needed
/// for the overlays and ignored when there are no metrics.
pub fn write_outputs(
    dir: &Path,
    analysis: &Analysis,
    mid: Option<MidSlice<'_>>,
    sagittal: Option<&Sagittal>,
) -> Result<Vec<OutputFile>, OutputError> {
    let mut files = write_artifacts(dir, analysis, mid, sagittal)?;
    files.push(write_results_json(dir, analysis)?);
    Ok(files)
}

/// Writes the CSVs and PNGs of `analysis` (everything but `results.json`).
pub fn write_artifacts(
    dir: &Path,
    analysis: &Analysis,
    mid: Option<MidSlice<'_>>,
    sagittal: Option<&Sagittal>,
) -> Result<Vec<OutputFile>, OutputError> {
    std::fs::create_dir_all(dir).map_err(io_err(&dir.display().to_string()))?;
    let mut files = Vec::new();
    if let Some(m) = &analysis.metrics {
        let rows: Vec<&SliceMetrics> = m.slices.iter().collect();
        put(dir, HU_STATISTICS_CSV, csv(&rows).as_bytes(), &mut files)?;
        put(
            dir,
            HU_STATISTICS_MIDDLE_CSV,
            csv(&[&m.middle]).as_bytes(),
            &mut files,
        )?;
        if let Some(mid) = mid {
            for (name, overlay) in [
                (OVERLAY_PSOAS_PNG, Overlay::Psoas),
                (OVERLAY_COMBO_PNG, Overlay::Combo),
                (OVERLAY_ALL_PNG, Overlay::All),
            ] {
                let png = render::axial_overlay(mid.hu, mid.labels, overlay)
                    .map_err(|source| OutputError::Render { name, source })?;
                put(dir, name, &png, &mut files)?;
            }
        }
    }
    if let Some(sag) = sagittal {
        let png =
            render::sagittal_png(sag, &analysis.l3).map_err(|source| OutputError::Render {
                name: SAGITTAL_PNG,
                source,
            })?;
        put(dir, SAGITTAL_PNG, &png, &mut files)?;
    }
    Ok(files)
}

/// Writes `results.json` (pretty JSON of the analysis).
pub fn write_results_json(dir: &Path, analysis: &Analysis) -> Result<OutputFile, OutputError> {
    std::fs::create_dir_all(dir).map_err(io_err(&dir.display().to_string()))?;
    let mut files = Vec::with_capacity(1);
    put(
        dir,
        RESULTS_JSON,
        &serde_json::to_vec_pretty(analysis)?,
        &mut files,
    )?;
    files.pop().ok_or_else(|| OutputError::Io {
        name: RESULTS_JSON.into(),
        source: io::Error::other("not written"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomOptions, generate};
    use crate::pipeline::metrics::SliceLabels;
    use crate::pipeline::{analysis_of, measure_with_labels, range_slices, sagittal};
    use idoctor_protocol::Timings;

    /// The spec's columns, written out literally so a rename cannot slip through.
    const HEADER: &str = "slice_index,z_mm,sop_instance_uid,\
        psoas_pixels,psoas_hu_mean,psoas_hu_min,psoas_hu_max,psoas_hu_sum,psoas_area_mm2,\
        combo_pixels,combo_hu_mean,combo_hu_min,combo_hu_max,combo_hu_sum,combo_area_mm2,\
        sat_pixels,sat_hu_mean,sat_hu_min,sat_hu_max,sat_hu_sum,sat_area_mm2,\
        vat_pixels,vat_hu_mean,vat_hu_min,vat_hu_max,vat_hu_sum,vat_area_mm2,\
        imat_pixels,imat_hu_mean,imat_hu_min,imat_hu_max,imat_hu_sum,imat_area_mm2";

    #[test]
    fn outputs_exist_parse_and_match_the_analysis() {
        let p = generate(&PhantomOptions::new(21, 90, 192));
        let finding = p.truth_finding();
        let ks = range_slices(&p.volume, &finding).unwrap();
        let slices = ks
            .iter()
            .map(|&k| SliceLabels {
                index: k,
                labels: p.labels_of(k).to_owned(),
            })
            .collect();
        let m = measure_with_labels(&p.volume, &finding, slices, &[], "truth").unwrap();
        let analysis = analysis_of(
            &p.volume,
            &finding,
            Some(&m),
            None,
            Timings::default(),
            &Default::default(),
        );
        let sag = sagittal::mid_sagittal(&p.volume);
        let dir = tempfile::tempdir().unwrap();
        let files =
            crate::pipeline::write_results(dir.path(), &p.volume, &analysis, Some(&m), Some(&sag))
                .unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name).collect();
        assert_eq!(names, ALL_OUTPUTS);
        for f in &files {
            assert_eq!(
                std::fs::metadata(&f.path).unwrap().len(),
                f.bytes,
                "{}",
                f.name
            );
        }
        // No temporary files left behind.
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            ALL_OUTPUTS.len()
        );

        let back: Analysis =
            serde_json::from_slice(&std::fs::read(dir.path().join(RESULTS_JSON)).unwrap()).unwrap();
        assert_eq!(back.series_uid, p.volume.meta.series_uid);
        assert_eq!(back.metrics.as_ref().unwrap().slices.len(), ks.len());

        let text = std::fs::read_to_string(dir.path().join(HU_STATISTICS_CSV)).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), HEADER);
        assert_eq!(csv_columns().join(","), HEADER);
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), ks.len());
        for (row, k) in rows.iter().zip(&ks) {
            assert_eq!(row.len(), 33);
            assert_eq!(row[0], k.to_string());
            assert_eq!(row[2], p.volume.sop_uids[*k]);
            // combo pixels and area agree with the truth label counts.
            let muscle = p
                .labels_of(*k)
                .iter()
                .filter(|&&l| crate::pipeline::labels::is_muscle(l))
                .count();
            assert_eq!(row[9], muscle.to_string());
            let area: f64 = row[14].parse().unwrap();
            let want = muscle as f64 * p.volume.pixel_spacing[0] * p.volume.pixel_spacing[1];
            assert!((area - want).abs() < 1e-3, "{area} vs {want}");
        }
        let middle = std::fs::read_to_string(dir.path().join(HU_STATISTICS_MIDDLE_CSV)).unwrap();
        let mid_rows: Vec<&str> = middle.lines().collect();
        assert_eq!(mid_rows.len(), 2);
        assert_eq!(mid_rows[0], HEADER);
        assert!(mid_rows[1].starts_with(&format!("{},", p.truth.l3.mid_slice_index)));

        let overlay = image::open(dir.path().join(OVERLAY_ALL_PNG)).unwrap();
        assert_eq!(overlay.width() as usize, p.volume.cols());
        assert_eq!(overlay.height() as usize, p.volume.rows());
        let sag_png = image::open(dir.path().join(SAGITTAL_PNG)).unwrap();
        assert_eq!(sag_png.height() as usize, sag.rows());
    }

    #[test]
    fn without_metrics_only_results_and_sagittal() {
        let p = generate(&PhantomOptions::new(2, 40, 96));
        let mut finding = p.truth_finding();
        finding.status = idoctor_protocol::L3Status::NotFound;
        finding.reason = Some("L3 outside the field of view".into());
        let analysis = analysis_of(
            &p.volume,
            &finding,
            None,
            None,
            Timings::default(),
            &Default::default(),
        );
        assert!(analysis.metrics.is_none());
        assert!(
            analysis
                .metrics_missing_reason
                .as_deref()
                .unwrap()
                .contains("outside")
        );
        let dir = tempfile::tempdir().unwrap();
        let sag = sagittal::mid_sagittal(&p.volume);
        let files = write_outputs(dir.path(), &analysis, None, Some(&sag)).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name).collect();
        assert_eq!(names, [SAGITTAL_PNG, RESULTS_JSON]);
    }

    #[test]
    fn empty_tissue_cells_are_blank_not_zero() {
        let s = SliceMetrics {
            index: 3,
            z_mm: 1.5,
            sop_instance_uid: "1.2.3".into(),
            tissues: Default::default(),
        };
        let row = csv_row(&s);
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(&cells[3..9], &["0", "", "", "", "0", "0.0000"]);
    }
}
