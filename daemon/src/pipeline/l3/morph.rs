//! Small binary-image tools the L3 localiser needs: connected components, hole filling,
//! closing, and 3D labelling.
//!
//! They are written here rather than pulled from a crate because the pipeline needs only
//! these few, on small cropped work grids, and they must never panic on odd shapes
//! (empty images, single rows).

use ndarray::{Array2, Array3};

/// One connected component of a 2D mask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Component {
    /// Pixels in the component.
    pub area: usize,
    /// Sum of row indices, for the centroid.
    pub sum_y: f64,
    /// Sum of column indices, for the centroid.
    pub sum_x: f64,
    /// Smallest column index.
    pub min_x: usize,
    /// Largest column index.
    pub max_x: usize,
}

impl Component {
    /// Centroid (row, column).
    pub fn centroid(&self) -> (f64, f64) {
        let a = self.area.max(1) as f64;
        (self.sum_y / a, self.sum_x / a)
    }
}

/// Labels the 4-connected (or 8-connected) components of `mask`. Label 0 is background;
/// component `i` in the returned list has label `i + 1`.
pub(crate) fn label2d(mask: &Array2<bool>, eight: bool) -> (Array2<u32>, Vec<Component>) {
    let (h, w) = mask.dim();
    let mut labels = Array2::<u32>::zeros((h, w));
    let mut comps = Vec::new();
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for y0 in 0..h {
        for x0 in 0..w {
            if !mask[[y0, x0]] || labels[[y0, x0]] != 0 {
                continue;
            }
            let id = comps.len() as u32 + 1;
            let mut c = Component {
                area: 0,
                sum_y: 0.0,
                sum_x: 0.0,
                min_x: x0,
                max_x: x0,
            };
            labels[[y0, x0]] = id;
            stack.push((y0, x0));
            while let Some((y, x)) = stack.pop() {
                c.area += 1;
                c.sum_y += y as f64;
                c.sum_x += x as f64;
                c.min_x = c.min_x.min(x);
                c.max_x = c.max_x.max(x);
                for (ny, nx) in neighbours(y, x, h, w, eight) {
                    if mask[[ny, nx]] && labels[[ny, nx]] == 0 {
                        labels[[ny, nx]] = id;
                        stack.push((ny, nx));
                    }
                }
            }
            comps.push(c);
        }
    }
    (labels, comps)
}

/// The in-bounds 4- or 8-neighbours of `(y, x)`.
fn neighbours(
    y: usize,
    x: usize,
    h: usize,
    w: usize,
    eight: bool,
) -> impl Iterator<Item = (usize, usize)> {
    const N4: [(isize, isize); 4] = [(-1, 0), (1, 0), (0, -1), (0, 1)];
    const N8: [(isize, isize); 8] = [
        (-1, 0),
        (1, 0),
        (0, -1),
        (0, 1),
        (-1, -1),
        (-1, 1),
        (1, -1),
        (1, 1),
    ];
    let offsets: &'static [(isize, isize)] = if eight { &N8 } else { &N4 };
    offsets.iter().filter_map(move |&(dy, dx)| {
        let ny = y as isize + dy;
        let nx = x as isize + dx;
        (ny >= 0 && nx >= 0 && (ny as usize) < h && (nx as usize) < w)
            .then_some((ny as usize, nx as usize))
    })
}

/// Fills every background region that does not touch the image border.
pub(crate) fn fill_holes(mask: &Array2<bool>) -> Array2<bool> {
    let (h, w) = mask.dim();
    // Background reachable from the border stays background; everything else is filled.
    let mut outside = Array2::<bool>::from_elem((h, w), false);
    let mut stack = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if (y == 0 || x == 0 || y + 1 == h || x + 1 == w) && !mask[[y, x]] {
                outside[[y, x]] = true;
                stack.push((y, x));
            }
        }
    }
    while let Some((y, x)) = stack.pop() {
        for (ny, nx) in neighbours(y, x, h, w, false) {
            if !mask[[ny, nx]] && !outside[[ny, nx]] {
                outside[[ny, nx]] = true;
                stack.push((ny, nx));
            }
        }
    }
    outside.mapv(|o| !o)
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
    for ((y, x), &l) in labels.indexed_iter() {
        if l != 0 && comps[l as usize - 1].area <= max_area {
            out[[y, x]] = true;
        }
    }
    out
}

/// Morphological closing with a 3×3 square: bridges one-pixel gaps in thin cortical
/// rings so that [`fill_holes`] can close them. Pixels outside the image count as set
/// during the erosion, so the closing does not eat into the border.
pub(crate) fn close3(mask: &Array2<bool>) -> Array2<bool> {
    let (h, w) = mask.dim();
    let mut dil = Array2::<bool>::from_elem((h, w), false);
    for y in 0..h {
        for x in 0..w {
            if mask[[y, x]] {
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        dil[[yy, xx]] = true;
                    }
                }
            }
        }
    }
    let mut out = Array2::<bool>::from_elem((h, w), false);
    for y in 0..h {
        for x in 0..w {
            let mut all = true;
            'n: for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    if !dil[[yy, xx]] {
                        all = false;
                        break 'n;
                    }
                }
            }
            out[[y, x]] = all;
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
