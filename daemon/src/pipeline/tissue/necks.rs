//! Where a psoas touches an organ or muscle of its own HU with no fat plane between them
//! (the vena cava, a kidney, a bowel loop, the quadratus lumborum), the two meet at a
//! neck: the soft tissue they make together narrows where one ends and the other begins.
//! The distance to that tissue's edge then has one peak inside each of them and a pass
//! between at the neck, so a watershed of it ([`basins`]) puts the border where the outline
//! pinches, whatever the HU.
//!
//! The psoas leaves the basins where it is a shallow minority: the rim that growth followed
//! over the neck into the other tissue. The basin of its own deepest point always stays,
//! and nothing joins it: a basin the psoas mostly covers may also hold an organ it touches
//! broadly, with no neck (the liver wrapped round it makes one basin with it), and taking
//! the rest of such a basin made the psoas grow into the organ (phantom right psoas Dice
//! fell from 0.966 to 0.922). That broad contact is left to the other rules.

use ndarray::Array2;

use super::morphology::{Mask, Spacing, components, edt, neighbours};
use super::psoas::{deepest, keep_piece_at_deepest};
use crate::pipeline::labels::{BACKGROUND, PARASPINAL};

/// Peaks of the distance map that rise less than this (mm) above the pass to a higher one
/// belong to it: the bumps of a noisy or oval outline, not a second body.
const PEAK_RISE_MM: f32 = 2.0;
/// The psoas leaves a basin (not its deepest point's) where it holds under this share of
/// the basin's pixels …
const LEAVE_SHARE: f64 = 0.5;
/// … and reaches no deeper into it than this fraction of its own greatest depth: a rim
/// spilled over a neck is shallow, while a whole lobe of the psoas cut off by the
/// watershed (its outline with an organ cap makes a second peak) is deep and stays. On 20
/// phantoms 0.4, 0.55 and 0.7 gave right psoas Dice 0.9706, 0.9712 and 0.9713; with no
/// depth test, 0.9675, with one seed's psoas halved.
const SHALLOW_FRACTION: f64 = 0.55;
/// Holes in the soft tissue smaller than this (mm²: fat specks, noise) do not count as edge.
const HOLE_MM2: f64 = 12.0;

/// The watershed of `depth` over `mask`: a basin number (1…) per mask pixel, 0 outside.
/// Pixels are flooded from the deepest down (8-connected); two basins meeting at a pass
/// merge when the lower of their peaks rises less than `rise` above it.
pub(super) fn basins(depth: &Array2<f32>, mask: &Mask, rise: f32) -> Array2<u32> {
    let (h, w) = mask.dim();
    let mut order: Vec<usize> = (0..h * w).filter(|&i| mask[(i / w, i % w)]).collect();
    order.sort_by(|&a, &b| depth[(b / w, b % w)].total_cmp(&depth[(a / w, a % w)]));
    const NONE: usize = usize::MAX;
    let mut parent = vec![NONE; h * w];
    let mut peak = vec![0f32; h * w];
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for &i in &order {
        let level = depth[(i / w, i % w)];
        let mut flooded = [0usize; 8];
        let mut n = 0;
        neighbours(i, w, h, true, |j| {
            if parent[j] != NONE {
                flooded[n] = j;
                n += 1;
            }
        });
        // In raster order: of equally deep neighbours the last is the way up, and the
        // basins around are compared in that order.
        let flooded = &mut flooded[..n];
        flooded.sort_unstable();
        // A pixel belongs to the basin its steepest way up leads to; only then are the
        // basins around it compared (on a rim of even depth, the first neighbour reached
        // may lie across the neck).
        let Some(&up) = flooded
            .iter()
            .max_by(|&&a, &&b| depth[(a / w, a % w)].total_cmp(&depth[(b / w, b % w)]))
        else {
            parent[i] = i;
            peak[i] = level;
            continue;
        };
        parent[i] = find(&mut parent, up);
        for &j in flooded.iter() {
            let (a, b) = (find(&mut parent, i), find(&mut parent, j));
            if a != b && peak[a].min(peak[b]) - level < rise {
                let (keep, gone) = if peak[a] >= peak[b] { (a, b) } else { (b, a) };
                parent[gone] = keep;
            }
        }
    }
    let mut id = vec![0u32; h * w];
    let mut next = 0u32;
    let mut out = Array2::zeros((h, w));
    for &i in &order {
        let r = find(&mut parent, i);
        if id[r] == 0 {
            next += 1;
            id[r] = next;
        }
        out[(i / w, i % w)] = id[r];
    }
    out
}

