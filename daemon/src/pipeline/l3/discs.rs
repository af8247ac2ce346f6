//! Intervertebral discs: the per-bin bone signal of the vertebral body column, and the
//! sequence of discs fitted to it as a whole.
//!
//! On every bin the box in front of the canal (where the vertebral body is) is measured
//! two ways: the area of solid bone (bone pixels, small gaps closed, the marrow inside
//! the cortical ring filled) and the mean HU of its non-fat pixels. Both drop at a disc.
//! The filled area resists the false dips of osteoporotic marrow, the mean HU resists a
//! broken cortical ring; their normalised sum is the signal.
//!
//! Picking every dip would count the false minima seen inside vertebral bodies (coarse
//! pixels, low-density bone, the basivertebral vein). Instead a dynamic programme picks
//! the chain of dips that best explains the column: consecutive discs 22–45 mm apart,
//! with vertebral heights that change smoothly from one level to the next.

use rayon::prelude::*;

use super::bone::body_box;
use super::column::Track;
use super::grid::Grid;
use super::morph::{close3, fill_holes};

/// Tunables of the disc fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscParams {
    /// Smallest distance between consecutive discs, mm.
    pub min_spacing_mm: f64,
    /// Largest distance between consecutive discs, mm.
    pub max_spacing_mm: f64,
    /// Penalty weight on a change of vertebral height (per unit of |ln ratio| beyond
    /// `free_change`).
    pub smoothness: f64,
    /// Change of height between neighbouring levels that costs nothing (|ln ratio|):
    /// real spines vary by ~10 % from one level to the next.
    pub free_change: f64,
    /// Cost of adding one disc, in units of the normalised signal.
    pub disc_cost: f64,
    /// Half window over which a dip's prominence is measured, mm.
    pub prominence_window_mm: f64,
}

impl Default for DiscParams {
    fn default() -> Self {
        Self {
            min_spacing_mm: 22.0,
            max_spacing_mm: 45.0,
            smoothness: 2.0,
            free_change: 0.1,
            disc_cost: 0.15,
            prominence_window_mm: 18.0,
        }
    }
}

/// One disc of the fitted chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Disc {
    /// Work-grid bin of the minimum.
    pub bin: usize,
    /// z of the minimum, mm.
    pub z: f64,
    /// Depth of the dip in normalised signal units.
    pub prominence: f64,
}

/// The body-column signal of every bin: low at discs.
pub(crate) fn body_signal(grid: &Grid, track: &Track, bone_hu: i16) -> Vec<f64> {
    let (area, mean): (Vec<f64>, Vec<f64>) = (0..grid.len())
        .into_par_iter()
        .map(|b| measure(grid, track, b, bone_hu))
        .unzip();
    let (na, nm) = (normalise(&area), normalise(&mean));
    na.iter().zip(&nm).map(|(a, m)| a + m).collect()
}

/// Filled bone area (mm²) and mean non-fat HU of the body box on bin `b`.
fn measure(grid: &Grid, track: &Track, b: usize, bone_hu: i16) -> (f64, f64) {
    let (ya, yb, xa, xb) = body_box(grid, track, b);
    if yb <= ya || xb <= xa {
        return (0.0, 0.0);
    }
    let img = grid.mean_at(b);
    let view = img.slice(ndarray::s![ya..yb, xa..xb]);
    let bone = view.mapv(|v| v > bone_hu);
    let solid = fill_holes(&close3(&bone));
    let area = solid.iter().filter(|&&s| s).count() as f64 * grid.dx * grid.dy;
    let (mut sum, mut n) = (0.0, 0usize);
    for &v in view.iter() {
        if v > -50 {
            sum += f64::from(v);
            n += 1;
        }
    }
    (area, if n > 0 { sum / n as f64 } else { 0.0 })
}

