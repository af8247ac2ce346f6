//! Tissue metrics: label maps of the L3 range + HU → `protocol::Metrics`.
//!
//! Per slice and tissue: pixels, area, HU mean / sd / min / max / sum, where "muscle" is
//! the union of the four muscle labels and "psoas" of left and right. Over the range:
//! volume = Σ area × slice spacing (cm³) and mass = volume × (1 + 0.001 · mean HU) g
//! (water density scaled by attenuation: the seed's formula). SMI and the psoas index
//! divide the mid slice's areas by height²; the Prado 2008 cut-offs (men < 52.4,
//! women < 38.5 cm²/m²) flag sarcopenia. Anything that cannot be computed is
//! [`Derived::missing`] with the reason, never a 0.
//!
//! The HU standard deviation is the population sd (divide by n), as numpy's default,
//! which the original tool's CSV used.
//!
//! Operator corrections ([`MaskOverride`]) are applied to the mid slice's label map by
//! [`apply_override`] before the metrics run: the operator's pixels are taken verbatim,
//! with no HU thresholding, so the corrected area is exactly pixel count × pixel area.

use std::collections::VecDeque;

use idoctor_protocol::{
    Derived, L3Finding, Metrics, PatientInfo, SliceMetrics, TissueSet, TissueStats, TissueVolume,
};
use ndarray::{Array2, ArrayView2};

use crate::dicom::{SeriesMeta, Volume};
use crate::pipeline::labels;

/// Prado 2008 SMI cut-off for men, cm²/m².
pub const PRADO_MEN: f64 = 52.4;
/// Prado 2008 SMI cut-off for women, cm²/m².
pub const PRADO_WOMEN: f64 = 38.5;

/// Why metrics could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricsError {
    /// No slices to measure.
    #[error("no slices in the L3 range")]
    EmptyRange,
    /// The L3 finding has no mid slice.
    #[error("L3 finding has no mid slice")]
    NoMidSlice,
    /// The mid slice was not among the measured slices.
    #[error("mid slice {0} is not among the measured slices")]
    MidSliceNotMeasured(usize),
    /// A slice index beyond the volume.
    #[error("slice index {index} outside the volume ({slices} slices)")]
    SliceOutOfRange {
        /// The index.
        index: usize,
        /// Slices in the volume.
        slices: usize,
    },
    /// A label map or mask whose shape differs from the slice.
    #[error("mask is {got:?} but the slice is {expected:?}")]
    ShapeMismatch {
        /// Slice shape (rows, columns).
        expected: (usize, usize),
        /// Given shape.
        got: (usize, usize),
    },
}

/// The label map of one measured slice.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceLabels {
    /// Slice index in the volume (inferior = 0).
    pub index: usize,
    /// One label per pixel ([`labels`] codes), the slice's shape.
    pub labels: Array2<u8>,
}

/// Which tissue an operator's mask replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideTissue {
    /// All skeletal muscle.
    Muscle,
    /// Both psoas muscles (split left/right at the body midline).
    Psoas,
}

impl OverrideTissue {
    /// `muscle` or `psoas`, as in `mask_source` (`operator:<tissue>`).
    pub fn name(self) -> &'static str {
        match self {
            OverrideTissue::Muscle => "muscle",
            OverrideTissue::Psoas => "psoas",
        }
    }
}

/// An operator's corrected mask for the mid slice, in the volume's canonical orientation
/// (rows anterior → posterior, columns patient right → left), like the overlay PNGs.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskOverride {
    /// What it replaces.
    pub tissue: OverrideTissue,
    /// `true` where the tissue is.
    pub mask: Array2<bool>,
}

/// Patient facts from the series headers.
pub fn patient_info(meta: &SeriesMeta) -> PatientInfo {
    PatientInfo {
        height_m: meta.height_m.filter(|h| h.is_finite() && *h > 0.0),
        sex: meta.sex.clone(),
        age_years: meta.age_years,
    }
}

