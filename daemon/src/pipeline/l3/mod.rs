//! Classical L3 localisation: which axial slices show the third lumbar vertebra.
//!
//! The method follows what a radiologist does, in steps that each live in a module:
//! 1. [`grid`]: reduce the volume to ~2 mm voxels (mean and max), once;
//! 2. [`body`]: the patient's body on every slice;
//! 3. [`column`]: the spinal canal's track, which places the vertebral body;
//! 4. [`bone`]: a bone threshold fitted to the patient, and the vertebra on each slice;
//! 5. [`discs`]: the body-column signal and the chain of discs fitted to it;
//! 6. [`anchors`]: the top of the sacrum (S1) and the lowest rib head (T12);
//! 7. [`count`]: L5→L3 up from S1, L1→L3 down from T12, agreement and confidence.
//!
//! The answer is refused (`not_found`) rather than guessed when the count cannot be
//! anchored or the anchors disagree; a single anchor gives a flagged answer that says
//! which anchor it used.

pub mod anchors;
pub mod body;
pub mod bone;
pub mod column;
pub mod count;
pub mod discs;
pub mod grid;
pub mod morph;
#[cfg(test)]
pub(crate) mod testvol;

use idoctor_protocol::analysis::{L3Finding, L3Status, VertebraLevel};

use crate::dicom::Volume;
pub use anchors::AnchorParams;
pub use column::{ColumnParams, SpineColumn, find_column};
pub use discs::DiscParams;

/// Tunables of the classical L3 localiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L3Params {
    /// Work-grid voxel size, mm. Coarser is faster; finer than ~2 mm adds nothing.
    pub grid_mm: f64,
    /// Canal search.
    pub column: ColumnParams,
    /// Disc chain fit.
    pub discs: DiscParams,
    /// S1 and T12 searches.
    pub anchors: AnchorParams,
    /// Findings with a confidence below this are flagged `low_confidence` for review.
    pub low_confidence_below: f64,
}

impl Default for L3Params {
    fn default() -> Self {
        Self {
            grid_mm: 2.0,
            column: ColumnParams::default(),
            discs: DiscParams::default(),
            anchors: AnchorParams::default(),
            low_confidence_below: 0.75,
        }
    }
}

/// A localisation with the spine track it found, so callers (the sagittal reformat)
/// need not search for the spine twice.
#[derive(Debug, Clone)]
pub struct L3Detection {
    /// The result.
    pub finding: L3Finding,
    /// The spinal column, when one was found.
    pub column: Option<SpineColumn>,
    /// What the count was built from, for logs, benchmarks and debugging.
    pub diagnostics: Diagnostics,
}

/// The intermediate findings behind an L3 answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    /// z of every disc of the fitted chain, inferior first, mm.
    pub discs_z: Vec<f64>,
    /// Prominence of each disc (normalised signal units).
    pub discs_prominence: Vec<f64>,
    /// z of the top of S1 when the sacrum was seen, mm.
    pub s1_top_z: Option<f64>,
    /// Rib heads found: z (mm) and side (−1 right, +1 left).
    pub rib_heads: Vec<(f64, i8)>,
    /// Bone threshold fitted to this patient, HU.
    pub bone_hu: i16,
    /// Whether the canal was seen (not the fallback).
    pub canal_seen: bool,
    /// The body-column signal per work-grid bin, with the bin z (mm).
    pub signal: Vec<(f64, f64)>,
    /// Left–right width of the vertebra's bony component per bin, mm.
    pub vertebra_width_mm: Vec<f64>,
}

/// Locates L3 in a volume. Never panics; reports `not_found` with a reason instead of
/// guessing.
pub fn locate_l3(vol: &Volume, params: &L3Params) -> L3Finding {
    detect(vol, params).finding
}

