//! Bone on the work grid: an HU threshold adapted to the patient's bone density, and the
//! vertebra seen on every bin (the bony component holding the vertebral body, with
//! whatever is fused to it on that slice: transverse processes, rib heads, the sacrum
//! with its iliac wings).
//!
//! Osteoporotic or non-contrast bone can sit at 100–150 HU, where a fixed 200 HU cut
//! loses the vertebral body and keeps only its cortex; dense young bone and contrast
//! make a low cut merge vessels into it. The threshold therefore follows the densest
//! tenth of the column's own pixels.

use ndarray::{Array2, Array3};
use rayon::prelude::*;

use super::body::Body;
use super::column::{Track, clamp_idx};
use super::grid::Grid;
use super::morph::{close3, dilate, fill_small_holes, label2d};

/// A fixed window of the work grid that contains the spine and what is fused to it on
/// every bin, so 3D analyses (ribs) can use one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame {
    /// First grid row.
    pub y0: usize,
    /// First grid column.
    pub x0: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

/// The vertebra of every bin, in one frame.
#[derive(Debug, Clone)]
pub(crate) struct Vertebrae {
    /// The frame of `mask`.
    pub frame: Frame,
    /// `[bin, y, x]`: the vertebra's component on each bin.
    pub mask: Array3<bool>,
    /// Left–right extent of that component, mm (0 when none).
    pub width_mm: Vec<f64>,
}

/// The box of the vertebral body on bin `b` in grid coordinates: rows `[ya, yb)` and
/// columns `[xa, xb)`, from 50 mm to 6 mm in front of the canal and ±22 mm across.
pub(crate) fn body_box(grid: &Grid, track: &Track, b: usize) -> (usize, usize, usize, usize) {
    let (h, w) = (grid.rows(), grid.cols());
    let (cy, cx) = (track.y[b], track.x[b]);
    let ya = clamp_idx(cy - grid.rows_of(50.0), h + 1);
    let yb = clamp_idx(cy - grid.rows_of(6.0), h + 1);
    let xa = clamp_idx(cx - grid.cols_of(22.0), w + 1);
    let xb = clamp_idx(cx + grid.cols_of(22.0), w + 1);
    (ya, yb.max(ya), xa, xb.max(xa))
}

/// The bone threshold for this patient: halfway between soft tissue (50 HU) and the
/// 90th percentile of the vertebral-body boxes, kept within 110–200 HU.
pub(crate) fn bone_threshold(grid: &Grid, track: &Track) -> i16 {
    let mut hist = vec![0u64; 4096];
    let mut total = 0u64;
    for b in 0..grid.len() {
        let (ya, yb, xa, xb) = body_box(grid, track, b);
        let img = grid.mean_at(b);
        for y in ya..yb {
            for x in xa..xb {
                let v = (i32::from(img[[y, x]]) + 1024).clamp(0, 4095) as usize;
                hist[v] += 1;
                total += 1;
            }
        }
    }
    if total == 0 {
        return 200;
    }
    let target = (total as f64 * 0.9) as u64;
    let mut acc = 0u64;
    let mut p90 = 200.0;
    for (i, c) in hist.iter().enumerate() {
        acc += c;
        if acc > target {
            p90 = i as f64 - 1024.0;
            break;
        }
    }
    ((p90 + 50.0) / 2.0).clamp(110.0, 200.0) as i16
}

/// The threshold for the vertebra's component: the patient's bone threshold, but no
/// higher than 150 HU, so that thin sacral alae and partial-volumed sacroiliac joints
/// still join the iliac wings to the sacrum on coarse pixels. (Lumbar levels, transverse
/// processes included, stay under ~90 mm wide at 150 HU on real CT.)
pub(crate) fn vertebra_threshold(bone_hu: i16) -> i16 {
    bone_hu.min(150)
}

/// The threshold for rib bone: twice the patient's bone threshold, 250–400 HU. Rib cortex
/// is dense; contrast-filled kidney cortex (200–300 HU) must stay out.
pub(crate) fn rib_threshold(bone_hu: i16) -> i16 {
    (2 * i32::from(bone_hu)).clamp(250, 400) as i16
}

