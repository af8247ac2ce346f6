//! The work grid: the volume reduced to about 2 mm voxels before any L3 analysis.
//!
//! Disc, canal and rib signals live at the scale of millimetres, not of the scanner's
//! 0.7 mm pixels, and a 300-slice 512² series must be read only once to stay inside the
//! time budget. So every slice group ("bin") and pixel block is reduced twice: to its
//! mean (quiet, for densities and areas) and to its maximum (keeps thin cortical bone
//! such as ribs bright). Bins are groups of consecutive slices, so thin-slice series and
//! 6 mm series end up with similar sampling.

use ndarray::{Array3, ArrayView2, Axis};
use rayon::prelude::*;

use crate::dicom::Volume;

/// A reduced copy of a volume and the mapping back to source slices and pixels.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    /// Block means, HU, `[bin, y, x]`.
    pub mean: Array3<i16>,
    /// Block maxima, HU, `[bin, y, x]`.
    pub max: Array3<i16>,
    /// z of each bin (mean of its slices), mm, increasing.
    pub z_mm: Vec<f64>,
    /// Source slice range `[start, end)` of each bin.
    pub bins: Vec<(usize, usize)>,
    /// Grid pixel size along y (rows), mm.
    pub dy: f64,
    /// Grid pixel size along x (columns), mm.
    pub dx: f64,
    /// Source rows per grid row.
    pub fy: usize,
    /// Source columns per grid column.
    pub fx: usize,
}

impl Grid {
    /// Reduces `vol` towards `target_mm` voxels. `None` for an empty volume.
    pub fn build(vol: &Volume, target_mm: f64) -> Option<Grid> {
        let (n, h, w) = vol.hu.dim();
        if n == 0 || h == 0 || w == 0 || vol.z_mm.len() != n {
            return None;
        }
        let ps_y = positive_or(vol.pixel_spacing[0], 1.0);
        let ps_x = positive_or(vol.pixel_spacing[1], 1.0);
        let fy = factor(target_mm, ps_y).min(h);
        let fx = factor(target_mm, ps_x).min(w);
        let spacing = positive_or(vol.slice_spacing, median_step(&vol.z_mm).unwrap_or(1.0));
        let fz = factor(target_mm, spacing).min(n);
        let (h2, w2) = (h / fy, w / fx);
        let bins: Vec<(usize, usize)> = (0..n.div_ceil(fz))
            .map(|b| (b * fz, ((b + 1) * fz).min(n)))
            .collect();
        let nb = bins.len();
        let plane = h2 * w2;
        // Written in place, bin by bin: fresh allocations and copies of tens of
        // megabytes cost more than the arithmetic.
        let mut mean = vec![0i16; nb * plane];
        let mut max = vec![0i16; nb * plane];
        if plane > 0 {
            mean.par_chunks_mut(plane)
                .zip(max.par_chunks_mut(plane))
                .zip(bins.par_iter())
                .for_each_init(
                    || (Vec::new(), Vec::new()),
                    |rows, ((m, x), &(s, e))| reduce_bin(vol, s, e, (fy, fx), w2, rows, m, x),
                );
        }
        let mean = Array3::from_shape_vec((nb, h2, w2), mean).ok()?;
        let max = Array3::from_shape_vec((nb, h2, w2), max).ok()?;
        let z_mm = bins
            .iter()
            .map(|&(s, e)| vol.z_mm[s..e].iter().sum::<f64>() / (e - s) as f64)
            .collect();
        Some(Grid {
            mean,
            max,
            z_mm,
            bins,
            dy: ps_y * fy as f64,
            dx: ps_x * fx as f64,
            fy,
            fx,
        })
    }

    /// Number of bins.
    pub fn len(&self) -> usize {
        self.z_mm.len()
    }

    /// Grid rows.
    pub fn rows(&self) -> usize {
        self.mean.dim().1
    }

    /// Grid columns.
    pub fn cols(&self) -> usize {
        self.mean.dim().2
    }

    /// The mean image of one bin.
    pub fn mean_at(&self, b: usize) -> ArrayView2<'_, i16> {
        self.mean.index_axis(Axis(0), b)
    }

    /// Millimetres to grid rows.
    pub fn rows_of(&self, mm: f64) -> f64 {
        mm / self.dy
    }

    /// Millimetres to grid columns.
    pub fn cols_of(&self, mm: f64) -> f64 {
        mm / self.dx
    }

    /// Typical distance between bins, mm.
    pub fn bin_step(&self) -> f64 {
        median_step(&self.z_mm).unwrap_or(self.dy)
    }

    /// A grid row (fractional) as a source row (fractional).
    pub fn source_row(&self, gy: f64) -> f64 {
        (gy + 0.5) * self.fy as f64 - 0.5
    }

    /// A grid column (fractional) as a source column (fractional).
    pub fn source_col(&self, gx: f64) -> f64 {
        (gx + 0.5) * self.fx as f64 - 0.5
    }
}

