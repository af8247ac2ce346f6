//! Turns the sampled [`Anatomy`] into a map of structure ids for one axial plane.
//!
//! Painter's algorithm: the body's concentric layers first (skin, SAT, muscle ring,
//! visceral fat), then bone, muscles, organs, bowel, vessels, ribs and fat streaks, each
//! painted only over the structures it may displace (organs only over visceral fat, so
//! they never cut into the wall or a muscle). Shapes are tested per pixel inside their
//! bounding boxes; the body layers use one polar lookup table per plane, so a 512² plane
//! costs a few milliseconds.

use super::anatomy::{Anatomy, Ellipsoid, Level, Lumen};
use super::structures::*;

/// Angular bins of the per-plane body lookup table.
const BINS: usize = 1024;

/// Bit set of structure ids, for "paint only over these".
type Over = u64;

const fn bit(id: u8) -> Over {
    1u64 << id
}

/// Everything inside the subcutaneous fat: what bone and muscle may overwrite.
const INSIDE: Over =
    !(bit(AIR) | bit(TABLE) | bit(PAD) | bit(SKIN) | bit(SAT_FAT) | bit(SAT_FASCIA));
const VAT_ONLY: Over = bit(VAT_FAT);

/// Ring sub-structure per angular bin.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RingKind {
    Oblique,
    Rectus,
    Linea,
    Posterior,
}

/// The body's layer radii along each direction from the body centre, for one plane.
struct BodyLut {
    out: Vec<f64>,
    sat_in: Vec<f64>,
    ring_in: Vec<f64>,
    fascia: Vec<f64>,
    kind: Vec<RingKind>,
    max_r: f64,
}

impl BodyLut {
    fn bin(phi: f64) -> usize {
        let t = (phi + std::f64::consts::PI) / std::f64::consts::TAU;
        ((t * BINS as f64) as usize).min(BINS - 1)
    }

    fn angle(b: usize) -> f64 {
        -std::f64::consts::PI + (b as f64 + 0.5) * std::f64::consts::TAU / BINS as f64
    }

    /// Inner radius of the SAT (outer edge of the muscle ring) towards `phi`.
    fn sat_in_at(&self, phi: f64) -> f64 {
        self.sat_in[Self::bin(phi)]
    }

    /// Middle of the muscle ring towards `phi`.
    fn ring_mid_at(&self, phi: f64) -> f64 {
        let b = Self::bin(phi);
        0.5 * (self.sat_in[b] + self.ring_in[b])
    }
}

/// A plane being painted: structure ids plus the pixel ↔ patient-frame mapping.
pub(crate) struct Canvas {
    /// Structure id per pixel, row-major.
    pub ids: Vec<u8>,
    rows: usize,
    cols: usize,
    ps: [f64; 2],
    cos: f64,
    sin: f64,
    offset: [f64; 2],
    centre: [f64; 2],
}

impl Canvas {
    /// A blank canvas for `rows × cols` pixels of `ps = [row, col]` mm, with the body
    /// centre at `offset` mm from the image centre and rotated by `rotation` rad.
    pub(crate) fn new(
        rows: usize,
        cols: usize,
        ps: [f64; 2],
        offset: [f64; 2],
        rotation: f64,
    ) -> Self {
        Self {
            ids: vec![AIR; rows * cols],
            rows,
            cols,
            ps,
            cos: rotation.cos(),
            sin: rotation.sin(),
            offset,
            centre: [(rows as f64 - 1.0) / 2.0, (cols as f64 - 1.0) / 2.0],
        }
    }

    fn clear(&mut self) {
        self.ids.fill(AIR);
    }

    /// Half the field of view across columns, mm.
    fn half_fov(&self) -> f64 {
        0.5 * self.cols as f64 * self.ps[1]
    }

    /// Visits every pixel within `radius` mm of the patient-frame point `c`, handing the
    /// current id and the pixel's (u, v) to `f`, which returns the new id.
    #[inline]
    fn paint(&mut self, c: [f64; 2], radius: f64, mut f: impl FnMut(u8, f64, f64) -> u8) {
        if radius.is_nan() || radius <= 0.0 {
            return;
        }
        // Patient frame → image (mm from the image centre) → pixel.
        let x = self.cos * c[0] - self.sin * c[1] + self.offset[0];
        let y = self.sin * c[0] + self.cos * c[1] + self.offset[1];
        let jc = x / self.ps[1] + self.centre[1];
        let ic = y / self.ps[0] + self.centre[0];
        let rj = radius / self.ps[1] + 1.0;
        let ri = radius / self.ps[0] + 1.0;
        let i0 = (ic - ri).floor().max(0.0) as usize;
        let j0 = (jc - rj).floor().max(0.0) as usize;
        let i1 = ((ic + ri).ceil().max(-1.0) as isize + 1).clamp(0, self.rows as isize) as usize;
        let j1 = ((jc + rj).ceil().max(-1.0) as isize + 1).clamp(0, self.cols as isize) as usize;
        if i0 >= i1 || j0 >= j1 {
            return;
        }
        // Pixel → patient frame, incrementally along a row.
        let du_dj = self.cos * self.ps[1];
        let dv_dj = -self.sin * self.ps[1];
        for i in i0..i1 {
            let y = (i as f64 - self.centre[0]) * self.ps[0] - self.offset[1];
            let x = (j0 as f64 - self.centre[1]) * self.ps[1] - self.offset[0];
            let mut u = self.cos * x + self.sin * y;
            let mut v = -self.sin * x + self.cos * y;
            let row = &mut self.ids[i * self.cols..(i + 1) * self.cols];
            for px in &mut row[j0..j1] {
                *px = f(*px, u, v);
                u += du_dj;
                v += dv_dj;
            }
        }
    }

