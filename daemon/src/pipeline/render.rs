//! PNG pictures of a result: axial tissue overlays, the sagittal with the L3 lines, and a
//! plain axial slice for L3-correction previews.
//!
//! Everything returns encoded PNG bytes (8-bit, fast deflate): the outputs writer stores
//! them and the RPC layer serves them as they are. Images keep the volume's canonical
//! orientation (anterior at the top, patient's right on the image left, the radiological
//! convention), one image pixel per voxel, so a mask drawn on an overlay maps straight
//! back to the label map. Colours come from one fixed [`PALETTE`], so a legend written
//! once stays right for every picture.

use idoctor_protocol::L3Finding;
use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use ndarray::ArrayView2;

use crate::pipeline::labels;
use crate::pipeline::sagittal::Sagittal;

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The HU image and label map differ in shape.
    #[error("label map is {got:?} but the image is {expected:?}")]
    ShapeMismatch {
        /// Image shape.
        expected: (usize, usize),
        /// Label map shape.
        got: (usize, usize),
    },
    /// Nothing to draw.
    #[error("empty image")]
    Empty,
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] image::ImageError),
}

/// A display window in HU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Centre (level), HU.
    pub center: f64,
    /// Width, HU.
    pub width: f64,
}

/// Soft tissue, W400/L40: the window the overlays sit on.
pub const SOFT_TISSUE: Window = Window {
    center: 40.0,
    width: 400.0,
};
/// Bone, W1500/L300: the sagittal, where vertebrae and discs must stand out.
pub const BONE: Window = Window {
    center: 300.0,
    width: 1500.0,
};

/// Label colours (RGB), indexed by label code: psoas left red, psoas right orange,
/// paraspinal green, abdominal wall blue, SAT yellow, VAT purple, IMAT cyan.
pub const PALETTE: [[u8; 3]; 8] = [
    [0, 0, 0],
    [230, 25, 75],
    [245, 130, 48],
    [60, 180, 75],
    [0, 130, 200],
    [255, 225, 25],
    [145, 30, 180],
    [70, 240, 240],
];
/// Colour of all muscle in the "combo" overlay.
pub const COMBO_COLOUR: [u8; 3] = [230, 25, 75];
/// Colour of the L3 range lines on the sagittal.
pub const L3_COLOUR: [u8; 3] = [255, 40, 40];
/// Opacity of overlay colours over the grey image.
const ALPHA: f32 = 0.45;

/// Which tissues an axial overlay shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// Left and right psoas.
    Psoas,
    /// All skeletal muscle in one colour.
    Combo,
    /// Every tissue in its palette colour.
    All,
}

impl Overlay {
    fn colour(self, label: u8) -> Option<[u8; 3]> {
        match self {
            Overlay::Psoas if labels::is_psoas(label) => Some(PALETTE[label as usize]),
            Overlay::Combo if labels::is_muscle(label) => Some(COMBO_COLOUR),
            Overlay::All if label != labels::BACKGROUND && (label as usize) < PALETTE.len() => {
                Some(PALETTE[label as usize])
            }
            _ => None,
        }
    }
}

/// Grey level of `hu` in `w`.
#[inline]
fn grey(hu: i16, w: Window) -> u8 {
    let lo = w.center - w.width / 2.0;
    ((f64::from(hu) - lo) / w.width * 255.0)
        .round()
        .clamp(0.0, 255.0) as u8
}

fn encode(width: usize, height: usize, rgb: &[u8]) -> Result<Vec<u8>, RenderError> {
    if width == 0 || height == 0 {
        return Err(RenderError::Empty);
    }
    let mut out = Vec::with_capacity(rgb.len() / 3);
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(
            rgb,
            width as u32,
            height as u32,
            image::ExtendedColorType::Rgb8,
        )?;
    Ok(out)
}

