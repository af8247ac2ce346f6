//! Hand-built volumes for unit tests: a uniform block, and a simple synthetic spine
//! (vertebral bodies with cortex, discs, canal inside a bony arch, transverse processes,
//! ribs on T10–T12 whose shafts descend laterally, a sacrum fused to iliac wings).
//! They let the L3 code be tested without DICOM files; accuracy on realistic anatomy is
//! tested on the phantom and on real CT in the integration tests.

use ndarray::Array3;

use crate::dicom::{SeriesMeta, Volume};

/// A volume of `n` slices of `h × w` pixels, all `fill` HU, z = k × `slice_mm`.
pub(crate) fn volume(
    n: usize,
    h: usize,
    w: usize,
    ps: [f64; 2],
    slice_mm: f64,
    fill: i16,
) -> Volume {
    Volume {
        hu: Array3::from_elem((n, h, w), fill),
        z_mm: (0..n).map(|k| k as f64 * slice_mm).collect(),
        sop_uids: (0..n).map(|k| format!("1.2.3.{k}")).collect(),
        pixel_spacing: ps,
        slice_spacing: slice_mm,
        orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        origin: [0.0; 3],
        flipped_rows: false,
        flipped_cols: false,
        meta: SeriesMeta::default(),
        warnings: Vec::new(),
    }
}

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SpineSpec {
    /// Slice spacing, mm.
    pub slice_mm: f64,
    /// Pixel spacing, mm.
    pub pixel_mm: f64,
    /// Marrow HU of the vertebral bodies.
    pub marrow_hu: i16,
    /// Keep only slices with z in this range, mm (the full spine spans 0–330).
    pub z_range: (f64, f64),
}

impl Default for SpineSpec {
    fn default() -> Self {
        Self {
            slice_mm: 3.0,
            pixel_mm: 2.0,
            marrow_hu: 220,
            z_range: (0.0, 330.0),
        }
    }
}

/// Where the levels are in a synthetic spine.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpineTruth {
    /// Centre of the L3 body, mm.
    pub l3_mid: f64,
    /// L3 body range, mm.
    pub l3_range: (f64, f64),
}

/// Body heights from L5 up to T10 (mm), discs 9 mm, sacrum top at 45 mm.
const HEIGHTS: [(&str, f64); 8] = [
    ("L5", 27.0),
    ("L4", 28.0),
    ("L3", 28.0),
    ("L2", 27.0),
    ("L1", 26.0),
    ("T12", 23.0),
    ("T11", 21.0),
    ("T10", 20.0),
];
const DISC: f64 = 9.0;
const SACRUM_TOP: f64 = 45.0;

