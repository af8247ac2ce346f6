//! L3 localisation and the mid-sagittal reformat on real CT (`../shared/data`, see its
//! README for the reference levels), including the robustness cases: thick slices, and
//! fields of view cropped so that one anchor, both anchors or part of L3 are missing.
//!
//! The rule checked everywhere: an answer is either right, or flagged (low confidence
//! or `not_found`); never a confident wrong level.

use std::path::{Path, PathBuf};
use std::time::Instant;

use idoctor_daemon::dicom::{Volume, load_series};
use idoctor_daemon::pipeline::l3::{L3Params, detect, locate_l3, operator_l3};
use idoctor_daemon::pipeline::sagittal::{mid_sagittal, mid_sagittal_through};
use idoctor_protocol::analysis::{L3Finding, L3Status};
use ndarray::{Axis, s};

/// The pancreas case's L3 body (README: k 40–49).
const L3_BODY: (f64, f64) = (205.9, 232.9);
/// Its centre (k 44).
const L3_CENTRE: f64 = 217.9;
/// Slice spacing of the pancreas case.
const SPACING: f64 = 3.0;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ct")
}

fn load(case: &str) -> Volume {
    let dir = data().join(case).join("dicom");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
        .collect();
    files.sort();
    load_series(&files).unwrap_or_else(|e| panic!("{case}: {e}"))
}

/// Slices `[a, b)` of a volume, as a series cropped at acquisition would be.
fn crop(v: &Volume, a: usize, b: usize) -> Volume {
    let mut o = v.clone();
    o.hu = v.hu.slice(s![a..b, .., ..]).to_owned();
    o.z_mm = v.z_mm[a..b].to_vec();
    o.sop_uids = v.sop_uids[a..b].to_vec();
    o
}

/// Averages consecutive pairs of slices: a 6 mm reconstruction of a 3 mm series.
fn average_pairs(v: &Volume) -> Volume {
    let n = v.slices() / 2;
    let mut o = crop(v, 0, n);
    for k in 0..n {
        let a = v.hu.index_axis(Axis(0), 2 * k).mapv(i32::from);
        let b = v.hu.index_axis(Axis(0), 2 * k + 1).mapv(i32::from);
        o.hu.index_axis_mut(Axis(0), k)
            .assign(&((a + b) / 2).mapv(|x| x as i16));
        o.z_mm[k] = (v.z_mm[2 * k] + v.z_mm[2 * k + 1]) / 2.0;
    }
    o.slice_spacing = v.slice_spacing * 2.0;
    o
}

/// L3 as the daemon and `idoctord analyze` find it: through the shipped settings'
/// options (their review threshold, not the localiser's own default).
fn shipped_detect(v: &Volume) -> L3Finding {
    let opts = idoctor_daemon::config::PipelineSettings::default()
        .options()
        .expect("default pipeline options");
    idoctor_daemon::pipeline::detect(v, &opts).finding
}

fn in_l3(f: &L3Finding) -> bool {
    f.mid_z_mm
        .is_some_and(|z| z >= L3_BODY.0 - 0.01 && z <= L3_BODY.1 + 0.01)
}

/// Right, or flagged: a found, unflagged answer must lie inside the L3 body.
fn assert_safe(case: &str, f: &L3Finding) {
    if f.status == L3Status::Found && !f.low_confidence {
        assert!(in_l3(f), "{case}: confident but wrong: {f:#?}");
    }
    if f.status == L3Status::NotFound {
        assert!(f.reason.is_some(), "{case}: not_found needs a reason");
        assert!(f.mid_z_mm.is_none() && f.mid_slice_uid.is_none());
    }
}

