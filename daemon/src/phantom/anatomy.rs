//! One phantom patient's anatomy, sampled once from the seed: body shape, spine levels,
//! organs, bowel, vessels and fat streaks, all in a patient-fixed frame.
//!
//! Frame: `u` mm towards the patient's left, `v` mm towards posterior, both from the
//! body centre; `zeta` mm along z with 0 at the top of the S1 endplate (at the column's
//! centre) and positive upwards. Everything here is a pure description; `raster` turns
//! it into pixels at a given `zeta`. Sizes scale with three latent traits, so that the
//! seeds give thin and obese, muscular and sarcopenic, short and tall patients.

use super::rng::Rng;
use super::{PhantomOptions, Sex};

/// Vertebral levels from the sacrum upwards (the sampler stops once above the field).
pub(crate) const LEVEL_NAMES: [&str; 13] = [
    "S1", "L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10", "T9", "T8", "T7", "T6",
];
/// Body height (mm) of each level for an average adult; L3 and L4 are the tallest.
const BODY_HEIGHT: [f64; 13] = [
    27.0, 25.5, 26.0, 26.0, 25.0, 24.0, 22.5, 21.5, 20.5, 19.5, 19.0, 18.5, 18.0,
];
/// Height (mm) of the disc above each level; L3/L4 is the tallest.
const DISC_ABOVE: [f64; 13] = [
    10.0, 11.0, 11.5, 10.5, 9.5, 8.0, 6.5, 6.0, 5.5, 5.0, 5.0, 5.0, 5.0,
];
/// Lateral half-width (mm) of the vertebral body.
const HALF_WIDTH: [f64; 13] = [
    25.0, 25.5, 24.5, 23.5, 22.5, 21.5, 20.0, 18.5, 17.5, 16.5, 16.0, 15.5, 15.0,
];
/// Antero-posterior half-depth (mm) of the vertebral body.
const HALF_DEPTH: [f64; 13] = [
    17.5, 17.0, 17.0, 16.5, 16.0, 15.5, 15.0, 14.5, 14.0, 13.5, 13.0, 13.0, 12.5,
];
/// Transverse process reach from the midline (mm); lumbar L3 is the longest.
const TP_REACH: [f64; 13] = [
    0.0, 42.0, 40.0, 46.0, 41.0, 33.0, 24.0, 27.0, 29.0, 30.0, 31.0, 31.0, 31.0,
];

/// A rib: a bony bar leaving the costovertebral joint and curving round the body wall.
#[derive(Debug, Clone)]
pub(crate) struct Rib {
    /// Length (mm) of the part that follows the body wall round towards anterior:
    /// short for the floating T12 rib, long for the ribs that reach the costal margin.
    pub arc: f64,
    /// How far (mm) the rib descends from its head to its tip.
    pub drop: f64,
    /// Height of the rib in z (mm).
    pub height: f64,
    /// In-plane thickness (mm).
    pub thick: f64,
}

/// One vertebra (or S1 for the sacrum).
#[derive(Debug, Clone)]
pub(crate) struct Level {
    /// `S1`, `L5` … `T6`.
    pub name: &'static str,
    /// Inferior endplate, zeta mm along the column axis.
    pub bot: f64,
    /// Superior endplate.
    pub top: f64,
    /// Height of the disc above.
    pub disc: f64,
    /// Lateral half-width of the body.
    pub half_width: f64,
    /// AP half-depth of the body.
    pub half_depth: f64,
    /// Transverse process reach from the midline.
    pub tp_reach: f64,
    /// Spinous process length behind the lamina.
    pub spinous: f64,
    /// Ribs (thoracic levels).
    pub rib: Option<Rib>,
}

/// An ellipsoid in the patient frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ellipsoid {
    /// Centre `[u, v, zeta]`.
    pub c: [f64; 3],
    /// Semi-axes `[u, v, zeta]`, before rotation.
    pub r: [f64; 3],
    /// In-plane rotation (rad).
    pub angle: f64,
}

