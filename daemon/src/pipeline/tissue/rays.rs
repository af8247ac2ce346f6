//! Polar sampling and closed-contour dynamic programming: the tool that finds the fascia,
//! the inner surface of the abdominal wall, the psoas outline and the spinal canal.
//!
//! A boundary around a centre is described by one radius (or depth) per ray. Each ray gets a
//! score for every candidate position; dynamic programming then picks one position per ray
//! that maximises the total score while neighbouring rays may differ by at most `k` samples
//! (each step costing `lam`). That smoothness is what bridges gaps in a thin muscle layer and
//! stops a contour from leaking through a narrow bridge into an organ: a local leak would
//! need a spike the neighbouring rays do not allow.

use ndarray::Array2;

use super::morphology::{Mask, Spacing, fill_polygon};

/// A fan of `n` rays from `centre`, sampled every `step` pixels.
pub(crate) struct Fan {
    /// Number of rays.
    pub n: usize,
    /// Samples per ray.
    pub len: usize,
    /// Sample step in pixels.
    pub step: f64,
    /// Centre `(y, x)` in pixels.
    pub centre: (f64, f64),
    /// Millimetres per sample along each ray (anisotropic pixels make it vary).
    pub mm: Vec<f64>,
    cos: Vec<f64>,
    sin: Vec<f64>,
    shape: (usize, usize),
}

impl Fan {
    /// A fan long enough to leave an image of `shape`, or to reach `max_len_px` pixels.
    pub fn new(
        centre: (f64, f64),
        n: usize,
        step: f64,
        shape: (usize, usize),
        spacing: Spacing,
        max_len_px: Option<f64>,
    ) -> Self {
        let reach = max_len_px.unwrap_or_else(|| (shape.0 as f64).hypot(shape.1 as f64));
        let len = (reach / step) as usize + 2;
        let (mut cos, mut sin, mut mm) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for i in 0..n {
            let th = i as f64 * std::f64::consts::TAU / n as f64;
            cos.push(th.cos());
            sin.push(th.sin());
            mm.push(step * (th.sin() * spacing[0]).hypot(th.cos() * spacing[1]));
        }
        Self {
            n,
            len,
            step,
            centre,
            mm,
            cos,
            sin,
            shape,
        }
    }

    /// Sub-pixel position `(y, x)` of sample `k` on ray `i`.
    #[inline]
    pub fn point(&self, i: usize, k: f64) -> (f64, f64) {
        let r = k * self.step;
        (
            self.centre.0 + self.sin[i] * r,
            self.centre.1 + self.cos[i] * r,
        )
    }

    /// The pixel under sample `k` of ray `i`, when inside the image.
    #[inline]
    pub fn pixel(&self, i: usize, k: usize) -> Option<(usize, usize)> {
        let (y, x) = self.point(i, k as f64);
        // floor(v + 0.5): rounding without the libm call (ties differ only for negatives,
        // which are outside the image anyway).
        let (y, x) = ((y + 0.5).floor(), (x + 0.5).floor());
        if y >= 0.0 && x >= 0.0 && (y as usize) < self.shape.0 && (x as usize) < self.shape.1 {
            Some((y as usize, x as usize))
        } else {
            None
        }
    }

    /// Direction of ray `i` as `(dy, dx)`.
    #[inline]
    pub fn dir(&self, i: usize) -> (f64, f64) {
        (self.sin[i], self.cos[i])
    }

    /// The polygon through sample `k[i]` of every ray.
    pub fn polygon(&self, k: &[f64]) -> Vec<(f64, f64)> {
        k.iter()
            .enumerate()
            .map(|(i, &kk)| self.point(i, kk.max(0.0)))
            .collect()
    }

    /// The region enclosed by the polygon through sample `k[i]` of every ray.
    pub fn region(&self, k: &[f64]) -> Mask {
        fill_polygon(self.shape, &self.polygon(k))
    }
}

/// Rays cast from a centre inside `body`, indexed by depth below the skin: depth 0 is the
/// outermost body sample of each ray, and depth grows towards the centre.
pub(crate) struct DepthFan {
    /// The underlying fan.
    pub fan: Fan,
    /// Index (along the ray) of the outermost sample inside the body.
    pub last: Vec<usize>,
}

