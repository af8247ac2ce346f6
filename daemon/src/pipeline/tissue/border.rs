//! Each psoas's final outline, once every label is placed: filled to its convex hull, its
//! border with the paraspinal muscles behind it settled by HU, the muscle left unlabelled
//! against it reclaimed and a dim rim of abutting organ shed.
//!
//! Growth from a seed (see [`super::psoas`]) stops short at fat streaks, behind the
//! transverse processes' line and in the blur at the vertebral body's edge, and places the
//! border with the quadratus lumborum and erector spinae (no fat plane between them) only
//! roughly, and follows an organ of muscle HU along its face. Five rules finish it, in this
//! order:
//! 1. The psoas is convex: muscle-window pixels inside the convex hull of the region that
//!    carry the paraspinal label or none join it.
//! 2. Behind the vertebral body's centre, where the psoas and the paraspinal muscle beside
//!    it have cores whose median HU differ by at least `MIN_DIFF_HU` (the paraspinals are
//!    the fattier, the first to lose density with age), each muscle pixel within `BAND_MM`
//!    of their shared border goes to the core its neighbourhood's mean HU is nearer.
//! 3. Unlabelled muscle-window pixels within `RECLAIM_MM` of the psoas whose neighbourhood
//!    has the psoas's own HU (within `RECLAIM_HU`) join it; in the bone mask only within
//!    `BONE_BLUR_MM` of its edge, where smoothing pushed the mask over the muscle.
//! 4. Psoas pixels within `RIM_MM` of its edge and of a pixel with no muscle label, whose
//!    psoas neighbourhood reads `RIM_DROP_HU` or more below the psoas core, leave it: an
//!    organ of muscle-window HU (bowel wall, fluid-filled loop, vein) that growth followed
//!    along its face. Partial volume at a true edge lowers a pixel, not its neighbourhood.
//!    A neighbourhood as far above the core (kidney, liver) leaves it within
//!    `BRIGHT_RIM_MM`, away from the bone.
//! 5. Where the psoas touches tissue of its own HU at a neck (vena cava, kidney, bowel
//!    loop, quadratus lumborum), the shallow part of it past the neck leaves it
//!    ([`super::necks`]).
//!
//! The psoas stays one piece about its deepest point throughout. On 20 phantoms the first
//! three lifted psoas Dice from a mean of 0.947 (worst 0.910, 12 under 0.95) to 0.965
//! (worst 0.913, 2 under 0.95), and all-muscle Dice from 0.975 to 0.977; the fourth to
//! 0.971 (worst 0.930, 1 under 0.95) and 0.978. Scored per side, the right psoas (vena
//! cava, liver and the right kidney against it) was then 0.966 mean, 6 of 20 under 0.95
//! (worst 0.930); the bright rim and the necks took it to 0.971, 2 under 0.95 (worst 0.937),
//! and the left from 0.978 to 0.981.

use ndarray::Array2;

use super::body::bbox;
use super::morphology::{Mask, Spacing, Window, box_mean, convex_hull, edt, fill_polygon, median};
use super::psoas::keep_piece_at_deepest;
use super::spine::Spine;
use crate::pipeline::labels::{BACKGROUND, PARASPINAL, PSOAS_LEFT, PSOAS_RIGHT, is_muscle};