/// Maps the 10th–90th percentile range to 0–1.
fn normalise(v: &[f64]) -> Vec<f64> {
    if v.is_empty() {
        return Vec::new();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let q = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
    let (lo, hi) = (q(0.1), q(0.9));
    let span = (hi - lo).max(1e-6);
    v.iter().map(|x| (x - lo) / span).collect()
}

/// Fits the most plausible chain of discs to the signal.
pub(crate) fn fit_discs(signal: &[f64], z: &[f64], p: &DiscParams) -> Vec<Disc> {
    let n = signal.len().min(z.len());
    // The first and last bins are never discs: whether the signal dips there cannot be
    // told, and an edge "disc" would make a short vertebra at the border.
    let cands: Vec<Disc> = (1..n.saturating_sub(1))
        .filter(|&k| signal[k] <= signal[k - 1] && signal[k] <= signal[k + 1])
        .map(|k| Disc {
            bin: k,
            z: z[k],
            prominence: prominence(signal, z, k, p.prominence_window_mm),
        })
        .collect();
    let m = cands.len();
    if m == 0 {
        return Vec::new();
    }
    let gain = |d: &Disc| d.prominence - p.disc_cost;
    // best[i][j]: best chain ending with discs i then j (j > i). back: the disc before i.
    let neg = f64::NEG_INFINITY;
    let mut best = vec![vec![neg; m]; m];
    let mut back = vec![vec![usize::MAX; m]; m];
    let spaced = |i: usize, j: usize| {
        let s = cands[j].z - cands[i].z;
        s >= p.min_spacing_mm && s <= p.max_spacing_mm
    };
    for j in 0..m {
        for i in (0..j).rev() {
            if cands[j].z - cands[i].z > p.max_spacing_mm {
                break;
            }
            if !spaced(i, j) {
                continue;
            }
            let s_ij = cands[j].z - cands[i].z;
            // Start a chain at i.
            let mut v = gain(&cands[i]) + gain(&cands[j]);
            let mut from = usize::MAX;
            for h in (0..i).rev() {
                if cands[i].z - cands[h].z > p.max_spacing_mm {
                    break;
                }
                if best[h][i] == neg {
                    continue;
                }
                let s_hi = cands[i].z - cands[h].z;
                let pen = p.smoothness * ((s_ij / s_hi).ln().abs() - p.free_change).max(0.0);
                let cand = best[h][i] + gain(&cands[j]) - pen;
                if cand > v {
                    v = cand;
                    from = h;
                }
            }
            best[i][j] = v;
            back[i][j] = from;
        }
    }
    // The best end state, or a single disc when no pair fits.
    let mut end: Option<(usize, usize)> = None;
    let mut end_v = neg;
    for (i, row) in best.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if v > end_v {
                end_v = v;
                end = Some((i, j));
            }
        }
    }
    let Some((mut i, mut j)) = end.filter(|_| end_v > 0.0) else {
        let single = cands
            .iter()
            .max_by(|a, b| a.prominence.total_cmp(&b.prominence))
            .copied();
        return single.into_iter().filter(|d| gain(d) > 0.0).collect();
    };
    let mut chain = vec![cands[j], cands[i]];
    loop {
        let h = back[i][j];
        if h == usize::MAX {
            break;
        }
        chain.push(cands[h]);
        j = i;
        i = h;
    }
    chain.reverse();
    for d in &mut chain {
        d.z = centre_of_dip(signal, z, d, p.prominence_window_mm);
    }
    chain
}

/// The disc's centre with sub-bin precision: the midpoint between the two places where
/// the dip crosses half its depth (linearly interpolated between bins). The L3 mid
/// slice is the midpoint of two disc centres, so bin quantisation (2–3 mm) would
/// otherwise show directly in the answer; a tall disc with a flat or uneven floor has
/// no meaningful single minimum, but its two flanks are sharp.
fn centre_of_dip(signal: &[f64], z: &[f64], d: &Disc, window: f64) -> f64 {
    let n = signal.len().min(z.len());
    let half = signal[d.bin] + d.prominence / 2.0;
    if d.prominence <= 0.0 {
        return d.z;
    }
    // Walk out from the minimum to the first bin at or above half depth.
    let crossing = |step: isize| -> Option<f64> {
        let mut j = d.bin as isize;
        loop {
            let next = j + step;
            if next < 0 || next as usize >= n {
                return None;
            }
            let (a, b) = (j as usize, next as usize);
            if (z[b] - d.z).abs() > window {
                return None;
            }
            if signal[b] >= half {
                let t = (half - signal[a]) / (signal[b] - signal[a]).max(1e-9);
                return Some(z[a] + t.clamp(0.0, 1.0) * (z[b] - z[a]));
            }
            j = next;
        }
    };
    match (crossing(-1), crossing(1)) {
        (Some(lo), Some(hi)) => (lo + hi) / 2.0,
        _ => d.z,
    }
}