/// An axial slice on the soft-tissue window with `overlay`'s tissues blended on top.
pub fn axial_overlay(
    hu: ArrayView2<'_, i16>,
    labels_map: ArrayView2<'_, u8>,
    overlay: Overlay,
) -> Result<Vec<u8>, RenderError> {
    if hu.dim() != labels_map.dim() {
        return Err(RenderError::ShapeMismatch {
            expected: hu.dim(),
            got: labels_map.dim(),
        });
    }
    let (h, w) = hu.dim();
    let mut rgb = Vec::with_capacity(h * w * 3);
    for (&v, &l) in hu.iter().zip(labels_map.iter()) {
        let g = grey(v, SOFT_TISSUE);
        match overlay.colour(l) {
            Some(c) => {
                for ch in c {
                    rgb.push((f32::from(g) * (1.0 - ALPHA) + f32::from(ch) * ALPHA).round() as u8);
                }
            }
            None => rgb.extend_from_slice(&[g, g, g]),
        }
    }
    encode(w, h, &rgb)
}

/// A plain axial slice in `window` (soft tissue for L3-correction previews).
pub fn axial_png(hu: ArrayView2<'_, i16>, window: Window) -> Result<Vec<u8>, RenderError> {
    let (h, w) = hu.dim();
    let mut rgb = Vec::with_capacity(h * w * 3);
    for &v in hu.iter() {
        let g = grey(v, window);
        rgb.extend_from_slice(&[g, g, g]);
    }
    encode(w, h, &rgb)
}

/// Width of the label margin right of the sagittal image, px.
const MARGIN: usize = 44;

/// The mid-sagittal on the bone window, with the L3 range as two full-width lines and
/// every labelled vertebra of `finding.evidence` as a bar and name in a right margin.
/// A finding without a range draws no lines (the picture still shows the spine).
pub fn sagittal_png(sag: &Sagittal, finding: &L3Finding) -> Result<Vec<u8>, RenderError> {
    let (rows, cols) = sag.image.dim();
    if rows == 0 || cols == 0 {
        return Err(RenderError::Empty);
    }
    let width = cols + MARGIN;
    let mut canvas = Rgb::new(width, rows);
    for ((r, c), &v) in sag.image.indexed_iter() {
        let g = grey(v, BONE);
        canvas.set(c, r as isize, [g, g, g]);
    }
    // Other vertebrae: alternating bars with their names in the margin.
    for (n, level) in finding.evidence.iter().enumerate() {
        let a = sag.row_of_z(level.z_range_mm[1]).round() as isize;
        let b = sag.row_of_z(level.z_range_mm[0]).round() as isize;
        let colour = if level.label == "L3" {
            L3_COLOUR
        } else if n % 2 == 0 {
            [120, 200, 255]
        } else {
            [255, 210, 90]
        };
        for r in a.min(b)..=a.max(b) {
            for c in cols + 2..cols + 6 {
                canvas.set(c, r, colour);
            }
        }
        let mid = (a + b) / 2 - 7;
        canvas.text(cols + 9, mid, &level.label, colour);
    }
    if let Some([lo, hi]) = finding.z_range_mm {
        for z in [lo, hi] {
            let r = sag.row_of_z(z).round() as isize;
            for c in 0..cols + 6 {
                canvas.set(c, r, L3_COLOUR);
            }
        }
    }
    encode(width, rows, &canvas.px)
}

/// A small RGB canvas with clipping and a 5×7 font for level names.
struct Rgb {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Rgb {
    fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            px: vec![0; w * h * 3],
        }
    }

    fn set(&mut self, x: usize, y: isize, c: [u8; 3]) {
        if y < 0 || y as usize >= self.h || x >= self.w {
            return;
        }
        let o = (y as usize * self.w + x) * 3;
        self.px[o..o + 3].copy_from_slice(&c);
    }

    /// Draws `s` at twice the font size; unknown characters are skipped.
    fn text(&mut self, x: usize, y: isize, s: &str, c: [u8; 3]) {
        let mut x = x;
        for ch in s.chars() {
            if let Some(rows) = glyph(ch) {
                for (dy, bits) in rows.iter().enumerate() {
                    for dx in 0..5 {
                        if bits & (0x10 >> dx) != 0 {
                            for (sx, sy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                                self.set(x + dx * 2 + sx, y + (dy * 2 + sy) as isize, c);
                            }
                        }
                    }
                }
            }
            x += 12;
        }
    }
}

