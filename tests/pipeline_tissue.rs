//! Tissue segmentation against reference masks on real CT (`ts-t11-l2-tissue`: 30 slices,
//! 3 mm pixels, TotalSegmentator `tissue_types` masks aligned with the DICOM pixels).
//!
//! The references are not intersected with any HU window (about 5 % of their muscle and
//! 2–4 % of their fat pixels lie outside the Alberta windows), so a perfect compartment map
//! plus the windows scores about 0.97–0.99, not 1. `torso_fat` is all fat inside the wall,
//! compared here with our VAT ∪ IMAT labels (the VAT window, −150…−50, is narrower than the
//! fat window, which alone caps that Dice near 0.94).

use std::path::{Path, PathBuf};

use idoctor_daemon::pipeline::labels::{HuWindows, IMAT, SAT, VAT, is_muscle};
use idoctor_daemon::pipeline::tissue::segment_slice;
use ndarray::Array2;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ct/ts-t11-l2-tissue")
}

/// One slice's HU (rescale applied) and pixel spacing.
fn read_slice(path: &Path) -> (Array2<i16>, [f64; 2]) {
    use dicom_object::open_file;
    use dicom_pixeldata::PixelDecoder;
    let obj = open_file(path).expect("open DICOM");
    let spacing: Vec<f64> = obj
        .element_by_name("PixelSpacing")
        .expect("PixelSpacing")
        .to_multi_float64()
        .expect("PixelSpacing values");
    let px = obj.decode_pixel_data().expect("decode");
    let arr = px.to_ndarray::<f32>().expect("to ndarray");
    let (rows, cols) = (arr.shape()[1], arr.shape()[2]);
    let hu = Array2::from_shape_fn((rows, cols), |(y, x)| arr[[0, y, x, 0]].round() as i16);
    (hu, [spacing[0], spacing[1]])
}

fn read_mask(path: &Path) -> Array2<bool> {
    let img = image::open(path).expect("open mask").to_luma8();
    Array2::from_shape_fn((img.height() as usize, img.width() as usize), |(y, x)| {
        img.get_pixel(x as u32, y as u32)[0] > 0
    })
}

fn dice(a: &Array2<bool>, b: &Array2<bool>) -> f64 {
    let inter = a.iter().zip(b.iter()).filter(|(x, y)| **x && **y).count() as f64;
    let total = (a.iter().filter(|v| **v).count() + b.iter().filter(|v| **v).count()) as f64;
    if total == 0.0 {
        1.0
    } else {
        2.0 * inter / total
    }
}

struct Stats {
    mean: f64,
    min: f64,
    max: f64,
}

fn stats(v: &[f64]) -> Stats {
    Stats {
        mean: v.iter().sum::<f64>() / v.len() as f64,
        min: v.iter().copied().fold(f64::INFINITY, f64::min),
        max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

#[test]
fn real_ct_dice_against_reference_masks() {
    let dir = data_dir();
    let windows = HuWindows::default();
    let (mut d_sat, mut d_mus, mut d_fat) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..30 {
        let (hu, spacing) = read_slice(&dir.join(format!("dicom/slice_{i:04}.dcm")));
        let labels = segment_slice(hu.view(), spacing, &windows);
        let mask = |t: &str| read_mask(&dir.join(format!("masks/{t}/slice_{i:04}.png")));
        let (ref_mus, ref_sat, ref_fat) = (
            mask("skeletal_muscle"),
            mask("subcutaneous_fat"),
            mask("torso_fat"),
        );
        assert_eq!(ref_mus.dim(), labels.dim(), "mask and image grids differ");
        d_sat.push(dice(&labels.mapv(|l| l == SAT), &ref_sat));
        d_mus.push(dice(&labels.mapv(is_muscle), &ref_mus));
        d_fat.push(dice(&labels.mapv(|l| l == VAT || l == IMAT), &ref_fat));
    }
    let (s, m, f) = (stats(&d_sat), stats(&d_mus), stats(&d_fat));
    println!(
        "SAT    mean {:.3} (min {:.3}, max {:.3})",
        s.mean, s.min, s.max
    );
    println!(
        "muscle mean {:.3} (min {:.3}, max {:.3})",
        m.mean, m.min, m.max
    );
    println!(
        "VAT+IMAT vs torso_fat mean {:.3} (min {:.3}, max {:.3})",
        f.mean, f.min, f.max
    );
    assert!(s.mean >= 0.90, "SAT Dice {:.3}", s.mean);
    assert!(m.mean >= 0.85, "muscle Dice {:.3}", m.mean);
    assert!(f.mean >= 0.80, "fat inside the wall Dice {:.3}", f.mean);
}
