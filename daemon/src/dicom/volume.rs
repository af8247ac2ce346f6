//! The `Volume`: one CT series as a Hounsfield-unit array, sorted inferior to superior,
//! in a canonical orientation, with the geometry and patient facts the pipeline needs.

use ndarray::{Array3, ArrayView2};

/// Series and patient facts read from the headers.
///
/// `patient_name` is kept for the store and never written to logs or results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesMeta {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// PatientID.
    pub patient_id: String,
    /// PatientName. Never log it.
    pub patient_name: String,
    /// StudyDate `YYYYMMDD`.
    pub study_date: Option<String>,
    /// StudyDescription.
    pub study_description: Option<String>,
    /// SeriesDescription.
    pub series_description: Option<String>,
    /// Modality (`CT`).
    pub modality: String,
    /// SliceThickness in mm.
    pub slice_thickness_mm: Option<f64>,
    /// PatientSize (0010,1020) in metres.
    pub height_m: Option<f64>,
    /// PatientSex: `M`, `F`, `O`.
    pub sex: Option<String>,
    /// PatientAge in years.
    pub age_years: Option<f64>,
}

/// One CT series, ready for the pipeline.
///
/// Canonical orientation: axis 0 is z from inferior (index 0) to superior; axis 1 (y,
/// rows) runs anterior → posterior; axis 2 (x, columns) runs patient right → patient
/// left, as on a standard radiological axial display. Stored pixel data with other
/// in-plane directions is flipped on load and `flipped_rows` / `flipped_cols` record it,
/// so masks can be mapped back to the source pixels.
#[derive(Debug, Clone)]
pub struct Volume {
    /// HU values `[z, y, x]`, rescale slope/intercept applied, rounded and clamped to i16.
    pub hu: Array3<i16>,
    /// z (LPS, mm) of each slice, strictly increasing.
    pub z_mm: Vec<f64>,
    /// SOP Instance UID of each slice.
    pub sop_uids: Vec<String>,
    /// Pixel spacing: `[row spacing (y), column spacing (x)]` in mm.
    pub pixel_spacing: [f64; 2],
    /// Median distance between consecutive slices, mm.
    pub slice_spacing: f64,
    /// ImageOrientationPatient of the source (before canonical flips).
    pub orientation: [f64; 6],
    /// ImagePositionPatient of the first (most inferior) source slice.
    pub origin: [f64; 3],
    /// Rows were flipped to make y run anterior → posterior.
    pub flipped_rows: bool,
    /// Columns were flipped to make x run right → left.
    pub flipped_cols: bool,
    /// Headers.
    pub meta: SeriesMeta,
    /// Quality findings: duplicate positions, gaps, gantry tilt.
    pub warnings: Vec<String>,
}

impl Volume {
    /// Number of slices.
    pub fn slices(&self) -> usize {
        self.hu.shape()[0]
    }

    /// Rows per slice.
    pub fn rows(&self) -> usize {
        self.hu.shape()[1]
    }

    /// Columns per slice.
    pub fn cols(&self) -> usize {
        self.hu.shape()[2]
    }

    /// One axial slice.
    pub fn slice(&self, k: usize) -> ArrayView2<'_, i16> {
        self.hu.index_axis(ndarray::Axis(0), k)
    }

    /// Area of one pixel in cm².
    pub fn pixel_area_cm2(&self) -> f64 {
        self.pixel_spacing[0] * self.pixel_spacing[1] / 100.0
    }

    /// Index of the slice whose z is nearest to `z_mm`.
    pub fn nearest_slice(&self, z_mm: f64) -> usize {
        let mut best = 0;
        for (k, z) in self.z_mm.iter().enumerate() {
            if (z - z_mm).abs() < (self.z_mm[best] - z_mm).abs() {
                best = k;
            }
        }
        best
    }
}