/// Builds the synthetic spine.
pub(crate) fn spine_volume(spec: &SpineSpec) -> (Volume, SpineTruth) {
    let px = spec.pixel_mm;
    let (h, w) = ((280.0 / px) as usize, (360.0 / px) as usize);
    // Body levels: (label, z_lo, z_hi).
    let mut levels = Vec::new();
    let mut z = SACRUM_TOP + DISC;
    for (label, height) in HEIGHTS {
        levels.push((label, z, z + height));
        z += height + DISC;
    }
    let l3 = levels[2];
    let z0 = spec.z_range.0.max(0.0);
    let z1 = spec.z_range.1.min(330.0);
    let n = ((z1 - z0) / spec.slice_mm).floor() as usize + 1;
    let mut vol = volume(n, h, w, [px, px], spec.slice_mm, -1000);
    for k in 0..n {
        vol.z_mm[k] = z0 + k as f64 * spec.slice_mm;
    }
    let (cy, cx) = (170.0, 180.0); // canal centre, mm
    let mut seed = 12345u32;
    for k in 0..n {
        let zk = vol.z_mm[k];
        let level = levels.iter().find(|l| zk >= l.1 && zk <= l.2);
        let in_sacrum = zk <= SACRUM_TOP;
        for yi in 0..h {
            for xi in 0..w {
                let (y, x) = (yi as f64 * px, xi as f64 * px);
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let noise = ((seed >> 16) % 31) as i16 - 15;
                let e = ((y - 130.0) / 110.0).powi(2) + ((x - 180.0) / 165.0).powi(2);
                if e > 1.0 {
                    continue;
                }
                let mut v: i16 = 40;
                // Vertebral body or disc.
                let eb = ((y - (cy - 22.0)) / 15.0).powi(2) + ((x - cx) / 20.0).powi(2);
                if eb <= 1.0 {
                    v = if level.is_some() || in_sacrum {
                        if eb > 0.8 { 500 } else { spec.marrow_hu }
                    } else {
                        90
                    };
                }
                // Bony arch around the canal, and the canal.
                let r = ((y - cy).powi(2) + (x - cx).powi(2)).sqrt();
                if (8.0..14.0).contains(&r) && y > cy - 12.0 {
                    v = 450;
                } else if r < 8.0 {
                    v = 20;
                }
                // Spinous process.
                if y >= cy + 13.0 && y <= cy + 40.0 && (x - cx).abs() <= 3.0 {
                    v = 450;
                }
                if let Some(&(label, lo, hi)) = level {
                    let t = (zk - lo) / (hi - lo);
                    // Transverse processes on lumbar levels, middle third.
                    if label.starts_with('L')
                        && (0.3..0.7).contains(&t)
                        && (y - (cy - 4.0)).abs() <= 4.0
                        && (13.0..45.0).contains(&(x - cx).abs())
                    {
                        v = 450;
                    }
                }
                if in_sacrum && (y - (cy - 14.0)).abs() <= 12.0 && (x - cx).abs() <= 130.0 {
                    v = v.max(400);
                }
                vol.hu[[k, yi, xi]] = v.saturating_add(noise);
            }
        }
    }
    // Ribs on T10–T12: a horizontal neck fused to the body side, then a shaft that runs
    // out laterally, curves forward and descends 50 mm.
    for &(_, lo, hi) in &levels[5..] {
        let zh = lo + 0.6 * (hi - lo);
        for side in [-1.0f64, 1.0] {
            let steps = 400;
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                let (dx, y, zz) = if t < 0.35 {
                    let u = t / 0.35;
                    (16.0 + 39.0 * u, cy - 6.0 + 14.0 * u, zh)
                } else {
                    let u = (t - 0.35) / 0.65;
                    (55.0 + 70.0 * u, cy + 8.0 - 50.0 * u * u, zh - 50.0 * u)
                };
                stamp(&mut vol, y, cx + side * dx, zz, 4.0, 600, px);
            }
        }
    }
    let truth = SpineTruth {
        l3_mid: (l3.1 + l3.2) / 2.0,
        l3_range: (l3.1, l3.2),
    };
    (vol, truth)
}

/// Paints a ball of `radius` mm at (y, x, z).
fn stamp(vol: &mut Volume, y: f64, x: f64, z: f64, radius: f64, hu: i16, px: f64) {
    let (n, h, w) = vol.hu.dim();
    for k in 0..n {
        let dz = vol.z_mm[k] - z;
        if dz.abs() > radius {
            continue;
        }
        let rr = (radius * radius - dz * dz).sqrt();
        let (ya, yb) = (
            ((y - rr) / px).floor().max(0.0) as usize,
            ((y + rr) / px).ceil() as usize,
        );
        let (xa, xb) = (
            ((x - rr) / px).floor().max(0.0) as usize,
            ((x + rr) / px).ceil() as usize,
        );
        for yi in ya..=yb.min(h.saturating_sub(1)) {
            for xi in xa..=xb.min(w.saturating_sub(1)) {
                let (py, pxx) = (yi as f64 * px, xi as f64 * px);
                if (py - y).powi(2) + (pxx - x).powi(2) <= rr * rr {
                    vol.hu[[k, yi, xi]] = vol.hu[[k, yi, xi]].max(hu);
                }
            }
        }
    }
}
