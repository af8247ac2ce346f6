//! Synthetic abdominal CT with known ground truth, for tests, benchmarks and the demo.
//!
//! [`generate`] samples one patient from a seed (body habitus, fat, muscle, vertebral
//! heights, organ placement, position offset and a slight rotation all vary) and renders
//! a [`Volume`] in the pipeline's canonical orientation, plus the truth every pipeline
//! stage is scored against: a label map per slice, the vertebra table T10…L5 and S1,
//! the L3 range and mid slice, and per-slice tissue areas. [`write_series`] writes it as
//! a CT Image Storage series (explicit VR little endian) with a `truth.json`.
//!
//! The anatomy (issue 4, item 8): an elliptical body on a table; skin; subcutaneous fat
//! of varying thickness with Scarpa's fascia; an abdominal wall ring (rectus either side
//! of the linea alba, three oblique layers with thin fat planes between them); visceral
//! fat; organs whose HU overlaps muscle (liver and spleen high in the field, kidneys
//! beside the spine around T12–L3, stomach, pancreas, bowel loops with walls, aorta and
//! IVC with their iliac branches, contrast-bright in the portal-venous seeds); psoas
//! muscles appearing at T12/L1 and growing caudally beside the vertebral bodies;
//! paraspinal muscles behind the spine, with the quadratus lumborum against their
//! anterolateral face beyond the transverse processes (as on real CT at L3); vertebral
//! bodies with cortical shell, endplates and cancellous interior, tilted with the
//! lordosis, posterior elements and a spinal canal; discs (soft-tissue HU) 20–40 mm
//! apart whose heights vary smoothly (L3/L4 tallest); ribs on T12 and above, descending
//! as they curve round the wall; the sacrum (S1) fused through its alae to the iliac
//! wings, with iliacus inside and gluteal muscle outside them; lung bases with the
//! diaphragm at the top of the field; intermuscular fat streaks; Gaussian noise.
//! Slices thicker than 1.5 mm average sub-planes, so thick slices show partial volume.
//!
//! **Truth convention** (shared with the tissue segmenter): a pixel's label is its
//! anatomical compartment (psoas L/R, paraspinal, abdominal wall, subcutaneous, visceral)
//! intersected with that compartment's window in [`HuWindows::default`], evaluated on the
//! final noisy HU. A muscle compartment pixel in the IMAT window is IMAT. Organs, vessels,
//! bowel, bone, discs, skin, the linea alba and the diaphragm belong to no compartment,
//! so they are background even where their HU lies in the muscle window. An ideal
//! segmenter (right compartments + Alberta thresholds) therefore scores Dice 1.0.
//! Below the iliac crest, iliacus counts as psoas and the gluteals as wall muscle.

mod anatomy;
mod raster;
mod rng;
mod structures;
mod write;

use idoctor_protocol::{L3Finding, L3Status, TissueSet, VertebraLevel};
use ndarray::{Array3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dicom::{SeriesMeta, Volume};
use crate::pipeline::labels::{self, HuWindows};

pub use write::{TRUTH_FILE, WrittenSeries, write_series};

/// Cranio-caudal coverage (mm) of the default field: from the upper sacrum past T10.
pub const DEFAULT_FIELD_MM: f64 = 375.0;
/// In-plane field of view (mm) by default, a typical abdominal reconstruction.
pub const DEFAULT_FOV_MM: f64 = 400.0;

/// Patient sex, as written to PatientSex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    /// `M`.
    Male,
    /// `F`.
    Female,
}

impl Sex {
    /// The DICOM code.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
}