/// The cores' median HU must differ by this much for the border to move: with 12 HU pixel
/// noise a `LOCAL_MM` box's mean is good to about 2 HU.
const MIN_DIFF_HU: f32 = 4.0;
/// A core pixel lies at least this deep (mm) inside its muscle.
const CORE_MM: f32 = 3.0;
/// The paraspinal core is taken between these distances (mm) from the psoas: near, so that
/// the slow drift of HU across a scan does not enter the comparison, but not at the border,
/// where a psoas lobe labelled paraspinal would pull it towards the psoas's own HU.
const PARA_CORE_MM: (f32, f32) = (7.0, 20.0);
/// Pixels within this distance (mm) of the current border are settled afresh.
const BAND_MM: f32 = 7.0;
/// Side (mm) of the box whose mean HU decides a pixel.
const LOCAL_MM: f64 = 7.0;
/// Each core needs this many pixels for its median to be trusted.
const MIN_CORE_PX: usize = 40;
/// Unlabelled muscle this close (mm) to a psoas …
const RECLAIM_MM: f32 = 2.0;
/// … whose neighbourhood's mean HU is within this of the psoas core joins it …
const RECLAIM_HU: f32 = 5.0;
/// … in the bone mask too, up to this depth (mm) inside its edge.
const BONE_BLUR_MM: f32 = 3.0;
/// Psoas pixels this close (mm) to both its edge and a pixel of no muscle label …
const RIM_MM: f32 = 2.5;
/// … whose mean HU over the psoas in a box of this side (mm) …
const RIM_BOX_MM: f64 = 3.0;
/// … lies this far below the psoas core leave it: a bowel wall, a fluid-filled loop or a
/// vein of muscle-window HU grown along its face. Over 20 phantoms the rule took psoas Dice
/// from 0.965 to 0.971 (mean) and from 0.913 to 0.930 (worst); 10 and 16 HU did less well
/// (0.970), and a 2 mm box worse (0.969).
const RIM_DROP_HU: f32 = 13.0;
/// A rim as far above the core (a kidney or liver brighter than the psoas) leaves it within
/// this many mm of both edges, wider than a dim rim: the brighter organ is solid, not a thin
/// bowel wall. Not within `BRIGHT_BONE_MM` of the bone, whose blur brightens the psoas's
/// medial edge. On 20 phantoms right psoas Dice 0.9698 -> 0.9712 (seed 10 0.9439 -> 0.9504,
/// seed 16 0.9398 -> 0.9467); 2.5, 5 and 10 mm gave 0.9706, 0.9708 and 0.9709.
const BRIGHT_RIM_MM: f32 = 7.0;
const BRIGHT_BONE_MM: f32 = 3.0;
/// See [`split_at_necks`].
const NECK_WINDOW_MM: f64 = 20.0;

/// Finishes both psoas outlines in `out` (see the module's comment); `hu` is the slice's
/// HU and `window` the muscle window, outside which no pixel changes.
pub(super) fn settle(
    out: &mut Array2<u8>,
    hu: &Array2<f32>,
    spine: &Spine,
    spacing: Spacing,
    window: (f32, f32),
) {
    let slice = Slice {
        hu,
        spine,
        spacing,
        window,
    };
    for label in [PSOAS_LEFT, PSOAS_RIGHT] {
        fill_hull(out, &slice, label);
        settle_paraspinal_border(out, &slice, label);
        reclaim(out, &slice, label);
        shed_organ_rim(out, &slice, label);
        split_at_necks(out, &slice, label);
    }
}

/// Rule 5: the psoas ends where its outline pinches against tissue of its own HU
/// ([`super::necks`]), in a window reaching `NECK_WINDOW_MM` round it.
fn split_at_necks(out: &mut Array2<u8>, slice: &Slice, label: u8) {
    let Some(win) = bounding_window(out, label, NECK_WINDOW_MM, slice.spacing) else {
        return;
    };
    let mut lab = win.cut(out);
    let hu = win.cut(slice.hu);
    let bone = win.cut(&slice.spine.region);
    let soft = Array2::from_shape_fn(lab.dim(), |p| !bone[p] && slice.is_muscle(hu[p]));
    super::necks::split_at_necks(&mut lab, &soft, slice.spacing, label);
    out.slice_mut(ndarray::s![win.y0..win.y0 + win.h, win.x0..win.x0 + win.w])
        .assign(&lab);
}

/// The slice the rules work on: its HU, vertebra, pixel spacing and muscle window.
struct Slice<'a> {
    hu: &'a Array2<f32>,
    spine: &'a Spine,
    spacing: Spacing,
    window: (f32, f32),
}

impl Slice<'_> {
    fn is_muscle(&self, v: f32) -> bool {
        (self.window.0..=self.window.1).contains(&v)
    }
}

/// Rule 1: muscle inside the psoas's convex hull (the paraspinal label's tongues into it,
/// the wedges behind fat streaks that growth did not cross) joins it.
fn fill_hull(out: &mut Array2<u8>, slice: &Slice, label: u8) {
    let Some(win) = bounding_window(out, label, 0.0, slice.spacing) else {
        return;
    };
    let lab = win.cut(out);
    let hull = fill_polygon(lab.dim(), &convex_hull(&lab.mapv(|l| l == label)));
    for (p, &inside) in hull.indexed_iter() {
        let q = (p.0 + win.y0, p.1 + win.x0);
        if inside
            && matches!(out[q], PARASPINAL | BACKGROUND)
            && !slice.spine.region[q]
            && slice.is_muscle(slice.hu[q])
        {
            out[q] = label;
        }
    }
}

