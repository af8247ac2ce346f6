//! The vertebra on one slice: the landmark that places the psoas, the paraspinal muscles
//! and the posterior closure of the abdominal wall.
//!
//! The vertebral body (or, at a disc, the disc) is the roundest dense object near the
//! posterior midline: among the regions denser than muscle by a margin that have cortical
//! bone on or next to them, the one with the largest inscribed disc close to the midline.
//! Measuring the inscribed disc rather than the area keeps long thin ribs, and a contrast
//! aorta (smaller, anterior), from winning. The excluded "vertebra region" adds the posterior
//! elements and the spinal canal, whose contents fall inside the muscle window.

use ndarray::Array2;

use super::morphology::{
    Mask, Spacing, Window, close_disc, component_at, components, dilate_disc, edt, fill_holes,
};
use super::rays::{Star, star_region};

/// How far (mm) the heavily smoothed vertebral body spreads beyond the bone: its core,
/// eroded by this much, is what is certainly bone.
const VB_BLUR_MARGIN_MM: f32 = 4.0;

/// A hole in a dense component less than this many HU above muscle is soft tissue (the
/// spinal canal), not hypodense bone.
const SOFT_HOLE_MARGIN_HU: f32 = 20.0;

/// Lightly smoothed HU above which a pixel is certainly bone (cortex, or cancellous bone).
const HARD_BONE_HU: f32 = 150.0;
/// Behind hard bone, a dip of the profile to this far below it, followed by a rise of
/// `CANAL_RISE_HU`, is the canal inside its bony ring.
const CANAL_DIP_HU: f32 = 50.0;
const CANAL_RISE_HU: f32 = 30.0;

/// A candidate scores its inscribed radius (mm) less this much per mm its centre lies off
/// the body's midline. The body's centroid is not the spine's midline in an asymmetric or
/// off-centre patient, so a full mm per mm let a spinous process (radius 8 mm, on the
/// centroid) beat a vertebral body (14 mm, 12 mm off it).
const OFF_MIDLINE_COST: f64 = 0.5;

/// How far (mm) beyond the vertebral body's inscribed radius its processes may reach.
const VERTEBRA_REACH_MM: f64 = 75.0;

/// What the segmenter knows about the spine on this slice.
pub(crate) struct Spine {
    /// Centre `(y, x)` of the largest disc inscribed in the vertebra with its canal filled,
    /// pixels: the body's centre, or on a vertebra with a wide arch a point between body and
    /// canal. The wall and paraspinal geometry are measured from it.
    pub centre: (f64, f64),
    /// Centre `(y, x)` of the largest disc inscribed in bone alone (the canal left out):
    /// the vertebral body itself, which the psoas lie beside. Its x is the middle of the
    /// body's deepest ridge: the midline about which the two psoas are mirrored.
    pub body_centre: (f64, f64),
    /// Radius of that disc, pixels along y.
    pub body_radius_px: f64,
    /// Radius of the largest disc inscribed in the vertebral body, pixels along y.
    pub radius_px: f64,
    /// The same radius in mm.
    pub radius_mm: f64,
    /// Vertebra, posterior elements and spinal canal: never muscle, never visceral fat.
    pub region: Mask,
}

/// A candidate vertebral body: its score, inscribed-disc centre and radius, and its filled
/// mask in a box whose top-left corner is `origin`.
struct Candidate {
    score: f64,
    centre: (usize, usize),
    r_mm: f64,
    filled: Mask,
    solid: Mask,
    origin: (usize, usize),
}

