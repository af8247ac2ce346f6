//! Deterministic randomness for the phantom: a SplitMix64 generator for anatomy, a
//! keyed hash for UIDs, and a table-driven Gaussian for pixel noise.
//!
//! The phantom must be bit-identical for a seed on every machine and every version of
//! the `rand` crate, because tests and `truth.json` files are compared across runs; so
//! the generators live here rather than behind `rand`'s unstable-stream `StdRng`. Noise
//! is drawn per slice from a generator keyed by (seed, slice), which keeps the parallel
//! rendering deterministic.

/// SplitMix64: tiny, fast and statistically fine for sampling anatomy.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for one purpose of one seed.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        Self(mix(seed, stream))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub(crate) fn int(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo + 1).max(1) as u64;
        lo + (self.next_u64() % span) as i64
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Normal with mean and sd, clamped to mean ± 2.5 sd so anatomy stays plausible.
    pub(crate) fn gauss(&mut self, mean: f64, sd: f64) -> f64 {
        mean + sd * self.normal().clamp(-2.5, 2.5)
    }
}

/// Mixes two words into one well-distributed word (a keyed hash).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut r = Rng(a ^ b.rotate_left(32) ^ 0xD1B5_4A32_D192_ED03);
    r.next_u64();
    r.next_u64() ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A 128-bit value derived from a seed and a purpose, for `2.25.<decimal>` UIDs.
pub(crate) fn hash128(seed: u64, purpose: u64, index: u64) -> u128 {
    let hi = mix(mix(seed, purpose), index);
    let lo = mix(hi ^ 0x5555_5555_5555_5555, index.wrapping_add(purpose));
    // A UID component must not start with 0, and 2.25 UIDs come from UUID-sized numbers.
    (((hi as u128) << 64) | lo as u128) | (1u128 << 120)
}

/// Entries in the Gaussian quantile table (a power of two: indexed by 12 random bits).
const GAUSS_TABLE: usize = 4096;

/// Fast Gaussian noise for pixels: WyRand bits indexing a table of normal quantiles.
///
/// Pixel noise needs tens of millions of draws per phantom; a quantised inverse CDF with
/// 4096 levels (tails at ±3.5 sd) is indistinguishable from true Gaussian noise for the
/// thresholds the pipeline applies, at a small fraction of Box–Muller's cost.
pub(crate) struct PixelNoise {
    state: u64,
    bits: u64,
    left: u32,
    table: &'static [f32; GAUSS_TABLE],
}

impl PixelNoise {
    /// Noise for one slice (or sub-slice) of one seed.
    pub(crate) fn new(seed: u64, slice: u64) -> Self {
        Self {
            state: mix(seed ^ 0xA076_1D64_78BD_642F, slice),
            bits: 0,
            left: 0,
            table: gauss_table(),
        }
    }

    /// One standard-normal sample.
    #[inline]
    pub(crate) fn next(&mut self) -> f32 {
        if self.left == 0 {
            self.state = self.state.wrapping_add(0xA076_1D64_78BD_642F);
            let t = (self.state as u128) * ((self.state ^ 0xE703_7ED1_A0B4_28DB) as u128);
            self.bits = ((t >> 64) as u64) ^ (t as u64);
            self.left = 5;
        }
        let idx = (self.bits & (GAUSS_TABLE as u64 - 1)) as usize;
        self.bits >>= 12;
        self.left -= 1;
        self.table[idx]
    }
}

fn gauss_table() -> &'static [f32; GAUSS_TABLE] {
    static TABLE: std::sync::OnceLock<[f32; GAUSS_TABLE]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0f32; GAUSS_TABLE];
        for (i, v) in t.iter_mut().enumerate() {
            *v = inverse_normal_cdf((i as f64 + 0.5) / GAUSS_TABLE as f64) as f32;
        }
        t
    })
}

/// Acklam's rational approximation of the standard normal quantile (|error| < 1.2e-9).
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_noise_is_standard_normal() {
        let mut n = PixelNoise::new(7, 3);
        let count = 200_000;
        let (mut s, mut s2) = (0f64, 0f64);
        for _ in 0..count {
            let v = n.next() as f64;
            s += v;
            s2 += v * v;
        }
        let mean = s / count as f64;
        let sd = (s2 / count as f64 - mean * mean).sqrt();
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((sd - 1.0).abs() < 0.01, "sd {sd}");
    }

    #[test]
    fn quantiles_are_right() {
        assert!((inverse_normal_cdf(0.975) - 1.959_964).abs() < 1e-5);
        assert!((inverse_normal_cdf(0.001) + 3.090_232).abs() < 1e-5);
    }

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(1, 2).next_u64(), Rng::new(1, 3).next_u64());
        assert_ne!(hash128(1, 2, 3), hash128(1, 2, 4));
    }
}