/// Rule 2: the border with the paraspinal muscle behind the body's centre, by HU.
fn settle_paraspinal_border(out: &mut Array2<u8>, slice: &Slice, label: u8) {
    let spacing = slice.spacing;
    let Some(PsoasWindow {
        win,
        lab,
        hu: hu_w,
        muscle,
        psoas,
        depth: depth_psoas,
        core: hu_psoas,
    }) = PsoasWindow::new(out, slice, label, f64::from(PARA_CORE_MM.1))
    else {
        return;
    };
    let para = lab.mapv(|l| l == PARASPINAL);
    let to_psoas = edt(&psoas.mapv(|m| !m), spacing, false);
    let to_para = edt(&para.mapv(|m| !m), spacing, false);
    let depth_para = edt(&para, spacing, true);
    // Pixels on either side of a shared border.
    let adjacent = 1.5 * spacing[0].max(spacing[1]) as f32;
    let touching = Array2::from_shape_fn(psoas.dim(), |p| {
        (psoas[p] && to_para[p] <= adjacent) || (para[p] && to_psoas[p] <= adjacent)
    });
    if !touching.iter().any(|&t| t) {
        return;
    }
    let near_psoas = |p: (usize, usize)| (PARA_CORE_MM.0..=PARA_CORE_MM.1).contains(&to_psoas[p]);
    let Some(hu_para) = core_median(&hu_w, &muscle, &depth_para, near_psoas) else {
        return;
    };
    if (hu_psoas - hu_para).abs() < MIN_DIFF_HU {
        return;
    }
    let to_border = edt(&touching.mapv(|t| !t), spacing, false);
    let body_y = slice.spine.body_centre.0 - win.y0 as f64;
    let either = Array2::from_shape_fn(psoas.dim(), |p| (psoas[p] || para[p]) && muscle[p]);
    let contested = Array2::from_shape_fn(psoas.dim(), |(y, x)| {
        either[(y, x)] && to_border[(y, x)] <= BAND_MM && y as f64 > body_y
    });
    let local = local_mean(&hu_w, &either, spacing, LOCAL_MM);
    let mid = 0.5 * (hu_psoas + hu_para);
    let settled = Array2::from_shape_fn(psoas.dim(), |p| {
        if contested[p] {
            local[p].is_some_and(|v| (v > mid) == (hu_psoas > hu_para))
        } else {
            psoas[p]
        }
    });
    let Some(settled) = keep_piece_at_deepest(&settled, &depth_psoas) else {
        return;
    };
    for (p, &c) in contested.indexed_iter() {
        if c {
            out[(p.0 + win.y0, p.1 + win.x0)] = if settled[p] { label } else { PARASPINAL };
        }
    }
}

/// Rule 3: unlabelled muscle of the psoas's own HU against it joins it.
fn reclaim(out: &mut Array2<u8>, slice: &Slice, label: u8) {
    let spacing = slice.spacing;
    let Some(PsoasWindow {
        win,
        lab,
        hu: hu_w,
        muscle,
        psoas,
        depth,
        core,
    }) = PsoasWindow::new(out, slice, label, f64::from(RECLAIM_MM) + 1.0)
    else {
        return;
    };
    let bone = win.cut(&slice.spine.region);
    let bone_depth = edt(&bone, spacing, false);
    let to_psoas = edt(&psoas.mapv(|m| !m), spacing, false);
    let candidate = Array2::from_shape_fn(lab.dim(), |p| {
        lab[p] == BACKGROUND
            && muscle[p]
            && to_psoas[p] <= RECLAIM_MM
            && (!bone[p] || bone_depth[p] <= BONE_BLUR_MM)
    });
    // The neighbourhood: muscle-window pixels of the psoas or of no label.
    let pool = Array2::from_shape_fn(lab.dim(), |p| {
        muscle[p] && (psoas[p] || lab[p] == BACKGROUND)
    });
    let local = local_mean(&hu_w, &pool, spacing, LOCAL_MM);
    let grown = Array2::from_shape_fn(lab.dim(), |p| {
        psoas[p] || (candidate[p] && local[p].is_some_and(|v| (v - core).abs() <= RECLAIM_HU))
    });
    let Some(grown) = keep_piece_at_deepest(&grown, &depth) else {
        return;
    };
    for (p, &g) in grown.indexed_iter() {
        if g && candidate[p] {
            out[(p.0 + win.y0, p.1 + win.x0)] = label;
        }
    }
}

