//! The mid-sagittal reformat: one vertical HU image through the spine's centre, for the
//! operator to check L3 and for the sagittal PNG with the L3 lines.
//!
//! The plane goes through the spinal canal found by [`crate::pipeline::l3::column`],
//! not through the image centre: patients lie off-centre and spines are not always in
//! the middle of the field. A thin slab (±3 mm in x) is averaged to quieten noise without
//! blurring the discs. Display pixels are isotropic: z is resampled (linear
//! interpolation between slices) to the in-plane row spacing, so vertebrae keep their
//! true shape whatever the slice thickness.

use ndarray::Array2;

use crate::dicom::Volume;
use crate::pipeline::l3::{SpineColumn, find_column};

/// Half thickness of the averaged slab, mm.
const SLAB_HALF_MM: f64 = 3.0;

/// A mid-sagittal HU image. Rows run from superior (row 0) to inferior; columns are the
/// volume's rows (y, anterior → posterior).
#[derive(Debug, Clone, PartialEq)]
pub struct Sagittal {
    /// HU, `[display row, y]`.
    pub image: Array2<i16>,
    /// Size of one display pixel in both directions, mm.
    pub spacing_mm: f64,
    /// The volume column (x) the plane passes through.
    pub x_col: usize,
    /// Half thickness of the averaged slab, mm.
    pub slab_half_mm: f64,
    /// z of display row 0 (the most superior slice), mm.
    pub z_top_mm: f64,
    /// Whether the plane was placed on the spine (false: image centre, no spine seen).
    pub through_spine: bool,
}

impl Sagittal {
    /// Display rows.
    pub fn rows(&self) -> usize {
        self.image.dim().0
    }

    /// Display columns.
    pub fn cols(&self) -> usize {
        self.image.dim().1
    }

    /// The (fractional) display row showing `z_mm`.
    pub fn row_of_z(&self, z_mm: f64) -> f64 {
        (self.z_top_mm - z_mm) / self.spacing_mm
    }

    /// The z (mm) shown on display row `row`.
    pub fn z_of_row(&self, row: f64) -> f64 {
        self.z_top_mm - row * self.spacing_mm
    }
}

/// The mid-sagittal reformat through the spine's centre.
pub fn mid_sagittal(vol: &Volume) -> Sagittal {
    let column = find_column(vol);
    mid_sagittal_through(vol, column.as_ref())
}

