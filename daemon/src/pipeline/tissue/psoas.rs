//! The psoas muscles, grown from beside the vertebral body, and the quadratus lumborum,
//! grown from beside the transverse processes against the paraspinal mass; one of each per
//! side.
//!
//! The psoas lies in the cavity, against the side of the vertebral body, so the wall
//! contours never include it. Each side gets a seed — the most muscle-like spot within a
//! short distance of the vertebra, level with or behind its centre (in front of it lie the
//! diaphragmatic crura, the aorta and the vena cava, which read as muscle on a plain scan) —
//! and a star-shaped region grown from there that stops at fat, bone, the midline, organ-bright
//! tissue, and grows only reluctantly beyond a typical psoas radius.

use ndarray::Array2;

use super::morphology::{
    Mask, Spacing, Window, box_mean, component_at, components, dilate_disc, distance_to_within,
    edt, median,
};
use super::rays::{Star, star_region};
use super::spine::Spine;
use crate::pipeline::labels::{BACKGROUND, PSOAS_LEFT, PSOAS_RIGHT};

/// Soft tissue within this many HU of the scan's muscle HU counts as psoas-like.
const LIKE_HU: f32 = 30.0;
/// Once a first region is found, the psoas's own HU (its median) replaces the scan's, and
/// tissue more than this many HU from it counts as organ: a kidney, liver tip or bowel
/// against the muscle differs from it by 10–20 HU even where both sit in the muscle window.
const OWN_LIKE_HU: f32 = 10.0;
/// Width (mm) of the box over which the muscle-like fraction is averaged when seeding.
const SEED_BOX_MM: f64 = 8.0;
/// The seed lies between `SEED_MIN_MM` and `SEED_MAX_MM` from the vertebra.
const SEED_MIN_MM: f32 = 1.0;
const SEED_MAX_MM: f32 = 15.0;
/// Seed score = muscle-like fraction − this × distance to the vertebra (mm) …
const SEED_DISTANCE_COST: f32 = 0.02;
/// … and this much per mm behind the vertebral body's centre: the psoas lies beside the
/// body, while the quadratus lumborum, behind the transverse processes' tips, is as
/// muscle-like and as near the vertebra.
const SEED_BEHIND_COST: f32 = 0.015;
/// A seed needs at least this score.
const SEED_MIN_SCORE: f32 = 0.6;
/// Half-size (mm, beyond the body's radius) of the vertebra with its processes, for the
/// window in which distances to it are measured.
const VERTEBRA_HALF_MM: f64 = 60.0;
/// The psoas may not reach further forward than this many vertebral radii before the centre
/// …
const FRONT_LIMIT: f64 = 1.0;
/// … within `FRONT_MEDIAL_R` radii of the midline (crura, aorta and IVC lie there; 1.5
/// rather than 1.3 kept the IVC out of the right psoas on phantoms), nor
/// further forward than `FRONT_FAR_LIMIT` radii anywhere …
const FRONT_MEDIAL_R: f64 = 1.5;
const FRONT_FAR_LIMIT: f64 = 2.5;
/// … nor further back than this many behind it (see [`back_edge`]).
const BACK_LIMIT: f64 = 1.2;
/// See [`balance`]: the area ratio between the sides above which the larger is cut back …
const BALANCE_RATIO: f64 = 1.3;
/// … to the other's mirror image grown by this many mm …
const BALANCE_MARGIN_MM: f64 = 4.0;
/// … ([`rebalance`]: this many mm, once the outlines are final) …
const FINAL_MARGIN_MM: f64 = 3.0;
/// … when the smaller side has at least this area (mm²): near their origin at T12–L1 the
/// two muscles start at different levels and are legitimately unequal.
const BALANCE_MIN_MM2: f64 = 300.0;
/// See [`prune_protrusions`].
const PRUNE_FRACTION: f64 = 0.4;
/// Gains of the star region, per mm.
const GAIN_FAT: f64 = -2.0;
const GAIN_BONE: f64 = -3.0;
const GAIN_ORGAN: f64 = -1.0;
const GAIN_FORBIDDEN: f64 = -5.0;