/// Rule 4: a rim of organ HU against something other than muscle leaves the psoas: dim
/// within `RIM_MM` of both edges, bright within `BRIGHT_RIM_MM` away from the bone.
fn shed_organ_rim(out: &mut Array2<u8>, slice: &Slice, label: u8) {
    let spacing = slice.spacing;
    let Some(at) = PsoasWindow::new(out, slice, label, f64::from(RIM_MM) + 1.0) else {
        return;
    };
    let to_other = edt(&at.lab.mapv(is_muscle), spacing, false);
    let local = local_mean(&at.hu, &at.psoas, spacing, RIM_BOX_MM);
    let to_bone = edt(
        &at.win.cut(&slice.spine.region).mapv(|b| !b),
        spacing,
        false,
    );
    let kept = Array2::from_shape_fn(at.psoas.dim(), |p| {
        let near_other = |mm: f32| at.depth[p] <= mm && to_other[p] <= mm;
        let dim_rim = near_other(RIM_MM) && local[p].is_some_and(|v| v < at.core - RIM_DROP_HU);
        let bright_rim = near_other(BRIGHT_RIM_MM)
            && to_bone[p] > BRIGHT_BONE_MM
            && local[p].is_some_and(|v| v > at.core + RIM_DROP_HU);
        at.psoas[p] && !dim_rim && !bright_rim
    });
    let Some(kept) = keep_piece_at_deepest(&kept, &at.depth) else {
        return;
    };
    for (p, &k) in kept.indexed_iter() {
        if at.psoas[p] && !k {
            out[(p.0 + at.win.y0, p.1 + at.win.x0)] = BACKGROUND;
        }
    }
}

/// One psoas in a window around it: the labels and HU there, its muscle-window and psoas
/// masks, its depth map and its core's median HU.
struct PsoasWindow {
    win: Window,
    lab: Array2<u8>,
    hu: Array2<f32>,
    muscle: Mask,
    psoas: Mask,
    depth: Array2<f32>,
    core: f32,
}

impl PsoasWindow {
    /// `None` when there is no `label` or too little core to measure.
    fn new(out: &Array2<u8>, slice: &Slice, label: u8, margin_mm: f64) -> Option<Self> {
        let win = bounding_window(out, label, margin_mm, slice.spacing)?;
        let lab = win.cut(out);
        let hu = win.cut(slice.hu);
        let muscle = hu.mapv(|v| slice.is_muscle(v));
        let psoas = lab.mapv(|l| l == label);
        let depth = edt(&psoas, slice.spacing, true);
        let core = core_median(&hu, &muscle, &depth, |_| true)?;
        Some(Self {
            win,
            lab,
            hu,
            muscle,
            psoas,
            depth,
            core,
        })
    }
}

/// Median HU of a muscle's core: the muscle-window pixels at least `CORE_MM` deep in it
/// (`depth` is its distance map) that `keep` accepts; `None` with under `MIN_CORE_PX`.
fn core_median(
    hu: &Array2<f32>,
    muscle: &Mask,
    depth: &Array2<f32>,
    keep: impl Fn((usize, usize)) -> bool,
) -> Option<f32> {
    let mut v: Vec<f32> = hu
        .indexed_iter()
        .filter(|&(p, _)| muscle[p] && depth[p] >= CORE_MM && keep(p))
        .map(|(_, &v)| v)
        .collect();
    (v.len() >= MIN_CORE_PX).then(|| median(&mut v)).flatten()
}

/// Mean of `hu` over the `pool` pixels in a box of side `box_mm` around each pixel; `None`
/// where the box holds none.
fn local_mean(hu: &Array2<f32>, pool: &Mask, spacing: Spacing, box_mm: f64) -> Array2<Option<f32>> {
    let size = ((box_mm / spacing[0].min(spacing[1])).round() as usize | 1).max(3);
    let sum = box_mean(
        &Array2::from_shape_fn(hu.dim(), |p| if pool[p] { hu[p] } else { 0.0 }),
        size,
    );
    let count = box_mean(&pool.mapv(|m| f32::from(u8::from(m))), size);
    Array2::from_shape_fn(hu.dim(), |p| (count[p] > 0.0).then(|| sum[p] / count[p]))
}