/// Finds the vertebra. `smooth` is the lightly smoothed slice, `coarse` the more heavily
/// smoothed one, `muscle_hu` the typical muscle HU of this scan (contrast shifts it).
pub(crate) fn find_spine(
    smooth: &Array2<f32>,
    coarse: &Array2<f32>,
    body: &Mask,
    spacing: Spacing,
    muscle_hu: f32,
) -> Option<Spine> {
    let (h, w) = body.dim();
    let sp_y = spacing[0];
    let sp_x = spacing[1];
    let (mut n, mut sy, mut sx) = (0usize, 0f64, 0f64);
    let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
    for ((y, x), &b) in body.indexed_iter() {
        if b {
            n += 1;
            sy += y as f64;
            sx += x as f64;
            y0 = y0.min(y);
            y1 = y1.max(y);
            x0 = x0.min(x);
            x1 = x1.max(x);
        }
    }
    if n == 0 {
        return None;
    }
    let (cy, cx) = (sy / n as f64, sx / n as f64);
    let (bh, bw) = ((y1 - y0) as f64, (x1 - x0) as f64);
    // Bone, or a disc, is clearly denser than muscle once smoothed; a contrast scan moves
    // muscle up, so the threshold follows it.
    let threshold = (muscle_hu + 45.0).max(60.0);
    let mut dense = Mask::from_elem((h, w), false);
    ndarray::Zip::from(&mut dense)
        .and(coarse)
        .and(body)
        .for_each(|d, &c, &b| *d = b && c > threshold);
    let (lab, comps) = components(&dense, false);
    let px_area = sp_y * sp_x;
    let margin_px = (6.0 / sp_y.min(sp_x)).ceil() as usize + 1;
    let mut best: Option<Candidate> = None;
    for (k, c) in comps.iter().enumerate() {
        if (c.area as f64) * px_area < 150.0 {
            continue;
        }
        let id = k as u32 + 1;
        // Work inside the component's box plus a margin.
        let by0 = c.bbox[0].saturating_sub(margin_px);
        let by1 = (c.bbox[1] + margin_px).min(h - 1);
        let bx0 = c.bbox[2].saturating_sub(margin_px);
        let bx1 = (c.bbox[3] + margin_px).min(w - 1);
        let (hh, ww) = (by1 - by0 + 1, bx1 - bx0 + 1);
        let comp = Mask::from_shape_fn((hh, ww), |(y, x)| lab[[y + by0, x + bx0]] == id);
        let near = dilate_disc(&comp, 5.0, spacing);
        let hard = near
            .indexed_iter()
            .filter(|&((y, x), &m)| {
                m && body[[y + by0, x + bx0]] && smooth[[y + by0, x + bx0]] > 200.0
            })
            .count();
        if (hard as f64) * px_area < 20.0 {
            continue;
        }
        let filled = fill_holes(&comp);
        let dist = edt(&filled, spacing, true);
        // Bone alone: a filled hole that reads as soft tissue is the spinal canal.
        let soft = muscle_hu + SOFT_HOLE_MARGIN_HU;
        let solid = Mask::from_shape_fn((hh, ww), |(y, x)| {
            filled[[y, x]] && (comp[[y, x]] || smooth[[y + by0, x + bx0]] >= soft)
        });
        let mut top: Option<(f32, (usize, usize))> = None;
        for ((y, x), &d) in dist.indexed_iter() {
            let (gy, gx) = ((y + by0) as f64, (x + bx0) as f64);
            if (gx - cx).abs() >= 0.25 * bw || gy <= cy - 0.1 * bh || !d.is_finite() {
                continue;
            }
            if top.is_none_or(|(b, _)| d > b) {
                top = Some((d, (y, x)));
            }
        }
        let Some((r_mm, (qy, qx))) = top else {
            continue;
        };
        let r_mm = r_mm as f64;
        if r_mm < 7.0 {
            continue;
        }
        let score = r_mm - OFF_MIDLINE_COST * ((qx + bx0) as f64 - cx).abs() * sp_x;
        if best.as_ref().is_none_or(|b| score > b.score) {
            best = Some(Candidate {
                score,
                centre: (qy + by0, qx + bx0),
                r_mm,
                filled,
                solid,
                origin: (by0, bx0),
            });
        }
    }
    let Candidate {
        centre: q,
        r_mm,
        filled,
        solid,
        origin,
        ..
    } = best?;
    // The body's own centre: the deepest bone point near the inscribed disc found above,
    // moved sideways to the middle of the ridge of points within a pixel of that depth. A
    // body wider than deep has a flat ridge along its width, and the single deepest point
    // wanders along it with the noise (on phantoms 238 to 246 px between neighbouring
    // slices, against a true midline at 237.5); the ridge's middle stays within a pixel
    // or two of the midline, about which the psoas are mirrored.
    let (body_centre, body_r_mm) = {
        let dist = edt(&solid, spacing, true);
        let reach = r_mm * 1.5;
        let near: Vec<(f32, (usize, usize))> = dist
            .indexed_iter()
            .map(|((y, x), &d)| (d, (y + origin.0, x + origin.1)))
            .filter(|&(d, (gy, gx))| {
                let off = ((gy as f64 - q.0 as f64) * sp_y).hypot((gx as f64 - q.1 as f64) * sp_x);
                d.is_finite() && off <= reach
            })
            .collect();
        // The first of equal depths, in raster order.
        let top = near
            .iter()
            .copied()
            .reduce(|a, b| if b.0 > a.0 { b } else { a });
        match top {
            Some((d, (y, _))) if f64::from(d) >= 0.5 * r_mm => {
                let floor = d - sp_x as f32;
                let (n, sum_x) = near
                    .iter()
                    .filter(|&&(e, _)| e >= floor)
                    .fold((0.0, 0.0), |(n, s), &(_, (_, x))| (n + 1.0, s + x as f64));
                ((y as f64, sum_x / n), f64::from(d))
            }
            _ => ((q.0 as f64, q.1 as f64), r_mm),
        }
    };
    // The rest works in a window around the vertebral body, large enough for the
    // transverse and spinous processes.
    let half = r_mm + VERTEBRA_REACH_MM;
    let win = Window::around((q.0 as f64, q.1 as f64), [half, half], spacing, (h, w));
    let ql = (q.0 - win.y0, q.1 - win.x0);
    // The canal is sought behind the body's own centre: the inscribed disc of the dense
    // region may sit in front of it when contrast-filled vessels merge with the body once
    // smoothed.
    let bc = (
        (body_centre.0.round() as usize).clamp(win.y0, win.y0 + win.h - 1) - win.y0,
        (body_centre.1.round() as usize).clamp(win.x0, win.x0 + win.w - 1) - win.x0,
    );
    // The whole vertebra: hard bone 8-connected to the body found above.
    let mut vb = Mask::from_elem((win.h, win.w), false);
    for ((y, x), &f) in filled.indexed_iter() {
        let (gy, gx) = (y + origin.0, x + origin.1);
        if f && win.contains(gy, gx) {
            vb[[gy - win.y0, gx - win.x0]] = true;
        }
    }
    // The smoothed dense region reaches a few mm past the cortex (further next to very
    // dense bone); its core, where the lightly smoothed image is dense too, is bone.
    let smooth_w = win.cut(smooth);
    let mut core = edt(&vb, spacing, true).mapv(|d| d > VB_BLUR_MARGIN_MM);
    ndarray::Zip::from(&mut core)
        .and(&smooth_w)
        .for_each(|c, &s| *c = *c && s > threshold);
    let body_w = win.cut(body);
    let mut bone = Mask::from_elem((win.h, win.w), false);
    ndarray::Zip::from(&mut bone)
        .and(&smooth_w)
        .and(&body_w)
        .and(&core)
        .for_each(|o, &s, &b, &c| *o = (b && s > 150.0) || c);
    let vertebra = component_at(&bone, ql);
    let mut region_w = fill_holes(&close_disc(&vertebra, 3.0, spacing));
    let dense_w = win.cut(&dense);
    let canal = find_canal(&smooth_w, spacing, &dense_w, (bc.0 as f64, bc.1 as f64));
    ndarray::Zip::from(&mut region_w)
        .and(&core)
        .and(&canal)
        .for_each(|r, &c, &k| *r = *r || c || k);
    let mut region = Mask::from_elem((h, w), false);
    win.paste_or(&region_w, &mut region);
    let radius_px = r_mm / sp_y;
    Some(Spine {
        centre: (q.0 as f64, q.1 as f64),
        body_centre,
        body_radius_px: body_r_mm / sp_y,
        radius_px,
        radius_mm: r_mm,
        region,
    })
}