impl Ellipsoid {
    /// The cross-section at `zeta`: centre, semi-axes and angle, or `None`.
    pub(crate) fn section(&self, zeta: f64) -> Option<([f64; 2], [f64; 2], f64)> {
        let t = (zeta - self.c[2]) / self.r[2];
        if t.abs() >= 1.0 {
            return None;
        }
        let s = (1.0 - t * t).sqrt();
        Some((
            [self.c[0], self.c[1]],
            [self.r[0] * s, self.r[1] * s],
            self.angle,
        ))
    }
}

/// What fills a bowel segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lumen {
    /// Water-density fluid.
    Fluid,
    /// Gas.
    Gas,
    /// Fluid with a gas cap anteriorly (the patient lies supine).
    GasFluid,
    /// Positive oral contrast.
    Contrast,
    /// Stool (colon).
    Stool,
}

/// A bowel segment: a chain of spheres with a wall.
#[derive(Debug, Clone)]
pub(crate) struct Gut {
    /// Sphere centres `[u, v, zeta]`.
    pub nodes: Vec<[f64; 3]>,
    /// Outer radius (mm).
    pub radius: f64,
    /// Wall thickness (mm).
    pub wall: f64,
    /// Lumen content.
    pub lumen: Lumen,
}

/// A thin fat streak inside a muscle, in that muscle's normalised frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Streak {
    /// Host: 0 left paraspinal, 1 right paraspinal, 2 left psoas, 3 right psoas.
    pub host: u8,
    /// Start and end in the host ellipse's unit frame.
    pub a: [f64; 2],
    /// End point.
    pub b: [f64; 2],
    /// Half-width (mm).
    pub half_width: f64,
    /// zeta range.
    pub z: [f64; 2],
}

/// A short vertical vessel (mesenteric branches, calcified plaques).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dot {
    /// `[u, v]`.
    pub c: [f64; 2],
    /// Radius (mm).
    pub r: f64,
    /// zeta range.
    pub z: [f64; 2],
}

/// One sampled patient.
#[derive(Debug, Clone)]
pub(crate) struct Anatomy {
    /// Sex.
    pub sex: Sex,
    /// Height (m).
    pub height_m: f64,
    /// Age (years).
    pub age: f64,
    /// Weight (kg), for the header.
    pub weight_kg: f64,
    /// Portal-venous contrast.
    pub contrast: bool,
    /// Body centre offset from the image centre `[x, y]` (mm).
    pub offset: [f64; 2],
    /// In-plane rotation of the patient (rad).
    pub rotation: f64,
    /// Lateral semi-axis of the body at L3 level.
    pub a0: f64,
    /// Anterior semi-axis.
    pub b_ant0: f64,
    /// Posterior semi-axis.
    pub b_post0: f64,
    /// Superellipse exponents (anterior, posterior).
    pub p_ant: f64,
    /// Posterior exponent (> anterior: a flatter back on the table).
    pub p_post: f64,
    /// Outline harmonics `(k, amplitude, phase, z-frequency)`.
    pub harmonics: Vec<(f64, f64, f64, f64)>,
    /// Skin thickness.
    pub skin: f64,
    /// SAT thickness anteriorly at L3.
    pub sat0: f64,
    /// SAT factor laterally.
    pub sat_lat: f64,
    /// SAT factor posteriorly.
    pub sat_post: f64,
    /// SAT harmonics `(k, amplitude, phase)`.
    pub sat_harmonics: Vec<(f64, f64, f64)>,
    /// SAT variation along z `(amplitude, frequency, phase)`.
    pub sat_z: (f64, f64, f64),
    /// Depth fraction of Scarpa's fascia in the SAT.
    pub fascia_depth: f64,
    /// Muscularity (1 = average man).
    pub muscle: f64,
    /// Rectus thickness.
    pub rectus_t: f64,
    /// Rectus half-width from the midline.
    pub rectus_w: f64,
    /// Linea alba half-width.
    pub linea: f64,
    /// Oblique (three-layer) thickness.
    pub oblique_t: f64,
    /// Pelvic widening (fraction) below S1.
    pub pelvis: f64,
    /// Vertebral levels, S1 first.
    pub levels: Vec<Level>,
    /// Lumbar lordosis curvature (mm per mm²).
    pub lordosis: f64,
    /// Spine AP position at L3 centre.
    pub spine_v0: f64,
    /// Sacral slope (dv/dzeta below S1, posterior as it descends).
    pub sacral_slope: f64,
    /// Lateral scoliosis amplitude (mm).
    pub scoliosis: f64,
    /// Psoas maximal cross-section per side (mm²), left and right.
    pub psoas_area: [f64; 2],
    /// Paraspinal semi-axes scale.
    pub para_scale: f64,
    /// QL scale.
    pub ql_scale: f64,
    /// Iliac crest height above the S1 top (mm).
    pub crest: f64,
    /// Iliac wing ellipse `(centre u, centre v offset from spine, ra, rb)`.
    pub ilium: (f64, f64, f64, f64),
    /// Liver lobes.
    pub liver: Vec<Ellipsoid>,
    /// Spleen.
    pub spleen: Ellipsoid,
    /// Stomach.
    pub stomach: Ellipsoid,
    /// Kidneys, left then right.
    pub kidneys: [Ellipsoid; 2],
    /// Lung bases, left then right.
    pub lungs: [Ellipsoid; 2],
    /// Pancreas chain.
    pub pancreas: Vec<Ellipsoid>,
    /// Aorta radius.
    pub aorta_r: f64,
    /// IVC semi-axes.
    pub ivc_r: [f64; 2],
    /// Aortic bifurcation zeta.
    pub bifurcation: f64,
    /// IVC confluence zeta.
    pub confluence: f64,
    /// Bowel.
    pub gut: Vec<Gut>,
    /// Mesenteric vessels.
    pub vessels: Vec<Dot>,
    /// Aortic calcifications (relative to the aortic centre).
    pub calcifications: Vec<Dot>,
    /// Fat streaks in muscle.
    pub streaks: Vec<Streak>,
    /// Table: gap below the body and pad thickness (mm).
    pub pad: f64,
}