#[test]
fn pancreas_l3_mid_slice_is_inside_l3_with_both_anchors() {
    let vol = load("pancreas-ct-cb-001");
    let t = Instant::now();
    let f = locate_l3(&vol, &L3Params::default());
    eprintln!("L3 on pancreas: {:?} (test profile)", t.elapsed());
    assert_eq!(f.status, L3Status::Found, "{f:#?}");
    assert!(in_l3(&f), "{f:#?}");
    let mid = f.mid_z_mm.unwrap_or(f64::NAN);
    assert!(
        (mid - L3_CENTRE).abs() <= SPACING + 0.01,
        "mid {mid} vs centre {L3_CENTRE}"
    );
    assert_eq!(f.anchors, vec!["S1", "T12"]);
    assert!(!f.low_confidence && f.confidence >= 0.85, "{f:#?}");
    assert_eq!(f.method, "classical");
    let k = f.mid_slice_index.expect("index") as usize;
    assert_eq!(f.mid_slice_uid.as_deref(), Some(vol.sop_uids[k].as_str()));
    assert!((vol.z_mm[k] - mid).abs() < 1e-6);
    let r = f.z_range_mm.expect("range");
    assert!(r[0] < mid && mid < r[1]);
    assert!(
        (r[0] - L3_BODY.0).abs() <= 6.0 && (r[1] - L3_BODY.1).abs() <= 6.0,
        "{r:?}"
    );
}

#[test]
fn pancreas_levels_match_the_reference_table() {
    let vol = load("pancreas-ct-cb-001");
    let f = locate_l3(&vol, &L3Params::default());
    // README: z = 85.91 + 3k; body ranges by k.
    let z = |k: f64| 85.91 + 3.0 * k;
    let table = [
        ("L5", 17.0, 25.0),
        ("L4", 27.0, 37.0),
        ("L3", 40.0, 49.0),
        ("L2", 51.0, 61.0),
        ("L1", 63.0, 71.0),
        ("T12", 75.0, 83.0),
    ];
    for (label, ka, kb) in table {
        let e = f
            .evidence
            .iter()
            .find(|e| e.label == label)
            .unwrap_or_else(|| panic!("{label} missing: {:#?}", f.evidence));
        let (ra, rb) = (z(ka), z(kb));
        let centre = (e.z_range_mm[0] + e.z_range_mm[1]) / 2.0;
        assert!(
            (centre - (ra + rb) / 2.0).abs() <= 6.0,
            "{label}: {:?} vs {ra}–{rb}",
            e.z_range_mm
        );
        let overlap = (e.z_range_mm[1].min(rb) - e.z_range_mm[0].max(ra)).max(0.0);
        assert!(
            overlap >= 0.7 * (rb - ra),
            "{label}: {:?} vs {ra}–{rb}",
            e.z_range_mm
        );
    }
    assert!(f.evidence.iter().any(|e| e.label == "S1"));
}

#[test]
fn t11_to_l2_series_reports_l3_outside_the_field() {
    let vol = load("ts-t11-l2-tissue");
    let f = locate_l3(&vol, &L3Params::default());
    assert_eq!(f.status, L3Status::NotFound, "{f:#?}");
    assert_eq!(
        f.reason.as_deref(),
        Some("L3 outside the field of view"),
        "{f:#?}"
    );
}

#[test]
fn six_mm_slices_still_find_l3() {
    let vol = average_pairs(&load("pancreas-ct-cb-001"));
    let f = locate_l3(&vol, &L3Params::default());
    assert_safe("6 mm", &f);
    assert_eq!(f.status, L3Status::Found, "{f:#?}");
    assert!(in_l3(&f), "{f:#?}");
    assert!(!f.anchors.is_empty());
}

#[test]
fn without_the_sacrum_the_t12_anchor_alone_is_flagged() {
    let vol = load("pancreas-ct-cb-001");
    let f = shipped_detect(&crop(&vol, 30, vol.slices()));
    assert_safe("no sacrum", &f);
    assert_eq!(f.status, L3Status::Found, "{f:#?}");
    assert!(in_l3(&f), "{f:#?}");
    assert_eq!(f.anchors, vec!["T12"]);
    assert!(f.low_confidence);
    assert!(
        f.reason.as_deref().is_some_and(|r| r.contains("T12")),
        "{f:#?}"
    );
}