    /// Paints `id` over `over` inside an ellipse (centre, semi-axes, rotation).
    fn ellipse(&mut self, c: [f64; 2], r: [f64; 2], angle: f64, over: Over, id: u8) {
        let (ca, sa) = (angle.cos(), angle.sin());
        let (ia, ib) = (1.0 / (r[0] * r[0]), 1.0 / (r[1] * r[1]));
        self.paint(c, r[0].max(r[1]), |old, u, v| {
            if over & bit(old) == 0 {
                return old;
            }
            let (du, dv) = (u - c[0], v - c[1]);
            let p = du * ca + dv * sa;
            let q = -du * sa + dv * ca;
            if p * p * ia + q * q * ib <= 1.0 {
                id
            } else {
                old
            }
        });
    }

    /// Paints `id` over `over` within `half_width` of the segment `a`–`b`.
    fn segment(&mut self, a: [f64; 2], b: [f64; 2], half_width: f64, over: Over, id: u8) {
        let c = [0.5 * (a[0] + b[0]), 0.5 * (a[1] + b[1])];
        let d = [b[0] - a[0], b[1] - a[1]];
        let len2 = (d[0] * d[0] + d[1] * d[1]).max(1e-9);
        let reach = 0.5 * len2.sqrt() + half_width;
        let hw2 = half_width * half_width;
        self.paint(c, reach, |old, u, v| {
            if over & bit(old) == 0 {
                return old;
            }
            let t = (((u - a[0]) * d[0] + (v - a[1]) * d[1]) / len2).clamp(0.0, 1.0);
            let (eu, ev) = (u - a[0] - t * d[0], v - a[1] - t * d[1]);
            if eu * eu + ev * ev <= hw2 { id } else { old }
        });
    }
}