/// [`locate_l3`], also returning the spinal column it tracked.
pub fn detect(vol: &Volume, params: &L3Params) -> L3Detection {
    let Some(grid) = grid::Grid::build(vol, params.grid_mm) else {
        return L3Detection {
            finding: count::not_found("spine not found: the volume is empty"),
            column: None,
            diagnostics: Diagnostics::default(),
        };
    };
    let body = body::Body::find(&grid);
    let Some(track) = column::track(&grid, &body, &params.column) else {
        return L3Detection {
            finding: count::not_found("spine not found"),
            column: None,
            diagnostics: Diagnostics::default(),
        };
    };
    let column = SpineColumn::from_track(&grid, &track, vol.slices());
    let bone_hu = bone::bone_threshold(&grid, &track);
    let signal = discs::body_signal(&grid, &track, bone_hu);
    let chain = discs::fit_discs(&signal, &grid.z_mm, &params.discs);
    let vert = bone::Vertebrae::find(&grid, &body, &track, bone::vertebra_threshold(bone_hu));
    let rib_hu = bone::rib_threshold(bone_hu);
    let ribs = anchors::ribs(&grid, &body, &track, &vert, rib_hu, &params.anchors);
    let s1_top = anchors::sacrum_run(&grid, &vert, &ribs, &params.anchors).map(|r| r.1);
    let ribs = anchors::ribs_above_sacrum(ribs, s1_top);
    let lowest_rib = ribs.iter().map(|r| r.head_z).reduce(f64::min);
    let (z_min, z_max) = (vol.z_mm[0], vol.z_mm[vol.slices() - 1]);
    let c = count::count(&count::CountInput {
        discs: &chain,
        s1_top,
        lowest_rib,
        z_min,
        z_max,
        max_spacing: params.discs.max_spacing_mm,
        rib_above_disc: params.anchors.rib_head_above_disc_mm,
        from_canal: track.from_canal,
    });
    let diagnostics = Diagnostics {
        discs_z: chain.iter().map(|d| d.z).collect(),
        discs_prominence: chain.iter().map(|d| d.prominence).collect(),
        s1_top_z: s1_top,
        rib_heads: ribs.iter().map(|r| (r.head_z, r.side)).collect(),
        bone_hu,
        canal_seen: track.from_canal,
        signal: grid
            .z_mm
            .iter()
            .copied()
            .zip(signal.iter().copied())
            .collect(),
        vertebra_width_mm: vert.width_mm.clone(),
    };
    L3Detection {
        finding: finish(vol, c, params),
        column: Some(column),
        diagnostics,
    }
}

/// Ties a count to the volume's slices.
fn finish(vol: &Volume, c: count::Count, params: &L3Params) -> L3Finding {
    let (mid_z, idx, uid) = match c.mid {
        Some(mid) if c.status == L3Status::Found => {
            let k = vol.nearest_slice(mid);
            (
                Some(vol.z_mm[k]),
                Some(k as u32),
                vol.sop_uids.get(k).cloned(),
            )
        }
        _ => (None, None, None),
    };
    L3Finding {
        status: c.status,
        mid_z_mm: mid_z,
        z_range_mm: c.range,
        mid_slice_index: idx,
        mid_slice_uid: uid,
        confidence: c.confidence,
        low_confidence: c.confidence < params.low_confidence_below,
        method: "classical".into(),
        anchors: c.anchors,
        reason: c.reason,
        evidence: c.evidence,
    }
}

/// An operator's correction of L3: the slice nearest `z_mm` becomes the mid slice.
///
/// The L3 range is the detected one shifted by the same amount when a detection with a
/// range exists, otherwise the mid slice ± 15 mm, clamped to the volume. Labelled levels
/// from the detection move with it, so a sagittal drawing stays consistent.
pub fn operator_l3(vol: &Volume, detected: Option<&L3Finding>, z_mm: f64) -> L3Finding {
    let n = vol.slices().min(vol.z_mm.len());
    operator_l3_on(&vol.z_mm[..n], &vol.sop_uids, detected, z_mm)
}