/// Replaces a tissue on one slice's label map with the operator's mask, verbatim.
///
/// - `Muscle`: mask pixels become muscle, every other muscle pixel becomes background.
///   Pixels that were muscle keep their sub-label; new ones take the sub-label of the
///   nearest kept muscle pixel inside the mask (4-connected), or abdominal wall when
///   their mask component holds no kept muscle.
/// - `Psoas`: old psoas pixels become background; mask pixels become psoas, left where
///   the column lies on the patient's left of the body midline (higher columns), right
///   otherwise. They count as muscle through the psoas labels.
///
/// The midline is the mean column of all tissue-labelled pixels, which the symmetric
/// SAT ring centres on the body; the image centre when nothing is labelled.
pub fn apply_override(labels_map: &mut Array2<u8>, ov: &MaskOverride) -> Result<(), MetricsError> {
    if labels_map.dim() != ov.mask.dim() {
        return Err(MetricsError::ShapeMismatch {
            expected: labels_map.dim(),
            got: ov.mask.dim(),
        });
    }
    match ov.tissue {
        OverrideTissue::Muscle => {
            let (h, w) = labels_map.dim();
            let mut queue = VecDeque::new();
            let mut pending = Array2::<bool>::from_elem((h, w), false);
            for ((i, j), l) in labels_map.indexed_iter_mut() {
                let inside = ov.mask[[i, j]];
                if labels::is_muscle(*l) {
                    if inside {
                        queue.push_back((i, j));
                    } else {
                        *l = labels::BACKGROUND;
                    }
                } else if inside {
                    pending[[i, j]] = true;
                }
            }
            // Breadth-first from kept muscle: each new pixel copies its nearest sub-label.
            while let Some((i, j)) = queue.pop_front() {
                let label = labels_map[[i, j]];
                let mut visit = |a: usize, b: usize| {
                    if pending[[a, b]] {
                        pending[[a, b]] = false;
                        labels_map[[a, b]] = label;
                        queue.push_back((a, b));
                    }
                };
                if i > 0 {
                    visit(i - 1, j);
                }
                if i + 1 < h {
                    visit(i + 1, j);
                }
                if j > 0 {
                    visit(i, j - 1);
                }
                if j + 1 < w {
                    visit(i, j + 1);
                }
            }
            for (l, p) in labels_map.iter_mut().zip(pending.iter()) {
                if *p {
                    *l = labels::ABDOMINAL_WALL;
                }
            }
        }
        OverrideTissue::Psoas => {
            let midline = body_midline(labels_map.view());
            for l in labels_map.iter_mut() {
                if labels::is_psoas(*l) {
                    *l = labels::BACKGROUND;
                }
            }
            for ((i, j), &m) in ov.mask.indexed_iter() {
                if m {
                    labels_map[[i, j]] = if j as f64 > midline {
                        labels::PSOAS_LEFT
                    } else {
                        labels::PSOAS_RIGHT
                    };
                }
            }
        }
    }
    Ok(())
}

/// Mean column of tissue-labelled pixels: the body's midline.
fn body_midline(labels_map: ArrayView2<'_, u8>) -> f64 {
    let (mut n, mut s) = (0u64, 0f64);
    for ((_, j), &l) in labels_map.indexed_iter() {
        if l != labels::BACKGROUND {
            n += 1;
            s += j as f64;
        }
    }
    if n == 0 {
        (labels_map.ncols() as f64 - 1.0) / 2.0
    } else {
        s / n as f64
    }
}

/// Running sums for one label.
#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    sum: f64,
    sum2: f64,
    min: i16,
    max: i16,
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            n: 0,
            sum: 0.0,
            sum2: 0.0,
            min: i16::MAX,
            max: i16::MIN,
        }
    }
}

impl Acc {
    fn merge(items: &[Acc]) -> Acc {
        items.iter().fold(Acc::default(), |a, b| Acc {
            n: a.n + b.n,
            sum: a.sum + b.sum,
            sum2: a.sum2 + b.sum2,
            min: a.min.min(b.min),
            max: a.max.max(b.max),
        })
    }