/// 5×7 bitmaps (one byte per row, 5 low bits) of the characters level names use.
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use idoctor_protocol::{L3Status, VertebraLevel};
    use ndarray::Array2;

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .unwrap()
            .to_rgb8()
    }

    #[test]
    fn overlays_colour_exactly_their_tissues() {
        let hu = Array2::<i16>::from_elem((3, 4), 40); // mid-grey on W400/L40
        let mut l = Array2::<u8>::zeros((3, 4));
        l[[0, 0]] = labels::PSOAS_LEFT;
        l[[0, 1]] = labels::PARASPINAL;
        l[[1, 2]] = labels::SAT;
        let g = grey(40, SOFT_TISSUE);
        assert_eq!(g, 128);
        let psoas = decode(&axial_overlay(hu.view(), l.view(), Overlay::Psoas).unwrap());
        assert_eq!(psoas.dimensions(), (4, 3));
        assert_ne!(psoas.get_pixel(0, 0).0, [g, g, g]);
        assert_eq!(psoas.get_pixel(1, 0).0, [g, g, g]);
        let combo = decode(&axial_overlay(hu.view(), l.view(), Overlay::Combo).unwrap());
        assert_eq!(combo.get_pixel(0, 0), combo.get_pixel(1, 0));
        assert_eq!(combo.get_pixel(2, 1).0, [g, g, g]);
        let all = decode(&axial_overlay(hu.view(), l.view(), Overlay::All).unwrap());
        assert_ne!(all.get_pixel(2, 1).0, [g, g, g]);
        assert_ne!(all.get_pixel(0, 0), all.get_pixel(1, 0));
        assert!(axial_overlay(hu.view(), Array2::zeros((2, 2)).view(), Overlay::All).is_err());
    }

    #[test]
    fn window_maps_hu_to_grey() {
        assert_eq!(grey(-160, SOFT_TISSUE), 0);
        assert_eq!(grey(240, SOFT_TISSUE), 255);
        let png = axial_png(Array2::<i16>::from_elem((2, 2), 1000).view(), SOFT_TISSUE).unwrap();
        assert_eq!(decode(&png).get_pixel(1, 1).0, [255, 255, 255]);
        assert!(axial_png(Array2::<i16>::zeros((0, 3)).view(), SOFT_TISSUE).is_err());
    }

    #[test]
    fn sagittal_draws_the_l3_lines_and_levels() {
        let sag = Sagittal {
            image: Array2::zeros((100, 60)),
            spacing_mm: 1.0,
            x_col: 30,
            slab_half_mm: 3.0,
            z_top_mm: 200.0,
            through_spine: true,
        };
        let finding = L3Finding {
            status: L3Status::Found,
            mid_z_mm: Some(160.0),
            z_range_mm: Some([150.0, 170.0]),
            mid_slice_index: Some(10),
            mid_slice_uid: None,
            confidence: 0.9,
            low_confidence: false,
            method: "classical".into(),
            anchors: vec!["S1".into()],
            reason: None,
            evidence: vec![
                VertebraLevel {
                    label: "L3".into(),
                    z_range_mm: [150.0, 170.0],
                },
                VertebraLevel {
                    label: "L2".into(),
                    z_range_mm: [180.0, 195.0],
                },
            ],
        };
        let img = decode(&sagittal_png(&sag, &finding).unwrap());
        assert_eq!(img.dimensions(), (60 + MARGIN as u32, 100));
        // Lines at rows 30 (z 170) and 50 (z 150) across the image.
        for row in [30, 50] {
            assert_eq!(img.get_pixel(5, row).0, L3_COLOUR);
        }
        let g = grey(0, BONE);
        assert_eq!(img.get_pixel(5, 40).0, [g, g, g]);
        // L2's bar in the margin, rows 5..20.
        assert_ne!(img.get_pixel(63, 12).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(63, 25).0, [0, 0, 0]);
    }
}
