//! The patient's body on each work-grid bin: the largest soft-tissue region, holes
//! filled. It keeps the table, blankets and arms' air gaps out of every later search,
//! and its left–right centre is where the spine is looked for first.

use ndarray::Array2;
use rayon::prelude::*;

use super::grid::Grid;
use super::morph::{fill_holes, label2d};

/// Anything above this is tissue rather than air or lung.
const TISSUE_HU: i16 = -300;

/// The body mask of every bin and its left–right centre.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// One mask per bin, grid resolution.
    pub mask: Vec<Array2<bool>>,
    /// Column of the body's centroid per bin (grid columns); the image centre when the
    /// bin holds no tissue.
    pub x_centre: Vec<f64>,
}

impl Body {
    /// Finds the body on every bin.
    pub fn find(grid: &Grid) -> Body {
        let (mask, x_centre): (Vec<_>, Vec<_>) = (0..grid.len())
            .into_par_iter()
            .map(|b| body_of(grid, b))
            .unzip();
        Body { mask, x_centre }
    }
}

fn body_of(grid: &Grid, b: usize) -> (Array2<bool>, f64) {
    let img = grid.mean_at(b);
    let tissue = img.mapv(|v| v > TISSUE_HU);
    let (labels, comps) = label2d(&tissue, false);
    let centre = grid.cols() as f64 / 2.0;
    let Some((best, comp)) = comps.iter().enumerate().max_by_key(|(_, c)| c.area) else {
        return (Array2::from_elem(tissue.dim(), false), centre);
    };
    let id = best as u32 + 1;
    let mask = fill_holes(&labels.mapv(|l| l == id));
    (mask, comp.centroid().1)
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
        assert!(body.mask[0][[10, 6]]);
        assert!(!body.mask[0][[19, 5]]);
        assert!((body.x_centre[0] - 6.5).abs() < 0.1);
    }
}
