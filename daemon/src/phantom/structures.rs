//! The phantom's anatomical structures: an id per pixel, each with a base HU and the
//! tissue compartment it belongs to.
//!
//! Rendering paints structure ids; the final pass turns ids into HU (base + texture +
//! noise) and into truth labels. Keeping the compartment next to the id is what makes
//! the truth convention mechanical: a pixel's label is its compartment intersected with
//! that compartment's HU window on the final noisy value (see [`super`]).

use crate::pipeline::labels::{self, HuWindows};

use super::rng::Rng;

/// Outside the patient.
pub(crate) const AIR: u8 = 0;
/// Carbon-fibre table shell.
pub(crate) const TABLE: u8 = 1;
/// Foam pad between patient and table.
pub(crate) const PAD: u8 = 2;
/// Skin.
pub(crate) const SKIN: u8 = 3;
/// Subcutaneous fat.
pub(crate) const SAT_FAT: u8 = 4;
/// Scarpa's fascia: a thin soft-tissue line inside the subcutaneous fat.
pub(crate) const SAT_FASCIA: u8 = 5;
/// Abdominal wall muscle (rectus, obliques, transversus; latissimus posteriorly).
pub(crate) const WALL: u8 = 6;
/// Fat planes between the wall's muscle layers.
pub(crate) const WALL_FAT: u8 = 7;
/// Erector spinae, multifidus, quadratus lumborum.
pub(crate) const PARA: u8 = 8;
/// Fat streaks inside the paraspinal muscles.
pub(crate) const PARA_FAT: u8 = 9;
/// Left psoas (and iliacus below the crest).
pub(crate) const PSOAS_L: u8 = 10;
/// Right psoas (and iliacus below the crest).
pub(crate) const PSOAS_R: u8 = 11;
/// Fat streaks in the left psoas.
pub(crate) const PSOAS_L_FAT: u8 = 12;
/// Fat streaks in the right psoas.
pub(crate) const PSOAS_R_FAT: u8 = 13;
/// Visceral (intra- and retroperitoneal) fat.
pub(crate) const VAT_FAT: u8 = 14;
/// Linea alba: tendon between the recti, soft-tissue HU but not muscle.
pub(crate) const LINEA_ALBA: u8 = 15;
/// Liver.
pub(crate) const LIVER: u8 = 16;
/// Spleen.
pub(crate) const SPLEEN: u8 = 17;
/// Renal cortex.
pub(crate) const KIDNEY_CORTEX: u8 = 18;
/// Renal medulla.
pub(crate) const KIDNEY_MEDULLA: u8 = 19;
/// Renal sinus fat (visceral).
pub(crate) const SINUS_FAT: u8 = 20;
/// Stomach and bowel wall.
pub(crate) const GUT_WALL: u8 = 21;
/// Fluid in the gut lumen.
pub(crate) const GUT_FLUID: u8 = 22;
/// Gas in the gut lumen.
pub(crate) const GUT_AIR: u8 = 23;
/// Oral contrast in the gut lumen.
pub(crate) const GUT_CONTRAST: u8 = 24;
/// Stool.
pub(crate) const STOOL: u8 = 25;
/// Aorta and iliac arteries.
pub(crate) const ARTERY: u8 = 26;
/// Inferior vena cava and iliac veins.
pub(crate) const VEIN: u8 = 27;
/// Small mesenteric vessels.
pub(crate) const SMALL_VESSEL: u8 = 28;
/// Vascular calcification.
pub(crate) const CALCIFICATION: u8 = 29;
/// Pancreas.
pub(crate) const PANCREAS: u8 = 30;
/// Lung base.
pub(crate) const LUNG: u8 = 31;
/// Diaphragm (muscle HU, not measured skeletal muscle).
pub(crate) const DIAPHRAGM: u8 = 32;
/// Cortical bone (vertebral shell, endplates, ribs, pelvis).
pub(crate) const CORTICAL: u8 = 33;
/// Cancellous bone of vertebral bodies, sacrum and ilium.
pub(crate) const CANCELLOUS: u8 = 34;
/// Posterior elements (pedicles, laminae, processes).
pub(crate) const POSTERIOR: u8 = 35;
/// Intervertebral disc annulus.
pub(crate) const DISC: u8 = 36;
/// Disc nucleus.
pub(crate) const NUCLEUS: u8 = 37;
/// Spinal canal (CSF and cord).
pub(crate) const CANAL: u8 = 38;
/// Rib marrow.
pub(crate) const RIB_MARROW: u8 = 39;
/// Gluteal muscles lateral to the iliac wings (counted with the wall muscles).
pub(crate) const GLUTEAL: u8 = 40;
/// Number of structure ids.
pub(crate) const COUNT: usize = 41;