/// Polynomial atan2, |error| < 0.0015 rad: plenty for 1024 bins, and 5× faster.
#[inline]
fn fast_atan2(y: f64, x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    let (ax, ay) = (x.abs(), y.abs());
    let a = ax.min(ay) / ax.max(ay).max(1e-12);
    let s = a * a;
    let mut r = ((-0.046_496_474_9 * s + 0.159_314_22) * s - 0.327_622_764) * s * a + a;
    if ay > ax {
        r = FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 { -r } else { r }
}

fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Named points along z, looked up once per plane.
struct Marks {
    l1_mid: f64,
    l1_top: f64,
    l5_mid: f64,
}

impl Marks {
    fn of(anat: &Anatomy) -> Self {
        let mid = |name: &str, default: f64| {
            anat.levels
                .iter()
                .find(|l| l.name == name)
                .map_or(default, |l| 0.5 * (l.bot + l.top))
        };
        let l1_top = anat
            .levels
            .iter()
            .find(|l| l.name == "L1")
            .map_or(200.0, |l| l.top);
        Self {
            l1_mid: mid("L1", 190.0),
            l1_top,
            l5_mid: mid("L5", 25.0),
        }
    }
}

/// Renders the structure ids of the plane at `zeta` into `canvas`.
pub(crate) fn render(anat: &Anatomy, zeta: f64, canvas: &mut Canvas) {
    canvas.clear();
    let marks = Marks::of(anat);
    let ([uc, vc], slope) = anat.spine_at(zeta);
    let level = anat
        .level_index(zeta)
        .or_else(|| {
            if zeta < 0.0 {
                Some(0)
            } else {
                anat.levels.len().checked_sub(1)
            }
        })
        .map(|i| &anat.levels[i]);
    let (hw, hd) = level.map_or((22.0, 16.0), |l| (l.half_width, l.half_depth));
    let lut = body(anat, zeta, canvas, vc, hd, &marks);
    table(anat, canvas, &lut);
    for lung in &anat.lungs {
        organ_with_rim(canvas, lung, zeta, 3.0, DIAPHRAGM, LUNG);
    }
    spine(anat, zeta, canvas, [uc, vc], slope);
    let vc0 = anat.spine_at(0.0).0[1];
    if zeta < anat.crest + 5.0 {
        pelvis(anat, zeta, canvas, vc0);
    }
    let hosts = muscles(anat, zeta, canvas, [uc, vc], hw, hd, &lut, &marks);
    for k in &anat.kidneys {
        kidney(canvas, k, zeta);
    }
    vessels(anat, zeta, canvas, [uc, vc], hd);
    for lobe in &anat.liver {
        if let Some((c, r, a)) = lobe.section(zeta) {
            canvas.ellipse(c, r, a, VAT_ONLY, LIVER);
        }
    }
    if let Some((c, r, a)) = anat.spleen.section(zeta) {
        canvas.ellipse(c, r, a, VAT_ONLY, SPLEEN);
    }
    if let Some((c, r, a)) = anat.stomach.section(zeta) {
        canvas.ellipse(c, r, a, VAT_ONLY, GUT_WALL);
        let inner = [(r[0] - 4.0).max(0.0), (r[1] - 4.0).max(0.0)];
        let cap = c[1] - 0.35 * inner[1];
        let (ca, sa) = (a.cos(), a.sin());
        let (ia, ib) = (
            1.0 / (inner[0] * inner[0]).max(1e-6),
            1.0 / (inner[1] * inner[1]).max(1e-6),
        );
        canvas.paint(c, inner[0].max(inner[1]), |old, u, v| {
            if old != GUT_WALL {
                return old;
            }
            let (du, dv) = (u - c[0], v - c[1]);
            let p = du * ca + dv * sa;
            let q = -du * sa + dv * ca;
            if p * p * ia + q * q * ib > 1.0 {
                old
            } else if v < cap {
                GUT_AIR
            } else {
                GUT_FLUID
            }
        });
    }
    for p in &anat.pancreas {
        if let Some((c, r, a)) = p.section(zeta) {
            canvas.ellipse(c, r, a, VAT_ONLY, PANCREAS);
        }
    }
    bowel(anat, zeta, canvas);
    for d in &anat.vessels {
        if zeta >= d.z[0] && zeta <= d.z[1] {
            canvas.ellipse(d.c, [d.r, d.r], 0.0, VAT_ONLY, SMALL_VESSEL);
        }
    }
    ribs(anat, zeta, canvas, &lut);
    streaks(anat, zeta, canvas, &hosts);
}

/// Skin, SAT (with Scarpa's fascia), the muscle ring and visceral fat, by polar lookup.
fn body(
    anat: &Anatomy,
    zeta: f64,
    canvas: &mut Canvas,
    vc: f64,
    hd: f64,
    marks: &Marks,
) -> BodyLut {
    let below_crest = smoothstep((anat.crest - zeta) / 60.0);
    let thorax = smoothstep((zeta - marks.l1_mid) / 90.0);
    let mut a = anat.a0
        * (1.0 + anat.pelvis * below_crest + 0.05 * thorax + 0.02 * (zeta * 0.011 + 1.0).sin());
    a = a.min(canvas.half_fov() - anat.offset[0].abs() - 4.0);
    let b_ant =
        anat.b_ant0 * (1.0 + 0.04 * (zeta * 0.009).sin() + 0.06 * thorax - 0.05 * below_crest);
    let sat_z = 1.0 + anat.sat_z.0 * (zeta * anat.sat_z.1 + anat.sat_z.2).sin();
    let sat_post = anat.sat0 * anat.sat_post * sat_z;
    // The back must leave room for body, canal, spinous process and some muscle.
    let b_post = anat
        .b_post0
        .max(vc + hd + 44.0 + sat_post.max(3.0) + anat.skin);

    let mut lut = BodyLut {
        out: vec![0.0; BINS],
        sat_in: vec![0.0; BINS],
        ring_in: vec![0.0; BINS],
        fascia: vec![0.0; BINS],
        kind: vec![RingKind::Oblique; BINS],
        max_r: 0.0,
    };
    let thoracic_ring = 1.0 - 0.3 * thorax;
    let para_w = 58.0 * anat.para_scale;
    for b in 0..BINS {
        let phi = BodyLut::angle(b);
        let (c, s) = (phi.cos(), phi.sin());
        let (bb, p) = if s < 0.0 {
            (b_ant, anat.p_ant)
        } else {
            (b_post, anat.p_post)
        };
        let mut r = ((c / a).abs().powf(p) + (s / bb).abs().powf(p)).powf(-1.0 / p);
        let wobble: f64 = anat
            .harmonics
            .iter()
            .map(|&(k, amp, ph, zf)| amp * (k * phi + ph + zf * zeta).cos())
            .sum();
        // Keep the flat back flat: wobble only the free surfaces.
        r *= 1.0 + wobble * (1.0 - s.max(0.0).powi(4));
        let ant = s.min(0.0).powi(2);
        let post = s.max(0.0).powi(2);
        let shape: f64 = anat
            .sat_harmonics
            .iter()
            .map(|&(k, amp, ph)| amp * (k * phi + ph).cos())
            .sum();
        let sat = (anat.sat0
            * (ant + anat.sat_lat * c * c + anat.sat_post * post)
            * (1.0 + shape)
            * sat_z)
            .max(3.0);
        let sat_in = r - anat.skin - sat;
        let (ur, vr) = (sat_in * c, sat_in * s);
        let (kind, t) = if vr < 0.0 && ur.abs() < anat.rectus_w {
            let taper = 1.0 - 0.35 * (ur.abs() / anat.rectus_w).powi(4);
            if ur.abs() < anat.linea {
                (RingKind::Linea, anat.rectus_t * 0.8)
            } else {
                (RingKind::Rectus, anat.rectus_t * taper)
            }
        } else if vr > 0.0 && ur.abs() < para_w {
            (RingKind::Posterior, 4.5 * anat.muscle.max(0.6))
        } else {
            let w = (1.0 - 1.1 * s.max(0.0)).clamp(0.3, 1.0);
            (
                RingKind::Oblique,
                (anat.oblique_t * w * thoracic_ring).max(5.0),
            )
        };
        lut.out[b] = r;
        lut.sat_in[b] = sat_in;
        lut.ring_in[b] = sat_in - t;
        lut.fascia[b] = if sat > 14.0 && s < 0.5 {
            r - anat.skin - sat * anat.fascia_depth
        } else {
            -1.0
        };
        lut.kind[b] = kind;
        lut.max_r = lut.max_r.max(r);
    }
    let skin = anat.skin;
    let rmax2 = lut.max_r * lut.max_r;
    {
        let l = &lut;
        canvas.paint([0.0, 0.0], l.max_r, |old, u, v| {
            let r2 = u * u + v * v;
            if r2 >= rmax2 {
                return old;
            }
            let r = r2.sqrt();
            let b = BodyLut::bin(fast_atan2(v, u));
            if r >= l.out[b] {
                old
            } else if r >= l.out[b] - skin {
                SKIN
            } else if r >= l.sat_in[b] {
                if (r - l.fascia[b]).abs() < 0.45 {
                    SAT_FASCIA
                } else {
                    SAT_FAT
                }
            } else if r >= l.ring_in[b] {
                match l.kind[b] {
                    RingKind::Linea => LINEA_ALBA,
                    RingKind::Rectus => WALL,
                    RingKind::Posterior => PARA,
                    RingKind::Oblique => {
                        let t = l.sat_in[b] - l.ring_in[b];
                        let d = l.sat_in[b] - r;
                        if t > 9.0 && ((d - 0.36 * t).abs() < 0.55 || (d - 0.68 * t).abs() < 0.55) {
                            WALL_FAT
                        } else {
                            WALL
                        }
                    }
                }
            } else {
                VAT_FAT
            }
        });
    }
    lut
}

/// The foam pad and carbon table under the patient's back (image-fixed, not rotated).
fn table(anat: &Anatomy, canvas: &mut Canvas, lut: &BodyLut) {
    let mut low: f64 = f64::MIN;
    for b in 0..BINS {
        let phi = BodyLut::angle(b);
        let (u, v) = (lut.out[b] * phi.cos(), lut.out[b] * phi.sin());
        low = low.max(canvas.sin * u + canvas.cos * v + anat.offset[1]);
    }
    let top = low + anat.pad;
    let (rows, cols, ps, centre) = (canvas.rows, canvas.cols, canvas.ps, canvas.centre);
    for i in 0..rows {
        let y = (i as f64 - centre[0]) * ps[0];
        if y < low - 30.0 {
            continue;
        }
        for j in 0..cols {
            let x = (j as f64 - centre[1]) * ps[1];
            if x.abs() > 230.0 {
                continue;
            }
            let t = top - 0.0006 * x * x;
            let d = y - t;
            let px = &mut canvas.ids[i * cols + j];
            if *px != AIR {
                continue;
            }
            *px = if d < 0.0 {
                if y > low - 30.0 + 0.0006 * x * x && d > -anat.pad - 25.0 {
                    PAD
                } else {
                    AIR
                }
            } else if d < 3.0 || (35.0..38.0).contains(&d) {
                TABLE
            } else if d < 35.0 {
                PAD
            } else {
                AIR
            };
        }
    }
}

fn organ_with_rim(canvas: &mut Canvas, e: &Ellipsoid, zeta: f64, rim: f64, rim_id: u8, id: u8) {
    if let Some((c, r, a)) = e.section(zeta) {
        canvas.ellipse(c, [r[0] + rim, r[1] + rim], a, VAT_ONLY, rim_id);
        canvas.ellipse(c, r, a, bit(rim_id), id);
    }
}

/// Vertebral bodies, discs, canal and posterior elements, with tilted endplates.
fn spine(anat: &Anatomy, zeta: f64, canvas: &mut Canvas, c: [f64; 2], slope: f64) {
    // Levels whose body, disc or processes may show in this plane.
    let near: Vec<(usize, &Level)> = anat
        .levels
        .iter()
        .enumerate()
        .filter(|(_, l)| zeta > l.bot - 30.0 && zeta < l.top + l.disc + 30.0)
        .collect();
    if near.is_empty() && zeta >= 0.0 {
        return;
    }
    let s1 = &anat.levels[0];
    let reach = near
        .iter()
        .map(|(_, l)| l.tp_reach.max(l.half_width))
        .fold(30.0, f64::max)
        + 6.0;
    let depth = near
        .iter()
        .map(|(_, l)| l.half_depth * 2.0 + l.spinous + 24.0)
        .fold(60.0, f64::max);
    let centre = [c[0], c[1] + depth * 0.5 - 10.0];
    let radius = (reach * reach + (depth * 0.5 + 14.0).powi(2)).sqrt();
    let levels = &anat.levels;
    canvas.paint(centre, radius, |old, u, v| {
        if INSIDE & bit(old) == 0 {
            return old;
        }
        let du = u - c[0];
        let dv = v - c[1];
        // Position along the column axis: the endplates tilt with the lordosis.
        let ze = zeta + slope * dv;
        let adu = du.abs();
        // Which level's body/disc slot contains ze.
        let idx = if ze < 0.0 {
            Some(0)
        } else {
            near.iter()
                .find(|(_, l)| ze >= l.bot && ze < l.top + l.disc)
                .map(|(i, _)| *i)
        };
        let Some(i) = idx else { return old };
        let l = &levels[i];
        let next = levels.get(i + 1).unwrap_or(l);
        let in_body = ze < l.top;
        let (w, d) = if in_body {
            if ze < l.bot {
                // Sacrum below S1: narrowing as it descends.
                let f = (1.0 + (ze - l.bot) / 90.0).max(0.35);
                (l.half_width * f, l.half_depth * f.sqrt())
            } else {
                (l.half_width, l.half_depth)
            }
        } else {
            let t = (ze - l.top) / l.disc;
            (
                1.03 * (l.half_width + t * (next.half_width - l.half_width)),
                1.03 * (l.half_depth + t * (next.half_depth - l.half_depth)),
            )
        };
        let rho2 = (du / w).powi(2) + (dv / d).powi(2);
        // Posterior concavity of the body.
        let concave = (du / (0.45 * w)).powi(2) + ((dv - 1.15 * d) / (0.35 * d)).powi(2) < 1.0;
        if rho2 <= 1.0 && !concave {
            if !in_body {
                return if rho2 < 0.3 { NUCLEUS } else { DISC };
            }
            let rho = rho2.sqrt();
            let shell = 1.6 / d.min(w);
            let endplate = (ze - l.bot).abs() < 1.0 && ze >= l.bot || (l.top - ze) < 1.0;
            return if rho > 1.0 - shell || endplate {
                CORTICAL
            } else {
                CANCELLOUS
            };
        }
        // Canal and neural arch behind the body.
        let (rcu, rcv) = (10.0, 8.0);
        let cv = l.half_depth + rcv + 1.0;
        let q2 = (du / rcu).powi(2) + ((dv - cv) / rcv).powi(2);
        if q2 <= 1.0 {
            return CANAL;
        }
        let arch_of =
            |lv: &Level| ze >= lv.bot + 0.1 * (lv.top - lv.bot) && ze < lv.top + 0.5 * lv.disc;
        let arch_here = arch_of(l) || (ze < 0.0 && ze > s1.bot - 60.0);
        if arch_here && dv > l.half_depth - 3.0 {
            let outer = (du / (rcu + 6.0)).powi(2) + ((dv - cv) / (rcv + 6.0)).powi(2);
            if outer <= 1.0 {
                return POSTERIOR;
            }
        }
        // Sacral alae: wide bars to the iliac wings, just below the S1 endplate.
        if ze < 0.0 {
            let (uc_il, _, ra, _) = anat.ilium;
            let u_si = uc_il - 0.17 * ra + 6.0;
            let top = -2.0 - 0.12 * (adu - l.half_width).max(0.0);
            if adu < u_si
                && ze < top
                && ze > s1.bot - 45.0
                && dv > -0.55 * l.half_depth
                && dv < 0.95 * l.half_depth + 4.0
            {
                let edge = (top - ze)
                    .min(dv + 0.55 * l.half_depth)
                    .min(0.95 * l.half_depth + 4.0 - dv);
                return if edge < 1.5 { CORTICAL } else { CANCELLOUS };
            }
            return old;
        }
        // Spinous process (slopes down posteriorly) and transverse processes.
        let back = cv + rcv;
        for (_, lv) in &near {
            let h = lv.top - lv.bot;
            let below = lv.bot
                - levels
                    .iter()
                    .rev()
                    .find(|x| x.top <= lv.bot)
                    .map_or(lv.bot - 10.0, |x| x.top);
            let zs = ze + 0.35 * (dv - back).max(0.0);
            if adu < 3.5
                && dv > back - 2.0
                && dv < back + lv.spinous
                && zs > lv.bot - 0.45 * below
                && zs < lv.bot + 0.55 * h
            {
                return POSTERIOR;
            }
            let mid = lv.bot + 0.6 * h;
            if lv.tp_reach > 0.0 && (ze - mid).abs() < 6.0 && adu > rcu && adu < lv.tp_reach {
                let back_slope = if lv.rib.is_some() { 0.55 } else { 0.15 };
                let vt = lv.half_depth + 4.0 + back_slope * (adu - rcu);
                if (dv - vt).abs() < 4.5 {
                    return POSTERIOR;
                }
            }
        }
        old
    });
}

/// Iliac wings (fused to the sacral alae), iliacus inside them, gluteals outside.
fn pelvis(anat: &Anatomy, zeta: f64, canvas: &mut Canvas, vc0: f64) {
    let (uc, cv, ra, rb) = anat.ilium;
    let crest = anat.crest;
    // Highest posterolaterally (ψ ≈ 0.6); the posterior ilium by the sacroiliac joint
    // tops out near S1 and the anterior spine lower still, so the wing never meets the
    // L5 transverse processes.
    let crest_at = move |psi: f64| {
        let (d, k) = if psi > 0.6 {
            ((psi - 0.6) / 1.15, 45.0)
        } else {
            ((0.6 - psi) / 1.2, 30.0)
        };
        crest - k * d * d
    };
    let (psi_ant, psi_post) = (-1.05, 1.75);
    for side in [1.0, -1.0] {
        let cc = [side * uc, vc0 + cv];
        let (psoas_id, _) = if side > 0.0 {
            (PSOAS_L, 0)
        } else {
            (PSOAS_R, 0)
        };
        canvas.paint(cc, ra.max(rb) + 30.0, |old, u, v| {
            let du = side * (u - cc[0]);
            let dv = v - cc[1];
            let (x, y) = (du / ra, dv / rb);
            let rho = (x * x + y * y).sqrt();
            let psi = y.atan2(x);
            let big_r = ((ra * psi.cos()).powi(2) + (rb * psi.sin()).powi(2)).sqrt();
            let thick = 5.0 + 9.0 * smoothstep((psi - 0.9) / 0.8);
            let half = 0.5 * thick / big_r;
            let top = crest_at(psi);
            if psi < psi_ant || psi > psi_post || zeta > top {
                return old;
            }
            let dist = (rho - 1.0).abs();
            if dist <= half && INSIDE & bit(old) != 0 {
                let to_surface = (half - dist) * big_r;
                return if to_surface < 1.4 || thick < 7.0 || top - zeta < 1.4 {
                    CORTICAL
                } else {
                    CANCELLOUS
                };
            }
            if old != VAT_FAT {
                return old;
            }
            if rho < 1.0 - half
                && rho > 1.0 - half - 22.0 / big_r
                && (-0.6..1.6).contains(&psi)
                && zeta < top - 4.0
            {
                return psoas_id;
            }
            if rho > 1.0 + half && (-0.6..1.9).contains(&psi) && zeta < top - 6.0 {
                return GLUTEAL;
            }
            old
        });
    }
}

/// Where each streak host muscle lies in this plane: (centre, semi-axes, angle).
type Host = Option<([f64; 2], [f64; 2], f64)>;

/// Paraspinals, quadratus lumborum and psoas; returns the streak host frames.
#[allow(
    clippy::too_many_arguments,
    reason = "plane geometry shared by the muscle painters"
)]
fn muscles(
    anat: &Anatomy,
    zeta: f64,
    canvas: &mut Canvas,
    c: [f64; 2],
    hw: f64,
    hd: f64,
    lut: &BodyLut,
    marks: &Marks,
) -> [Host; 4] {
    let mut hosts: [Host; 4] = [None; 4];
    // Erector spinae + multifidus: from behind the transverse processes to the SAT.
    let sacral = smoothstep(-zeta / 50.0);
    let thorax = smoothstep((zeta - marks.l1_top) / 80.0);
    let re_u = 28.0 * anat.para_scale * (1.0 - 0.35 * sacral) * (1.0 - 0.12 * thorax);
    let front = c[1] + hd + 5.0;
    for (k, side) in [1.0, -1.0].into_iter().enumerate() {
        let uc = c[0] + side * re_u;
        let back = lut
            .sat_in_at(fast_atan2(front + 40.0, uc))
            .min(lut.sat_in_at(std::f64::consts::FRAC_PI_2));
        let re_v = ((back - front) * 0.5 + 3.0).max(4.0);
        let vc = front + re_v;
        let p = 2.4;
        canvas.paint([uc, vc], re_u.max(re_v) * 1.3, |old, u, v| {
            if old != VAT_FAT && old != WALL && old != PARA {
                return old;
            }
            let q = ((u - uc) / re_u).abs().powf(p) + ((v - vc) / re_v).abs().powf(p);
            if q <= 1.0 { PARA } else { old }
        });
        hosts[k] = Some(([uc, vc], [re_u * 0.8, re_v * 0.8], 0.0));
    }
    // Quadratus lumborum, between the crest and the twelfth rib: in the angle between the
    // transverse process tips, the psoas in front and the erector spinae behind, against the
    // erector's anterolateral face (as on real CT at L3; painted over fat only, so the
    // erector keeps the overlap).
    let ql_t = smoothstep((zeta - (anat.crest - 15.0)) / 25.0)
        * smoothstep((marks.l1_top + 10.0 - zeta) / 25.0);
    if ql_t > 0.05 {
        for side in [1.0, -1.0] {
            let r = [
                16.0 * anat.ql_scale * ql_t.sqrt(),
                8.5 * anat.ql_scale * ql_t.sqrt(),
            ];
            let centre = [c[0] + side * (1.55 * re_u + 0.5 * r[0]), front + 2.0];
            canvas.ellipse(centre, r, side * 0.25, VAT_ONLY, PARA);
        }
    }
    // Psoas: appears at T12/L1 and grows caudally beside the bodies.
    let start = marks.l1_top + 4.0;
    let full = marks.l5_mid;
    if zeta < start {
        let t = smoothstep((start - zeta) / (start - full).max(1.0));
        let pelvic = (full - zeta).max(0.0);
        let k_ap = 1.35 - 0.3 * t;
        for (k, side) in [1.0, -1.0].into_iter().enumerate() {
            let area = anat.psoas_area[k] * t.powf(0.75);
            if area < 25.0 {
                continue;
            }
            let ru = (area / (std::f64::consts::PI * k_ap)).sqrt();
            let rv = ru * k_ap;
            let centre = [
                c[0] + side * (hw + 0.8 * ru + 0.5 * pelvic),
                c[1] - 0.15 * hd - 0.45 * pelvic,
            ];
            let id = if side > 0.0 { PSOAS_L } else { PSOAS_R };
            canvas.ellipse(centre, [ru, rv], side * 0.35, VAT_ONLY, id);
            hosts[2 + k] = Some((centre, [ru * 0.75, rv * 0.75], side * 0.35));
        }
    }
    hosts
}