impl Vertebrae {
    /// Finds the vertebra on every bin.
    pub fn find(grid: &Grid, body: &Body, track: &Track, bone_hu: i16) -> Vertebrae {
        let (h, w) = (grid.rows(), grid.cols());
        let fold = |f: fn(f64, f64) -> f64, v: &[f64], init: f64| v.iter().copied().fold(init, f);
        let y0 = clamp_idx(
            fold(f64::min, &track.y, f64::INFINITY) - grid.rows_of(80.0),
            h,
        );
        let y1 = clamp_idx(
            fold(f64::max, &track.y, f64::NEG_INFINITY) + grid.rows_of(60.0),
            h,
        );
        let x0 = clamp_idx(
            fold(f64::min, &track.x, f64::INFINITY) - grid.cols_of(150.0),
            w,
        );
        let x1 = clamp_idx(
            fold(f64::max, &track.x, f64::NEG_INFINITY) + grid.cols_of(150.0),
            w,
        );
        let frame = Frame {
            y0,
            x0,
            h: (y1 + 1).saturating_sub(y0),
            w: (x1 + 1).saturating_sub(x0),
        };
        let per_bin: Vec<(Array2<bool>, f64)> = (0..grid.len())
            .into_par_iter()
            .map(|b| vertebra_of(grid, body, track, b, frame, bone_hu))
            .collect();
        let mut mask = Array3::from_elem((grid.len(), frame.h, frame.w), false);
        let mut width_mm = Vec::with_capacity(grid.len());
        for (b, (m, wd)) in per_bin.into_iter().enumerate() {
            mask.index_axis_mut(ndarray::Axis(0), b).assign(&m);
            width_mm.push(wd);
        }
        Vertebrae {
            frame,
            mask,
            width_mm,
        }
    }
}

fn vertebra_of(
    grid: &Grid,
    body: &Body,
    track: &Track,
    b: usize,
    f: Frame,
    bone_hu: i16,
) -> (Array2<bool>, f64) {
    let img = grid.mean_at(b);
    let mut bone = Array2::from_elem((f.h, f.w), false);
    for y in 0..f.h {
        for x in 0..f.w {
            let (gy, gx) = (y + f.y0, x + f.x0);
            bone[[y, x]] = img[[gy, gx]] > bone_hu && body.contains(b, gy, gx);
        }
    }
    // A lumbar body is at most ~50 × 40 mm; larger enclosed regions are not filled.
    let max_hole = (2000.0 / (grid.dy * grid.dx)).ceil() as usize;
    let solid = fill_small_holes(&close3(&bone), max_hole);
    let (labels, comps) = label2d(&solid, false);
    // The component that covers most of a 10 mm window around the body's middle.
    let cy = track.body_y(grid, b) - f.y0 as f64;
    let cx = track.x[b] - f.x0 as f64;
    let (ry, rx) = (grid.rows_of(10.0), grid.cols_of(10.0));
    let mut votes = vec![0usize; comps.len() + 1];
    if f.h > 0 && f.w > 0 {
        for y in clamp_idx(cy - ry, f.h)..=clamp_idx(cy + ry, f.h) {
            for x in clamp_idx(cx - rx, f.w)..=clamp_idx(cx + rx, f.w) {
                votes[labels[[y, x]] as usize] += 1;
            }
        }
    }
    let best = votes
        .iter()
        .enumerate()
        .skip(1)
        .max_by_key(|(_, v)| **v)
        .filter(|(_, v)| **v > 0)
        .map(|(i, _)| i);
    let Some(id) = best else {
        return (Array2::from_elem((f.h, f.w), false), 0.0);
    };
    let mask = labels.mapv(|l| l as usize == id);
    // The width counts bone across a joint-sized gap too: on coarse pixels the
    // sacroiliac joints separate the iliac wings from the sacrum.
    let near = dilate(&mask, (JOINT_GAP_MM / grid.dx).round().max(1.0) as usize);
    let mut joined = vec![false; comps.len() + 1];
    ndarray::Zip::from(&labels).and(&near).for_each(|&l, &n| {
        if n && l != 0 {
            joined[l as usize] = true;
        }
    });
    let (lo, hi) = comps
        .iter()
        .enumerate()
        .filter(|(i, _)| joined[i + 1])
        .fold((usize::MAX, 0), |(lo, hi), (_, c)| {
            (lo.min(c.bbox[2]), hi.max(c.bbox[3]))
        });
    let width = if lo <= hi {
        (hi - lo + 1) as f64 * grid.dx
    } else {
        0.0
    };
    (mask, width)
}

/// Widest gap between the vertebra and bone counted in its width, mm: a sacroiliac
/// joint, not the space between a transverse process and the iliac crest.
const JOINT_GAP_MM: f64 = 4.0;