/// How far (mm) either side of the body's centre the spinous process tip is sought.
const SPINOUS_REACH_MM: f64 = 25.0;

impl Spine {
    /// The point `(y, x)` the posterior midline runs back from: level with `centre`, below
    /// the tip of the spinous process (the mean column of the vertebra region's two
    /// hindmost rows within [`SPINOUS_REACH_MM`] of the body's centre). The cleft between
    /// the paraspinal masses starts at the tip, and `centre` is not always in line with it:
    /// on a wide arch it shifts towards the canal, and a rotated patient carries the tip
    /// sideways. `centre` itself when no region lies behind the body.
    pub fn midline(&self, spacing: Spacing) -> (f64, f64) {
        let (by, bx) = self.body_centre;
        let reach = SPINOUS_REACH_MM / spacing[1];
        let x0 = (bx - reach).max(0.0) as usize;
        let x1 = ((bx + reach) as usize).min(self.region.ncols().saturating_sub(1));
        let behind = |y: usize| (x0..=x1).filter(move |&x| self.region[[y, x]]);
        let Some(back) = (by.max(0.0) as usize..self.region.nrows())
            .rev()
            .find(|&y| behind(y).next().is_some())
        else {
            return self.centre;
        };
        let cols: Vec<usize> = (back.saturating_sub(1)..=back).flat_map(behind).collect();
        let tip_x = cols.iter().sum::<usize>() as f64 / cols.len() as f64;
        (self.centre.0, tip_x)
    }
}

