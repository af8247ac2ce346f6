//! Where the spinal column runs: the spinal canal's centre on every slice.
//!
//! The canal is the one landmark present at every level of the spine, and it is easy to
//! tell apart from contrast-filled vessels: over a slab of about 30 mm, the maximum
//! intensity projection shows the vertebra (body, pedicles, laminae) as a closed bony
//! ring around a dark hole. Aorta, kidneys and bowel never make such a hole with a
//! vertebral body in front of it. Candidates are found every few millimetres, the most
//! posterior dark hole near the body's midline wins, and a running median over z rejects
//! stray holes. Both the L3 localiser and the mid-sagittal reformat use this track.

use ndarray::Array2;
use rayon::prelude::*;

use super::body::Body;
use super::grid::Grid;
use super::morph::{fill_holes, label2d};
use crate::dicom::Volume;

/// Distance from the canal centre forward to the middle of the vertebral body, mm.
pub(crate) const CANAL_TO_BODY_MM: f64 = 20.0;

/// Tunables of the canal search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnParams {
    /// Half thickness of the projection slab, mm.
    pub slab_half_mm: f64,
    /// Distance between sampled slabs, mm.
    pub step_mm: f64,
    /// HU above which the projection counts as bone.
    pub bone_hu: i16,
    /// Mean HU above which a hole is not canal (CSF and epidural fat are below).
    pub max_canal_hu: f64,
    /// Canal cross-section limits, mm².
    pub area_mm2: (f64, f64),
    /// How far from the body's left–right centre the canal may lie, mm.
    pub max_offset_mm: f64,
}

impl Default for ColumnParams {
    fn default() -> Self {
        Self {
            slab_half_mm: 15.0,
            step_mm: 6.0,
            bone_hu: 200,
            max_canal_hu: 90.0,
            area_mm2: (40.0, 700.0),
            max_offset_mm: 50.0,
        }
    }
}

/// The canal track on the work grid, one entry per bin (grid coordinates).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Track {
    /// Canal centre row per bin.
    pub y: Vec<f64>,
    /// Canal centre column per bin.
    pub x: Vec<f64>,
    /// True when the canal was seen; false when the position came from the bone
    /// frequency fallback (no canal visible), which deserves less trust.
    pub from_canal: bool,
}

impl Track {
    /// Row of the vertebral body's middle on bin `b`.
    pub fn body_y(&self, grid: &Grid, b: usize) -> f64 {
        self.y[b] - grid.rows_of(CANAL_TO_BODY_MM)
    }
}

/// The spinal column of a volume in source pixel coordinates, one entry per slice.
#[derive(Debug, Clone, PartialEq)]
pub struct SpineColumn {
    /// Row (y) of the spinal canal's centre on each slice.
    pub canal_row: Vec<f64>,
    /// Column (x) of the spinal canal's centre on each slice.
    pub canal_col: Vec<f64>,
    /// Whether the canal itself was seen (false: a coarser bone-frequency estimate).
    pub from_canal: bool,
}

impl SpineColumn {
    /// The median canal column: where a straight mid-sagittal plane through the spine
    /// goes.
    pub fn median_col(&self) -> Option<f64> {
        median(&self.canal_col)
    }

    /// Maps a grid track back to source slices and pixels.
    pub(crate) fn from_track(grid: &Grid, track: &Track, slices: usize) -> SpineColumn {
        let mut canal_row = vec![0.0; slices];
        let mut canal_col = vec![0.0; slices];
        for (b, &(s, e)) in grid.bins.iter().enumerate() {
            for k in s..e.min(slices) {
                canal_row[k] = grid.source_row(track.y[b]);
                canal_col[k] = grid.source_col(track.x[b]);
            }
        }
        SpineColumn {
            canal_row,
            canal_col,
            from_canal: track.from_canal,
        }
    }
}

/// Finds the spinal column of a volume. `None` when no spine can be seen.
pub fn find_column(vol: &Volume) -> Option<SpineColumn> {
    let grid = Grid::build(vol, super::L3Params::default().grid_mm)?;
    let body = Body::find(&grid);
    let track = track(&grid, &body, &ColumnParams::default())?;
    Some(SpineColumn::from_track(&grid, &track, vol.slices()))
}

/// One canal sighting: bin, row, column.
type Sighting = (usize, f64, f64);