impl DepthFan {
    /// Casts `n` rays from `centre` and finds where each leaves `body` for the last time.
    pub fn new(body: &Mask, centre: (f64, f64), n: usize, step: f64, spacing: Spacing) -> Self {
        let fan = Fan::new(centre, n, step, body.dim(), spacing, None);
        let last = (0..n)
            .map(|i| {
                (0..fan.len)
                    .rev()
                    .find(|&k| fan.pixel(i, k).is_some_and(|p| body[p]))
                    .unwrap_or(0)
            })
            .collect();
        Self { fan, last }
    }

    /// `img` sampled at depths `0..depth_len` of every ray; depths past the centre read `fill`.
    pub fn sample(&self, img: &Array2<f32>, fill: f32, depth_len: usize) -> Array2<f32> {
        let mut out = Array2::from_elem((self.fan.n, depth_len), fill);
        for i in 0..self.fan.n {
            let last = self.last[i];
            for j in 0..depth_len.min(last + 1) {
                if let Some(p) = self.fan.pixel(i, last - j) {
                    out[[i, j]] = img[p];
                }
            }
        }
        out
    }

    /// Sample index along ray `i` for depth `d` (negative depths lie outside the skin).
    #[inline]
    pub fn index_of_depth(&self, i: usize, d: f64) -> f64 {
        (self.last[i] as f64 - d).clamp(0.0, (self.fan.len - 1) as f64)
    }

    /// The region enclosed by the contour at depth `d[i]` on every ray.
    pub fn region_at_depth(&self, d: &[f64]) -> Mask {
        let k: Vec<f64> = d
            .iter()
            .enumerate()
            .map(|(i, &di)| self.index_of_depth(i, di))
            .collect();
        self.fan.region(&k)
    }

    /// The ray nearest the pixel `(y, x)` and the pixel's depth on it, in samples: the
    /// inverse of [`DepthFan::point_at_depth`].
    pub fn ray_and_depth(&self, y: f64, x: f64) -> (usize, f64) {
        let (dy, dx) = (y - self.fan.centre.0, x - self.fan.centre.1);
        let n = self.fan.n;
        let turn = dy.atan2(dx).rem_euclid(std::f64::consts::TAU) / std::f64::consts::TAU;
        let i = (turn * n as f64).round() as usize % n;
        (i, self.last[i] as f64 - dy.hypot(dx) / self.fan.step)
    }

    /// The point `(y, x)` at depth `d` on ray `i`.
    pub fn point_at_depth(&self, i: usize, d: f64) -> (f64, f64) {
        self.fan.point(i, self.index_of_depth(i, d))
    }
}

/// Score of a state the path may never take.
pub(crate) const FORBIDDEN: f64 = -1e30;

/// Picks one state per ray (row of `u`) maximising the sum of scores minus `lam` per unit
/// of change between neighbouring rays, changes limited to `k`, on a closed loop of rays.
///
/// The loop is unrolled to two laps and the middle lap returned, which in practice makes the
/// start and end of the contour agree without fixing the start state.
pub(crate) fn dp_closed(u: &Array2<f64>, k: usize, lam: f64) -> Vec<usize> {
    let (n, j) = u.dim();
    if n == 0 || j == 0 {
        return vec![0; n];
    }
    // Rays in the order n/2 … n−1, 0 … n−1, 0 … n/2−1: the full lap in the middle gets half
    // a lap of context on each side.
    let half = n / 2;
    let order: Vec<usize> = (half..n).chain(0..n).chain(0..half).collect();
    let rows: Vec<Vec<f32>> = (0..n)
        .map(|i| u.row(i).iter().map(|&v| v as f32).collect())
        .collect();
    let lam = lam as f32;
    let penalty: Vec<f32> = (0..=k).map(|d| lam * d as f32).collect();
    let mut score: Vec<f32> = rows[order[0]].clone();
    let mut next = vec![0f32; j];
    let mut back = vec![0u32; order.len() * j];
    for (t, &ray) in order.iter().enumerate().skip(1) {
        let row = &rows[ray];
        let bt = &mut back[t * j..(t + 1) * j];
        for s in 0..j {
            let lo = s.saturating_sub(k);
            let hi = (s + k).min(j - 1);
            let mut best = f32::NEG_INFINITY;
            let mut arg = s;
            for (p, &sp) in score[lo..=hi].iter().enumerate() {
                let p = p + lo;
                let cand = sp - penalty[p.abs_diff(s)];
                if cand > best {
                    best = cand;
                    arg = p;
                }
            }
            next[s] = best + row[s];
            bt[s] = arg as u32;
        }
        std::mem::swap(&mut score, &mut next);
    }
    let laps = order.len();
    let mut path = vec![0usize; laps];
    let mut cur = score
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    path[laps - 1] = cur;
    for t in (1..laps).rev() {
        cur = back[t * j + cur] as usize;
        path[t - 1] = cur;
    }
    // Positions n − half … 2n − half − 1 of the order hold rays 0 … n−1.
    let start = n - half;
    path[start..start + n].to_vec()
}