/// Growth limits: free up to about the radius of a large psoas, costly beyond.
const STAR: Star = Star {
    rays: 96,
    typical_mm: 28.0,
    rho: 1.5,
    max_mm: 60.0,
    lam: 0.3,
    k_mm: 2.0,
};

/// Quadratus lumborum seeds lie this many vertebral radii behind the body's centre …
const QL_BACK: (f64, f64) = (0.3, 2.0);
/// … this many radii from the midline …
const QL_LATERAL: (f64, f64) = (2.0, 4.5);
/// … and within this distance (mm) of the paraspinal wall band it rests against.
const QL_NEAR_WALL_MM: f32 = 8.0;
/// A quadratus seed needs this muscle-like fraction.
const QL_MIN_FRACTION: f32 = 0.7;
/// The quadratus grows through tissue within this many HU of the paraspinal muscle's, so
/// it stops at an abutting kidney or bowel loop of near-muscle HU.
const QL_LIKE_HU: f32 = 10.0;
const QL_STAR: Star = Star {
    rays: 64,
    typical_mm: 15.0,
    rho: 1.5,
    max_mm: 40.0,
    lam: 0.3,
    k_mm: 2.0,
};

/// The quadratus lumborum of each side `(patient left, patient right)`, in the cavity next
/// to the posterior wall band `ring`, outside `blocked` (the band and the psoas); `None`
/// where none is found.
#[allow(
    clippy::too_many_arguments,
    reason = "the distinct images and masks of one slice"
)]
pub(crate) fn find_quadratus(
    smooth: &Array2<f32>,
    spacing: Spacing,
    spine: &Spine,
    muscle_hu: f32,
    cavity: &Mask,
    ring: &Mask,
    blocked: &Mask,
    frac: &Array2<f32>,
    window: (f32, f32),
) -> (Option<Mask>, Option<Mask>) {
    let (h, w) = smooth.dim();
    let (vy, vx) = spine.centre;
    let r = spine.radius_px;
    // Distances to the band matter only around the seed area.
    let margin = 2.0 * QL_NEAR_WALL_MM as f64;
    let y_mid = vy + 0.5 * (QL_BACK.0 + QL_BACK.1) * r;
    let half_y = 0.5 * (QL_BACK.1 - QL_BACK.0) * r * spacing[0] + margin;
    let half_x = QL_LATERAL.1 * r * spacing[0] + margin;
    let seed_area = Window::around((y_mid, vx), [half_y, half_x], spacing, (h, w));
    let to_ring = distance_to_within(ring, seed_area, spacing);
    let to_bone = distance_to_within(&spine.region, seed_area, spacing);
    let grow = |side: f64| -> Option<Mask> {
        // Candidates: the muscle-like cores in this side's zone. A core's seed is its most
        // muscle-like pixel and, of equals, the one nearest the bone: the quadratus arises
        // from the transverse processes, and a kidney that abuts it with no fat plane makes
        // one core with it (phantom seed 19: the seed sat in the kidney, which took the
        // label). The core, not the seed, must come near the band, since the
        // box average makes a core stop half a box short of the muscle's edge.
        let core = Array2::from_shape_fn((h, w), |(y, x)| {
            let (dy, dx) = ((y as f64 - vy) / r, side * (x as f64 - vx) / r);
            (QL_BACK.0..=QL_BACK.1).contains(&dy)
                && (QL_LATERAL.0..=QL_LATERAL.1).contains(&dx)
                && frac[[y, x]] >= QL_MIN_FRACTION
                && cavity[[y, x]]
                && !blocked[[y, x]]
        });
        let (lab, comps) = components(&core, false);
        let mut near = vec![f32::INFINITY; comps.len()];
        let mut seeds: Vec<(f32, (usize, usize))> = vec![(f32::MIN, (0, 0)); comps.len()];
        for ((p, &l), &f) in lab.indexed_iter().zip(frac.iter()) {
            if l == 0 {
                continue;
            }
            let c = l as usize - 1;
            near[c] = near[c].min(to_ring[p]);
            if f > seeds[c].0 || (f == seeds[c].0 && to_bone[p] < to_bone[seeds[c].1]) {
                seeds[c] = (f, p);
            }
        }
        let mut best: Option<(f32, (usize, usize))> = None;
        for (c, &(f, p)) in seeds.iter().enumerate() {
            if near[c] <= QL_NEAR_WALL_MM && best.is_none_or(|(b, _)| f > b) {
                best = Some((f, p));
            }
        }
        let (_, seed) = best?;
        let region = star_region(
            smooth,
            (seed.0 as f64, seed.1 as f64),
            spacing,
            &QL_STAR,
            |v, (y, x)| {
                gain_of(
                    v,
                    side * (x as f64 - vx) < 0.0,
                    spine.region[[y, x]],
                    (muscle_hu, QL_LIKE_HU),
                    window,
                )
            },
        );
        Some(Array2::from_shape_fn((h, w), |p| {
            region[p] && cavity[p] && !spine.region[p]
        }))
    };
    (grow(1.0), grow(-1.0))
}