/// What to generate. [`PhantomOptions::new`] fits the spacings to the default field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhantomOptions {
    /// Seed: the same seed gives the same series, bit for bit.
    pub seed: u64,
    /// Number of axial slices.
    pub slices: usize,
    /// Rows and columns per slice.
    pub matrix: usize,
    /// Distance between slices (and slice thickness), mm.
    pub slice_spacing_mm: f64,
    /// In-plane pixel spacing, mm.
    pub pixel_spacing_mm: f64,
    /// Standard deviation of the Gaussian pixel noise, HU.
    pub noise_sd: f64,
    /// Distance from the first (most inferior) slice up to the top of S1, mm; negative
    /// starts the field above S1 (no sacrum). `None`: seeded, 25–45 mm.
    pub bottom_offset_mm: Option<f64>,
    /// Portal-venous contrast; `None`: seeded.
    pub contrast: Option<bool>,
    /// Sex; `None`: seeded.
    pub sex: Option<Sex>,
    /// Height in metres; `None`: seeded from sex.
    pub height_m: Option<f64>,
    /// Age in years; `None`: seeded.
    pub age_years: Option<f64>,
    /// Write PatientSize (height) into the headers.
    pub write_height: bool,
    /// Write PatientSex into the headers.
    pub write_sex: bool,
}

impl Default for PhantomOptions {
    fn default() -> Self {
        Self::new(1, 300, 512)
    }
}

impl PhantomOptions {
    /// `slices` × `matrix`² with spacings chosen so the field covers
    /// [`DEFAULT_FIELD_MM`] × [`DEFAULT_FOV_MM`] whatever the counts.
    pub fn new(seed: u64, slices: usize, matrix: usize) -> Self {
        Self {
            seed,
            slices,
            matrix,
            slice_spacing_mm: DEFAULT_FIELD_MM / slices.max(1) as f64,
            pixel_spacing_mm: DEFAULT_FOV_MM / matrix.max(1) as f64,
            noise_sd: 12.0,
            bottom_offset_mm: None,
            contrast: None,
            sex: None,
            height_m: None,
            age_years: None,
            write_height: true,
            write_sex: true,
        }
    }
}

/// One vertebra's truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthLevel {
    /// `T10` … `L5`, `S1`.
    pub label: String,
    /// Inferior and superior endplate z at the column's centre, mm (volume z).
    pub z_range_mm: [f64; 2],
    /// Whether the whole body lies inside the field.
    pub in_field: bool,
}

/// Where L3 is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthL3 {
    /// Inferior and superior endplate z, mm.
    pub z_range_mm: [f64; 2],
    /// Middle of the body, mm.
    pub mid_z_mm: f64,
    /// Slice nearest the middle (clamped to the field).
    pub mid_slice_index: usize,
    /// First and last slice whose z lies within the body; `None` outside the field.
    pub slice_range: Option<[usize; 2]>,
    /// Whether the whole L3 body lies inside the field.
    pub in_field: bool,
}

/// Truth areas of one slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceAreas {
    /// Slice index (inferior = 0).
    pub index: usize,
    /// z, mm.
    pub z_mm: f64,
    /// Area per tissue, cm².
    pub areas_cm2: TissueSet<f64>,
}

/// The patient as sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthPatient {
    /// Sex.
    pub sex: Sex,
    /// Height, m (written to the header only when `write_height`).
    pub height_m: f64,
    /// Age, years.
    pub age_years: f64,
    /// Weight, kg.
    pub weight_kg: f64,
    /// Portal-venous contrast.
    pub contrast: bool,
}

/// Everything known about a phantom: `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The seed.
    pub seed: u64,
    /// The options it was generated with.
    pub options: PhantomOptions,
    /// The sampled patient.
    pub patient: TruthPatient,
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// Vertebrae S1, L5 … T10, inferior first.
    pub vertebrae: Vec<TruthLevel>,
    /// L3.
    pub l3: TruthL3,
    /// Per-slice tissue areas, inferior first.
    pub slices: Vec<SliceAreas>,
}