/// Finishes the psoas `label` in the window's labels `lab` by the basins of the soft
/// tissue around it (see the module's comment). `soft` marks the muscle-window pixels
/// that are not bone; only psoas, paraspinal and unlabelled pixels take part. A pixel that
/// leaves the psoas takes its basin's commoner other label (paraspinal or none).
pub(super) fn split_at_necks(lab: &mut Array2<u8>, soft: &Mask, spacing: Spacing, label: u8) {
    let (h, w) = lab.dim();
    let takes_part = |l: u8| l == label || l == BACKGROUND || l == PARASPINAL;
    let tissue = Array2::from_shape_fn((h, w), |p| soft[p] && takes_part(lab[p]));
    let tissue = fill_small_holes(&tissue, spacing);
    let depth = edt(&tissue, spacing, false);
    let basin = basins(&depth, &tissue, PEAK_RISE_MM);
    let n = basin.iter().copied().max().unwrap_or(0) as usize;
    let psoas = lab.mapv(|l| l == label);
    let own_depth = edt(&psoas, spacing, true);
    let Some((peak, max_depth)) = deepest(&own_depth) else {
        return;
    };
    let core = basin[peak] as usize;
    // Per basin: pixels, psoas pixels, paraspinal pixels, and how deep the psoas reaches
    // into it (a rim spilled over a neck is shallow).
    let mut count = vec![[0usize; 3]; n + 1];
    let mut reach = vec![0f32; n + 1];
    for (p, &b) in basin.indexed_iter() {
        let b = b as usize;
        count[b][0] += 1;
        count[b][1] += usize::from(psoas[p]);
        count[b][2] += usize::from(lab[p] == PARASPINAL);
        if psoas[p] {
            reach[b] = reach[b].max(own_depth[p]);
        }
    }
    let share = |b: usize| count[b][1] as f64 / count[b][0].max(1) as f64;
    let shallow = |b: usize| f64::from(reach[b]) <= SHALLOW_FRACTION * f64::from(max_depth);
    let mut new = psoas.clone();
    for (p, &b) in basin.indexed_iter() {
        let b = b as usize;
        if psoas[p] && b != 0 && b != core && share(b) < LEAVE_SHARE && shallow(b) {
            new[p] = false;
        }
    }
    let Some(new) = keep_piece_at_deepest(&new, &own_depth) else {
        return;
    };
    for (p, l) in lab.indexed_iter_mut() {
        if psoas[p] && !new[p] {
            let c = count[basin[p] as usize];
            *l = if 2 * c[2] > c[0] - c[1] {
                PARASPINAL
            } else {
                BACKGROUND
            };
        }
    }
}