#[test]
fn without_the_ribs_the_s1_anchor_alone_is_flagged() {
    let vol = load("pancreas-ct-cb-001");
    let f = shipped_detect(&crop(&vol, 0, 70));
    assert_safe("no ribs", &f);
    assert_eq!(f.status, L3Status::Found, "{f:#?}");
    assert!(in_l3(&f), "{f:#?}");
    assert_eq!(f.anchors, vec!["S1"]);
    assert!(f.low_confidence);
    assert!(
        f.reason.as_deref().is_some_and(|r| r.contains("S1")),
        "{f:#?}"
    );
}

#[test]
fn lumbar_spine_alone_is_never_a_confident_answer() {
    let vol = load("pancreas-ct-cb-001");
    // k 20–69: L5 to L1, no sacrum, no rib heads.
    let f = locate_l3(&crop(&vol, 20, 70), &L3Params::default());
    assert_safe("lumbar only", &f);
    assert!(f.status == L3Status::NotFound || f.low_confidence, "{f:#?}");
}

#[test]
fn a_scan_starting_inside_l3_is_flagged_or_refused() {
    let vol = load("pancreas-ct-cb-001");
    for start in [41, 44, 47] {
        let f = locate_l3(&crop(&vol, start, vol.slices()), &L3Params::default());
        assert_safe(&format!("start k {start}"), &f);
        match f.status {
            L3Status::Found => {
                assert!(f.low_confidence, "start {start}: {f:#?}");
                assert!(in_l3(&f), "start {start}: {f:#?}");
            }
            L3Status::NotFound => {
                assert!(f.reason.is_some());
            }
        }
    }
    // Starting at the L3/L4 disc leaves the whole body in view: still found.
    let f = locate_l3(&crop(&vol, 37, vol.slices()), &L3Params::default());
    assert_safe("start k 37", &f);
    assert!(in_l3(&f), "{f:#?}");
}

#[test]
fn operator_correction_snaps_and_keeps_the_range_width() {
    let vol = load("pancreas-ct-cb-001");
    let det = locate_l3(&vol, &L3Params::default());
    let f = operator_l3(&vol, Some(&det), 221.0);
    assert_eq!(f.mid_z_mm, Some(220.91));
    assert_eq!(f.mid_slice_index, Some(45));
    assert_eq!(f.method, "operator");
    assert_eq!(f.confidence, 1.0);
    let (d, o) = (det.z_range_mm.expect("range"), f.z_range_mm.expect("range"));
    let shift = 220.91 - det.mid_z_mm.expect("mid");
    assert!(((o[0] - d[0]) - shift).abs() < 1e-9 && ((o[1] - d[1]) - shift).abs() < 1e-9);
}

#[test]
fn sagittal_goes_through_the_spine_with_isotropic_pixels() {
    let vol = load("pancreas-ct-cb-001");
    let sag = mid_sagittal(&vol);
    assert!(sag.through_spine);
    // The canal's centre is at x ≈ 262 px on this case (282 mm / 1.074 mm).
    assert!((sag.x_col as i64 - 262).abs() <= 6, "x_col {}", sag.x_col);
    assert!((sag.spacing_mm - vol.pixel_spacing[0]).abs() < 1e-9);
    let expected_rows = ((484.91 - 85.91) / sag.spacing_mm).floor() as usize + 1;
    assert_eq!(sag.rows(), expected_rows);
    assert_eq!(sag.cols(), vol.rows());
    // Superior at the top; the L3 mid row crosses the vertebral body (bone in front of
    // the canal), the L3/L4 disc row much less so.
    let row = |z: f64| sag.row_of_z(z).round() as usize;
    let bone = |r: usize| (240..300).filter(|&y| sag.image[[r, y]] > 150).count();
    assert!(bone(row(L3_CENTRE)) > 20, "{}", bone(row(L3_CENTRE)));
    assert!(bone(row(L3_CENTRE)) > 2 * bone(row(200.4)));
    // The detection shares its column with the reformat.
    let d = detect(&vol, &L3Params::default());
    let again = mid_sagittal_through(&vol, d.column.as_ref());
    assert_eq!(again.x_col, sag.x_col);
}

mod phantoms {
    //! L3 on synthetic CT with known truth (`idoctor_daemon::phantom`): the mid slice
    //! must be within one slice of the truth on every seed, at several geometries, and
    //! cropped fields must degrade to flagged answers, never to confident wrong ones.