impl Truth {
    /// The truth L3 as a finding on `vol` (this phantom's volume, or the same series read
    /// back from its files): method `truth`, confidence 1, the vertebrae as evidence.
    pub fn finding_for(&self, vol: &Volume) -> L3Finding {
        let k = vol.nearest_slice(self.l3.mid_z_mm);
        L3Finding {
            status: L3Status::Found,
            mid_z_mm: vol.z_mm.get(k).copied(),
            z_range_mm: Some(self.l3.z_range_mm),
            mid_slice_index: Some(k as u32),
            mid_slice_uid: vol.sop_uids.get(k).cloned(),
            confidence: 1.0,
            low_confidence: false,
            method: "truth".into(),
            anchors: vec!["S1".into(), "T12".into()],
            reason: None,
            evidence: self
                .vertebrae
                .iter()
                .map(|l| VertebraLevel {
                    label: l.label.clone(),
                    z_range_mm: l.z_range_mm,
                })
                .collect(),
        }
    }
}

/// A generated phantom.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// The CT volume, canonical orientation.
    pub volume: Volume,
    /// Truth label per pixel `[z, y, x]` ([`labels`] codes).
    pub labels: Array3<u8>,
    /// Truth tables.
    pub truth: Truth,
}

impl Phantom {
    /// The truth L3 as a finding (method `truth`, confidence 1), so metrics and outputs
    /// can be exercised against a known L3 range.
    pub fn truth_finding(&self) -> L3Finding {
        self.truth.finding_for(&self.volume)
    }

    /// The truth label map of slice `k`.
    pub fn labels_of(&self, k: usize) -> ndarray::ArrayView2<'_, u8> {
        self.labels.index_axis(Axis(0), k)
    }
}

/// Generates the phantom described by `opts`. Never panics: degenerate sizes are clamped
/// (at least 1 slice, 16² pixels, positive spacings).
pub fn generate(opts: &PhantomOptions) -> Phantom {
    generate_inner(opts, false).0
}

/// [`generate`], plus the anatomical structure painted at every pixel `[z, y, x]` (the
/// middle sub-plane of thick slices), named by [`structure_name`]: for diagnostics that
/// need to say which organ a segmenter took for muscle, not only that it was background.
pub fn generate_with_structures(opts: &PhantomOptions) -> (Phantom, Array3<u8>) {
    generate_inner(opts, true)
}

/// The name of a structure id of [`generate_with_structures`].
pub fn structure_name(id: u8) -> &'static str {
    structures::name(id)
}