impl Anatomy {
    /// Samples a patient for `opts` (seeded) whose field spans `field` (zeta, mm).
    pub(crate) fn sample(opts: &PhantomOptions, field: [f64; 2]) -> Self {
        let mut rng = Rng::new(opts.seed, 0xA7A7);
        let sex = opts.sex.unwrap_or(if rng.chance(0.5) {
            Sex::Male
        } else {
            Sex::Female
        });
        let male = sex == Sex::Male;
        let age = opts
            .age_years
            .unwrap_or_else(|| rng.range(24.0, 86.0).round());
        let height_m = opts
            .height_m
            .unwrap_or_else(|| rng.gauss(if male { 1.76 } else { 1.63 }, 0.07));
        let frame = height_m / 1.70;
        // Latent traits: adiposity (0..1), muscularity (≈0.55..1.3).
        let adipose = rng.unit().powf(0.9);
        let muscle = (if male { 1.17 } else { 0.86 })
            * rng.range(0.78, 1.18)
            * (1.0 - (age - 45.0).max(0.0) * 0.0045)
            * frame.powf(0.8);
        let contrast = opts.contrast.unwrap_or_else(|| rng.chance(0.6));

        let a0 = (118.0 + 18.0 * frame + 48.0 * adipose + 10.0 * muscle).min(185.0);
        let b_ant0 = 78.0 + 12.0 * frame + 62.0 * adipose * rng.range(0.8, 1.2);
        let b_post0 = 82.0 + 10.0 * frame + 18.0 * adipose;
        let weight_kg = (22.0 + 8.0 * adipose * adipose + 5.0 * adipose) * height_m * height_m
            + 4.0 * (muscle - 0.9);
        let harmonics = (2..=5)
            .map(|k| {
                (
                    k as f64,
                    rng.range(0.0, 0.018),
                    rng.range(0.0, std::f64::consts::TAU),
                    rng.range(0.002, 0.012),
                )
            })
            .collect();
        let sat0 = 7.0 + 42.0 * adipose * rng.range(0.75, 1.25) + if male { 0.0 } else { 6.0 };
        let sat_harmonics = (1..=4)
            .map(|k| {
                (
                    k as f64,
                    rng.range(0.0, 0.12),
                    rng.range(0.0, std::f64::consts::TAU),
                )
            })
            .collect();

        // Spine levels: one stature scale, small smooth jitter per level.
        let stature = (frame * rng.range(0.93, 1.02)).clamp(0.9, 1.04);
        let mut jitter = rng.range(-0.015, 0.015);
        let mut levels = Vec::new();
        let s1_height = BODY_HEIGHT[0] * stature;
        let mut z = -s1_height;
        for (i, name) in LEVEL_NAMES.iter().enumerate() {
            jitter = (0.6 * jitter + rng.range(-0.012, 0.012)).clamp(-0.02, 0.02);
            let h = BODY_HEIGHT[i] * stature * (1.0 + jitter);
            let disc = DISC_ABOVE[i] * stature * (1.0 + jitter * 0.5);
            let (bot, top) = if i == 0 {
                (-s1_height, 0.0)
            } else {
                (z, z + h)
            };
            let thoracic = name.starts_with('T');
            let width_scale = frame.powf(0.5) * rng.range(0.97, 1.03);
            let rib = if thoracic {
                let k = i as f64 - 6.0; // T12 = 0, T11 = 1, ...
                let arc: f64 = match *name {
                    "T12" => rng.range(25.0, 60.0),
                    "T11" => rng.range(90.0, 140.0),
                    _ => (190.0 + 35.0 * (k - 2.0)).min(300.0) + rng.range(-15.0, 15.0),
                };
                Some(Rib {
                    arc,
                    drop: 30.0 + 22.0 * k.min(3.0) + rng.range(-5.0, 5.0),
                    height: rng.range(9.5, 12.0),
                    thick: rng.range(5.5, 7.0),
                })
            } else {
                None
            };
            levels.push(Level {
                name,
                bot,
                top,
                disc,
                half_width: HALF_WIDTH[i] * width_scale,
                half_depth: HALF_DEPTH[i] * width_scale,
                tp_reach: TP_REACH[i] * width_scale,
                spinous: if thoracic { 30.0 } else { 26.0 } * width_scale,
                rib,
            });
            z = top + disc;
            // Always reach T10 (the truth table lists T10..S1), then stop above the field.
            if i >= 8 && top > field[1] + 40.0 {
                break;
            }
        }
        let l3 = levels
            .iter()
            .find(|l| l.name == "L3")
            .map_or(100.0, |l| 0.5 * (l.bot + l.top));
        let l1 = levels
            .iter()
            .find(|l| l.name == "L1")
            .map_or(l3 + 70.0, |l| 0.5 * (l.bot + l.top));
        let l4 = levels
            .iter()
            .find(|l| l.name == "L4")
            .map_or(l3 - 35.0, |l| 0.5 * (l.bot + l.top));
        let l5 = levels
            .iter()
            .find(|l| l.name == "L5")
            .map_or(l3 - 70.0, |l| 0.5 * (l.bot + l.top));
        let t11 = levels
            .iter()
            .find(|l| l.name == "T11")
            .map_or(l1 + 55.0, |l| 0.5 * (l.bot + l.top));

        // Interior reference sizes at L2: lateral and AP half-extent inside the wall.
        let a_in = a0 - sat0 * 0.9 - 14.0 * muscle;
        let b_in = b_ant0 - sat0 - 12.0 * muscle;
        let spine_v0 = rng.range(-6.0, 10.0);

        let kid_u = 62.0 * frame.powf(0.5) + rng.range(-4.0, 6.0);
        let kid_z = l1 + rng.range(-20.0, 0.0);
        let kidney = |side: f64, dz: f64, rng: &mut Rng| Ellipsoid {
            c: [side * kid_u, spine_v0 + rng.range(-2.0, 6.0), kid_z + dz],
            r: [
                rng.range(24.0, 29.0),
                rng.range(18.0, 22.0),
                rng.range(50.0, 60.0),
            ],
            angle: side * rng.range(0.35, 0.65),
        };
        let kidneys = [
            kidney(1.0, 0.0, &mut rng),
            kidney(-1.0, -rng.range(5.0, 18.0), &mut rng),
        ];

        let liver_tip = l3 + rng.range(-8.0, 45.0);
        let liver_c = t11 + 25.0;
        let liver = vec![
            Ellipsoid {
                c: [-0.42 * a_in, -0.05 * b_in + 8.0, liver_c],
                r: [0.62 * a_in, 0.85 * b_in + 20.0, liver_c - liver_tip],
                angle: rng.range(-0.15, 0.15),
            },
            Ellipsoid {
                c: [0.08 * a_in, -0.5 * b_in, liver_c + 15.0],
                r: [0.5 * a_in, 0.38 * b_in, 75.0],
                angle: rng.range(-0.2, 0.2),
            },
        ];
        let spleen = Ellipsoid {
            c: [
                0.66 * a_in,
                0.25 * b_post0 + 5.0,
                t11 + rng.range(-10.0, 10.0),
            ],
            r: [
                rng.range(22.0, 32.0),
                rng.range(45.0, 60.0),
                rng.range(45.0, 60.0),
            ],
            angle: rng.range(-0.7, -0.4),
        };
        let stomach = Ellipsoid {
            c: [0.3 * a_in, -0.35 * b_in, t11 + rng.range(5.0, 25.0)],
            r: [0.35 * a_in, 0.4 * b_in, rng.range(50.0, 70.0)],
            angle: rng.range(-0.4, 0.0),
        };
        let lung = |side: f64, rng: &mut Rng| Ellipsoid {
            c: [side * 0.56 * a_in, 0.5 * b_post0, t11 + 75.0],
            r: [0.36 * a_in, 0.4 * b_post0, 75.0 + rng.range(-10.0, 10.0)],
            angle: side * 0.55,
        };
        let lungs = [lung(1.0, &mut rng), lung(-1.0, &mut rng)];
        let pancreas = (0..6)
            .map(|i| {
                let t = i as f64 / 5.0;
                Ellipsoid {
                    c: [
                        -30.0 + 110.0 * t,
                        spine_v0 - 45.0 + 25.0 * t * t,
                        l1 - 10.0 + 25.0 * t,
                    ],
                    r: [14.0, 11.0, 14.0],
                    angle: 0.0,
                }
            })
            .collect();

        // Bowel: colon frame plus small-bowel chains packed into the lower cavity.
        let mut gut = Vec::new();
        let colon_r = rng.range(16.0, 24.0);
        let colon = |pts: Vec<[f64; 3]>, rng: &mut Rng| Gut {
            nodes: pts,
            radius: colon_r,
            wall: rng.range(1.6, 2.6),
            lumen: if rng.chance(0.7) {
                Lumen::Stool
            } else {
                Lumen::GasFluid
            },
        };
        let side_u = a_in - colon_r - 6.0;
        let asc: Vec<[f64; 3]> = (0..14)
            .map(|i| {
                [
                    -side_u + rng.range(-4.0, 4.0),
                    rng.range(-5.0, 15.0),
                    -30.0 + i as f64 * 12.0,
                ]
            })
            .filter(|p| p[2] < liver_tip + 20.0)
            .collect();
        gut.push(colon(asc, &mut rng));
        let desc: Vec<[f64; 3]> = (0..18)
            .map(|i| {
                [
                    side_u + rng.range(-4.0, 4.0),
                    rng.range(0.0, 20.0),
                    -40.0 + i as f64 * 12.0,
                ]
            })
            .collect();
        gut.push(colon(desc, &mut rng));
        let tz = l3 + rng.range(-15.0, 40.0);
        let trans: Vec<[f64; 3]> = (0..15)
            .map(|i| {
                let t = i as f64 / 14.0;
                [
                    -side_u + 2.0 * side_u * t,
                    -0.62 * b_in + rng.range(-5.0, 5.0),
                    tz + 12.0 * (t * 3.1).sin(),
                ]
            })
            .collect();
        gut.push(colon(trans, &mut rng));
        let packing = rng.range(0.35, 0.8);
        let loops = (14.0 + 30.0 * packing * (1.2 - 0.5 * adipose)) as usize;
        for _ in 0..loops {
            let r = rng.range(9.0, 16.0);
            let mut p = [
                rng.range(-0.7, 0.7) * a_in,
                rng.range(-0.85, -0.15) * b_in,
                rng.range(-45.0, l1 - 10.0),
            ];
            let mut nodes = Vec::new();
            let mut dir = [rng.normal(), rng.normal(), rng.normal() * 0.6];
            for _ in 0..rng.int(4, 10) {
                nodes.push(p);
                for (d, s) in dir.iter_mut().zip([1.0, 1.0, 0.6]) {
                    *d = 0.6 * *d + 0.8 * rng.normal() * s;
                }
                let n = (dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2])
                    .sqrt()
                    .max(1e-6);
                for (pi, d) in p.iter_mut().zip(dir) {
                    *pi += d / n * r * 1.1;
                }
                p[0] = p[0].clamp(-0.8 * a_in, 0.8 * a_in);
                p[1] = p[1].clamp(-0.95 * b_in, 0.0);
            }
            let lumen = match rng.int(0, 9) {
                0..=3 => Lumen::Fluid,
                4..=5 => Lumen::GasFluid,
                6 => Lumen::Gas,
                _ if contrast => Lumen::Contrast,
                _ => Lumen::Fluid,
            };
            gut.push(Gut {
                nodes,
                radius: r,
                wall: rng.range(1.5, 2.8),
                lumen,
            });
        }
        let vessels = (0..(40.0 + 50.0 * adipose) as usize)
            .map(|_| {
                let z0 = rng.range(-40.0, l1 + 20.0);
                Dot {
                    c: [rng.range(-0.6, 0.6) * a_in, rng.range(-0.8, -0.1) * b_in],
                    r: rng.range(1.0, 2.6),
                    z: [z0, z0 + rng.range(12.0, 45.0)],
                }
            })
            .collect();
        let calcifications = (0..((age - 45.0).max(0.0) / 4.0) as usize)
            .map(|_| {
                let a = rng.range(0.0, std::f64::consts::TAU);
                let z0 = rng.range(l4 - 20.0, l1);
                Dot {
                    c: [a.cos(), a.sin()],
                    r: rng.range(1.0, 2.2),
                    z: [z0, z0 + rng.range(3.0, 10.0)],
                }
            })
            .collect();
        let myosteatosis = ((age - 35.0) / 50.0).clamp(0.0, 1.0) * rng.range(0.5, 1.5);
        let streaks = (0..(4.0 + 22.0 * myosteatosis) as usize)
            .map(|i| {
                let host = if i % 5 == 4 {
                    2 + (i % 2) as u8
                } else {
                    (i % 2) as u8
                };
                let a = [rng.range(-0.7, 0.7), rng.range(-0.7, 0.7)];
                let t = rng.range(0.0, std::f64::consts::PI);
                let len = rng.range(0.2, 0.6);
                let z0 = rng.range(-30.0, l1 + 30.0);
                Streak {
                    host,
                    a,
                    b: [a[0] + len * t.cos(), a[1] + len * t.sin()],
                    half_width: rng.range(0.5, 1.1),
                    z: [z0, z0 + rng.range(8.0, 40.0)],
                }
            })
            .collect();
        let psoas_max = 2100.0 * muscle * frame * rng.range(0.85, 1.15);
        let asym = rng.range(0.93, 1.07);