/// Tracks the canal through every bin of the grid.
pub(crate) fn track(grid: &Grid, body: &Body, p: &ColumnParams) -> Option<Track> {
    let n = grid.len();
    if n == 0 {
        return None;
    }
    let mut samples = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for (b, &z) in grid.z_mm.iter().enumerate() {
        if z - last >= p.step_mm || b + 1 == n {
            samples.push(b);
            last = z;
        }
    }
    let sightings: Vec<Sighting> = samples
        .par_iter()
        .filter_map(|&b| canal_in_slab(grid, body, b, p))
        .collect();
    let needed = 2.max(samples.len() / 5);
    if let Some(t) = robust_track(grid, &sightings, needed) {
        return Some(t);
    }
    frequency_fallback(grid, body, p)
}

/// The most posterior canal-like hole in the projection of the slab around bin `b`.
fn canal_in_slab(grid: &Grid, body: &Body, b: usize, p: &ColumnParams) -> Option<Sighting> {
    let z0 = grid.z_mm[b];
    let slab: Vec<usize> = (0..grid.len())
        .filter(|&k| (grid.z_mm[k] - z0).abs() <= p.slab_half_mm)
        .collect();
    let (h, w) = (grid.rows(), grid.cols());
    let bx = body.x_centre[b];
    let half = grid.cols_of(p.max_offset_mm + 20.0);
    let x0 = clamp_idx(bx - half, w);
    let x1 = clamp_idx(bx + half, w).max(x0);
    let cw = x1 - x0 + 1;
    if h < 3 || cw < 3 {
        return None;
    }
    let mut mip = vec![i16::MIN; h * cw];
    let mut sum = vec![0i32; h * cw];
    let w_full = grid.cols();
    for &k in &slab {
        let img = grid.mean_at(k);
        let Some(px) = img.as_slice() else { continue };
        for y in 0..h {
            let row = &px[y * w_full + x0..y * w_full + x0 + cw];
            let (m, s) = (
                &mut mip[y * cw..(y + 1) * cw],
                &mut sum[y * cw..(y + 1) * cw],
            );
            for ((&v, m), s) in row.iter().zip(m.iter_mut()).zip(s.iter_mut()) {
                *s += i32::from(v);
                *m = (*m).max(v);
            }
        }
    }
    let mip = Array2::from_shape_vec((h, cw), mip).ok()?;
    let sum = Array2::from_shape_vec((h, cw), sum).ok()?;
    let bone = mip.mapv(|v| v > p.bone_hu);
    let filled = fill_holes(&bone);
    let holes = ndarray::Zip::from(&filled)
        .and(&bone)
        .map_collect(|&f, &b| f && !b);
    let (labels, comps) = label2d(&holes, false);
    // Slab-mean HU summed per hole, in one pass.
    let mut hole_sum = vec![0i64; comps.len() + 1];
    ndarray::Zip::from(&labels).and(&sum).for_each(|&l, &s| {
        hole_sum[l as usize] += i64::from(s);
    });
    let px_area = grid.dy * grid.dx;
    let mut best: Option<Sighting> = None;
    for (i, c) in comps.iter().enumerate() {
        let area = c.area as f64 * px_area;
        if area < p.area_mm2.0 || area > p.area_mm2.1 {
            continue;
        }
        let (cy, cxl) = c.centroid();
        let cx = cxl + x0 as f64;
        if ((cx - bx) * grid.dx).abs() > p.max_offset_mm {
            continue;
        }
        let mean_hu = hole_sum[i + 1] as f64 / (c.area.max(1) * slab.len().max(1)) as f64;
        if mean_hu >= p.max_canal_hu {
            continue;
        }
        // A vertebral body must lie in front of the canal.
        let ya = clamp_idx(cy - grid.rows_of(35.0), h);
        let yb = clamp_idx(cy - grid.rows_of(5.0), h);
        let xa = clamp_idx(cxl - grid.cols_of(8.0), cw);
        let xb = clamp_idx(cxl + grid.cols_of(8.0), cw);
        let (mut on, mut tot) = (0usize, 0usize);
        for y in ya..yb {
            for x in xa..=xb {
                tot += 1;
                on += usize::from(bone[[y, x]]);
            }
        }
        if tot == 0 || (on as f64) < 0.4 * tot as f64 {
            continue;
        }
        if best.is_none_or(|(_, by, _)| cy > by) {
            best = Some((b, cy, cx));
        }
    }
    best
}

