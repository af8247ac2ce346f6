//! The psoas muscles: grown from beside the vertebral body, one per side.
//!
//! The psoas lies in the cavity, against the side of the vertebral body, so the wall
//! contours never include it. Each side gets a seed — the most muscle-like spot within a
//! short distance of the vertebra, level with or behind its centre (in front of it lie the
//! diaphragmatic crura, the aorta and the vena cava, which read as muscle on a plain scan) —
//! and a star-shaped region grown from there that stops at fat, bone, the midline, organ-bright
//! tissue, and grows only reluctantly beyond a typical psoas radius.

use ndarray::Array2;

use super::morphology::{Mask, Spacing, box_mean, edt};
use super::rays::{Star, star_region};
use super::spine::Spine;

/// Soft tissue within this many HU of the scan's muscle HU counts as psoas-like.
const LIKE_HU: f32 = 30.0;
/// Width (mm) of the box over which the muscle-like fraction is averaged when seeding.
const SEED_BOX_MM: f64 = 8.0;
/// The seed lies between `SEED_MIN_MM` and `SEED_MAX_MM` from the vertebra.
const SEED_MIN_MM: f32 = 1.0;
const SEED_MAX_MM: f32 = 15.0;
/// Seed score = muscle-like fraction − this × distance to the vertebra (mm).
const SEED_DISTANCE_COST: f32 = 0.02;
/// A seed needs at least this score.
const SEED_MIN_SCORE: f32 = 0.6;
/// The psoas may not reach further forward than this many vertebral radii before the centre.
const FRONT_LIMIT: f64 = 1.0;
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

/// The two psoas regions `(patient left, patient right)`; `None` where no seed was found.
pub(crate) fn find_psoas(
    smooth: &Array2<f32>,
    spacing: Spacing,
    spine: &Spine,
    muscle_hu: f32,
    cavity: &Mask,
    window: (f32, f32),
) -> (Option<Mask>, Option<Mask>) {
    let (h, w) = smooth.dim();
    let (vy, vx) = spine.centre;
    let r = spine.radius_px;
    let in_window = |v: f32| v >= window.0 && v <= window.1;
    let like = Array2::from_shape_fn((h, w), |(y, x)| {
        let v = smooth[[y, x]];
        (in_window(v) && (v - muscle_hu).abs() < LIKE_HU && cavity[[y, x]] && !spine.region[[y, x]])
            as u8 as f32
    });
    let size = ((SEED_BOX_MM / spacing[0].min(spacing[1])).round() as usize | 1).max(3);
    let frac = box_mean(&like, size);
    let outside = spine.region.mapv(|m| !m);
    let dist = edt(&outside, spacing, false);
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
            let score = f - SEED_DISTANCE_COST * d;
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, (y, x)));
            }
        }
        let (score, seed) = best?;
        if score < SEED_MIN_SCORE {
            return None;
        }
        let region = star_region(
            smooth,
            (seed.0 as f64, seed.1 as f64),
            spacing,
            &STAR,
            |v, (y, x)| {
                if side * (x as f64 - vx) < 0.0 || (y as f64) < vy - FRONT_LIMIT * r {
                    GAIN_FORBIDDEN
                } else if spine.region[[y, x]] || v > window.1 {
                    GAIN_BONE
                } else if v < window.0 {
                    GAIN_FAT
                } else if (v - muscle_hu).abs() >= LIKE_HU {
                    GAIN_ORGAN
                } else {
                    1.0
                }
            },
        );
        Some(Array2::from_shape_fn((h, w), |p| {
            region[p] && !spine.region[p]
        }))
    };
    // x runs from the patient's right to left, so the patient's left psoas is at larger x.
    (grow(1.0), grow(-1.0))
}