        let ilium_lat = (a0 * (1.0 + 0.08) - sat0 * 0.9 - 14.0 * muscle - 22.0).clamp(85.0, 135.0);
        Self {
            sex,
            height_m,
            age,
            weight_kg,
            contrast,
            offset: [rng.range(-14.0, 14.0), rng.range(-12.0, 18.0)],
            rotation: rng.range(-0.07, 0.07),
            a0,
            b_ant0,
            b_post0,
            p_ant: rng.range(2.0, 2.4),
            p_post: rng.range(2.6, 3.4),
            harmonics,
            skin: rng.range(1.5, 2.5),
            sat0,
            sat_lat: rng.range(0.8, 1.3),
            sat_post: rng.range(0.45, 0.85),
            sat_harmonics,
            sat_z: (
                rng.range(0.05, 0.2),
                rng.range(0.008, 0.025),
                rng.range(0.0, 6.0),
            ),
            fascia_depth: rng.range(0.3, 0.55),
            muscle,
            rectus_t: 12.0 * muscle * rng.range(0.85, 1.15),
            rectus_w: rng.range(55.0, 75.0) * frame.powf(0.5),
            linea: rng.range(1.5, 4.0),
            oblique_t: 19.0 * muscle * rng.range(0.8, 1.2),
            pelvis: rng.range(0.05, 0.12),
            levels,
            lordosis: rng.range(0.0007, 0.0014),
            spine_v0,
            sacral_slope: rng.range(0.45, 0.7),
            scoliosis: rng.range(-3.0, 3.0),
            psoas_area: [psoas_max * asym, psoas_max / asym],
            para_scale: muscle.powf(0.5) * rng.range(0.9, 1.1),
            ql_scale: muscle.powf(0.5) * rng.range(0.8, 1.2),
            crest: 0.5 * (l4 + l5) - 0.0 + rng.range(-8.0, 6.0),
            ilium: (
                ilium_lat * 0.47,
                -30.0,
                ilium_lat * 0.53,
                44.0 * frame.powf(0.5),
            ),
            liver,
            spleen,
            stomach,
            kidneys,
            lungs,
            pancreas,
            aorta_r: rng.range(9.0, 12.5) + (age - 50.0).max(0.0) * 0.03,
            ivc_r: [rng.range(11.0, 15.0), rng.range(7.0, 10.0)],
            bifurcation: l4 + rng.range(-5.0, 10.0),
            confluence: l5 + rng.range(0.0, 12.0),
            gut,
            vessels,
            calcifications,
            streaks,
            pad: rng.range(4.0, 12.0),
        }
    }

    /// The level containing `zeta` in its body, or whose disc above contains it.
    pub(crate) fn level_index(&self, zeta: f64) -> Option<usize> {
        self.levels
            .iter()
            .position(|l| zeta >= l.bot && zeta < l.top + l.disc)
    }

    /// Spine centre `[u, v]` at `zeta` and the column's slope dv/dzeta.
    pub(crate) fn spine_at(&self, zeta: f64) -> ([f64; 2], f64) {
        let l3 = self
            .levels
            .iter()
            .find(|l| l.name == "L3")
            .map_or(100.0, |l| 0.5 * (l.bot + l.top));
        let lumbar = |z: f64| {
            let dz = z - l3;
            // Quadratic lordosis, with the slope capped (kyphosis takes over above).
            let cap = 0.3 / (2.0 * self.lordosis);
            let d = dz.clamp(-cap, cap);
            let v = self.spine_v0 + self.lordosis * d * d + (dz - d) * 0.3 * dz.signum();
            (v, (2.0 * self.lordosis * d).clamp(-0.3, 0.3))
        };
        let u = self.scoliosis * (zeta / 140.0).sin();
        if zeta >= 8.0 {
            let (v, s) = lumbar(zeta);
            ([u, v], s)
        } else {
            // Blend from the lumbar slope into the sacral slope over the L5/S1 disc.
            let (v8, s8) = lumbar(8.0);
            let t = ((8.0 - zeta) / 12.0).clamp(0.0, 1.0);
            let t = t * t * (3.0 - 2.0 * t);
            let slope = s8 + (-self.sacral_slope - s8) * t;
            // Integrate the blended slope analytically enough: trapezoid from 8 down.
            let v = v8 - 0.5 * (s8 + slope) * (8.0 - zeta);
            ([u, v], slope)
        }
    }
}