/// Parameters of a star-shaped region grown from a seed.
pub(crate) struct Star {
    /// Number of rays.
    pub rays: usize,
    /// Radius (mm) up to which growth is free; beyond it each mm costs `rho`.
    pub typical_mm: f64,
    /// Cost per mm beyond `typical_mm`.
    pub rho: f64,
    /// Longest radius considered (mm).
    pub max_mm: f64,
    /// Cost per mm of radius change between neighbouring rays.
    pub lam: f64,
    /// Largest radius change between neighbouring rays (mm).
    pub k_mm: f64,
}

/// A star-shaped region around `seed`: along every ray the boundary sits where the summed
/// `gain` of the pixels crossed (per mm) minus the size penalty peaks, smoothed across rays.
/// `gain(value, (y, x))` is called for every sample inside the image; samples outside get −5.
pub(crate) fn star_region(
    img: &Array2<f32>,
    seed: (f64, f64),
    spacing: Spacing,
    star: &Star,
    gain: impl Fn(f32, (usize, usize)) -> f64,
) -> Mask {
    let step = 0.5;
    let sp = spacing[0].min(spacing[1]).max(1e-6);
    let fan = Fan::new(
        seed,
        star.rays,
        step,
        img.dim(),
        spacing,
        Some(star.max_mm / sp),
    );
    let mut u = Array2::<f64>::zeros((fan.n, fan.len));
    for i in 0..fan.n {
        let mm = fan.mm[i];
        let mut acc = 0.0;
        for t in 0..fan.len {
            let r = t as f64 * mm;
            u[[i, t]] = acc * mm - star.rho * (r - star.typical_mm).max(0.0);
            let g = match fan.pixel(i, t) {
                Some(p) => gain(img[p], p),
                None => -5.0,
            };
            acc += g;
        }
    }
    let mm_mean = fan.mm.iter().sum::<f64>() / fan.n.max(1) as f64;
    let k = ((star.k_mm / mm_mean).round() as usize).max(1);
    let path = dp_closed(&u, k, star.lam * mm_mean);
    let kk: Vec<f64> = path.iter().map(|&t| t as f64).collect();
    fan.region(&kk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dp_follows_best_rows_within_smoothness() {
        // Each ray prefers state 5 except one ray preferring 0: the smoothness keeps the
        // path near 5 there.
        let n = 12;
        let mut u = Array2::<f64>::zeros((n, 10));
        for i in 0..n {
            u[[i, 5]] = 1.0;
        }
        u[[3, 0]] = 1.5;
        let p = dp_closed(&u, 1, 0.5);
        assert_eq!(p.len(), n);
        assert!(p.iter().all(|&s| s == 5), "{p:?}");
    }

    #[test]
    fn star_region_finds_a_disc() {
        let mut img = Array2::<f32>::from_elem((60, 60), -100.0);
        for y in 0..60 {
            for x in 0..60 {
                if ((y as f64 - 30.0).powi(2) + (x as f64 - 30.0).powi(2)).sqrt() <= 12.0 {
                    img[[y, x]] = 40.0;
                }
            }
        }
        let star = Star {
            rays: 64,
            typical_mm: 40.0,
            rho: 1.5,
            max_mm: 25.0,
            lam: 0.3,
            k_mm: 2.0,
        };
        let reg = star_region(&img, (30.0, 30.0), [1.0, 1.0], &star, |v, _| {
            if v > 0.0 { 1.0 } else { -2.0 }
        });
        let area = reg.iter().filter(|&&v| v).count() as f64;
        let truth = std::f64::consts::PI * 144.0;
        // The outline runs through the first pixels outside the disc, so the region is about
        // half a pixel larger in radius; it must never stop short of the disc.
        assert!(
            area / truth > 0.98 && area / truth < 1.2,
            "area {area} vs {truth}"
        );
        assert!(reg[[30, 41]] && reg[[19, 30]] && !reg[[30, 45]]);
    }
}
