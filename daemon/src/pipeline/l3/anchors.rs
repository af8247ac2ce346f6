//! The two ends the vertebral count is anchored to: the top of the sacrum (S1) and the
//! lowest rib-bearing vertebra (T12).
//!
//! **S1.** At the sacroiliac joints the sacrum and the iliac wings form one bony
//! component (counting bone across a joint-sized gap) wider than about 150 mm, while
//! every lumbar level, transverse processes included, stays under ~90 mm. The top of the
//! lowest run of such wide bins is the top of S1. Wide bone higher up (shoulder girdle,
//! ribs fused to a thoracic vertebra on coarse slices) is ruled out because a rib head
//! lies below it; the sacrum is searched first, and rib candidates within 80 mm above it
//! (iliac wings touching the alae look like ribs) are then discarded.
//!
//! **T12.** The last rib's head articulates with the side of T12's body, then the rib
//! runs out sideways and down, its tip reaching the level of L2 or L3 far laterally. So
//! the lowest slice showing rib bone says nothing; the lowest rib *head* does. A rib is
//! recognised as a 3D-connected piece of dense bone (cortex, HU above ~400 when the
//! pixels allow) that touches the vertebra posterolaterally (a "wing" of the vertebra's
//! component: rib head or neck fused by partial volume, or a transverse process) and
//! has a shaft of its own outside the vertebra's component reaching at least 55 mm from
//! the midline, with a thin cross-section on every slice. Transverse processes are all
//! wing (no shaft) and stop within ~50 mm; contrast-filled kidneys are fat blobs that
//! do not touch the vertebra's wings; the pelvis fails the thinness test.

use ndarray::Array3;

use super::body::Body;
use super::bone::Vertebrae;
use super::column::Track;
use super::grid::Grid;
use super::morph::components3d;

/// Tunables of the anchor searches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnchorParams {
    /// Vertebra component width above which a bin is sacrum with iliac wings, mm.
    pub sacrum_width_mm: f64,
    /// The top of S1 must lie within this distance of the scan's caudal end, mm.
    pub sacrum_search_mm: f64,
    /// Shortest run of wide bins taken for the sacroiliac region, mm.
    pub sacrum_min_run_mm: f64,
    /// How far from the midline a rib's shaft must reach, mm. Lumbar transverse
    /// processes stop at ~47 mm on real CT.
    pub rib_reach_mm: f64,
    /// Smallest volume of a rib's shaft outside the vertebra's component, mm³.
    pub rib_min_shaft_mm3: f64,
    /// Largest cross-section (head and shaft) of one rib piece on one bin, mm².
    pub rib_max_section_mm2: f64,
    /// Where a vertebra's "wing" begins (distance from the midline), mm.
    pub wing_from_mm: f64,
    /// Farthest the lowest rib head may sit above the disc taken as T12/L1, mm.
    pub rib_head_above_disc_mm: f64,
}

impl Default for AnchorParams {
    fn default() -> Self {
        Self {
            sacrum_width_mm: 150.0,
            sacrum_search_mm: 250.0,
            sacrum_min_run_mm: 12.0,
            rib_reach_mm: 55.0,
            rib_min_shaft_mm3: 300.0,
            rib_max_section_mm2: 1500.0,
            wing_from_mm: 30.0,
            rib_head_above_disc_mm: 34.0,
        }
    }
}

/// A rib found articulating with the spine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rib {
    /// z of the rib head (where it meets the vertebra), mm.
    pub head_z: f64,
    /// −1 on the patient's right (smaller x), +1 on the left.
    pub side: i8,
}

