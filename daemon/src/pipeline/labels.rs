//! Tissue label codes and HU windows: the contract between segmentation, metrics,
//! rendering, mask upload and the model slot.
//!
//! A segmentation is one `u8` label per pixel. The labels are mutually exclusive, so
//! one map holds every tissue; "muscle" is the union of the four muscle labels.

use serde::{Deserialize, Serialize};

/// Not a measured tissue.
pub const BACKGROUND: u8 = 0;
/// Left psoas (patient's left, image right).
pub const PSOAS_LEFT: u8 = 1;
/// Right psoas.
pub const PSOAS_RIGHT: u8 = 2;
/// Erector spinae and quadratus lumborum.
pub const PARASPINAL: u8 = 3;
/// Rectus abdominis, obliques and transversus.
pub const ABDOMINAL_WALL: u8 = 4;
/// Subcutaneous fat.
pub const SAT: u8 = 5;
/// Visceral fat.
pub const VAT: u8 = 6;
/// Intermuscular fat.
pub const IMAT: u8 = 7;

/// Whether a label is skeletal muscle.
pub fn is_muscle(label: u8) -> bool {
    matches!(
        label,
        PSOAS_LEFT | PSOAS_RIGHT | PARASPINAL | ABDOMINAL_WALL
    )
}

/// Whether a label is psoas.
pub fn is_psoas(label: u8) -> bool {
    matches!(label, PSOAS_LEFT | PSOAS_RIGHT)
}

/// An inclusive HU interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuWindow {
    /// Lowest HU inside the window.
    pub min: i16,
    /// Highest HU inside the window.
    pub max: i16,
}

impl HuWindow {
    /// Whether `hu` lies inside.
    #[inline]
    pub fn contains(self, hu: i16) -> bool {
        hu >= self.min && hu <= self.max
    }
}

/// The named HU windows; defaults follow the Alberta protocol.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HuWindows {
    /// Skeletal muscle, −29…150.
    pub muscle: HuWindow,
    /// Subcutaneous fat, −190…−30.
    pub sat: HuWindow,
    /// Intermuscular fat, −190…−30, inside the muscle compartment.
    pub imat: HuWindow,
    /// Visceral fat, −150…−50.
    pub vat: HuWindow,
}

impl Default for HuWindows {
    fn default() -> Self {
        Self {
            muscle: HuWindow { min: -29, max: 150 },
            sat: HuWindow {
                min: -190,
                max: -30,
            },
            imat: HuWindow {
                min: -190,
                max: -30,
            },
            vat: HuWindow {
                min: -150,
                max: -50,
            },
        }
    }
}