/// Running median over ±30 mm with outlier rejection, interpolated to every bin.
fn robust_track(grid: &Grid, pts: &[Sighting], needed: usize) -> Option<Track> {
    if pts.len() < needed {
        return None;
    }
    let n = grid.len();
    let mut keep = vec![true; pts.len()];
    let mut ty = vec![0.0; n];
    let mut tx = vec![0.0; n];
    for _ in 0..3 {
        let mut known: Vec<(usize, f64, f64)> = Vec::new();
        for (b, &z) in grid.z_mm.iter().enumerate() {
            let near: Vec<&Sighting> = pts
                .iter()
                .zip(&keep)
                .filter(|(s, k)| **k && (grid.z_mm[s.0] - z).abs() <= 30.0)
                .map(|(s, _)| s)
                .collect();
            if near.is_empty() {
                continue;
            }
            let ys: Vec<f64> = near.iter().map(|s| s.1).collect();
            let xs: Vec<f64> = near.iter().map(|s| s.2).collect();
            if let (Some(my), Some(mx)) = (median(&ys), median(&xs)) {
                known.push((b, my, mx));
            }
        }
        if known.is_empty() {
            return None;
        }
        interpolate(&known, &mut ty, &mut tx);
        let mut kept = 0;
        for (s, k) in pts.iter().zip(keep.iter_mut()) {
            *k = ((s.1 - ty[s.0]) * grid.dy).abs() < 8.0 && ((s.2 - tx[s.0]) * grid.dx).abs() < 8.0;
            kept += usize::from(*k);
        }
        if kept < needed {
            return None;
        }
    }
    Some(Track {
        y: ty,
        x: tx,
        from_canal: true,
    })
}

/// Linear interpolation between known bins, constant beyond the ends.
fn interpolate(known: &[(usize, f64, f64)], ty: &mut [f64], tx: &mut [f64]) {
    for b in 0..ty.len() {
        let after = known.iter().position(|k| k.0 >= b);
        let (y, x) = match after {
            Some(0) => (known[0].1, known[0].2),
            None => {
                let l = known[known.len() - 1];
                (l.1, l.2)
            }
            Some(i) => {
                let (a, c) = (known[i - 1], known[i]);
                let t = (b - a.0) as f64 / (c.0 - a.0).max(1) as f64;
                (a.1 + t * (c.1 - a.1), a.2 + t * (c.2 - a.2))
            }
        };
        ty[b] = y;
        tx[b] = x;
    }
}

/// Where bone is most frequent near the body's midline, for volumes whose canal cannot
/// be seen (very coarse or synthetic data). The canal is assumed just behind it.
fn frequency_fallback(grid: &Grid, body: &Body, p: &ColumnParams) -> Option<Track> {
    let (n, h, w) = grid.mean.dim();
    let bx = median(&body.x_centre)?;
    let half = grid.cols_of(p.max_offset_mm);
    let (xa, xb) = (clamp_idx(bx - half, w), clamp_idx(bx + half, w));
    let mut freq = Array2::<u32>::zeros((h, w));
    for k in 0..n {
        let img = grid.mean_at(k);
        for y in 0..h {
            for x in xa..=xb {
                if img[[y, x]] > p.bone_hu && body.contains(k, y, x) {
                    freq[[y, x]] += 1;
                }
            }
        }
    }
    let ((py, px), &best) = freq.indexed_iter().max_by_key(|(_, f)| **f)?;
    if (best as f64) < 0.3 * n as f64 {
        return None;
    }
    let canal_y = py as f64 + grid.rows_of(CANAL_TO_BODY_MM);
    Some(Track {
        y: vec![canal_y; n],
        x: vec![px as f64; n],
        from_canal: false,
    })
}

/// Rounds and clamps a fractional index into `0..len` (0 for an empty axis).
pub(crate) fn clamp_idx(v: f64, len: usize) -> usize {
    if len == 0 || !v.is_finite() {
        return 0;
    }
    v.round().clamp(0.0, (len - 1) as f64) as usize
}

/// Median of finite values; `None` when there are none.
pub(crate) fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}