/// The sacroiliac run: the lowest substantial run of wide bins, as (bottom z, top z).
/// Its top is the top of S1. A run with a rib head below it is not the pelvis (a
/// shoulder girdle, or ribs fused to a thoracic vertebra on coarse slices).
pub(crate) fn sacrum_run(
    grid: &Grid,
    vert: &Vertebrae,
    ribs: &[Rib],
    p: &AnchorParams,
) -> Option<(f64, f64)> {
    let z = &grid.z_mm;
    let wide: Vec<usize> = (0..grid.len())
        .filter(|&b| vert.width_mm[b] > p.sacrum_width_mm)
        .collect();
    // Runs of wide bins, bridging gaps of up to 12 mm (a joint line, noise, partial
    // volume across a thick slice) or one missing bin on thick slices.
    let gap = 12.0f64.max(2.0 * grid.bin_step()) + 1e-6;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &b in &wide {
        match runs.last_mut() {
            Some(run) if z[b] - z[run.1] <= gap => run.1 = b,
            _ => runs.push((b, b)),
        }
    }
    let step = grid.bin_step();
    let min_run = p.sacrum_min_run_mm.min(2.0 * step);
    let (bottom, top) = runs
        .into_iter()
        .find(|&(a, t)| z[t] - z[a] + step >= min_run - 1e-6)?;
    if z[top] - z[0] > p.sacrum_search_mm {
        return None;
    }
    if ribs.iter().any(|r| r.head_z < z[bottom] - 10.0) {
        return None;
    }
    Some((z[bottom], z[top]))
}

/// Rib candidates that are real ribs once the pelvis is known: none lies within
/// `SACRUM_RIB_GAP_MM` above the top of S1 (an iliac wing touching the sacrum's ala
/// looks like a rib to [`ribs`]; five lumbar vertebrae separate the real ones from S1).
pub(crate) fn ribs_above_sacrum(ribs: Vec<Rib>, s1_top: Option<f64>) -> Vec<Rib> {
    match s1_top {
        Some(top) => ribs
            .into_iter()
            .filter(|r| r.head_z > top + SACRUM_RIB_GAP_MM)
            .collect(),
        None => ribs,
    }
}

/// Smallest distance from the top of S1 to a rib head, mm.
const SACRUM_RIB_GAP_MM: f64 = 80.0;

/// Every rib whose head meets the spine.
pub(crate) fn ribs(
    grid: &Grid,
    body: &Body,
    track: &Track,
    vert: &Vertebrae,
    rib_hu: i16,
    p: &AnchorParams,
) -> Vec<Rib> {
    let f = vert.frame;
    let n = grid.len();
    let mut wing = Array3::from_elem((n, f.h, f.w), false);
    let mut cand = Array3::from_elem((n, f.h, f.w), false);
    for b in 0..n {
        let (cy, cx) = (track.y[b], track.x[b]);
        for y in 0..f.h {
            for x in 0..f.w {
                let (gy, gx) = (y + f.y0, x + f.x0);
                let dx = (gx as f64 - cx).abs() * grid.dx;
                let dy = (gy as f64 - cy) * grid.dy;
                let in_v = vert.mask[[b, y, x]];
                if in_v {
                    let w = dx >= p.wing_from_mm && dy >= -25.0;
                    wing[[b, y, x]] = w;
                    cand[[b, y, x]] = w;
                } else {
                    cand[[b, y, x]] = grid.max[[b, gy, gx]] > rib_hu && body.contains(b, gy, gx);
                }
            }
        }
    }
    let px_area = grid.dx * grid.dy;
    let mut out = Vec::new();
    for comp in components3d(&cand) {
        let mut per_bin = std::collections::HashMap::<usize, usize>::new();
        let (mut head_sum, mut head_n) = (0.0, 0usize);
        let mut shaft_reach: f64 = 0.0;
        let mut side_sum = 0.0;
        for &(b, y, x) in &comp {
            let d = (x + f.x0) as f64 - track.x[b];
            side_sum += d;
            *per_bin.entry(b).or_default() += 1;
            if wing[[b, y, x]] {
                head_sum += grid.z_mm[b];
                head_n += 1;
            } else {
                shaft_reach = shaft_reach.max(d.abs() * grid.dx);
            }
        }
        // A transverse process is all "wing": it has no shaft of its own outside the
        // vertebra's component.
        let shaft_mm3 = (comp.len() - head_n) as f64 * px_area * grid.bin_step();
        if head_n == 0 || shaft_reach < p.rib_reach_mm || shaft_mm3 < p.rib_min_shaft_mm3 {
            continue;
        }
        // The iliac wings fused to the sacrum are wings too, but thick ones.
        let thickest = per_bin.values().copied().max().unwrap_or(0) as f64 * px_area;
        if thickest > p.rib_max_section_mm2 {
            continue;
        }
        out.push(Rib {
            head_z: head_sum / head_n as f64,
            side: if side_sum < 0.0 { -1 } else { 1 },
        });
    }
    out
}