/// Fraction of psoas-like pixels (soft tissue near this scan's muscle HU, in the cavity,
/// not bone) in a small box around each pixel.
pub(crate) fn muscle_fraction(
    smooth: &Array2<f32>,
    spacing: Spacing,
    spine: &Spine,
    muscle_hu: f32,
    cavity: &Mask,
    window: (f32, f32),
) -> Array2<f32> {
    let in_window = |v: f32| v >= window.0 && v <= window.1;
    let like = Array2::from_shape_fn(smooth.dim(), |(y, x)| {
        let v = smooth[[y, x]];
        (in_window(v) && (v - muscle_hu).abs() < LIKE_HU && cavity[[y, x]] && !spine.region[[y, x]])
            as u8 as f32
    });
    let size = ((SEED_BOX_MM / spacing[0].min(spacing[1])).round() as usize | 1).max(3);
    box_mean(&like, size)
}

/// A psoas that [`balance`] cut back: which side, and the areas (mm²) it had before and
/// after, and that of its fellow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Trimmed {
    pub side: &'static str,
    pub before_mm2: f64,
    pub after_mm2: f64,
    pub fellow_mm2: f64,
}

impl Trimmed {
    /// One line for the result's segmentation notes.
    pub(crate) fn note(&self) -> String {
        format!(
            "psoas {} cut back from {:.1} to {:.1} cm² (the other side {:.1} cm²): it had grown \
             into an abutting organ, or the asymmetry is real; check the psoas overlay",
            self.side,
            self.before_mm2 / 100.0,
            self.after_mm2 / 100.0,
            self.fellow_mm2 / 100.0,
        )
    }
}

