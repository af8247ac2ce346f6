//! Unit tests of the whole slice segmenter on a drawn abdomen whose compartments are known.

use ndarray::Array2;

use super::segment_slice;
use crate::pipeline::labels::{
    ABDOMINAL_WALL, HuWindows, IMAT, PARASPINAL, PSOAS_LEFT, PSOAS_RIGHT, SAT, VAT, is_muscle,
};

/// Compartments of the drawn abdomen.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Truth {
    Outside,
    Skin,
    Sat,
    Wall,
    Paraspinal,
    PsoasLeft,
    PsoasRight,
    Visceral,
    Organ,
    Bone,
    Canal,
    Gas,
}

/// A 1 mm-pixel abdomen: ellipse body, skin, SAT, a muscle ring, a vertebra with canal,
/// psoas beside it, paraspinal muscle behind, a kidney-like organ and bowel gas in the
/// visceral fat. Returns HU (with deterministic texture) and the compartment map.
fn drawn_abdomen(n: usize, spacing: f64) -> (Array2<i16>, Array2<u8>, Vec<Truth>) {
    let mut hu = Array2::<i16>::from_elem((n, n), -1000);
    let mut truth = vec![Truth::Outside; n * n];
    let c = (n as f64 * 0.5, n as f64 * 0.5);
    let mm = |px: f64| px * spacing;
    let inside = |y: f64, x: f64, cy: f64, cx: f64, ry: f64, rx: f64| {
        ((y - cy) / ry).powi(2) + ((x - cx) / rx).powi(2) <= 1.0
    };
    for y in 0..n {
        for x in 0..n {
            let (yf, xf) = (mm(y as f64 - c.0), mm(x as f64 - c.1));
            let t = if !inside(yf, xf, 0.0, 0.0, 110.0, 160.0) {
                Truth::Outside
            } else if !inside(yf, xf, 0.0, 0.0, 108.0, 158.0) {
                Truth::Skin
            } else if !inside(yf, xf, 0.0, 0.0, 85.0, 135.0) {
                Truth::Sat
            } else if inside(yf, xf, 35.0, 0.0, 14.0, 16.0) {
                Truth::Bone
            } else if inside(yf, xf, 57.0, 0.0, 6.0, 7.0) {
                Truth::Canal
            } else if inside(yf, xf, 54.0, 0.0, 12.0, 14.0) || inside(yf, xf, 75.0, 0.0, 12.0, 3.0)
            {
                Truth::Bone
            } else if yf > 50.0 && xf.abs() < 70.0 {
                Truth::Paraspinal
            } else if !inside(yf, xf, 0.0, 0.0, 73.0, 123.0) {
                Truth::Wall
            } else if inside(yf, xf, 35.0, 33.0, 17.0, 15.0) {
                Truth::PsoasLeft
            } else if inside(yf, xf, 35.0, -33.0, 17.0, 15.0) {
                Truth::PsoasRight
            } else if inside(yf, xf, 20.0, -75.0, 25.0, 18.0) {
                Truth::Organ
            } else if inside(yf, xf, -40.0, 30.0, 12.0, 15.0) {
                Truth::Gas
            } else {
                Truth::Visceral
            };
            truth[y * n + x] = t;
            // A deterministic, noise-like texture (no RNG needed).
            let tex = (((y * 7919 + x * 104_729) % 23) as i16) - 11;
            hu[[y, x]] = match t {
                Truth::Outside => -1000,
                Truth::Skin => 40 + tex,
                Truth::Sat => -100 + tex,
                Truth::Wall | Truth::Paraspinal | Truth::PsoasLeft | Truth::PsoasRight => 45 + tex,
                Truth::Visceral => -95 + tex,
                Truth::Organ => 40 + tex,
                Truth::Bone => 400 + tex,
                Truth::Canal => 20 + tex,
                Truth::Gas => -950,
            };
        }
    }
    let codes = Array2::from_shape_fn((n, n), |(y, x)| truth[y * n + x] as u8);
    (hu, codes, truth)
}

fn fraction(labels: &Array2<u8>, truth: &[Truth], region: Truth, ok: impl Fn(u8) -> bool) -> f64 {
    let n = labels.dim().1;
    let (mut hit, mut all) = (0usize, 0usize);
    for ((y, x), &l) in labels.indexed_iter() {
        if truth[y * n + x] == region {
            all += 1;
            hit += ok(l) as usize;
        }
    }
    hit as f64 / all.max(1) as f64
}