/// The spinal canal: CSF and cord read as soft tissue, so they must be excluded explicitly.
/// It is grown from just behind the vertebral body, stopped by the bony ring around it.
fn find_canal(smooth: &Array2<f32>, spacing: Spacing, dense: &Mask, centre: (f64, f64)) -> Mask {
    let (h, _) = smooth.dim();
    let x = centre.1.round() as usize;
    let mut y = centre.0 as usize;
    // Walk back through the dense vertebral body to its posterior edge. A small canal
    // inside a closed bony ring is dense too once heavily smoothed: once past hard bone,
    // a valley of the lightly smoothed profile that dips well below bone is the canal, and
    // the walk stops at its floor (walking on, the seed would land in the muscle behind
    // the arch). A disc has no hard bone to pass, so there the walk ends with the dense
    // region as before.
    let mut past_bone = false;
    let mut floor: Option<(f32, usize)> = None;
    let mut valley = None;
    while y + 1 < h && dense[[y, x]] {
        y += 1;
        let v = smooth[[y, x]];
        past_bone |= v > HARD_BONE_HU;
        if !past_bone {
            continue;
        }
        if floor.is_none_or(|(f, _)| v < f) {
            floor = Some((v, y));
        } else if let Some((f, fy)) = floor
            && f < HARD_BONE_HU - CANAL_DIP_HU
            && v > f + CANAL_RISE_HU
        {
            valley = Some(fy);
            break;
        }
    }
    let seed = match valley {
        Some(fy) => (fy as f64, centre.1),
        None => (y as f64 + 3.0 / spacing[0], centre.1),
    };
    let star = Star {
        rays: 48,
        typical_mm: 8.0,
        rho: 3.0,
        max_mm: 20.0,
        lam: 0.3,
        k_mm: 2.0,
    };
    star_region(smooth, seed, spacing, &star, |v, _| {
        if v > 150.0 {
            -4.0
        } else if v < -30.0 {
            -1.0
        } else {
            1.0
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body centred at (20, 50) with, behind it, a canal ring and a spinous process that
    /// leans to column `tip_x`.
    fn spine_with_tip(tip_x: f64) -> Spine {
        let region = Mask::from_shape_fn((80, 100), |(y, x)| {
            let (y, x) = (y as f64, x as f64);
            let body = (y - 20.0).hypot(x - 50.0) <= 10.0;
            let arch = (y - 34.0).hypot(x - 50.0) <= 6.0;
            // The process: 3 px wide, from the arch (row 38) to row 55, leaning to tip_x.
            let t = (y - 38.0) / 17.0;
            let spinous =
                (0.0..=1.0).contains(&t) && (x - (50.0 + t * (tip_x - 50.0))).abs() <= 1.5;
            body || arch || spinous
        });
        Spine {
            centre: (24.0, 50.0),
            body_centre: (20.0, 50.0),
            body_radius_px: 10.0,
            radius_px: 10.0,
            radius_mm: 8.0,
            region,
        }
    }

    #[test]
    fn the_midline_runs_back_below_the_spinous_tip() {
        let sp = [0.8, 0.8];
        let (y, x) = spine_with_tip(57.0).midline(sp);
        assert_eq!(y, 24.0, "level with the centre");
        assert!((x - 57.0).abs() <= 1.0, "below the tip, at column {x}");
        let (_, x) = spine_with_tip(50.0).midline(sp);
        assert!((x - 50.0).abs() <= 1.0, "straight back, at column {x}");
        // A rib or muscle-window blob far to the side is not the tip.
        let mut sp_far = spine_with_tip(50.0);
        for y in 60..70 {
            sp_far.region[[y, 95]] = true;
        }
        let (_, x) = sp_far.midline(sp);
        assert!((x - 50.0).abs() <= 1.0, "far blob ignored, column {x}");
        // Nothing behind the body: the centre.
        let mut bare = spine_with_tip(50.0);
        bare.region.fill(false);
        assert_eq!(bare.midline(sp), (24.0, 50.0));
    }

    /// A vertebral body wider than deep (a stadium: a 20 px bar grown by 12 px) has a flat
    /// ridge of deepest points along its width; its centre is the ridge's middle, not the
    /// first deepest point met (which lies 10 px to the side).
    #[test]
    fn the_body_centre_is_the_middle_of_its_deepest_ridge() {
        let (h, w) = (200, 200);
        let (cy, cx) = (130.0, 100.0);
        let body = Mask::from_shape_fn((h, w), |(y, x)| {
            (20..180).contains(&y) && (10..190).contains(&x)
        });
        let bar_distance = |y: usize, x: usize| {
            let dx = (x as f64 - cx).abs() - 10.0;
            (y as f64 - cy).hypot(dx.max(0.0))
        };
        let hu = Array2::from_shape_fn((h, w), |(y, x)| {
            if bar_distance(y, x) <= 12.0 {
                400.0
            } else if body[[y, x]] {
                40.0
            } else {
                -1000.0
            }
        });
        let spine = find_spine(&hu, &hu, &body, [1.0, 1.0], 45.0).expect("a spine");
        let (y, x) = spine.body_centre;
        assert!((y - cy).abs() <= 1.0, "row {y}");
        assert!((x - cx).abs() <= 1.0, "column {x}, not the ridge's end");
    }
}