/// The two psoas regions `(patient left, patient right)`, `None` where no seed was found,
/// and the side [`balance`] cut back, if any. `blocked` (the wall band) stops their growth
/// like bone.
#[allow(
    clippy::too_many_arguments,
    reason = "the distinct images and masks of one slice"
)]
pub(crate) fn find_psoas(
    smooth: &Array2<f32>,
    spacing: Spacing,
    spine: &Spine,
    muscle_hu: f32,
    blocked: &Mask,
    frac: &Array2<f32>,
    window: (f32, f32),
) -> (Option<Mask>, Option<Mask>, Option<Trimmed>) {
    let (h, w) = smooth.dim();
    let (vy, vx) = spine.centre;
    let r = spine.radius_px;
    // Distances to the vertebra matter only within the seed range of it.
    let reach = SEED_MAX_MM as f64 + r * spacing[0] + VERTEBRA_HALF_MM;
    let near = Window::around((vy, vx), [reach, reach], spacing, (h, w));
    let dist = distance_to_within(&spine.region, near, spacing);
    let back = back_edge(spine);
    let grow = |side: f64| -> Option<Mask> {
        let mut best: Option<(f32, (usize, usize))> = None;
        for ((y, x), &f) in frac.indexed_iter() {
            let (fy, fx) = (y as f64, x as f64);
            let d = dist[[y, x]];
            if fy - vy > r
                || fy < vy
                || side * (fx - vx) < 0.0
                || !(SEED_MIN_MM..=SEED_MAX_MM).contains(&d)
            {
                continue;
            }
            let behind_mm = ((fy - vy) * spacing[0]) as f32;
            let score = f - SEED_DISTANCE_COST * d - SEED_BEHIND_COST * behind_mm;
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, (y, x)));
            }
        }
        let (score, seed) = best?;
        if score < SEED_MIN_SCORE {
            return None;
        }
        let gain_about = |like_hu: f32, tolerance: f32| {
            move |v: f32, (y, x): (usize, usize)| {
                gain_of(
                    v,
                    side * (x as f64 - vx) < 0.0
                        || too_far_forward((y as f64 - vy) / r, (x as f64 - vx) / r)
                        || (y as f64) > back,
                    spine.region[[y, x]] || blocked[[y, x]],
                    (like_hu, tolerance),
                    window,
                )
            }
        };
        let gain = gain_about(muscle_hu, LIKE_HU);
        let keep =
            |m: &Mask| Array2::from_shape_fn((h, w), |p| m[p] && !spine.region[p] && !blocked[p]);
        // The seed sits at the muscle's medial edge; grow again from the centre of the first
        // region so the size prior applies to the radius about the muscle's own centre.
        let first = keep(&star_region(
            smooth,
            (seed.0 as f64, seed.1 as f64),
            spacing,
            &STAR,
            gain,
        ));
        let Some(centre) = centroid(&first) else {
            return Some(first);
        };
        if !first[(centre.0.round() as usize, centre.1.round() as usize)] {
            return Some(first);
        }
        let own_hu = own_hu(smooth, &first, muscle_hu).unwrap_or(muscle_hu);
        let region = keep(&star_region(
            smooth,
            centre,
            spacing,
            &STAR,
            gain_about(own_hu, OWN_LIKE_HU),
        ));
        Some(prune_protrusions(&region, spacing))
    };
    // x runs from the patient's right to left, so the patient's left psoas is at larger x.
    balance(grow(1.0), grow(-1.0), vx, spacing, BALANCE_MARGIN_MM)
}

/// [`balance`] applied again to the finished labels, with the tighter `FINAL_MARGIN_MM`:
/// the psoas cut back at growth grows again in the steps that follow (the rim growth, the
/// hull fill, the border with the paraspinals, the reclaim) along the same organ. On phantom
/// seed 19, where the liver and the IVC engulf the right psoas at its own HU, the right side
/// went from 1422 px after the cut to 2252 px in the end, against 1431 px true and 1290 px
/// on the left. Pixels cut go to `BACKGROUND`. The axis is the vertebral body's centre
/// column `vx`; returns the cut, if any.
pub(crate) fn rebalance(out: &mut Array2<u8>, vx: f64, spacing: Spacing) -> Option<Trimmed> {
    let left = out.mapv(|l| l == PSOAS_LEFT);
    let right = out.mapv(|l| l == PSOAS_RIGHT);
    let (Some(left), Some(right), Some(trimmed)) =
        balance(Some(left), Some(right), vx, spacing, FINAL_MARGIN_MM)
    else {
        return None;
    };
    for ((l, &kept_left), &kept_right) in out.iter_mut().zip(left.iter()).zip(right.iter()) {
        if (*l == PSOAS_LEFT && !kept_left) || (*l == PSOAS_RIGHT && !kept_right) {
            *l = BACKGROUND;
        }
    }
    Some(trimmed)
}