    fn stats(&self, pixel_cm2: f64) -> TissueStats {
        if self.n == 0 {
            return TissueStats::default();
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        TissueStats {
            pixels: self.n,
            area_cm2: n * pixel_cm2,
            hu_mean: Some(mean),
            hu_sd: Some((self.sum2 / n - mean * mean).max(0.0).sqrt()),
            hu_min: Some(f64::from(self.min)),
            hu_max: Some(f64::from(self.max)),
            hu_sum: self.sum,
        }
    }
}

/// Per-tissue statistics of one slice.
pub fn slice_stats(
    hu: ArrayView2<'_, i16>,
    labels_map: ArrayView2<'_, u8>,
    pixel_cm2: f64,
) -> Result<TissueSet<TissueStats>, MetricsError> {
    if hu.dim() != labels_map.dim() {
        return Err(MetricsError::ShapeMismatch {
            expected: hu.dim(),
            got: labels_map.dim(),
        });
    }
    let mut acc = [Acc::default(); 8];
    for (&h, &l) in hu.iter().zip(labels_map.iter()) {
        if l == labels::BACKGROUND || l > labels::IMAT {
            continue;
        }
        let a = &mut acc[l as usize];
        let v = f64::from(h);
        a.n += 1;
        a.sum += v;
        a.sum2 += v * v;
        a.min = a.min.min(h);
        a.max = a.max.max(h);
    }
    let one = |l: u8| acc[l as usize].stats(pixel_cm2);
    Ok(TissueSet {
        muscle: Acc::merge(&[
            acc[labels::PSOAS_LEFT as usize],
            acc[labels::PSOAS_RIGHT as usize],
            acc[labels::PARASPINAL as usize],
            acc[labels::ABDOMINAL_WALL as usize],
        ])
        .stats(pixel_cm2),
        psoas: Acc::merge(&[
            acc[labels::PSOAS_LEFT as usize],
            acc[labels::PSOAS_RIGHT as usize],
        ])
        .stats(pixel_cm2),
        psoas_left: one(labels::PSOAS_LEFT),
        psoas_right: one(labels::PSOAS_RIGHT),
        paraspinal: one(labels::PARASPINAL),
        abdominal_wall: one(labels::ABDOMINAL_WALL),
        sat: one(labels::SAT),
        vat: one(labels::VAT),
        imat: one(labels::IMAT),
    })
}

/// Volume and mass of one tissue over the slices.
fn tissue_volume(stats: &[&TissueStats], spacing_cm: f64) -> TissueVolume {
    let volume_cm3: f64 = stats.iter().map(|s| s.area_cm2 * spacing_cm).sum();
    let pixels: u64 = stats.iter().map(|s| s.pixels).sum();
    let hu_sum: f64 = stats.iter().map(|s| s.hu_sum).sum();
    let hu_mean = (pixels > 0).then(|| hu_sum / pixels as f64);
    TissueVolume {
        volume_cm3,
        hu_mean,
        mass_g: hu_mean.map(|m| volume_cm3 * (1.0 + 0.001 * m)),
    }
}

/// SMI, psoas index and the Prado flag from the mid slice's areas.
fn indices(
    middle: &TissueSet<TissueStats>,
    patient: &PatientInfo,
) -> (Derived<f64>, Derived<f64>, Derived<bool>) {
    let Some(h) = patient.height_m.filter(|h| h.is_finite() && *h > 0.0) else {
        let why = "patient height unknown (no PatientSize in the header)";
        return (
            Derived::missing(why),
            Derived::missing(why),
            Derived::missing(why),
        );
    };
    let smi = middle.muscle.area_cm2 / (h * h);
    let psoas = middle.psoas.area_cm2 / (h * h);
    let flag = match patient.sex.as_deref().map(str::trim) {
        Some("M") => Derived::known(smi < PRADO_MEN),
        Some("F") => Derived::known(smi < PRADO_WOMEN),
        Some(other) if !other.is_empty() => Derived::missing(format!(
            "no Prado cut-off for patient sex {other:?} (only M and F)"
        )),
        _ => Derived::missing("patient sex unknown (no PatientSex in the header)"),
    };
    (Derived::known(smi), Derived::known(psoas), flag)
}

/// Metrics over the measured slices (the L3 range) of `vol`.
///
/// `slices` hold the final label maps (overrides already applied); the finding's mid
/// slice must be among them. `mask_source` records where the masks came from.
pub fn compute(
    vol: &Volume,
    slices: &[SliceLabels],
    finding: &L3Finding,
    patient: &PatientInfo,
    mask_source: &str,
) -> Result<Metrics, MetricsError> {
    if slices.is_empty() {
        return Err(MetricsError::EmptyRange);
    }
    let mid = finding.mid_slice_index.ok_or(MetricsError::NoMidSlice)? as usize;
    let pixel_cm2 = vol.pixel_area_cm2();
    let mut per_slice = Vec::with_capacity(slices.len());
    for s in slices {
        if s.index >= vol.slices() {
            return Err(MetricsError::SliceOutOfRange {
                index: s.index,
                slices: vol.slices(),
            });
        }
        let tissues = slice_stats(vol.slice(s.index), s.labels.view(), pixel_cm2)?;
        per_slice.push(SliceMetrics {
            index: s.index as u32,
            z_mm: vol.z_mm[s.index],
            sop_instance_uid: vol.sop_uids.get(s.index).cloned().unwrap_or_default(),
            tissues,
        });
    }
    per_slice.sort_by_key(|s| s.index);
    let middle = per_slice
        .iter()
        .find(|s| s.index as usize == mid)
        .cloned()
        .ok_or(MetricsError::MidSliceNotMeasured(mid))?;
    let spacing_cm = vol.slice_spacing / 10.0;
    let sets: Vec<&TissueSet<TissueStats>> = per_slice.iter().map(|s| &s.tissues).collect();
    let pick = |f: fn(&TissueSet<TissueStats>) -> &TissueStats| {
        let v: Vec<&TissueStats> = sets.iter().map(|s| f(s)).collect();
        tissue_volume(&v, spacing_cm)
    };
    let volumes = TissueSet {
        muscle: pick(|s| &s.muscle),
        psoas: pick(|s| &s.psoas),
        psoas_left: pick(|s| &s.psoas_left),
        psoas_right: pick(|s| &s.psoas_right),
        paraspinal: pick(|s| &s.paraspinal),
        abdominal_wall: pick(|s| &s.abdominal_wall),
        sat: pick(|s| &s.sat),
        vat: pick(|s| &s.vat),
        imat: pick(|s| &s.imat),
    };
    let (smi, psoas_index, sarcopenic) = indices(&middle.tissues, patient);
    Ok(Metrics {
        middle,
        slices: per_slice,
        volumes,
        smi_cm2_m2: smi,
        psoas_index_cm2_m2: psoas_index,
        sarcopenic,
        mask_source: mask_source.to_string(),
        segmentation_notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use idoctor_protocol::L3Status;
    use ndarray::{Array3, array};

    /// A 3-slice volume of 4×4 pixels of 0.5 × 2 mm (1 mm² = 0.01 cm²), 2.5 mm apart.
    fn volume(meta: SeriesMeta) -> Volume {
        let mut hu = Array3::<i16>::zeros((3, 4, 4));
        for ((k, i, j), v) in hu.indexed_iter_mut() {
            *v = (k * 100 + i * 10 + j) as i16 - 50;
        }
        Volume {
            hu,
            z_mm: vec![10.0, 12.5, 15.0],
            sop_uids: vec!["1.1".into(), "1.2".into(), "1.3".into()],
            pixel_spacing: [0.5, 2.0],
            slice_spacing: 2.5,
            orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            origin: [0.0, 0.0, 10.0],
            flipped_rows: false,
            flipped_cols: false,
            meta,
            warnings: vec![],
        }
    }

    fn finding(mid: u32) -> L3Finding {
        L3Finding {
            status: L3Status::Found,
            mid_z_mm: Some(12.5),
            z_range_mm: Some([10.0, 15.0]),
            mid_slice_index: Some(mid),
            mid_slice_uid: Some("1.2".into()),
            confidence: 1.0,
            low_confidence: false,
            method: "classical".into(),
            anchors: vec![],
            reason: None,
            evidence: vec![],
        }
    }

    fn map() -> Array2<u8> {
        array![[1, 1, 2, 0], [3, 3, 3, 4], [5, 5, 6, 7], [0, 0, 0, 0]]
    }

    #[test]
    fn slice_stats_are_exact() {
        let v = volume(SeriesMeta::default());
        let s = slice_stats(v.slice(1), map().view(), v.pixel_area_cm2()).unwrap();
        // Slice 1 HU = 50 + 10 i + j.
        assert_eq!(s.psoas_left.pixels, 2);
        assert_eq!(s.psoas_left.hu_sum, 50.0 + 51.0);
        assert_eq!(s.psoas_left.hu_mean, Some(50.5));
        assert_eq!(s.psoas_left.hu_sd, Some(0.5));
        assert_eq!(s.psoas.pixels, 3);
        assert_eq!(s.psoas.hu_max, Some(52.0));
        // Muscle = labels 1..4: (0,0) (0,1) (0,2) (1,0) (1,1) (1,2) (1,3).
        assert_eq!(s.muscle.pixels, 7);
        assert!((s.muscle.area_cm2 - 0.07).abs() < 1e-12);
        assert_eq!(s.muscle.hu_min, Some(50.0));
        assert_eq!(s.muscle.hu_max, Some(63.0));
        assert_eq!(
            s.muscle.hu_sum,
            50.0 + 51.0 + 52.0 + 60.0 + 61.0 + 62.0 + 63.0
        );
        let mean = s.muscle.hu_sum / 7.0;
        let var = [50.0, 51.0, 52.0, 60.0, 61.0, 62.0, 63.0]
            .iter()
            .map(|x| (x - mean) * (x - mean))
            .sum::<f64>()
            / 7.0;
        assert!((s.muscle.hu_sd.unwrap() - var.sqrt()).abs() < 1e-9);
        assert_eq!(s.sat.pixels, 2);
        assert_eq!(s.vat.hu_sum, 72.0);
        assert_eq!(s.imat.hu_min, Some(73.0));
        // Empty tissue: no stats, area 0, sum 0.
        let empty = slice_stats(v.slice(1), Array2::zeros((4, 4)).view(), 0.01).unwrap();
        assert_eq!(empty.muscle.hu_mean, None);
        assert_eq!(empty.muscle.pixels, 0);
    }

    #[test]
    fn volumes_masses_and_indices() {
        let meta = SeriesMeta {
            height_m: Some(0.1),
            sex: Some("F".into()),
            ..Default::default()
        };
        let v = volume(meta.clone());
        let slices: Vec<SliceLabels> = (0..3)
            .map(|k| SliceLabels {
                index: k,
                labels: map(),
            })
            .collect();
        let m = compute(&v, &slices, &finding(1), &patient_info(&meta), "classical").unwrap();
        assert_eq!(m.slices.len(), 3);
        assert_eq!(m.middle.index, 1);
        // Muscle: 7 px × 0.01 cm² × 0.25 cm × 3 slices.
        let vol = 7.0 * 0.01 * 0.25 * 3.0;
        assert!((m.volumes.muscle.volume_cm3 - vol).abs() < 1e-12);
        // Mean HU over the range: slices add 0, 100, 200 to slice 0's values.
        let base = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0].iter().sum::<f64>() / 7.0 - 50.0;
        let mean = base + 100.0;
        assert!((m.volumes.muscle.hu_mean.unwrap() - mean).abs() < 1e-9);
        assert!((m.volumes.muscle.mass_g.unwrap() - vol * (1.0 + 0.001 * mean)).abs() < 1e-12);
        // SMI = 0.07 cm² / 0.01 m² = 7 → below the women's cut-off.
        assert!((m.smi_cm2_m2.value.unwrap() - 7.0).abs() < 1e-9);
        assert!((m.psoas_index_cm2_m2.value.unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(m.sarcopenic.value, Some(true));
        assert_eq!(m.mask_source, "classical");
    }

    #[test]
    fn prado_cut_offs_by_sex() {
        let area = |a: f64| TissueSet {
            muscle: TissueStats {
                pixels: 1,
                area_cm2: a,
                ..Default::default()
            },
            ..Default::default()
        };
        let p = |sex: &str| PatientInfo {
            height_m: Some(1.0),
            sex: Some(sex.into()),
            age_years: None,
        };
        assert_eq!(indices(&area(52.3), &p("M")).2.value, Some(true));
        assert_eq!(indices(&area(52.4), &p("M")).2.value, Some(false));
        assert_eq!(indices(&area(38.4), &p("F")).2.value, Some(true));
        assert_eq!(indices(&area(38.5), &p("F")).2.value, Some(false));
        let other = indices(&area(30.0), &p("O")).2;
        assert_eq!(other.value, None);
        assert!(other.reason.unwrap().contains("\"O\""));
    }

    #[test]
    fn missing_values_carry_reasons_never_zero() {
        let v = volume(SeriesMeta::default());
        let slices = vec![SliceLabels {
            index: 1,
            labels: map(),
        }];
        let m = compute(
            &v,
            &slices,
            &finding(1),
            &patient_info(&v.meta),
            "classical",
        )
        .unwrap();
        for d in [&m.smi_cm2_m2, &m.psoas_index_cm2_m2] {
            assert_eq!(d.value, None);
            assert!(d.reason.as_deref().unwrap().contains("height unknown"));
        }
        assert_eq!(m.sarcopenic.value, None);
        // Height known, sex unknown: SMI known, flag missing.
        let p = PatientInfo {
            height_m: Some(1.7),
            sex: None,
            age_years: None,
        };
        let m = compute(&v, &slices, &finding(1), &p, "classical").unwrap();
        assert!(m.smi_cm2_m2.value.is_some());
        assert!(
            m.sarcopenic
                .reason
                .as_deref()
                .unwrap()
                .contains("sex unknown")
        );
        // Empty tissue over the range: volume 0 but mean HU and mass missing.
        assert_eq!(m.volumes.sat.volume_cm3, 0.02 * 0.25);
        let none = compute(
            &v,
            &[SliceLabels {
                index: 1,
                labels: Array2::zeros((4, 4)),
            }],
            &finding(1),
            &p,
            "classical",
        )
        .unwrap();
        assert_eq!(none.volumes.vat.hu_mean, None);
        assert_eq!(none.volumes.vat.mass_g, None);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let v = volume(SeriesMeta::default());
        let p = PatientInfo::default();
        assert_eq!(
            compute(&v, &[], &finding(1), &p, "x"),
            Err(MetricsError::EmptyRange)
        );
        let s = vec![SliceLabels {
            index: 0,
            labels: map(),
        }];
        assert_eq!(
            compute(&v, &s, &finding(1), &p, "x"),
            Err(MetricsError::MidSliceNotMeasured(1))
        );
        let far = vec![SliceLabels {
            index: 9,
            labels: map(),
        }];
        assert!(matches!(
            compute(&v, &far, &finding(9), &p, "x"),
            Err(MetricsError::SliceOutOfRange { .. })
        ));
        let wrong = vec![SliceLabels {
            index: 1,
            labels: Array2::zeros((2, 2)),
        }];
        assert!(matches!(
            compute(&v, &wrong, &finding(1), &p, "x"),
            Err(MetricsError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn muscle_override_is_verbatim() {
        let mut l = map();
        // The operator says: muscle is the left two columns, rows 0..3.
        let mask = Array2::from_shape_fn((4, 4), |(i, j)| i < 3 && j < 2);
        apply_override(
            &mut l,
            &MaskOverride {
                tissue: OverrideTissue::Muscle,
                mask: mask.clone(),
            },
        )
        .unwrap();
        let muscle: Vec<bool> = l.iter().map(|&x| labels::is_muscle(x)).collect();
        assert_eq!(muscle, mask.iter().copied().collect::<Vec<_>>());
        // Kept pixels keep their sub-label; new ones copy the nearest kept one.
        assert_eq!(l[[0, 0]], labels::PSOAS_LEFT);
        assert_eq!(l[[1, 1]], labels::PARASPINAL);
        assert_eq!(l[[2, 0]], labels::PARASPINAL);
        // Old muscle outside the mask is gone; other tissues outside are kept.
        assert_eq!(l[[0, 2]], labels::BACKGROUND);
        assert_eq!(l[[2, 2]], labels::VAT);
        // An isolated component with no muscle seed becomes wall muscle.
        let mut l = Array2::<u8>::zeros((4, 4));
        let mask = Array2::from_shape_fn((4, 4), |(i, j)| i == 3 && j == 3);
        apply_override(
            &mut l,
            &MaskOverride {
                tissue: OverrideTissue::Muscle,
                mask,
            },
        )
        .unwrap();
        assert_eq!(l[[3, 3]], labels::ABDOMINAL_WALL);
    }

    #[test]
    fn psoas_override_splits_at_midline_and_counts_as_muscle() {
        // A symmetric body of SAT, psoas elsewhere to be replaced.
        let mut l = Array2::<u8>::from_elem((4, 6), labels::SAT);
        l[[0, 0]] = labels::PSOAS_RIGHT;
        let mask = Array2::from_shape_fn((4, 6), |(i, j)| i == 2 && (j == 1 || j == 4));
        apply_override(
            &mut l,
            &MaskOverride {
                tissue: OverrideTissue::Psoas,
                mask,
            },
        )
        .unwrap();
        assert_eq!(l[[0, 0]], labels::BACKGROUND);
        assert_eq!(l[[2, 1]], labels::PSOAS_RIGHT);
        assert_eq!(l[[2, 4]], labels::PSOAS_LEFT);
        let hu = Array2::<i16>::zeros((4, 6));
        let s = slice_stats(hu.view(), l.view(), 1.0).unwrap();
        assert_eq!(s.muscle.pixels, 2);
        assert_eq!(s.psoas_left.pixels, 1);
        // Shape mismatch is an error, not a panic.
        let bad = MaskOverride {
            tissue: OverrideTissue::Psoas,
            mask: Array2::from_elem((2, 2), true),
        };
        assert!(apply_override(&mut l, &bad).is_err());
    }
}
