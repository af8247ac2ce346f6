//! Small binary-image tools the L3 localiser needs beyond the shared ones in
//! [`crate::pipeline::morphology`] (components and hole filling): small-hole filling,
//! closing, dilation and 3D labelling.
//!
//! They are written here rather than pulled from a crate because the pipeline needs only
//! these few, on small cropped work grids, and they must never panic on odd shapes
//! (empty images, single rows).

use ndarray::{Array2, Array3};

pub(crate) use crate::pipeline::morphology::{Component, fill_holes};

/// Labels the 4-connected (or 8-connected) components of `mask`. Label 0 is background;
/// component `i` in the returned list has label `i + 1`.
pub(crate) fn label2d(mask: &Array2<bool>, eight: bool) -> (Array2<u32>, Vec<Component>) {
    crate::pipeline::morphology::components(mask, eight)
}

/// Fills the enclosed background regions of at most `max_area` pixels. Vertebral
/// bodies with thin cortex and dark marrow become solid, while a ring of ribs around a
/// whole lung stays open.
pub(crate) fn fill_small_holes(mask: &Array2<bool>, max_area: usize) -> Array2<bool> {
    let filled = fill_holes(mask);
    let holes = ndarray::Zip::from(&filled)
        .and(mask)
        .map_collect(|&f, &m| f && !m);
    let (labels, comps) = label2d(&holes, false);
    let mut out = mask.clone();
    ndarray::Zip::from(&mut out).and(&labels).for_each(|o, &l| {
        if l != 0 && comps[l as usize - 1].area <= max_area {
            *o = true;
        }
    });
    out
}

/// Morphological closing with a 3×3 square: bridges one-pixel gaps in thin cortical
/// rings so that [`fill_holes`] can close them. Pixels outside the image count as set
/// during the erosion, so the closing does not eat into the border.
pub(crate) fn close3(mask: &Array2<bool>) -> Array2<bool> {
    let (h, w) = mask.dim();
    let m = mask.as_standard_layout();
    let m = m.as_slice().unwrap_or(&[]);
    // Separable 3×3: a row pass then a column pass, for dilation and for erosion.
    let pass = |src: &[bool], any: bool, along_rows: bool| -> Vec<bool> {
        let mut out = vec![false; h * w];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let (a, b) = if along_rows {
                    (
                        if x > 0 { src[i - 1] } else { !any },
                        if x + 1 < w { src[i + 1] } else { !any },
                    )
                } else {
                    (
                        if y > 0 { src[i - w] } else { !any },
                        if y + 1 < h { src[i + w] } else { !any },
                    )
                };
                out[i] = if any {
                    src[i] || a || b
                } else {
                    src[i] && a && b
                };
            }
        }
        out
    };
    let dil = pass(&pass(m, true, true), true, false);
    let ero = pass(&pass(&dil, false, true), false, false);
    Array2::from_shape_vec((h, w), ero).unwrap_or_else(|_| Array2::from_elem((h, w), false))
}

/// Dilation by a `(2r + 1)²` square, separably.
pub(crate) fn dilate(mask: &Array2<bool>, r: usize) -> Array2<bool> {
    let (h, w) = mask.dim();
    let mut rows = Array2::from_elem((h, w), false);
    for y in 0..h {
        for x in 0..w {
            if mask[[y, x]] {
                for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                    rows[[y, xx]] = true;
                }
            }
        }
    }
    let mut out = Array2::from_elem((h, w), false);
    for y in 0..h {
        for x in 0..w {
            if rows[[y, x]] {
                for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                    out[[yy, x]] = true;
                }
            }
        }
    }
    out
}

/// One connected component of a 3D mask, as the list of its voxels.
pub(crate) type Voxels = Vec<(usize, usize, usize)>;

/// The 26-connected components of a 3D mask `[z, y, x]`, each as its voxel list.
pub(crate) fn components3d(mask: &Array3<bool>) -> Vec<Voxels> {
    let (d, h, w) = mask.dim();
    let mut seen = Array3::<bool>::from_elem((d, h, w), false);
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for z0 in 0..d {
        for y0 in 0..h {
            for x0 in 0..w {
                if !mask[[z0, y0, x0]] || seen[[z0, y0, x0]] {
                    continue;
                }
                let mut comp = Vec::new();
                seen[[z0, y0, x0]] = true;
                stack.push((z0, y0, x0));
                while let Some((z, y, x)) = stack.pop() {
                    comp.push((z, y, x));
                    for zz in z.saturating_sub(1)..(z + 2).min(d) {
                        for yy in y.saturating_sub(1)..(y + 2).min(h) {
                            for xx in x.saturating_sub(1)..(x + 2).min(w) {
                                if mask[[zz, yy, xx]] && !seen[[zz, yy, xx]] {
                                    seen[[zz, yy, xx]] = true;
                                    stack.push((zz, yy, xx));
                                }
                            }
                        }
                    }
                }
                out.push(comp);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(n: usize) -> Array2<bool> {
        let mut m = Array2::from_elem((n, n), false);
        for i in 1..n - 1 {
            m[[1, i]] = true;
            m[[n - 2, i]] = true;
            m[[i, 1]] = true;
            m[[i, n - 2]] = true;
        }
        m
    }

    #[test]
    fn fills_a_closed_ring_but_not_an_open_one() {
        let m = ring(7);
        let f = fill_holes(&m);
        assert!(f[[3, 3]]);
        assert!(!f[[0, 0]]);
        let mut open = ring(7);
        open[[1, 3]] = false;
        assert!(!fill_holes(&open)[[3, 3]], "a gap lets the background in");
        // A one-pixel gap is bridged by the closing.
        assert!(fill_holes(&close3(&open))[[3, 3]]);
    }

    #[test]
    fn fills_only_small_holes() {
        let m = ring(7); // a 3×3 hole
        assert!(fill_small_holes(&m, 9)[[3, 3]]);
        assert!(!fill_small_holes(&m, 8)[[3, 3]]);
    }

    #[test]
    fn dilates_by_a_square() {
        let mut m = Array2::from_elem((5, 5), false);
        m[[2, 2]] = true;
        let d = dilate(&m, 1);
        assert_eq!(d.iter().filter(|&&v| v).count(), 9);
        assert!(d[[1, 1]] && !d[[0, 2]]);
        assert_eq!(dilate(&m, 0), m);
    }

    #[test]
    fn labels_separate_blobs() {
        let mut m = Array2::from_elem((5, 5), false);
        m[[0, 0]] = true;
        m[[1, 1]] = true;
        m[[4, 4]] = true;
        let (_, four) = label2d(&m, false);
        assert_eq!(four.len(), 3);
        let (lab, eight) = label2d(&m, true);
        assert_eq!(eight.len(), 2);
        assert_eq!(lab[[0, 0]], lab[[1, 1]]);
        assert_eq!(eight[0].area, 2);
    }

    #[test]
    fn empty_shapes_do_not_panic() {
        let m = Array2::<bool>::from_elem((0, 4), false);
        assert!(label2d(&m, true).1.is_empty());
        assert_eq!(fill_holes(&m).dim(), (0, 4));
        assert_eq!(close3(&m).dim(), (0, 4));
        let v = Array3::<bool>::from_elem((0, 0, 0), false);
        assert!(components3d(&v).is_empty());
    }

    #[test]
    fn diagonal_voxels_join_in_3d() {
        let mut v = Array3::from_elem((3, 3, 3), false);
        v[[0, 0, 0]] = true;
        v[[1, 1, 1]] = true;
        v[[2, 2, 2]] = true;
        let c = components3d(&v);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].len(), 3);
    }
}