fn generate_inner(opts: &PhantomOptions, keep_ids: bool) -> (Phantom, Array3<u8>) {
    let mut opts = opts.clone();
    opts.slices = opts.slices.max(1);
    opts.matrix = opts.matrix.max(16);
    if opts.slice_spacing_mm.is_nan() || opts.slice_spacing_mm <= 0.0 {
        opts.slice_spacing_mm = DEFAULT_FIELD_MM / opts.slices as f64;
    }
    if opts.pixel_spacing_mm.is_nan() || opts.pixel_spacing_mm <= 0.0 {
        opts.pixel_spacing_mm = DEFAULT_FOV_MM / opts.matrix as f64;
    }
    if opts.noise_sd.is_nan() || opts.noise_sd < 0.0 {
        opts.noise_sd = 0.0;
    }
    let (n, m, dz, ps) = (
        opts.slices,
        opts.matrix,
        opts.slice_spacing_mm,
        opts.pixel_spacing_mm,
    );
    let mut rng = rng::Rng::new(opts.seed, 0xF1E1D);
    let bottom = opts
        .bottom_offset_mm
        .unwrap_or_else(|| rng.range(25.0, 45.0));
    let zeta0 = -bottom;
    let zeta_last = zeta0 + (n - 1) as f64 * dz;
    // Table position: LPS z of the first slice, as a scanner would report it.
    let z0 = (rng.range(-520.0, -180.0) * 100.0).round() / 100.0;
    let to_z = |zeta: f64| zeta - zeta0 + z0;
    let anat = anatomy::Anatomy::sample(&opts, [zeta0, zeta_last]);
    let mut crng = rng::Rng::new(opts.seed, 0xCA7A);
    let cat = structures::Catalogue::sample(&mut crng, anat.contrast, anat.age);
    let windows = HuWindows::default();

    let mut hu = Array3::<i16>::zeros((n, m, m));
    let mut lab = Array3::<u8>::zeros((n, m, m));
    // Empty planes unless asked for: the ids cost a byte per voxel.
    let mut ids_out = Array3::<u8>::zeros(if keep_ids { (n, m, m) } else { (n, 0, 0) });
    // Thick slices average sub-planes (partial volume); the middle one sets compartments.
    let sub = ((dz / 1.5).ceil() as usize).clamp(1, 4);
    let sigma = opts.noise_sd as f32;
    let seed = opts.seed;
    let tex_phase = rng.range(0.0, 6.0);
    hu.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(lab.axis_iter_mut(Axis(0)).into_par_iter())
        .zip(ids_out.axis_iter_mut(Axis(0)).into_par_iter())
        .enumerate()
        .for_each_init(
            || {
                (
                    raster::Canvas::new(m, m, [ps, ps], anat.offset, anat.rotation),
                    vec![0f32; m * m],
                )
            },
            |(canvas, acc), (k, ((mut hu_k, mut lab_k), mut ids_k))| {
                let zeta = zeta0 + k as f64 * dz;
                let mid = sub / 2;
                if sub > 1 {
                    acc.fill(0.0);
                    for s in (0..sub).filter(|&s| s != mid).chain(std::iter::once(mid)) {
                        let zs = zeta + ((s as f64 + 0.5) / sub as f64 - 0.5) * dz;
                        raster::render(&anat, zs, canvas);
                        for (a, &id) in acc.iter_mut().zip(&canvas.ids) {
                            *a += cat.base_hu[id as usize];
                        }
                    }
                    let inv = 1.0 / sub as f32;
                    acc.iter_mut().for_each(|a| *a *= inv);
                } else {
                    raster::render(&anat, zeta, canvas);
                }
                // Low-frequency texture: separable sinusoids, a few HU.
                let ph = tex_phase + zeta * 0.013;
                let tr: Vec<f32> = (0..m)
                    .map(|i| {
                        (3.0 * (i as f64 * ps * 0.045 + ph).sin()
                            + 1.5 * (i as f64 * ps * 0.11 + 2.0 * ph).sin())
                            as f32
                    })
                    .collect();
                let tc: Vec<f32> = (0..m)
                    .map(|j| {
                        (2.5 * (j as f64 * ps * 0.037 - ph).sin()
                            + 1.5 * (j as f64 * ps * 0.13 + ph).cos())
                            as f32
                    })
                    .collect();
                if let Some(out) = ids_k.as_slice_mut().filter(|o| !o.is_empty()) {
                    out.copy_from_slice(&canvas.ids);
                }
                let mut noise = rng::PixelNoise::new(seed, k as u64);
                let (Some(hs), Some(ls)) = (hu_k.as_slice_mut(), lab_k.as_slice_mut()) else {
                    return;
                };
                for (i, &ti) in tr.iter().enumerate() {
                    let row = i * m..(i + 1) * m;
                    let ids = &canvas.ids[row.clone()];
                    let accr = &acc[row.clone()];
                    let (hr, lr) = (&mut hs[row.clone()], &mut ls[row]);
                    for j in 0..m {
                        let id = ids[j];
                        let base = if sub > 1 {
                            accr[j]
                        } else {
                            cat.base_hu[id as usize]
                        };
                        let v =
                            base + cat.texture[id as usize] * (ti + tc[j]) + sigma * noise.next();
                        let h = v.round().clamp(-1024.0, 3071.0) as i16;
                        hr[j] = h;
                        lr[j] = cat.label(id, h, &windows);
                    }
                }
            },
        );

    let z_mm: Vec<f64> = (0..n).map(|k| z0 + k as f64 * dz).collect();
    let pixel_cm2 = ps * ps / 100.0;
    let slices: Vec<SliceAreas> = lab
        .axis_iter(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(k, l)| {
            let mut counts = [0u64; 8];
            for &v in l.iter() {
                counts[(v as usize).min(7)] += 1;
            }
            SliceAreas {
                index: k,
                z_mm: z_mm[k],
                areas_cm2: areas_from_counts(&counts, pixel_cm2),
            }
        })
        .collect();

    let field = [z_mm[0], z_mm[n - 1]];
    let vertebrae: Vec<TruthLevel> = anat
        .levels
        .iter()
        .take(9) // S1 .. T10
        .map(|l| {
            let r = [round3(to_z(l.bot)), round3(to_z(l.top))];
            TruthLevel {
                label: l.name.to_string(),
                z_range_mm: r,
                in_field: r[0] >= field[0] && r[1] <= field[1],
            }
        })
        .collect();
    let l3_range = vertebrae
        .iter()
        .find(|l| l.label == "L3")
        .map_or([0.0, 0.0], |l| l.z_range_mm);
    let mid_z = round3(0.5 * (l3_range[0] + l3_range[1]));
    let inside: Vec<usize> = (0..n)
        .filter(|&k| z_mm[k] >= l3_range[0] && z_mm[k] <= l3_range[1])
        .collect();
    let l3 = TruthL3 {
        z_range_mm: l3_range,
        mid_z_mm: mid_z,
        mid_slice_index: nearest(&z_mm, mid_z),
        slice_range: inside.first().zip(inside.last()).map(|(a, b)| [*a, *b]),
        in_field: l3_range[0] >= field[0] && l3_range[1] <= field[1],
    };

    let series_uid = write::uid(seed, write::UID_SERIES, 0);
    let study_uid = write::uid(seed, write::UID_STUDY, 0);
    let sop_uids = (0..n)
        .map(|k| write::uid(seed, write::UID_SOP, k as u64))
        .collect();
    let meta = SeriesMeta {
        study_uid,
        series_uid: series_uid.clone(),
        patient_id: format!("PHANTOM{seed:06}"),
        patient_name: format!("PHANTOM^SEED{seed}"),
        study_date: Some(write::study_date(seed)),
        study_description: Some("CT ABDOMEN PELVIS (synthetic)".into()),
        series_description: Some(format!("iDoctor phantom seed {seed}")),
        modality: "CT".into(),
        slice_thickness_mm: Some(dz),
        height_m: opts
            .write_height
            .then_some((anat.height_m * 100.0).round() / 100.0),
        sex: opts.write_sex.then(|| anat.sex.code().to_string()),
        age_years: Some(anat.age.round()),
    };
    let half = (m as f64 - 1.0) / 2.0 * ps;
    let volume = Volume {
        hu,
        z_mm,
        sop_uids,
        pixel_spacing: [ps, ps],
        slice_spacing: dz,
        orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        origin: [-half, -half, z0],
        flipped_rows: false,
        flipped_cols: false,
        meta,
        warnings: Vec::new(),
    };
    let truth = Truth {
        seed,
        options: opts,
        patient: TruthPatient {
            sex: anat.sex,
            height_m: (anat.height_m * 100.0).round() / 100.0,
            age_years: anat.age.round(),
            weight_kg: (anat.weight_kg * 10.0).round() / 10.0,
            contrast: anat.contrast,
        },
        series_uid,
        vertebrae,
        l3,
        slices,
    };
    (
        Phantom {
            volume,
            labels: lab,
            truth,
        },
        ids_out,
    )
}

