//! The patient's body on one slice: the largest connected object denser than air once thin
//! attachments (table, blanket, cables) are cut, with internal air (lungs, bowel gas) filled.
//!
//! Everything else in the segmenter is measured against this mask: the skin is its edge, the
//! rays start at its boundary, and the slice is cropped to its bounding box for speed.

use ndarray::Array2;

use super::morphology::{Mask, Spacing, components, dilate_rect, fill_holes, open_rect};

/// HU above which a pixel may belong to the body (air is about −1000, fat about −100).
const BODY_HU: f32 = -500.0;

/// Half-width (mm) of the opening that detaches the table and other thin contacts.
const DETACH_MM: f64 = 4.0;

/// The body is found on a grid of about this pixel size (mm), then refined at full
/// resolution: the search is the slowest step on a fine 512² slice and gains nothing from
/// pixels finer than the opening that detaches the table.
const COARSE_BODY_MM: f64 = 2.0;

/// The body mask of a slice; all `false` when nothing denser than air is found.
pub(crate) fn body_mask(hu: &Array2<f32>, spacing: Spacing) -> Mask {
    let (h, w) = hu.dim();
    let f = ((COARSE_BODY_MM / spacing[0].min(spacing[1])).round() as usize).clamp(1, 4);
    if f == 1 || h < 4 * f || w < 4 * f {
        return body_at_resolution(hu, spacing);
    }
    // Block means on an f-times coarser grid.
    let (ch, cw) = (h.div_ceil(f), w.div_ceil(f));
    let mut sum = Array2::<f32>::zeros((ch, cw));
    let mut cnt = Array2::<f32>::zeros((ch, cw));
    for ((y, x), &v) in hu.indexed_iter() {
        sum[[y / f, x / f]] += v;
        cnt[[y / f, x / f]] += 1.0;
    }
    let coarse_hu = Array2::from_shape_fn((ch, cw), |p| sum[p] / cnt[p].max(1.0));
    let coarse = body_at_resolution(&coarse_hu, [spacing[0] * f as f64, spacing[1] * f as f64]);
    // Back to full resolution: dense pixels within one coarse pixel of the coarse body.
    let near = super::morphology::dilate3(&coarse, true);
    let Some([y0, y1, x0, x1]) = bbox(&near) else {
        return Mask::from_elem((h, w), false);
    };
    let (fy0, fy1) = (y0 * f, ((y1 + 1) * f).min(h));
    let (fx0, fx1) = (x0 * f, ((x1 + 1) * f).min(w));
    let part = Array2::from_shape_fn((fy1 - fy0, fx1 - fx0), |(y, x)| {
        let (gy, gx) = (y + fy0, x + fx0);
        near[[gy / f, gx / f]] && hu[[gy, gx]] > BODY_HU
    });
    let filled = fill_holes(&part);
    let mut out = Mask::from_elem((h, w), false);
    out.slice_mut(ndarray::s![fy0..fy1, fx0..fx1])
        .assign(&filled);
    out
}

/// The body search on one grid: threshold, opening, largest object, regrowth, holes filled.
fn body_at_resolution(hu: &Array2<f32>, spacing: Spacing) -> Mask {
    let dense = hu.mapv(|v| v > BODY_HU);
    let ry = ((DETACH_MM / spacing[0]).round() as usize).max(1);
    let rx = ((DETACH_MM / spacing[1]).round() as usize).max(1);
    let opened = open_rect(&dense, ry, rx);
    // The opening may erase a very small or thin body entirely; then keep the raw mask.
    let core = largest(&opened).or_else(|| largest(&dense));
    let Some(core) = core else {
        return Mask::from_elem(hu.dim(), false);
    };
    // Grow the core back to the body outline (the opening rounded it off) without
    // re-attaching the table: only dense pixels within the opening radius.
    let mut grown = core.clone();
    let grow = dilate_rect(&core, ry, rx);
    ndarray::Zip::from(&mut grown)
        .and(&grow)
        .and(&dense)
        .for_each(|g, &d, &s| *g = d && s);
    let Some(body) = largest(&grown) else {
        return Mask::from_elem(hu.dim(), false);
    };
    fill_holes(&body)
}

/// The largest 4-connected component, if any.
fn largest(mask: &Mask) -> Option<Mask> {
    let (lab, comps) = components(mask, false);
    let (best, _) = comps.iter().enumerate().max_by_key(|(_, c)| c.area)?;
    let id = best as u32 + 1;
    Some(lab.mapv(|l| l == id))
}

/// Inclusive bounding box `[y0, y1, x0, x1]` of a mask, if it has any pixel.
pub(crate) fn bbox(mask: &Mask) -> Option<[usize; 4]> {
    let mut b: Option<[usize; 4]> = None;
    for ((y, x), &m) in mask.indexed_iter() {
        if m {
            b = Some(match b {
                None => [y, y, x, x],
                Some([y0, y1, x0, x1]) => [y0.min(y), y1.max(y), x0.min(x), x1.max(x)],
            });
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_cut_off_and_lungs_filled() {
        let mut hu = Array2::<f32>::from_elem((80, 80), -1000.0);
        for y in 0..80 {
            for x in 0..80 {
                let r = ((y as f64 - 35.0).powi(2) + (x as f64 - 40.0).powi(2)).sqrt();
                if r < 25.0 {
                    hu[[y, x]] = 40.0;
                }
                if r < 6.0 {
                    hu[[y, x]] = -900.0; // gas inside
                }
            }
        }
        // A table two pixels thick touching the body from below.
        for x in 5..75 {
            hu[[61, x]] = 200.0;
            hu[[62, x]] = 200.0;
        }
        for y in 59..61 {
            hu[[y, 40]] = 200.0;
        }
        let body = body_mask(&hu, [1.0, 1.0]);
        assert!(body[[35, 40]], "internal gas is filled");
        assert!(!body[[62, 10]], "the table is not body");
        assert!(body[[20, 40]]);
    }

    #[test]
    fn empty_slice_has_no_body() {
        let hu = Array2::<f32>::from_elem((10, 10), -1000.0);
        assert!(body_mask(&hu, [1.0, 1.0]).iter().all(|&v| !v));
        assert_eq!(bbox(&body_mask(&hu, [1.0, 1.0])), None);
    }
}