fn kidney(canvas: &mut Canvas, k: &Ellipsoid, zeta: f64) {
    let Some((c, r, a)) = k.section(zeta) else {
        return;
    };
    canvas.ellipse(c, r, a, VAT_ONLY, KIDNEY_CORTEX);
    if r[0] > 9.0 && r[1] > 9.0 {
        canvas.ellipse(
            c,
            [r[0] - 7.0, r[1] - 7.0],
            a,
            bit(KIDNEY_CORTEX),
            KIDNEY_MEDULLA,
        );
    }
    // Sinus fat opens towards the hilum (medial, anterior).
    let medial = -c[0].signum();
    let sc = [c[0] + medial * 0.5 * r[0], c[1] - 0.25 * r[1]];
    canvas.ellipse(
        sc,
        [0.4 * r[0], 0.3 * r[1]],
        a,
        bit(KIDNEY_CORTEX) | bit(KIDNEY_MEDULLA),
        SINUS_FAT,
    );
}

/// Aorta, IVC and the iliac vessels, with calcified plaque.
fn vessels(anat: &Anatomy, zeta: f64, canvas: &mut Canvas, c: [f64; 2], hd: f64) {
    let front = c[1] - hd;
    let ar = anat.aorta_r;
    if zeta >= anat.bifurcation {
        let ac = [c[0] + 14.0, front - ar - 2.0];
        canvas.ellipse(ac, [ar, ar], 0.0, VAT_ONLY, ARTERY);
        for d in &anat.calcifications {
            if zeta >= d.z[0] && zeta <= d.z[1] {
                let p = [ac[0] + d.c[0] * (ar - 0.5), ac[1] + d.c[1] * (ar - 0.5)];
                canvas.ellipse(p, [d.r, d.r], 0.0, bit(ARTERY) | VAT_ONLY, CALCIFICATION);
            }
        }
    } else {
        let t = anat.bifurcation - zeta;
        for side in [1.0, -1.0] {
            let p = [c[0] + 6.0 + side * (8.0 + 0.45 * t), front - 8.0 - 0.1 * t];
            canvas.ellipse(p, [6.5, 6.5], 0.0, VAT_ONLY, ARTERY);
        }
    }
    if zeta >= anat.confluence {
        canvas.ellipse([c[0] - 20.0, front - 9.0], anat.ivc_r, 0.3, VAT_ONLY, VEIN);
    } else {
        let t = anat.confluence - zeta;
        for side in [1.0, -1.0] {
            let p = [c[0] - 4.0 + side * (12.0 + 0.4 * t), front - 3.0 - 0.05 * t];
            canvas.ellipse(p, [7.0, 6.0], 0.0, VAT_ONLY, VEIN);
        }
    }
}