/// Rounds to a micrometre: truth.json stays readable and exact enough.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Index of the value in `z` nearest to `target`.
fn nearest(z: &[f64], target: f64) -> usize {
    let mut best = 0;
    for (k, v) in z.iter().enumerate() {
        if (v - target).abs() < (z[best] - target).abs() {
            best = k;
        }
    }
    best
}

/// Areas per tissue from label counts (index = label code).
fn areas_from_counts(c: &[u64; 8], pixel_cm2: f64) -> TissueSet<f64> {
    let a = |n: u64| n as f64 * pixel_cm2;
    TissueSet {
        muscle: a(c[labels::PSOAS_LEFT as usize]
            + c[labels::PSOAS_RIGHT as usize]
            + c[labels::PARASPINAL as usize]
            + c[labels::ABDOMINAL_WALL as usize]),
        psoas: a(c[labels::PSOAS_LEFT as usize] + c[labels::PSOAS_RIGHT as usize]),
        psoas_left: a(c[labels::PSOAS_LEFT as usize]),
        psoas_right: a(c[labels::PSOAS_RIGHT as usize]),
        paraspinal: a(c[labels::PARASPINAL as usize]),
        abdominal_wall: a(c[labels::ABDOMINAL_WALL as usize]),
        sat: a(c[labels::SAT as usize]),
        vat: a(c[labels::VAT as usize]),
        imat: a(c[labels::IMAT as usize]),
    }
}