/// The whole number of source samples per grid sample nearest to `target` (at least 1).
fn factor(target: f64, spacing: f64) -> usize {
    let f = (target / spacing).round();
    if f.is_finite() && f >= 1.0 {
        (f as usize).min(64)
    } else {
        1
    }
}

fn positive_or(v: f64, fallback: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        fallback
    }
}

/// Median of consecutive differences; `None` with fewer than two values.
pub(crate) fn median_step(z: &[f64]) -> Option<f64> {
    let mut d: Vec<f64> = z.windows(2).map(|p| (p[1] - p[0]).abs()).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_by(f64::total_cmp);
    Some(d[d.len() / 2]).filter(|v| *v > 0.0)
}

/// Mean and max of one group of slices over `fy × fx` pixel blocks, into `mean` and
/// `max` (one grid plane each). `row_sum` and `row_max` are scratch rows of the source
/// width: whole source rows are accumulated first (a loop the compiler vectorises),
/// then folded `fx` at a time.
#[allow(
    clippy::too_many_arguments,
    reason = "one hot loop's buffers, kept apart for rayon"
)]
fn reduce_bin(
    vol: &Volume,
    start: usize,
    end: usize,
    (fy, fx): (usize, usize),
    w2: usize,
    (row_sum, row_max): &mut (Vec<i32>, Vec<i16>),
    mean: &mut [i16],
    max: &mut [i16],
) {
    let h2 = mean.len() / w2.max(1);
    let wu = w2 * fx;
    row_sum.resize(wu, 0);
    row_max.resize(wu, 0);
    let count = ((end - start) * fy * fx).max(1) as i32;
    let slices: Vec<_> = (start..end).map(|k| vol.slice(k)).collect();
    for oy in 0..h2 {
        row_sum.fill(0);
        row_max.fill(i16::MIN);
        for sl in &slices {
            for y in oy * fy..(oy + 1) * fy {
                let row = sl.row(y);
                let Some(px) = row.as_slice() else { continue };
                for ((&v, s), m) in px[..wu]
                    .iter()
                    .zip(row_sum.iter_mut())
                    .zip(row_max.iter_mut())
                {
                    *s += i32::from(v);
                    *m = (*m).max(v);
                }
            }
        }
        let out = oy * w2..(oy + 1) * w2;
        for ((s, m), (om, ox)) in row_sum
            .chunks_exact(fx)
            .zip(row_max.chunks_exact(fx))
            .zip(mean[out.clone()].iter_mut().zip(max[out].iter_mut()))
        {
            *om = (s.iter().sum::<i32>() / count) as i16;
            *ox = m.iter().copied().max().unwrap_or(i16::MIN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::l3::testvol::volume;

    #[test]
    fn reduces_blocks_and_bins() {
        let mut vol = volume(4, 4, 4, [0.5, 0.5], 1.0, 0);
        vol.hu[[0, 0, 0]] = 400;
        let g = Grid::build(&vol, 2.0).expect("grid");
        // 2 mm over 0.5 mm pixels is 4×4 blocks; 2 mm over 1 mm slices is pairs.
        assert_eq!(g.mean.dim(), (2, 1, 1));
        assert_eq!(g.max[[0, 0, 0]], 400);
        assert_eq!(g.mean[[0, 0, 0]], 400 / 32);
        assert_eq!(g.bins, vec![(0, 2), (2, 4)]);
        assert!((g.z_mm[0] - 0.5).abs() < 1e-9);
        assert!((g.source_row(0.0) - 1.5).abs() < 1e-9);
    }

    #[test]
    fn thick_slices_are_kept_one_per_bin() {
        let vol = volume(5, 8, 8, [3.0, 3.0], 6.0, 0);
        let g = Grid::build(&vol, 2.0).expect("grid");
        assert_eq!(g.len(), 5);
        assert_eq!((g.rows(), g.cols()), (8, 8));
    }

    #[test]
    fn empty_volume_gives_none() {
        let vol = volume(0, 8, 8, [1.0, 1.0], 1.0, 0);
        assert!(Grid::build(&vol, 2.0).is_none());
    }
}
