//! Intermuscular fat confined to fat that lies between muscle.
//!
//! The compartments are found on smoothed HU, so their edges sit a pixel or two off the
//! muscle's true edge. Every fat-window pixel a compartment overshoots onto would read as
//! IMAT, and round a muscle's whole perimeter that outweighs the real intermuscular fat
//! (thin streaks and planes inside the muscle). So a fat pixel keeps the IMAT label only
//! when muscle lies on both sides of it, within [`IMAT_SPAN_MM`], along one of four lines
//! (the two axes and the two diagonals), with the same muscle on both sides: inside a
//! streak or a plane between muscle layers, not on a muscle's outer face nor in the corner
//! where two muscles meet. The rest go to the fat they touch (SAT or VAT, each in its own
//! window); touching neither (against bone, or walled in by muscle), they are visceral fat
//! when in its window, as every IMAT candidate lies inside the fascia, else background.

use ndarray::{Array2, ArrayView2};

use super::morphology::Spacing;
use crate::pipeline::labels::{BACKGROUND, HuWindows, IMAT, PARASPINAL, SAT, VAT, is_muscle};

/// Widest intermuscular fat run (mm) that still counts as lying between muscle: streaks
/// and fascial planes are 1–3 mm, plus a pixel of partial volume either side.
pub(super) const IMAT_SPAN_MM: f64 = 3.0;

/// Relabels IMAT pixels that do not lie between muscle (see the module docs). `hu` is the
/// raw slice the labels were read from; `midline` the spine's column, if found: the left
/// and right paraspinal masses are two muscles, and the fat between them is not IMAT.
pub(super) fn confine(
    out: &mut Array2<u8>,
    hu: ArrayView2<i16>,
    windows: &HuWindows,
    spacing: Spacing,
    midline: Option<f64>,
) {
    let (h, w) = out.dim();
    let reach = |d: f64| (IMAT_SPAN_MM / d).ceil().max(1.0) as isize;
    let (ry, rx) = (reach(spacing[0]), reach(spacing[1]));
    let rd = reach(spacing[0].hypot(spacing[1]));
    let labels = out.clone();
    // The muscle label first met from (y, x) along (dy, dx) within r pixels, if any.
    let first = |y: usize, x: usize, dy: isize, dx: isize, r: isize| {
        (1..=r).find_map(|k| {
            let (yy, xx) = (y as isize + k * dy, x as isize + k * dx);
            if yy < 0 || xx < 0 || yy as usize >= h || xx as usize >= w {
                return None;
            }
            let l = labels[[yy as usize, xx as usize]];
            let side = midline.is_some_and(|m| l == PARASPINAL && (xx as f64) < m);
            is_muscle(l).then_some((l, side))
        })
    };
    // Within the span of the midline, fat between paraspinal muscle is the cleft between
    // the left and right masses behind the spinous process, whichever line crosses it.
    let in_cleft = |x: usize| midline.is_some_and(|m| (x as f64 - m).abs() <= rx as f64);
    let between = |y: usize, x: usize| {
        [(1, 0, ry), (0, 1, rx), (1, 1, rd), (1, -1, rd)]
            .into_iter()
            .any(|(dy, dx, r)| {
                first(y, x, dy, dx, r).is_some_and(|a| {
                    first(y, x, -dy, -dx, r) == Some(a) && !(a.0 == PARASPINAL && in_cleft(x))
                })
            })
    };
    let mut rejected: Vec<(usize, usize)> = out
        .indexed_iter()
        .filter(|&((y, x), &l)| l == IMAT && !between(y, x))
        .map(|(p, _)| p)
        .collect();
    for &p in &rejected {
        out[p] = BACKGROUND;
    }
    loop {
        let before = rejected.len();
        let prev = out.clone();
        rejected.retain(|&(y, x)| {
            let v = hu[[y, x]];
            let near = |label: u8| {
                [
                    (y.wrapping_sub(1), x),
                    (y + 1, x),
                    (y, x.wrapping_sub(1)),
                    (y, x + 1),
                ]
                .into_iter()
                .any(|(yy, xx)| yy < h && xx < w && prev[[yy, xx]] == label)
            };
            let to = if near(SAT) && windows.sat.contains(v) {
                SAT
            } else if near(VAT) && windows.vat.contains(v) {
                VAT
            } else {
                return true;
            };
            out[[y, x]] = to;
            false
        });
        if rejected.len() == before {
            break;
        }
    }
    // Fat cut off from both (against bone, or walled in by muscle labels) lies inside the
    // fascia: visceral, in its window.
    for p in rejected {
        if windows.vat.contains(hu[p]) {
            out[p] = VAT;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A muscle block with a 2-pixel fat streak through it, SAT above and VAT below, and
    /// a fat rim (wrongly IMAT) along both faces.
    #[test]
    fn keeps_streaks_and_hands_rims_to_their_fat() {
        let (h, w) = (30, 20);
        let mut hu = Array2::from_elem((h, w), -100i16);
        let mut out = Array2::from_elem((h, w), BACKGROUND);
        for y in 0..h {
            for x in 0..w {
                let l = match y {
                    0..=7 => SAT,
                    8 => IMAT,
                    9..=13 | 16..=20 => PARASPINAL,
                    14 | 15 => IMAT,
                    21 => IMAT,
                    _ => VAT,
                };
                out[[y, x]] = l;
                if l == PARASPINAL {
                    hu[[y, x]] = 45;
                }
            }
        }
        // One rim pixel too dense for the VAT window: it belongs to no fat.
        hu[[21, 3]] = -40;
        confine(&mut out, hu.view(), &HuWindows::default(), [0.8, 0.8], None);
        for x in 0..w {
            assert_eq!(out[[14, x]], IMAT, "streak kept at x {x}");
            assert_eq!(out[[15, x]], IMAT, "streak kept at x {x}");
            assert_eq!(out[[8, x]], SAT, "outer rim goes to the SAT at x {x}");
            let below = if x == 3 { BACKGROUND } else { VAT };
            assert_eq!(out[[21, x]], below, "inner rim goes to the VAT at x {x}");
        }
    }

    /// Fat wider than the span is a fat pad, not a plane between muscle: all of it joins
    /// the fat it opens onto, however far from that fat.
    #[test]
    fn a_wide_fat_gap_is_not_imat() {
        let (h, w) = (40, 10);
        let hu = Array2::from_elem((h, w), -100i16);
        let mut out = Array2::from_elem((h, w), PARASPINAL);
        for y in 10..30 {
            for x in 0..w {
                out[[y, x]] = if y == 20 { VAT } else { IMAT };
            }
        }
        // A 3-pixel streak (2.4 mm) in the muscle above stays.
        for x in 0..w {
            for y in 4..7 {
                out[[y, x]] = IMAT;
            }
        }
        confine(&mut out, hu.view(), &HuWindows::default(), [0.8, 0.8], None);
        for x in 0..w {
            for y in 10..30 {
                assert_eq!(out[[y, x]], VAT, "row {y} joins the fat");
            }
            for y in 4..7 {
                assert_eq!(out[[y, x]], IMAT, "streak row {y} stays");
            }
        }
    }
}
