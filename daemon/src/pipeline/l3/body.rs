//! The patient's body on each work-grid bin: the largest soft-tissue region, holes
//! filled. It keeps the table, blankets and arms' air gaps out of every later search,
//! and its left–right centre is where the spine is looked for first.
//!
//! The mask is kept at about 4 mm: it only has to say "inside the patient", and at
//! that scale it costs a few milliseconds for a whole series.

use ndarray::Array2;
use rayon::prelude::*;

use super::grid::Grid;
use super::morph::{fill_holes, label2d};

/// Anything above this is tissue rather than air or lung.
const TISSUE_HU: i16 = -300;

/// Size of the body mask's pixels, mm (roughly).
const MASK_MM: f64 = 4.0;

/// The body mask of every bin and its left–right centre.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// One coarse mask per bin: `mask[b][[gy / step, gx / step]]`.
    mask: Vec<Array2<bool>>,
    /// Grid pixels per mask pixel.
    step: usize,
    /// Column of the body's centroid per bin (grid columns); the image centre when the
    /// bin holds no tissue.
    pub x_centre: Vec<f64>,
}

impl Body {
    /// Finds the body on every bin.
    pub fn find(grid: &Grid) -> Body {
        let step = ((MASK_MM / grid.dx.max(1e-6)).round() as usize).clamp(1, 8);
        let (mask, x_centre): (Vec<_>, Vec<_>) = (0..grid.len())
            .into_par_iter()
            .map(|b| body_of(grid, b, step))
            .unzip();
        Body {
            mask,
            step,
            x_centre,
        }
    }

    /// Whether grid pixel (gy, gx) of bin `b` lies inside the body.
    pub fn contains(&self, b: usize, gy: usize, gx: usize) -> bool {
        self.mask
            .get(b)
            .and_then(|m| m.get((gy / self.step, gx / self.step)))
            .copied()
            .unwrap_or(false)
    }
}

fn body_of(grid: &Grid, b: usize, step: usize) -> (Array2<bool>, f64) {
    let img = grid.mean_at(b);
    let (h, w) = (grid.rows().div_ceil(step), grid.cols().div_ceil(step));
    let tissue = Array2::from_shape_fn((h, w), |(y, x)| img[[y * step, x * step]] > TISSUE_HU);
    let (labels, comps) = label2d(&tissue, false);
    let centre = grid.cols() as f64 / 2.0;
    let Some((best, comp)) = comps.iter().enumerate().max_by_key(|(_, c)| c.area) else {
        return (Array2::from_elem((h, w), false), centre);
    };
    let id = best as u32 + 1;
    let mask = fill_holes(&labels.mapv(|l| l == id));
    (mask, comp.centroid().1 * step as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::l3::testvol::volume;

    #[test]
    fn keeps_the_largest_region_and_its_centre() {
        let mut vol = volume(1, 20, 20, [2.0, 2.0], 3.0, -1000);
        for y in 4..16 {
            for x in 2..12 {
                vol.hu[[0, y, x]] = 40;
            }
        }
        // A small "table" strip elsewhere.
        for x in 0..20 {
            vol.hu[[0, 19, x]] = 100;
        }
        vol.hu[[0, 10, 6]] = -1000; // air inside the body is filled
        let g = Grid::build(&vol, 2.0).expect("grid");
        let body = Body::find(&g);
        assert!(body.contains(0, 10, 6));
        assert!(!body.contains(0, 19, 5));
        assert!(!body.contains(0, 500, 5), "out of range is outside");
        assert!((body.x_centre[0] - 6.5).abs() < 1.1, "{}", body.x_centre[0]);
    }
}