/// The two psoas muscles are near mirror images about the spine's midline: where one side
/// came out more than `BALANCE_RATIO` times the other's area, it grew into an abutting organ
/// of its own HU (a kidney, the liver or the IVC against it with no fat plane), and it is
/// cut back to the other side's mirror image grown by `margin_mm`, keeping the part
/// that holds its deepest point. The margin alone lets a 15 cm² psoas be about a third
/// larger than its mirror, so a real asymmetry (atrophy on one side) is trimmed only beyond
/// that; the overlays show it. Phantom psoas Dice: mean 0.943 -> 0.946, worst 0.885 ->
/// 0.905, with seeds 4 (0.906 -> 0.944) and 19 gaining and none losing more than 0.001.
fn balance(
    left: Option<Mask>,
    right: Option<Mask>,
    vx: f64,
    spacing: Spacing,
    margin_mm: f64,
) -> (Option<Mask>, Option<Mask>, Option<Trimmed>) {
    let (Some(l), Some(r)) = (left.as_ref(), right.as_ref()) else {
        return (left, right, None);
    };
    let px_mm2 = spacing[0] * spacing[1];
    let area = |m: &Mask| m.iter().filter(|&&v| v).count() as f64 * px_mm2;
    let (al, ar) = (area(l), area(r));
    if al.min(ar) < BALANCE_MIN_MM2 || al.max(ar) <= BALANCE_RATIO * al.min(ar) {
        return (left, right, None);
    }
    let (big, small) = if al > ar { (l, r) } else { (r, l) };
    let (h, w) = small.dim();
    let mirror = Array2::from_shape_fn((h, w), |(y, x)| {
        let mx = (2.0 * vx - x as f64).round();
        mx >= 0.0 && (mx as usize) < w && small[[y, mx as usize]]
    });
    let allowed = dilate_disc(&mirror, margin_mm, spacing);
    let cut = Array2::from_shape_fn((h, w), |p| big[p] && allowed[p]);
    let Some((peak, d)) = deepest(&edt(&cut, spacing, true)) else {
        return (left, right, None);
    };
    if d <= 0.0 {
        return (left, right, None);
    }
    let cut = component_at(&cut, peak);
    let trimmed = Trimmed {
        side: if al > ar { "left" } else { "right" },
        before_mm2: al.max(ar),
        after_mm2: area(&cut),
        fellow_mm2: al.min(ar),
    };
    if al > ar {
        (Some(cut), right, Some(trimmed))
    } else {
        (left, Some(cut), Some(trimmed))
    }
}

/// Whether a point `dy` vertebral radii behind (negative: in front of) the body's centre and
/// `dx` radii beside it lies too far forward for the psoas: in front of the body, beside the
/// midline, lie the crura and the great vessels; further out the psoas may bulge forward.
fn too_far_forward(dy: f64, dx: f64) -> bool {
    dy < -FRONT_LIMIT && (dx.abs() < FRONT_MEDIAL_R || dy < -FRONT_FAR_LIMIT)
}

/// The psoas is a compact, convex muscle: what a grown region holds beyond the union of the
/// discs of radius `PRUNE_FRACTION` × its largest inscribed radius that fit inside it is a
/// protrusion into an abutting muscle or organ of the same HU (the quadratus lumborum
/// behind it, a kidney or liver tip beside it), and is cut off.
fn prune_protrusions(region: &Mask, spacing: Spacing) -> Mask {
    let depth = edt(region, spacing, true);
    let Some((_, max_depth)) = deepest(&depth) else {
        return region.clone();
    };
    let radius = PRUNE_FRACTION * f64::from(max_depth);
    if radius <= spacing[0].max(spacing[1]) {
        return region.clone();
    }
    let core = depth.mapv(|d| f64::from(d) > radius);
    let opened = dilate_disc(&core, radius, spacing);
    let opened = Array2::from_shape_fn(region.dim(), |p| opened[p] && region[p]);
    keep_piece_at_deepest(&opened, &depth).unwrap_or_else(|| region.clone())
}

/// The piece of `mask` holding the deepest point of a region before a change to it
/// (`depth` is the region's [`edt`]); `None` when that point left the mask.
pub(super) fn keep_piece_at_deepest(mask: &Mask, depth: &Array2<f32>) -> Option<Mask> {
    let (peak, _) = deepest(depth)?;
    mask[peak].then(|| component_at(mask, peak))
}

/// The deepest point of a depth map (an [`edt`] of a mask) and its depth; `None` when empty.
pub(super) fn deepest(depth: &Array2<f32>) -> Option<((usize, usize), f32)> {
    depth
        .indexed_iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(p, &d)| (p, d))
}

/// The row (pixels) behind which no psoas lies: `BACK_LIMIT` vertebral radii behind the
/// vertebral body's centre. The psoas lies in front of the transverse processes; behind
/// them the quadratus lumborum, of the same HU, abuts it.
pub(super) fn back_edge(spine: &Spine) -> f64 {
    spine.body_centre.0 + BACK_LIMIT * spine.radius_px
}