/// [`operator_l3`] from the slice positions and SOP Instance UIDs alone (inferior
/// first), so a correction can be placed without decoding the series.
pub fn operator_l3_on(
    z: &[f64],
    sop_uids: &[String],
    detected: Option<&L3Finding>,
    z_mm: f64,
) -> L3Finding {
    if z.is_empty() || !z_mm.is_finite() {
        let mut f = count::not_found("no slice to place L3 on");
        f.method = "operator".into();
        return f;
    }
    let k = z
        .iter()
        .enumerate()
        .min_by(|a, b| (a.1 - z_mm).abs().total_cmp(&(b.1 - z_mm).abs()))
        .map_or(0, |(k, _)| k);
    let mid = z[k];
    let (z_lo, z_hi) = (z[0], z[z.len() - 1]);
    let shift = detected.and_then(|d| Some((d.z_range_mm?, mid - d.mid_z_mm?)));
    let (range, evidence) = match (shift, detected) {
        (Some((r, delta)), Some(d)) => (
            [r[0] + delta, r[1] + delta],
            d.evidence
                .iter()
                .map(|e| VertebraLevel {
                    label: e.label.clone(),
                    z_range_mm: [e.z_range_mm[0] + delta, e.z_range_mm[1] + delta],
                })
                .collect(),
        ),
        _ => ([(mid - 15.0).max(z_lo), (mid + 15.0).min(z_hi)], Vec::new()),
    };
    L3Finding {
        status: L3Status::Found,
        mid_z_mm: Some(mid),
        z_range_mm: Some(range),
        mid_slice_index: Some(k as u32),
        mid_slice_uid: sop_uids.get(k).cloned(),
        confidence: 1.0,
        low_confidence: false,
        method: "operator".into(),
        anchors: Vec::new(),
        reason: None,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testvol::{SpineSpec, spine_volume, volume};

    #[test]
    fn operator_snaps_and_shifts() {
        let vol = volume(20, 4, 4, [1.0, 1.0], 3.0, 0);
        let none = operator_l3(&vol, None, 31.2);
        assert_eq!(none.mid_z_mm, Some(30.0));
        assert_eq!(none.mid_slice_index, Some(10));
        assert_eq!(none.z_range_mm, Some([15.0, 45.0]));
        assert_eq!(none.method, "operator");
        assert_eq!(none.confidence, 1.0);
        let edge = operator_l3(&vol, None, -100.0);
        assert_eq!(edge.z_range_mm, Some([0.0, 15.0]));
        let mut det = count::not_found("x");
        det.status = L3Status::Found;
        det.mid_z_mm = Some(20.0);
        det.z_range_mm = Some([10.0, 32.0]);
        det.evidence = vec![VertebraLevel {
            label: "L3".into(),
            z_range_mm: [10.0, 32.0],
        }];
        let moved = operator_l3(&vol, Some(&det), 26.0);
        assert_eq!(moved.mid_z_mm, Some(27.0));
        assert_eq!(moved.z_range_mm, Some([17.0, 39.0]));
        assert_eq!(moved.evidence[0].z_range_mm, [17.0, 39.0]);
        assert_eq!(moved.mid_slice_uid.as_deref(), Some("1.2.3.9"));
    }

    #[test]
    fn degenerate_volumes_do_not_panic() {
        let p = L3Params::default();
        for (n, h, w) in [(0, 8, 8), (1, 1, 1), (1, 64, 64), (3, 2, 300), (40, 5, 5)] {
            let vol = volume(n, h, w, [0.8, 0.8], 2.5, 40);
            let f = locate_l3(&vol, &p);
            assert_eq!(f.status, L3Status::NotFound, "{n}×{h}×{w}");
            assert!(f.reason.is_some());
        }
        let vol = volume(0, 4, 4, [1.0, 1.0], 1.0, 0);
        assert_eq!(operator_l3(&vol, None, 3.0).status, L3Status::NotFound);
    }

    #[test]
    fn synthetic_spine_finds_l3_with_both_anchors() {
        let spec = SpineSpec::default();
        let (vol, truth) = spine_volume(&spec);
        let f = locate_l3(&vol, &L3Params::default());
        assert_eq!(f.status, L3Status::Found, "{f:?}");
        let mid = f.mid_z_mm.expect("mid");
        assert!(
            (mid - truth.l3_mid).abs() <= spec.slice_mm,
            "{mid} vs {}",
            truth.l3_mid
        );
        assert_eq!(f.anchors, vec!["S1", "T12"]);
        assert!(!f.low_confidence, "{f:?}");
    }
}