/// The mid-sagittal reformat through a column already found (by
/// [`crate::pipeline::l3::detect`]); the image centre when `column` is `None`.
pub fn mid_sagittal_through(vol: &Volume, column: Option<&SpineColumn>) -> Sagittal {
    let (n, h, w) = vol.hu.dim();
    let spacing = if vol.pixel_spacing[0].is_finite() && vol.pixel_spacing[0] > 0.0 {
        vol.pixel_spacing[0]
    } else {
        1.0
    };
    let spine_col = column.and_then(SpineColumn::median_col);
    let x = spine_col.unwrap_or(w as f64 / 2.0);
    let x_col = if w == 0 {
        0
    } else {
        x.round().clamp(0.0, (w - 1) as f64) as usize
    };
    let empty = |z_top| Sagittal {
        image: Array2::zeros((0, h)),
        spacing_mm: spacing,
        x_col,
        slab_half_mm: SLAB_HALF_MM,
        z_top_mm: z_top,
        through_spine: spine_col.is_some(),
    };
    if n == 0 || w == 0 || vol.z_mm.len() != n {
        return empty(0.0);
    }
    // Slab columns.
    let col_mm = if vol.pixel_spacing[1] > 0.0 {
        vol.pixel_spacing[1]
    } else {
        1.0
    };
    let half = (SLAB_HALF_MM / col_mm).round() as usize;
    let xa = x_col.saturating_sub(half);
    let xb = (x_col + half).min(w - 1);
    // One averaged sagittal line per slice: [slice, y].
    let mut lines = Array2::<f32>::zeros((n, h));
    for k in 0..n {
        for y in 0..h {
            let mut s = 0.0f32;
            for xx in xa..=xb {
                s += f32::from(vol.hu[[k, y, xx]]);
            }
            lines[[k, y]] = s / (xb - xa + 1) as f32;
        }
    }
    let (z_lo, z_hi) = (vol.z_mm[0], vol.z_mm[n - 1]);
    let rows = (((z_hi - z_lo) / spacing).floor() as usize + 1).min(20_000);
    let mut image = Array2::<i16>::zeros((rows, h));
    let mut k = 0usize;
    for r in (0..rows).rev() {
        let z = z_hi - r as f64 * spacing;
        while k + 1 < n && vol.z_mm[k + 1] < z {
            k += 1;
        }
        let (k0, k1) = (k, (k + 1).min(n - 1));
        let span = vol.z_mm[k1] - vol.z_mm[k0];
        let t = if span > 0.0 {
            ((z - vol.z_mm[k0]) / span).clamp(0.0, 1.0) as f32
        } else {
            0.0
        };
        for y in 0..h {
            let v = lines[[k0, y]] * (1.0 - t) + lines[[k1, y]] * t;
            image[[r, y]] = v.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
        }
    }
    Sagittal {
        image,
        spacing_mm: spacing,
        x_col,
        slab_half_mm: SLAB_HALF_MM,
        z_top_mm: z_hi,
        through_spine: spine_col.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::l3::testvol::{SpineSpec, spine_volume, volume};

    #[test]
    fn rows_map_to_z_and_superior_is_on_top() {
        let mut vol = volume(5, 6, 8, [1.5, 1.5], 3.0, 0);
        for k in 0..5 {
            vol.hu
                .index_axis_mut(ndarray::Axis(0), k)
                .fill(k as i16 * 100);
        }
        let s = mid_sagittal_through(&vol, None);
        // z 0..12 at 1.5 mm: 9 rows.
        assert_eq!((s.rows(), s.cols()), (9, 6));
        assert_eq!(s.image[[0, 0]], 400);
        assert_eq!(s.image[[8, 0]], 0);
        assert_eq!(s.image[[1, 0]], 350, "halfway between slices 3 and 4");
        assert!((s.row_of_z(12.0)).abs() < 1e-9);
        assert!((s.z_of_row(8.0)).abs() < 1e-9);
        assert!(!s.through_spine);
        assert_eq!(s.x_col, 4);
    }

    #[test]
    fn plane_goes_through_the_spine_not_the_image_centre() {
        let (vol, _) = spine_volume(&SpineSpec::default());
        // The synthetic canal is at x = 180 mm = column 90 (of 180): shift the image.
        let mut shifted = vol.clone();
        shifted.hu.fill(-1000);
        let w = vol.cols();
        for k in 0..vol.slices() {
            for y in 0..vol.rows() {
                for x in 0..w - 30 {
                    shifted.hu[[k, y, x]] = vol.hu[[k, y, x + 30]];
                }
            }
        }
        let s = mid_sagittal(&shifted);
        assert!(s.through_spine);
        assert!((s.x_col as i64 - 60).abs() <= 2, "x_col {}", s.x_col);
        // The vertebral bodies (≥ 200 HU) are on the plane.
        let bone = s.image.iter().filter(|&&v| v > 200).count();
        assert!(bone > 100);
    }

    #[test]
    fn empty_volume_does_not_panic() {
        let vol = volume(0, 4, 4, [1.0, 1.0], 1.0, 0);
        assert_eq!(mid_sagittal(&vol).rows(), 0);
        let one = volume(1, 4, 4, [1.0, 1.0], 1.0, 7);
        let s = mid_sagittal(&one);
        assert_eq!(s.rows(), 1);
        assert_eq!(s.image[[0, 0]], 7);
    }
}