/// The window around the pixels labelled `label`, grown by `margin_mm`; `None` when there
/// are none.
fn bounding_window(
    out: &Array2<u8>,
    label: u8,
    margin_mm: f64,
    spacing: Spacing,
) -> Option<Window> {
    let [y0, y1, x0, x1] = bbox(&out.mapv(|l| l == label))?;
    let centre = (0.5 * (y0 + y1) as f64, 0.5 * (x0 + x1) as f64);
    let half = [
        0.5 * (y1 - y0) as f64 * spacing[0] + margin_mm,
        0.5 * (x1 - x0) as f64 * spacing[1] + margin_mm,
    ];
    Some(Window::around(centre, half, spacing, out.dim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP: Spacing = [0.8, 0.8];
    const WINDOW: (f32, f32) = (-29.0, 150.0);
    const FAT: f32 = -100.0;

    /// A vertebral body centred at row 20, column 50, well clear of the muscles below.
    fn spine(dim: (usize, usize)) -> Spine {
        Spine {
            centre: (20.0, 50.0),
            body_centre: (20.0, 50.0),
            body_radius_px: 8.0,
            radius_px: 8.0,
            radius_mm: 6.4,
            region: Mask::from_shape_fn(dim, |(y, x)| {
                (y as f64 - 20.0).hypot(x as f64 - 50.0) <= 8.0
            }),
        }
    }

    fn slice<'a>(hu: &'a Array2<f32>, spine: &'a Spine) -> Slice<'a> {
        Slice {
            hu,
            spine,
            spacing: SP,
            window: WINDOW,
        }
    }

    fn disc(y: usize, x: usize, r: f64) -> bool {
        (y as f64 - 40.0).hypot(x as f64 - 30.0) <= r
    }

    /// A 50 HU psoas disc of radius 13 px ringed out to `band_r` px by `band_hu`, in fat;
    /// and labels with the psoas out to radius `psoas_r`.
    fn ringed(
        dim: (usize, usize),
        band_r: f64,
        band_hu: f32,
        psoas_r: f64,
    ) -> (Array2<f32>, Array2<u8>) {
        let hu = Array2::from_shape_fn(dim, |(y, x)| {
            if disc(y, x, 13.0) {
                50.0
            } else if disc(y, x, band_r) {
                band_hu
            } else {
                FAT
            }
        });
        let out = Array2::from_shape_fn(dim, |(y, x)| {
            if disc(y, x, psoas_r) {
                PSOAS_LEFT
            } else {
                BACKGROUND
            }
        });
        (hu, out)
    }

    /// A psoas grown 4 px into the paraspinal muscle behind it gives the strip back when the
    /// two differ by 15 HU, and keeps it when they differ by 2 HU (below `MIN_DIFF_HU`).
    #[test]
    fn the_paraspinal_border_moves_to_where_the_hu_changes() {
        let dim = (80, 100);
        let para = |y: usize, x: usize| (55..75).contains(&y) && (10..60).contains(&x);
        for (para_hu, moves) in [(45.0, true), (58.0, false)] {
            let hu = Array2::from_shape_fn(dim, |(y, x)| {
                if disc(y, x, 15.0) {
                    60.0
                } else if para(y, x) {
                    para_hu
                } else {
                    FAT
                }
            });
            let strip = |y: usize, x: usize| para(y, x) && y < 59 && (18..43).contains(&x);
            let labels = Array2::from_shape_fn(dim, |(y, x)| {
                if disc(y, x, 15.0) || strip(y, x) {
                    PSOAS_LEFT
                } else if para(y, x) {
                    PARASPINAL
                } else {
                    BACKGROUND
                }
            });
            let mut out = labels.clone();
            settle_paraspinal_border(&mut out, &slice(&hu, &spine(dim)), PSOAS_LEFT);
            for ((y, x), &l) in out.indexed_iter() {
                if disc(y, x, 13.0) {
                    assert_eq!(l, PSOAS_LEFT, "psoas pixel ({y}, {x})");
                }
                if strip(y, x) && y >= 57 {
                    let want = if moves { PARASPINAL } else { PSOAS_LEFT };
                    assert_eq!(
                        l, want,
                        "strip pixel ({y}, {x}), paraspinal at {para_hu} HU"
                    );
                }
                if para(y, x) && !strip(y, x) && !disc(y, x, 15.0) {
                    assert_eq!(l, PARASPINAL, "paraspinal pixel ({y}, {x})");
                }
            }
            if !moves {
                assert_eq!(out, labels, "nothing moves between muscles of one HU");
            }
        }
    }

    /// A paraspinal-labelled notch cut into a round psoas joins it; tissue outside the
    /// round's hull, and fat inside it, do not.
    #[test]
    fn muscle_inside_the_convex_hull_joins_the_psoas() {
        let dim = (80, 100);
        let notch = |y: usize, x: usize| (44..=50).contains(&y) && (24..36).contains(&x);
        // A fat streak pixel inside the muscle, unlabelled, stays out.
        let streak = (45, 30);
        let hu = Array2::from_shape_fn(dim, |(y, x)| {
            if (disc(y, x, 15.0) || x >= 50) && (y, x) != streak {
                50.0
            } else {
                FAT
            }
        });
        let mut out = Array2::from_shape_fn(dim, |(y, x)| {
            if (y, x) == streak {
                BACKGROUND
            } else if notch(y, x) {
                PARASPINAL
            } else if disc(y, x, 15.0) {
                PSOAS_LEFT
            } else if x >= 50 {
                PARASPINAL
            } else {
                BACKGROUND
            }
        });
        fill_hull(&mut out, &slice(&hu, &spine(dim)), PSOAS_LEFT);
        for ((y, x), &l) in out.indexed_iter() {
            if (y, x) == streak {
                assert_eq!(l, BACKGROUND, "the fat pixel");
            } else if notch(y, x) {
                assert_eq!(l, PSOAS_LEFT, "notch pixel ({y}, {x})");
            } else if x >= 50 {
                assert_eq!(l, PARASPINAL, "muscle beyond the hull ({y}, {x})");
            }
        }
    }

    /// An unlabelled rim of the psoas's own HU is reclaimed; an organ rim 40 HU brighter,
    /// and fat, are not.
    #[test]
    fn an_unlabelled_rim_of_the_psoas_own_hu_is_reclaimed() {
        let dim = (80, 100);
        for (rim_hu, joins) in [(50.0, true), (90.0, false)] {
            let (hu, mut out) = ringed(dim, 15.0, rim_hu, 13.0);
            reclaim(&mut out, &slice(&hu, &spine(dim)), PSOAS_LEFT);
            for ((y, x), &l) in out.indexed_iter() {
                let rim = disc(y, x, 15.0) && !disc(y, x, 13.0);
                let d = (y as f64 - 40.0).hypot(x as f64 - 30.0);
                if rim && joins && d <= 14.5 {
                    assert_eq!(l, PSOAS_LEFT, "rim pixel ({y}, {x})");
                }
                if rim && !joins {
                    assert_eq!(l, BACKGROUND, "organ pixel ({y}, {x})");
                }
                if !disc(y, x, 15.0) {
                    assert_eq!(l, BACKGROUND, "fat pixel ({y}, {x})");
                }
            }
        }
    }

    /// Runs the rim rule on a psoas of radius `band_r` whose outer ring, from `band_from`
    /// px out, reads `band_hu`, and checks the 12 px core stays and the ring goes or stays.
    fn check_rim(band_r: f64, band_from: f64, band_hu: f32, sheds: bool) {
        let dim = (80, 100);
        let (hu, mut out) = ringed(dim, band_r, band_hu, band_r);
        shed_organ_rim(&mut out, &slice(&hu, &spine(dim)), PSOAS_LEFT);
        for ((y, x), &l) in out.indexed_iter() {
            let d = (y as f64 - 40.0).hypot(x as f64 - 30.0);
            if d <= 12.0 {
                assert_eq!(l, PSOAS_LEFT, "core pixel ({y}, {x})");
            }
            if d > band_from && d <= band_r {
                let want = if sheds { BACKGROUND } else { PSOAS_LEFT };
                assert_eq!(l, want, "band pixel ({y}, {x}) at {band_hu} HU");
            }
        }
    }

    /// A psoas grown 3 px along the face of a bowel loop 25 HU dimmer than itself sheds
    /// that band; a band only 5 HU dimmer (the psoas's own texture) stays.
    #[test]
    fn a_dim_rim_against_an_organ_leaves_the_psoas() {
        check_rim(16.0, 14.0, 25.0, true);
        check_rim(16.0, 14.0, 45.0, false);
    }

    /// A psoas grown 6 px (4.8 mm, past a dim rim's reach) into an abutting kidney 30 HU
    /// brighter than itself sheds it; tissue only 5 HU brighter stays.
    #[test]
    fn a_bright_rim_against_an_organ_leaves_the_psoas() {
        check_rim(19.0, 15.0, 80.0, true);
        check_rim(19.0, 15.0, 55.0, false);
    }
}