/// `mask` with its holes under `HOLE_MM2` filled: a speck of fat or noise inside a muscle
/// would make a false edge, and a pit in the distance map.
fn fill_small_holes(mask: &Mask, spacing: Spacing) -> Mask {
    let holes = mask.mapv(|m| !m);
    let (lab, comps) = components(&holes, false);
    let px_mm2 = spacing[0] * spacing[1];
    let (h, w) = mask.dim();
    let touches_edge = |c: &super::morphology::Component| {
        let [y0, y1, x0, x1] = c.bbox;
        y0 == 0 || x0 == 0 || y1 + 1 >= h || x1 + 1 >= w
    };
    let small: Vec<bool> = comps
        .iter()
        .map(|c| !touches_edge(c) && (c.area as f64) * px_mm2 < HOLE_MM2)
        .collect();
    Array2::from_shape_fn((h, w), |p| {
        mask[p] || (lab[p] > 0 && small[lab[p] as usize - 1])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::labels::PSOAS_RIGHT;

    const SP: Spacing = [1.0, 1.0];

    fn disc(dim: (usize, usize), c: (f64, f64), r: f64) -> Mask {
        Array2::from_shape_fn(dim, |(y, x)| (y as f64 - c.0).hypot(x as f64 - c.1) <= r)
    }

    /// Two discs touching at a neck make two basins; one disc with a noisy rim makes one.
    #[test]
    fn touching_discs_are_two_basins_a_bumpy_disc_one() {
        let dim = (60, 100);
        let a = disc(dim, (30.0, 30.0), 15.0);
        let b = disc(dim, (30.0, 60.0), 12.0);
        let both = Array2::from_shape_fn(dim, |p| a[p] || b[p]);
        let bs = basins(&edt(&both, SP, true), &both, PEAK_RISE_MM);
        assert_eq!(bs.iter().copied().max(), Some(2));
        assert_ne!(bs[(30, 30)], bs[(30, 60)]);
        assert_eq!(bs[(30, 20)], bs[(30, 30)]);
        assert_eq!(bs[(30, 66)], bs[(30, 60)]);
        let bumpy = Array2::from_shape_fn(dim, |(y, x)| {
            a[(y, x)] || (a[(y.saturating_sub(1), x)] && (x + y) % 7 == 0)
        });
        let bs = basins(&edt(&bumpy, SP, true), &bumpy, PEAK_RISE_MM);
        assert_eq!(bs.iter().copied().max(), Some(1));
    }

    /// A psoas whose label spilled over the neck into a vein beside it: the spill leaves,
    /// and the psoas keeps its back cap, which the paraspinal label holds, as it was.
    #[test]
    fn the_psoas_ends_at_the_neck() {
        let dim = (70, 100);
        let psoas = disc(dim, (35.0, 35.0), 16.0);
        let vein = disc(dim, (35.0, 62.0), 12.0);
        let soft = Array2::from_shape_fn(dim, |p| psoas[p] || vein[p]);
        let lab0 = Array2::from_shape_fn(dim, |(y, x)| {
            if psoas[(y, x)] && y >= 47 {
                PARASPINAL
            } else if psoas[(y, x)] || (vein[(y, x)] && x <= 56) {
                PSOAS_RIGHT
            } else {
                BACKGROUND
            }
        });
        let mut lab = lab0.clone();
        split_at_necks(&mut lab, &soft, SP, PSOAS_RIGHT);
        // Off the neck itself (the two discs' rims cross there), every pixel is placed.
        let near_neck =
            |(y, x): (usize, usize)| (y as f64 - 35.0).abs() < 8.0 && (48..=53).contains(&x);
        for (p, &l) in lab.indexed_iter() {
            if psoas[p] && !near_neck(p) {
                assert_eq!(l, lab0[p], "psoas pixel {p:?}");
            } else if vein[p] && !psoas[p] && !near_neck(p) {
                assert_eq!(l, BACKGROUND, "vein pixel {p:?}");
            }
        }
        let spilled = |l: &Array2<u8>| {
            l.indexed_iter()
                .filter(|&(p, &v)| v == PSOAS_RIGHT && !psoas[p])
                .count()
        };
        assert!(
            spilled(&lab) * 10 < spilled(&lab0),
            "{} of {} left",
            spilled(&lab),
            spilled(&lab0)
        );
        // A psoas alone is left as it is.
        let lone = Array2::from_shape_fn(dim, |p| if psoas[p] { PSOAS_RIGHT } else { BACKGROUND });
        let mut lab = lone.clone();
        split_at_necks(&mut lab, &psoas, SP, PSOAS_RIGHT);
        assert_eq!(lab, lone);
    }
}