/// Bowel segments: walls first, then lumens (so touching spheres of a chain merge).
fn bowel(anat: &Anatomy, zeta: f64, canvas: &mut Canvas) {
    for g in &anat.gut {
        let sections: Vec<([f64; 2], f64)> = g
            .nodes
            .iter()
            .filter_map(|n| {
                let dz = zeta - n[2];
                (dz.abs() < g.radius)
                    .then(|| ([n[0], n[1]], (g.radius * g.radius - dz * dz).sqrt()))
            })
            .collect();
        for (c, r) in &sections {
            canvas.ellipse(*c, [*r, *r], 0.0, VAT_ONLY, GUT_WALL);
        }
        for (c, r) in &sections {
            let inner = r - g.wall;
            if inner <= 0.5 {
                continue;
            }
            let cap = c[1] - 0.35 * inner;
            let lumen = g.lumen;
            let c = *c;
            let i2 = inner * inner;
            canvas.paint(c, inner, |old, u, v| {
                if old != GUT_WALL || (u - c[0]).powi(2) + (v - c[1]).powi(2) > i2 {
                    return old;
                }
                match lumen {
                    Lumen::Fluid => GUT_FLUID,
                    Lumen::Gas => GUT_AIR,
                    Lumen::Contrast => GUT_CONTRAST,
                    Lumen::GasFluid => {
                        if v < cap {
                            GUT_AIR
                        } else {
                            GUT_FLUID
                        }
                    }
                    Lumen::Stool => {
                        // Mottled: gas bubbles on a 3 mm lattice, chosen by a hash.
                        let h = ((u / 3.0).floor() as i64).wrapping_mul(73_856_093)
                            ^ ((v / 3.0).floor() as i64).wrapping_mul(19_349_663)
                            ^ ((zeta / 3.0).floor() as i64).wrapping_mul(83_492_791);
                        if h.rem_euclid(100) < 15 {
                            GUT_AIR
                        } else {
                            STOOL
                        }
                    }
                }
            });
        }
    }
}