/// The star-region gain of one sample of HU `v`: a `forbidden` place, `bone` (or anything
/// brighter than the muscle window), fat (below it), organ (`like.1` HU or more from
/// `like.0`), else muscle.
fn gain_of(v: f32, forbidden: bool, bone: bool, like: (f32, f32), window: (f32, f32)) -> f64 {
    if forbidden {
        GAIN_FORBIDDEN
    } else if bone || v > window.1 {
        GAIN_BONE
    } else if v < window.0 {
        GAIN_FAT
    } else if (v - like.0).abs() >= like.1 {
        GAIN_ORGAN
    } else {
        1.0
    }
}

/// Median smoothed HU of the psoas-like pixels of a first psoas region.
fn own_hu(smooth: &Array2<f32>, region: &Mask, muscle_hu: f32) -> Option<f32> {
    let mut vals: Vec<f32> = smooth
        .iter()
        .zip(region.iter())
        .filter(|&(&v, &m)| m && (v - muscle_hu).abs() < LIKE_HU)
        .map(|(&v, _)| v)
        .collect();
    median(&mut vals)
}

/// Centroid `(y, x)` of a mask, if it has any pixel.
fn centroid(m: &Mask) -> Option<(f64, f64)> {
    let (mut n, mut sy, mut sx) = (0usize, 0f64, 0f64);
    for ((y, x), &v) in m.indexed_iter() {
        if v {
            n += 1;
            sy += y as f64;
            sx += x as f64;
        }
    }
    (n > 0).then(|| (sy / n as f64, sx / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round muscle with a thin tongue reaching out of it (a psoas grown into the
    /// quadratus lumborum): pruning cuts the tongue and keeps the whole round body.
    #[test]
    fn pruning_cuts_a_thin_protrusion_and_keeps_the_body() {
        let (h, w) = (80, 100);
        let disc = |y: usize, x: usize| (y as f64 - 40.0).hypot(x as f64 - 30.0) <= 18.0;
        let tongue = |y: usize, x: usize| (38..=41).contains(&y) && (48..90).contains(&x);
        let region = Array2::from_shape_fn((h, w), |(y, x)| disc(y, x) || tongue(y, x));
        let pruned = prune_protrusions(&region, [0.8, 0.8]);
        // The opening may shave a pixel off the discrete disc's edge, no more.
        let inner = |y: usize, x: usize| (y as f64 - 40.0).hypot(x as f64 - 30.0) <= 17.0;
        for ((y, x), &kept) in pruned.indexed_iter() {
            if inner(y, x) {
                assert!(kept, "body pixel ({y}, {x}) was cut");
            }
            if x >= 52 {
                assert!(!kept, "tongue pixel ({y}, {x}) was kept");
            }
        }
        // A compact region loses nothing but edge pixels.
        let round = Array2::from_shape_fn((h, w), |(y, x)| disc(y, x));
        let area = round.iter().filter(|&&m| m).count();
        let lost = area
            - prune_protrusions(&round, [0.8, 0.8])
                .iter()
                .filter(|&&m| m)
                .count();
        assert!(
            lost * 50 < area,
            "{lost} of {area} pixels of a round region cut"
        );
    }

    /// One psoas grown into an abutting organ of its own HU is cut back to its fellow's
    /// mirror image (plus the margin); a mild asymmetry is left alone.
    #[test]
    fn a_psoas_far_larger_than_its_fellow_is_cut_to_its_mirror_image() {
        let (h, w) = (100, 160);
        let vx = 80.0;
        let disc = |cx: f64, r: f64| {
            Array2::from_shape_fn((h, w), move |(y, x)| {
                (y as f64 - 50.0).hypot(x as f64 - cx) <= r
            })
        };
        // Patient left (larger x) is a plain disc; the right one has an organ grown on.
        let left = disc(110.0, 15.0);
        let organ = Array2::from_shape_fn((h, w), |(y, x)| (30..75).contains(&y) && x < 50);
        let grown = Array2::from_shape_fn((h, w), |p| disc(50.0, 15.0)[p] || organ[p]);
        let (l, r, trimmed) = balance(Some(left.clone()), Some(grown.clone()), vx, [1.0, 1.0], 4.0);
        assert_eq!(l.unwrap(), left, "the smaller side is untouched");
        let r = r.unwrap();
        let count = |m: &Mask| m.iter().filter(|&&v| v).count() as f64;
        let trimmed = trimmed.expect("the cut is reported");
        assert_eq!(trimmed.side, "right");
        assert_eq!(trimmed.before_mm2, count(&grown));
        assert_eq!(trimmed.after_mm2, count(&r));
        assert_eq!(trimmed.fellow_mm2, count(&left));
        assert!(
            trimmed.note().contains("psoas right cut back"),
            "{}",
            trimmed.note()
        );
        assert!(r[[50, 50]], "the muscle's centre stays");
        assert!(
            !r[[50, 20]] && !r[[70, 40]],
            "the organ beyond the margin is cut"
        );
        assert!(r[[50, 34]], "the muscle within the margin stays");
        // 15 against 16 pixels of radius (ratio 1.14): nothing changes.
        let (l, r, trimmed) = balance(
            Some(left.clone()),
            Some(disc(50.0, 16.0)),
            vx,
            [1.0, 1.0],
            4.0,
        );
        assert_eq!((l.unwrap(), r.unwrap()), (left, disc(50.0, 16.0)));
        assert_eq!(trimmed, None);
    }

    /// The finished labels are balanced again: a right psoas regrown into a crescent of
    /// organ loses it (to the background) down to its fellow's mirror image plus the final
    /// margin; the other labels stay, and balanced labels are left as they are.
    #[test]
    fn finished_labels_are_cut_back_to_the_mirror_image() {
        use crate::pipeline::labels::PARASPINAL;
        let (h, w) = (100, 160);
        let dist = |y: usize, x: usize, cx: f64| (y as f64 - 50.0).hypot(x as f64 - cx);
        let labels = |crescent: bool| {
            Array2::from_shape_fn((h, w), |(y, x)| {
                if dist(y, x, 110.0) <= 15.0 {
                    PSOAS_LEFT
                } else if dist(y, x, 50.0) <= 15.0
                    || (crescent && x < 50 && dist(y, x, 50.0) <= 22.0)
                {
                    PSOAS_RIGHT
                } else if y >= 80 {
                    PARASPINAL
                } else {
                    BACKGROUND
                }
            })
        };
        let mut out = labels(true);
        let before = out.clone();
        let trimmed = rebalance(&mut out, 80.0, [1.0, 1.0]).expect("the right side is cut");
        assert_eq!(trimmed.side, "right");
        assert_eq!(
            out[[50, 30]],
            BACKGROUND,
            "the crescent's outer part is cut"
        );
        assert_eq!(out[[50, 31]], BACKGROUND, "beyond the mirror plus 3 mm");
        assert_eq!(out[[50, 33]], PSOAS_RIGHT, "within the margin");
        assert_eq!(out[[50, 50]], PSOAS_RIGHT, "the muscle's centre");
        for ((p, &a), &b) in out.indexed_iter().zip(before.iter()) {
            if b != PSOAS_RIGHT {
                assert_eq!(a, b, "{p:?} changed from {b} to {a}");
            }
        }
        let count = |m: &Array2<u8>| m.iter().filter(|&&l| l == PSOAS_RIGHT).count() as f64;
        assert_eq!(trimmed.after_mm2, count(&out));
        assert_eq!(trimmed.before_mm2, count(&before));

        let mut plain = labels(false);
        assert_eq!(rebalance(&mut plain, 80.0, [1.0, 1.0]), None);
        assert_eq!(plain, labels(false));
    }

    /// In front of the body the psoas may bulge forward beside the midline, but not at the
    /// midline (crura, great vessels) and nowhere past the far limit.
    #[test]
    fn the_front_limit_depends_on_the_distance_from_the_midline() {
        assert!(!too_far_forward(-0.5, 0.0), "beside the body");
        assert!(
            too_far_forward(-1.2, 0.5),
            "in front of the body, near the midline"
        );
        assert!(!too_far_forward(-1.2, 2.0), "in front, well lateral");
        assert!(too_far_forward(-2.6, 2.0), "past the far limit");
    }
}