/// Writes `opts`'s phantom into `out` (DICOM files + `truth.json`).
pub fn write_phantom(
    opts: &PhantomOptions,
    out: &std::path::Path,
) -> std::io::Result<(Phantom, WrittenSeries)> {
    let p = generate(opts);
    let w = write_series(&p, out)?;
    Ok((p, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> PhantomOptions {
        PhantomOptions::new(seed, 75, 160)
    }

    #[test]
    fn same_seed_same_phantom_other_seed_other_phantom() {
        let a = generate(&small(3));
        let b = generate(&small(3));
        assert_eq!(a.volume.hu, b.volume.hu);
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.truth, b.truth);
        let c = generate(&small(4));
        assert_ne!(a.volume.hu, c.volume.hu);
        assert_ne!(a.truth.l3.z_range_mm, c.truth.l3.z_range_mm);
    }

    #[test]
    fn default_field_holds_l3_with_margin_and_anatomy_at_l3() {
        for seed in 0..8 {
            let p = generate(&small(seed));
            let t = &p.truth;
            assert!(t.l3.in_field, "seed {seed}: L3 outside the field");
            let z = &p.volume.z_mm;
            assert!(
                t.l3.z_range_mm[0] - z[0] > 60.0,
                "seed {seed}: no margin below L3"
            );
            assert!(
                z[z.len() - 1] - t.l3.z_range_mm[1] > 100.0,
                "seed {seed}: no margin above L3"
            );
            assert!(
                t.vertebrae.iter().all(|l| l.in_field),
                "seed {seed}: T10..S1 not all in field"
            );
            let a = &t.slices[t.l3.mid_slice_index].areas_cm2;
            assert!(
                a.psoas_left > 2.0 && a.psoas_right > 2.0,
                "seed {seed}: psoas {a:?}"
            );
            assert!(
                a.paraspinal > 15.0 && a.abdominal_wall > 15.0,
                "seed {seed}: {a:?}"
            );
            assert!(a.sat > 10.0 && a.vat > 10.0, "seed {seed}: {a:?}");
            assert!(
                a.muscle > 60.0 && a.muscle < 260.0,
                "seed {seed}: muscle {}",
                a.muscle
            );
            // No psoas above T12/L1.
            let t12 = &t.vertebrae.iter().find(|l| l.label == "T12").unwrap();
            let k = p
                .volume
                .nearest_slice(0.5 * (t12.z_range_mm[0] + t12.z_range_mm[1]));
            assert_eq!(
                t.slices[k].areas_cm2.psoas, 0.0,
                "seed {seed}: psoas at T12"
            );
        }
    }

    #[test]
    fn vertebrae_are_ordered_with_realistic_spacing() {
        for seed in 0..8 {
            let t = generate(&small(seed)).truth;
            let names: Vec<&str> = t.vertebrae.iter().map(|l| l.label.as_str()).collect();
            assert_eq!(
                names,
                ["S1", "L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10"]
            );
            let h = |name: &str| {
                let l = t.vertebrae.iter().find(|l| l.label == name).unwrap();
                l.z_range_mm[1] - l.z_range_mm[0]
            };
            for w in t.vertebrae.windows(2) {
                let pitch = w[1].z_range_mm[0] - w[0].z_range_mm[0];
                let gap = w[1].z_range_mm[0] - w[0].z_range_mm[1];
                assert!(
                    (20.0..=40.0).contains(&pitch) || w[0].label == "S1",
                    "seed {seed}: pitch {pitch} at {}",
                    w[0].label
                );
                assert!(
                    gap > 4.0 && gap < 14.0,
                    "seed {seed}: disc {gap} above {}",
                    w[0].label
                );
            }
            let tallest = ["L1", "L2", "L5"].iter().map(|n| h(n)).fold(0.0, f64::max);
            assert!(
                h("L3").max(h("L4")) >= tallest,
                "seed {seed}: L3/L4 not the tallest lumbar"
            );
            assert_eq!(t.l3.z_range_mm, t.vertebrae[3].z_range_mm);
        }
    }

    #[test]
    fn labels_follow_the_truth_convention() {
        let p = generate(&small(5));
        let w = HuWindows::default();
        let mut seen = [0u64; 8];
        for (h, l) in p.volume.hu.iter().zip(p.labels.iter()) {
            seen[*l as usize] += 1;
            let ok = match *l {
                labels::BACKGROUND => true,
                labels::SAT => w.sat.contains(*h),
                labels::VAT => w.vat.contains(*h),
                labels::IMAT => w.imat.contains(*h),
                m => labels::is_muscle(m) && w.muscle.contains(*h),
            };
            assert!(ok, "label {l} at HU {h}");
        }
        assert!(
            seen[1..].iter().all(|&c| c > 0),
            "every label occurs: {seen:?}"
        );
        // Truth areas are the label counts.
        let k = p.truth.l3.mid_slice_index;
        let px = p.volume.pixel_area_cm2();
        let sat = p.labels_of(k).iter().filter(|&&l| l == labels::SAT).count() as f64 * px;
        assert!((sat - p.truth.slices[k].areas_cm2.sat).abs() < 1e-9);
    }

    #[test]
    fn organs_overlap_muscle_hu_but_are_background() {
        // Soft-tissue pixels that are not labelled muscle must exist inside the body
        // (organs, bowel wall, vessels, discs): thresholds alone cannot find muscle.
        let p = generate(&small(2));
        let k = p.truth.l3.mid_slice_index;
        let w = HuWindows::default();
        let hu = p.volume.slice(k);
        let lab = p.labels_of(k);
        let decoys = hu
            .iter()
            .zip(lab.iter())
            .filter(|(h, l)| w.muscle.contains(**h) && !labels::is_muscle(**l))
            .count();
        let muscle = lab.iter().filter(|l| labels::is_muscle(**l)).count();
        assert!(
            decoys as f64 > 0.2 * muscle as f64,
            "decoys {decoys} muscle {muscle}"
        );
    }

    #[test]
    fn bottom_offset_moves_the_field() {
        let mut o = small(1);
        o.bottom_offset_mm = Some(-60.0);
        let t = generate(&o).truth;
        let s1 = &t.vertebrae[0];
        assert!(!s1.in_field);
        assert!(s1.z_range_mm[1] < generate(&o).volume.z_mm[0]);
    }

    #[test]
    fn degenerate_options_do_not_panic() {
        let mut o = PhantomOptions::new(1, 0, 0);
        o.slice_spacing_mm = f64::NAN;
        o.pixel_spacing_mm = -1.0;
        o.noise_sd = f64::NAN;
        let p = generate(&o);
        assert_eq!(p.volume.slices(), 1);
        assert_eq!(p.volume.rows(), 16);
    }
}