/// How far the signal at `k` lies below the typical level of the column within `window`
/// mm on each side (the lower of the two sides; one side at the ends of the scan). The
/// level is the upper quartile, neither the maximum (bright endplates flank every disc,
/// and against them any flat stretch of a vertebral body would look like a dip) nor the
/// median (a tall disc fills half the window on one side).
fn prominence(signal: &[f64], z: &[f64], k: usize, window: f64) -> f64 {
    let side = |range: &mut dyn Iterator<Item = usize>| {
        let mut v: Vec<f64> = range
            .take_while(|&j| (z[j] - z[k]).abs() <= window)
            .map(|j| signal[j])
            .collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[((v.len() - 1) as f64 * 0.75).round() as usize])
    };
    let below = side(&mut (0..k).rev());
    let above = side(&mut (k + 1..signal.len()));
    let level = match (below, above) {
        (Some(b), Some(a)) => b.min(a),
        (Some(b), None) => b,
        (None, Some(a)) => a,
        (None, None) => signal[k],
    };
    (level - signal[k]).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column sampled every `step` mm with discs (value 0) at `discs` and bone
    /// (value 2) elsewhere; `false_dips` are shallower dips inside bodies.
    fn column(step: f64, len_mm: f64, discs: &[f64], false_dips: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = (len_mm / step) as usize;
        let z: Vec<f64> = (0..n).map(|i| i as f64 * step).collect();
        let s = z
            .iter()
            .map(|&zz| {
                let d = discs
                    .iter()
                    .map(|d| (zz - d).abs())
                    .fold(f64::MAX, f64::min);
                let f = false_dips
                    .iter()
                    .map(|d| (zz - d).abs())
                    .fold(f64::MAX, f64::min);
                let mut v: f64 = 2.0;
                if d < 4.0 {
                    v = 0.2;
                }
                if f < 1.6 {
                    v = v.min(1.2);
                }
                v
            })
            .collect();
        (s, z)
    }

    #[test]
    fn finds_evenly_spaced_discs() {
        let discs = [20.0, 56.0, 92.0, 128.0, 164.0];
        let (s, z) = column(2.0, 190.0, &discs, &[]);
        let got = fit_discs(&s, &z, &DiscParams::default());
        assert_eq!(got.len(), 5, "{got:?}");
        for (g, d) in got.iter().zip(discs) {
            assert!((g.z - d).abs() <= 4.0, "{g:?} vs {d}");
        }
    }

    #[test]
    fn skips_a_false_dip_inside_a_body() {
        // A dip 12 mm above a real disc would make a 12 mm "vertebra": not allowed.
        let discs = [20.0, 56.0, 92.0, 128.0];
        let (s, z) = column(3.0, 150.0, &discs, &[68.0]);
        let got = fit_discs(&s, &z, &DiscParams::default());
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got.iter().all(|d| (d.z - 68.0).abs() > 6.0));
    }

    #[test]
    fn flat_or_tiny_signals_do_not_panic() {
        assert!(fit_discs(&[], &[], &DiscParams::default()).is_empty());
        let flat = fit_discs(
            &[1.0; 10],
            &(0..10).map(f64::from).collect::<Vec<_>>(),
            &DiscParams::default(),
        );
        assert!(flat.is_empty(), "no dip, no disc: {flat:?}");
        assert!(normalise(&[]).is_empty());
    }
}