/// Structure names, indexed by id.
const NAMES: [&str; COUNT] = [
    "air",
    "table",
    "pad",
    "skin",
    "sat_fat",
    "sat_fascia",
    "wall",
    "wall_fat",
    "para",
    "para_fat",
    "psoas_l",
    "psoas_r",
    "psoas_l_fat",
    "psoas_r_fat",
    "vat_fat",
    "linea_alba",
    "liver",
    "spleen",
    "kidney_cortex",
    "kidney_medulla",
    "sinus_fat",
    "gut_wall",
    "gut_fluid",
    "gut_air",
    "gut_contrast",
    "stool",
    "artery",
    "vein",
    "small_vessel",
    "calcification",
    "pancreas",
    "lung",
    "diaphragm",
    "cortical",
    "cancellous",
    "posterior",
    "disc",
    "nucleus",
    "canal",
    "rib_marrow",
    "gluteal",
];

/// The name of structure `id` (`"?"` outside the table).
pub(crate) fn name(id: u8) -> &'static str {
    NAMES.get(usize::from(id)).copied().unwrap_or("?")
}

/// Per-structure HU and compartment tables for one phantom.
#[derive(Debug, Clone)]
pub(crate) struct Catalogue {
    /// Mean HU of each structure before texture and noise.
    pub base_hu: [f32; COUNT],
    /// Tissue compartment (a `labels` code, or `BACKGROUND`).
    pub compartment: [u8; COUNT],
    /// Weight of the low-frequency texture field (0 for air and bone).
    pub texture: [f32; COUNT],
}