#[test]
fn drawn_abdomen_compartments_are_recovered() {
    let (hu, _, truth) = drawn_abdomen(300, 1.0);
    let labels = segment_slice(hu.view(), [1.0, 1.0], &HuWindows::default());
    let f = |region, ok: fn(u8) -> bool| fraction(&labels, &truth, region, ok);
    assert!(
        f(Truth::Sat, |l| l == SAT) > 0.95,
        "SAT {}",
        f(Truth::Sat, |l| l == SAT)
    );
    assert!(
        f(Truth::Wall, is_muscle) > 0.9,
        "wall {}",
        f(Truth::Wall, is_muscle)
    );
    assert!(
        f(Truth::Paraspinal, is_muscle) > 0.85,
        "paraspinal {}",
        f(Truth::Paraspinal, is_muscle)
    );
    assert!(f(Truth::Paraspinal, |l| l == PARASPINAL) > 0.6);
    assert!(
        f(Truth::PsoasLeft, |l| l == PSOAS_LEFT) > 0.75,
        "psoas L {}",
        f(Truth::PsoasLeft, |l| l == PSOAS_LEFT)
    );
    assert!(
        f(Truth::PsoasRight, |l| l == PSOAS_RIGHT) > 0.75,
        "psoas R {}",
        f(Truth::PsoasRight, |l| l == PSOAS_RIGHT)
    );
    assert!(
        f(Truth::Visceral, |l| l == VAT) > 0.9,
        "VAT {}",
        f(Truth::Visceral, |l| l == VAT)
    );
    // Organs and the spinal canal read as muscle by HU but must not be labelled muscle.
    assert!(
        f(Truth::Organ, is_muscle) < 0.02,
        "organ as muscle {}",
        f(Truth::Organ, is_muscle)
    );
    assert!(
        f(Truth::Canal, is_muscle) < 0.05,
        "canal as muscle {}",
        f(Truth::Canal, is_muscle)
    );
    assert!(f(Truth::Bone, |l| l != 0) < 0.01);
    assert!(f(Truth::Outside, |l| l != 0) == 0.0);
    // No wall-muscle label outside the wall ring, no SAT inside the cavity.
    assert!(f(Truth::Visceral, |l| l == SAT) < 0.01);
    assert!(f(Truth::Sat, |l| l == ABDOMINAL_WALL || l == IMAT) < 0.02);
}

#[test]
fn coarse_pixels_and_anisotropy_still_work() {
    // The same anatomy at 3 mm pixels, and at 0.8 × 1.0 mm pixels.
    let (hu, _, truth) = drawn_abdomen(100, 3.0);
    let labels = segment_slice(hu.view(), [3.0, 3.0], &HuWindows::default());
    assert!(fraction(&labels, &truth, Truth::Sat, |l| l == SAT) > 0.85);
    assert!(fraction(&labels, &truth, Truth::Visceral, |l| l == VAT) > 0.8);
    let (hu, _, _) = drawn_abdomen(256, 1.0);
    let labels = segment_slice(hu.view(), [0.8, 1.0], &HuWindows::default());
    assert!(labels.iter().any(|&l| l == SAT));
}

#[test]
fn degenerate_inputs_never_panic() {
    let w = HuWindows::default();
    for (h, wd) in [(0usize, 0usize), (1, 1), (3, 200), (9, 9), (64, 1)] {
        let hu = Array2::<i16>::zeros((h, wd));
        let l = segment_slice(hu.view(), [1.0, 1.0], &w);
        assert_eq!(l.dim(), (h, wd));
    }
    let air = Array2::<i16>::from_elem((64, 64), -1000);
    assert!(
        segment_slice(air.view(), [1.0, 1.0], &w)
            .iter()
            .all(|&l| l == 0)
    );
    let solid = Array2::<i16>::from_elem((64, 64), 40);
    let _ = segment_slice(solid.view(), [f64::NAN, -3.0], &w);
    let extreme = Array2::from_shape_fn((50, 70), |(y, x)| {
        if (x * 31 + y * 17) % 3 == 0 {
            i16::MAX
        } else {
            i16::MIN
        }
    });
    let _ = segment_slice(extreme.view(), [0.0, f64::INFINITY], &w);
    // A non-contiguous view (every other column) is accepted.
    let (hu, _, _) = drawn_abdomen(120, 2.5);
    let view = hu.slice(ndarray::s![.., ..;2]);
    let l = segment_slice(view, [2.5, 5.0], &w);
    assert_eq!(l.dim(), view.dim());
}

#[test]
fn custom_windows_are_honoured() {
    let (hu, _, truth) = drawn_abdomen(200, 1.5);
    let mut w = HuWindows::default();
    // A muscle window above every muscle value: no muscle pixel can be labelled.
    w.muscle.min = 100;
    w.muscle.max = 150;
    let labels = segment_slice(hu.view(), [1.5, 1.5], &w);
    assert!(fraction(&labels, &truth, Truth::Wall, is_muscle) < 0.01);
}