    use idoctor_daemon::phantom::{Phantom, PhantomOptions, generate};
    use idoctor_daemon::pipeline::l3::{L3Params, locate_l3};
    use idoctor_protocol::analysis::{L3Finding, L3Status};

    fn phantom(seed: u64, slices: usize, matrix: usize) -> Phantom {
        generate(&PhantomOptions::new(seed, slices, matrix))
    }

    /// Mid-slice error in slices, or a description of the failure.
    fn error_slices(ph: &Phantom, f: &L3Finding) -> Result<i64, String> {
        match f.mid_slice_index {
            Some(k) if f.status == L3Status::Found => {
                Ok(k as i64 - ph.truth.l3.mid_slice_index as i64)
            }
            _ => Err(format!("seed {}: {:?}", ph.truth.seed, f.reason)),
        }
    }

    fn check_seeds(slices: usize, matrix: usize, seeds: std::ops::Range<u64>) {
        let results: Vec<(u64, Result<i64, String>, bool)> = seeds
            .map(|seed| {
                let ph = phantom(seed, slices, matrix);
                let f = locate_l3(&ph.volume, &L3Params::default());
                (seed, error_slices(&ph, &f), f.low_confidence)
            })
            .collect();
        let mut bad = Vec::new();
        for (seed, r, low) in &results {
            match r {
                Ok(e) if e.abs() <= 1 && !low => {}
                other => bad.push(format!("seed {seed}: {other:?} low {low}")),
            }
        }
        eprintln!("{slices}×{matrix}²: {results:?}");
        assert!(bad.is_empty(), "{slices}×{matrix}²: {bad:#?}");
    }

    #[test]
    fn twenty_seeds_within_one_slice_at_3_mm() {
        check_seeds(125, 512, 1..21);
    }

    #[test]
    fn twenty_seeds_within_one_slice_on_a_coarse_matrix() {
        check_seeds(150, 256, 21..41);
    }

    #[test]
    fn default_geometry_within_one_slice() {
        check_seeds(300, 512, 41..45);
    }

    #[test]
    fn phantom_without_sacrum_or_ribs_is_flagged() {
        let ph = phantom(7, 125, 384);
        let z = &ph.volume.z_mm;
        let l3 = ph.truth.l3.z_range_mm;
        let keep = |lo: f64, hi: f64| {
            let a = z.iter().position(|&v| v >= lo).unwrap_or(0);
            let b = z.iter().rposition(|&v| v <= hi).map_or(z.len(), |i| i + 1);
            let mut v = ph.volume.clone();
            v.hu = v.hu.slice(ndarray::s![a..b, .., ..]).to_owned();
            v.z_mm = z[a..b].to_vec();
            v.sop_uids = v.sop_uids[a..b].to_vec();
            v
        };
        let s1_top = ph.truth.vertebrae[0].z_range_mm[1];
        let t12 = ph
            .truth
            .vertebrae
            .iter()
            .find(|v| v.label == "T12")
            .map(|v| v.z_range_mm)
            .expect("T12");
        let inside = |f: &L3Finding| f.mid_z_mm.is_some_and(|m| m >= l3[0] && m <= l3[1]);
        // Above the sacrum: T12 only.
        let f = locate_l3(&keep(s1_top + 40.0, f64::MAX), &L3Params::default());
        assert_eq!(f.anchors, vec!["T12"], "{f:#?}");
        assert!(f.low_confidence && inside(&f), "{f:#?}");
        // Below the ribs: S1 only.
        let f = locate_l3(&keep(f64::MIN, t12[0] - 5.0), &L3Params::default());
        assert_eq!(f.anchors, vec!["S1"], "{f:#?}");
        assert!(f.low_confidence && inside(&f), "{f:#?}");
        // Neither: refused or flagged, never confident.
        let f = locate_l3(&keep(s1_top + 40.0, t12[0] - 5.0), &L3Params::default());
        assert!(f.status == L3Status::NotFound || f.low_confidence, "{f:#?}");
        if f.status == L3Status::Found {
            assert!(inside(&f), "{f:#?}");
        }
    }
}