/// Ribs of the thoracic levels: head at the body, past the transverse process, then
/// round inside the wall, descending as they go; a plane shows each as a bar.
fn ribs(anat: &Anatomy, zeta: f64, canvas: &mut Canvas, lut: &BodyLut) {
    let step = 0.5;
    for l in &anat.levels {
        let Some(rib) = &l.rib else { continue };
        let h = l.top - l.bot;
        let z_head = l.bot + 0.7 * h;
        if zeta > z_head + rib.height || zeta < z_head - rib.drop - rib.height {
            continue;
        }
        let (sc, _) = anat.spine_at(z_head);
        for side in [1.0, -1.0] {
            // The path as a polyline in the patient frame.
            let mut pts: Vec<[f64; 2]> = vec![
                [
                    sc[0] + side * (l.half_width + 2.0),
                    sc[1] + 0.2 * l.half_depth,
                ],
                [
                    sc[0] + side * (l.tp_reach + 3.0),
                    sc[1] + l.half_depth + 14.0,
                ],
            ];
            let u2 = sc[0] + side * (l.tp_reach + 24.0);
            let v2 = sc[1] + l.half_depth + 28.0;
            let phi2 = fast_atan2(v2, u2);
            let r2 = lut.sat_in_at(phi2) - 12.0;
            pts.push([r2 * phi2.cos(), r2 * phi2.sin()]);
            // Round the wall towards anterior, blending into mid-ring depth.
            let mut phi = phi2;
            let mut len = 0.0;
            let mut prev = *pts.last().unwrap_or(&[0.0, 0.0]);
            while len < rib.arc {
                phi -= side * 0.01;
                let t = smoothstep(len / 40.0);
                let r = (1.0 - t) * (lut.sat_in_at(phi) - 12.0) + t * lut.ring_mid_at(phi);
                let p = [r * phi.cos(), r * phi.sin()];
                len += ((p[0] - prev[0]).powi(2) + (p[1] - prev[1]).powi(2)).sqrt();
                pts.push(p);
                prev = p;
            }
            let total: f64 = pts
                .windows(2)
                .map(|w| ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt())
                .sum::<f64>()
                .max(1.0);
            // Sample the path every half millimetre; stamp discs where the plane cuts it.
            let mut samples: Vec<([f64; 2], f64)> = Vec::new();
            let mut s = 0.0;
            for w in pts.windows(2) {
                let d = [w[1][0] - w[0][0], w[1][1] - w[0][1]];
                let seg = (d[0] * d[0] + d[1] * d[1]).sqrt();
                let mut t = 0.0;
                while t < seg {
                    let z = z_head - rib.drop * ((s + t) / total).powf(1.3);
                    let dz = (zeta - z).abs();
                    if dz < 0.5 * rib.height {
                        samples.push(([w[0][0] + d[0] * t / seg, w[0][1] + d[1] * t / seg], dz));
                    }
                    t += step;
                }
                s += seg;
            }
            let r = 0.5 * rib.thick;
            for (p, _) in &samples {
                canvas.ellipse(*p, [r, r], 0.0, INSIDE, CORTICAL);
            }
            for (p, dz) in &samples {
                if *dz < 0.5 * rib.height - 1.3 {
                    canvas.ellipse(*p, [r - 1.3, r - 1.3], 0.0, bit(CORTICAL), RIB_MARROW);
                }
            }
        }
    }
}

/// Intermuscular fat streaks, in their host muscle's frame.
fn streaks(anat: &Anatomy, zeta: f64, canvas: &mut Canvas, hosts: &[Host; 4]) {
    for s in &anat.streaks {
        if zeta < s.z[0] || zeta > s.z[1] {
            continue;
        }
        let Some((c, r, a)) = hosts[s.host as usize] else {
            continue;
        };
        let (ca, sa) = (a.cos(), a.sin());
        let map = |p: [f64; 2]| {
            let (x, y) = (p[0] * r[0], p[1] * r[1]);
            [c[0] + x * ca - y * sa, c[1] + x * sa + y * ca]
        };
        let (host, fat) = match s.host {
            0 | 1 => (PARA, PARA_FAT),
            2 => (PSOAS_L, PSOAS_L_FAT),
            _ => (PSOAS_R, PSOAS_R_FAT),
        };
        canvas.segment(map(s.a), map(s.b), s.half_width, bit(host), fat);
    }
}