impl Catalogue {
    /// Samples tissue densities for one patient; `contrast` is a portal-venous phase.
    pub(crate) fn sample(rng: &mut Rng, contrast: bool, age: f64) -> Self {
        let mut base = [0f32; COUNT];
        let mut comp = [labels::BACKGROUND; COUNT];
        let mut tex = [0f32; COUNT];
        let fat_sat = rng.range(-112.0, -92.0);
        let fat_vat = rng.range(-104.0, -84.0);
        // Muscle density falls with age (myosteatosis).
        let muscle = rng.range(40.0, 58.0) - ((age - 40.0).max(0.0) * 0.25);
        let bone = rng.range(170.0, 270.0) - ((age - 40.0).max(0.0) * 1.6);
        let cortex = rng.range(550.0, 900.0);
        let k = |plain: f64, enhanced: f64| if contrast { enhanced } else { plain };
        let mut set = |id: u8, hu: f64, c: u8, t: f32| {
            base[id as usize] = hu as f32;
            comp[id as usize] = c;
            tex[id as usize] = t;
        };
        set(AIR, -1000.0, labels::BACKGROUND, 0.0);
        set(TABLE, rng.range(150.0, 350.0), labels::BACKGROUND, 0.0);
        set(PAD, rng.range(-900.0, -800.0), labels::BACKGROUND, 0.0);
        set(SKIN, rng.range(30.0, 60.0), labels::BACKGROUND, 0.5);
        set(SAT_FAT, fat_sat, labels::SAT, 1.0);
        set(SAT_FASCIA, rng.range(0.0, 20.0), labels::SAT, 0.5);
        set(WALL, muscle, labels::ABDOMINAL_WALL, 0.7);
        set(WALL_FAT, fat_vat - 5.0, labels::ABDOMINAL_WALL, 0.5);
        set(PARA, muscle - rng.range(0.0, 8.0), labels::PARASPINAL, 0.7);
        set(PARA_FAT, fat_sat + 5.0, labels::PARASPINAL, 0.5);
        let psoas = muscle + rng.range(-2.0, 6.0);
        set(PSOAS_L, psoas, labels::PSOAS_LEFT, 0.7);
        set(PSOAS_R, psoas, labels::PSOAS_RIGHT, 0.7);
        set(PSOAS_L_FAT, fat_vat, labels::PSOAS_LEFT, 0.5);
        set(PSOAS_R_FAT, fat_vat, labels::PSOAS_RIGHT, 0.5);
        set(VAT_FAT, fat_vat, labels::VAT, 1.0);
        set(LINEA_ALBA, rng.range(60.0, 90.0), labels::BACKGROUND, 0.3);
        set(
            LIVER,
            k(rng.range(50.0, 65.0), rng.range(95.0, 120.0)),
            labels::BACKGROUND,
            0.8,
        );
        set(
            SPLEEN,
            k(rng.range(42.0, 52.0), rng.range(105.0, 130.0)),
            labels::BACKGROUND,
            0.8,
        );
        set(
            KIDNEY_CORTEX,
            k(rng.range(28.0, 40.0), rng.range(160.0, 220.0)),
            labels::BACKGROUND,
            0.5,
        );
        set(
            KIDNEY_MEDULLA,
            k(rng.range(25.0, 35.0), rng.range(90.0, 130.0)),
            labels::BACKGROUND,
            0.5,
        );
        set(SINUS_FAT, fat_vat + 5.0, labels::VAT, 0.5);
        set(
            GUT_WALL,
            k(rng.range(30.0, 45.0), rng.range(60.0, 90.0)),
            labels::BACKGROUND,
            0.5,
        );
        set(GUT_FLUID, rng.range(0.0, 20.0), labels::BACKGROUND, 0.5);
        set(GUT_AIR, rng.range(-990.0, -900.0), labels::BACKGROUND, 0.0);
        set(
            GUT_CONTRAST,
            rng.range(200.0, 350.0),
            labels::BACKGROUND,
            0.0,
        );
        set(STOOL, rng.range(10.0, 45.0), labels::BACKGROUND, 1.0);
        set(
            ARTERY,
            k(rng.range(35.0, 50.0), rng.range(150.0, 230.0)),
            labels::BACKGROUND,
            0.3,
        );
        set(
            VEIN,
            k(rng.range(35.0, 50.0), rng.range(130.0, 180.0)),
            labels::BACKGROUND,
            0.3,
        );
        set(
            SMALL_VESSEL,
            k(rng.range(30.0, 50.0), rng.range(110.0, 180.0)),
            labels::BACKGROUND,
            0.3,
        );
        set(
            CALCIFICATION,
            rng.range(400.0, 900.0),
            labels::BACKGROUND,
            0.0,
        );
        set(
            PANCREAS,
            k(rng.range(35.0, 50.0), rng.range(90.0, 120.0)),
            labels::BACKGROUND,
            0.8,
        );
        set(LUNG, rng.range(-880.0, -820.0), labels::BACKGROUND, 0.0);
        set(DIAPHRAGM, muscle, labels::BACKGROUND, 0.5);
        set(CORTICAL, cortex, labels::BACKGROUND, 0.0);
        set(CANCELLOUS, bone.max(150.0), labels::BACKGROUND, 0.0);
        set(POSTERIOR, cortex * 0.75, labels::BACKGROUND, 0.0);
        set(DISC, rng.range(70.0, 95.0), labels::BACKGROUND, 0.3);
        set(NUCLEUS, rng.range(40.0, 60.0), labels::BACKGROUND, 0.3);
        set(CANAL, rng.range(10.0, 30.0), labels::BACKGROUND, 0.3);
        set(RIB_MARROW, bone.max(150.0) + 30.0, labels::BACKGROUND, 0.0);
        set(GLUTEAL, muscle - 3.0, labels::ABDOMINAL_WALL, 0.7);
        Self {
            base_hu: base,
            compartment: comp,
            texture: tex,
        }
    }

    /// The truth label of a pixel of structure `id` whose final value is `hu`.
    #[inline]
    pub(crate) fn label(&self, id: u8, hu: i16, w: &HuWindows) -> u8 {
        label_of(self.compartment[id as usize], hu, w)
    }
}

/// Compartment ∩ window: the truth convention shared with the tissue segmenter.
///
/// A muscle compartment yields its own label inside the muscle window and `IMAT` inside
/// the IMAT window (fat inside muscle); SAT and VAT compartments yield their label inside
/// their windows; anything else is background.
#[inline]
pub(crate) fn label_of(compartment: u8, hu: i16, w: &HuWindows) -> u8 {
    match compartment {
        c if labels::is_muscle(c) => {
            if w.muscle.contains(hu) {
                c
            } else if w.imat.contains(hu) {
                labels::IMAT
            } else {
                labels::BACKGROUND
            }
        }
        labels::SAT if w.sat.contains(hu) => labels::SAT,
        labels::VAT if w.vat.contains(hu) => labels::VAT,
        _ => labels::BACKGROUND,
    }
}
