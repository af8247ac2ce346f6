//! [`InstanceHeader`]: what one DICOM instance says about itself, read without touching
//! its pixels, and [`read_header`], the fast path ingest and the loader both use.
//!
//! Anonymised exports blank identifiers (the JPEG 2000 test series has empty Study,
//! Series and SOP Instance UIDs), so the header also resolves *effective* UIDs: the
//! file's own when valid, else the file meta group's SOP Instance UID, else a UID derived
//! deterministically from attributes that identify the series (see [`derived_uid`]).

use std::fmt;
use std::path::Path;

use dicom_core::{PrimitiveValue, Tag};
use dicom_dictionary_std::tags;

use super::error::{DicomError, file_label};
use super::reader::{PixelDataLocation, walk_file};
use super::uid::{derived_uid, is_valid_uid};

/// The header of one DICOM instance, up to (not including) its pixel data.
///
/// `patient_name` and `patient_birth_date` are identifying: the `Debug` output redacts
/// them, and they must never be logged.
#[derive(Clone, PartialEq)]
pub struct InstanceHeader {
    /// Effective SOP Instance UID (own, else file meta, else derived).
    pub sop_instance_uid: String,
    /// SOP Class UID (data set, else file meta); may be empty.
    pub sop_class_uid: String,
    /// Effective Study Instance UID (own, else derived).
    pub study_uid: String,
    /// Effective Series Instance UID (own, else derived). Group by this.
    pub series_uid: String,
    /// Some UID above was missing and had to be derived.
    pub derived_uids: bool,
    /// Frame of Reference UID; may be empty.
    pub frame_of_reference_uid: String,
    /// Modality (`CT`, `MR`, …); empty when absent.
    pub modality: String,
    /// Image Type values, upper case (`ORIGINAL`, `PRIMARY`, `AXIAL`).
    pub image_type: Vec<String>,
    /// Transfer Syntax UID (declared, or guessed for files without a meta group).
    pub transfer_syntax_uid: String,
    /// Whether the file had a file meta group (`DICM`).
    pub has_file_meta: bool,
    /// Rows; 0 when absent.
    pub rows: u16,
    /// Columns; 0 when absent.
    pub columns: u16,
    /// Samples per Pixel (1 for CT).
    pub samples_per_pixel: u16,
    /// Bits Allocated; 0 when absent.
    pub bits_allocated: u16,
    /// Bits Stored (defaults to Bits Allocated).
    pub bits_stored: u16,
    /// Pixel Representation: 0 unsigned, 1 two's complement.
    pub pixel_representation: u16,
    /// Photometric Interpretation.
    pub photometric_interpretation: String,
    /// Number of Frames (1 when absent).
    pub number_of_frames: u32,
    /// Pixel Spacing `[row spacing, column spacing]`, mm.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Image Position (Patient), mm, LPS.
    pub image_position: Option<[f64; 3]>,
    /// Image Orientation (Patient): row direction cosines then column direction cosines.
    pub image_orientation: Option<[f64; 6]>,
    /// Slice Thickness, mm.
    pub slice_thickness: Option<f64>,
    /// Gantry/Detector Tilt as recorded by the scanner, degrees.
    pub gantry_tilt_deg: Option<f64>,
    /// Rescale Slope (1 when absent).
    pub rescale_slope: f64,
    /// Rescale Intercept (0 when absent).
    pub rescale_intercept: f64,
    /// Instance Number.
    pub instance_number: Option<i32>,
    /// Acquisition Number.
    pub acquisition_number: Option<i32>,
    /// Series Number.
    pub series_number: Option<i32>,
    /// Patient ID; may be empty.
    pub patient_id: String,
    /// Patient's Name. Identifying: never log it.
    pub patient_name: String,
    /// Patient's Birth Date `YYYYMMDD`. Identifying: never log it.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex as written.
    pub patient_sex: Option<String>,
    /// Patient's Age as written (`065Y`).
    pub patient_age: Option<String>,
    /// Patient's Size as written (metres by the standard).
    pub patient_size: Option<f64>,
    /// Patient's Weight, kg.
    pub patient_weight_kg: Option<f64>,
    /// Study Date `YYYYMMDD`.
    pub study_date: Option<String>,
    /// Study Time.
    pub study_time: Option<String>,
    /// Study ID.
    pub study_id: Option<String>,
    /// Accession Number.
    pub accession_number: Option<String>,
    /// Referring Physician's Name.
    pub referring_physician_name: Option<String>,
    /// Study Description.
    pub study_description: Option<String>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Specific Character Set.
    pub specific_character_set: Option<String>,
    /// Where the pixel data is.
    pub pixel_data: PixelDataLocation,
    /// The data set is deflated: `pixel_data` offsets refer to the inflated stream.
    pub deflated: bool,
    /// File size in bytes.
    pub file_size: u64,
}

impl fmt::Debug for InstanceHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceHeader")
            .field("sop_instance_uid", &self.sop_instance_uid)
            .field("series_uid", &self.series_uid)
            .field("modality", &self.modality)
            .field("transfer_syntax_uid", &self.transfer_syntax_uid)
            .field("rows", &self.rows)
            .field("columns", &self.columns)
            .field("image_position", &self.image_position)
            .field("image_orientation", &self.image_orientation)
            .field("pixel_data", &self.pixel_data)
            .field("patient_name", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Default for InstanceHeader {
    /// An empty header with the defaults the standard implies for absent attributes
    /// (slope 1, one sample, one frame); used to build headers for writing and tests.
    fn default() -> Self {
        Self {
            sop_instance_uid: String::new(),
            sop_class_uid: String::new(),
            study_uid: String::new(),
            series_uid: String::new(),
            derived_uids: false,
            frame_of_reference_uid: String::new(),
            modality: String::new(),
            image_type: Vec::new(),
            transfer_syntax_uid: String::new(),
            has_file_meta: false,
            rows: 0,
            columns: 0,
            samples_per_pixel: 1,
            bits_allocated: 0,
            bits_stored: 0,
            pixel_representation: 0,
            photometric_interpretation: String::new(),
            number_of_frames: 1,
            pixel_spacing: None,
            image_position: None,
            image_orientation: None,
            slice_thickness: None,
            gantry_tilt_deg: None,
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            instance_number: None,
            acquisition_number: None,
            series_number: None,
            patient_id: String::new(),
            patient_name: String::new(),
            patient_birth_date: None,
            patient_sex: None,
            patient_age: None,
            patient_size: None,
            patient_weight_kg: None,
            study_date: None,
            study_time: None,
            study_id: None,
            accession_number: None,
            referring_physician_name: None,
            study_description: None,
            series_description: None,
            manufacturer: None,
            specific_character_set: None,
            pixel_data: PixelDataLocation::Absent,
            deflated: false,
            file_size: 0,
        }
    }
}

impl InstanceHeader {
    /// Whether the data set holds (7FE0,0010) Pixel Data.
    pub fn has_pixel_data(&self) -> bool {
        self.pixel_data != PixelDataLocation::Absent
    }

    /// Whether Image Type marks a localizer (scout, topogram).
    pub fn is_localizer(&self) -> bool {
        self.image_type.iter().any(|v| v == "LOCALIZER")
    }

    /// Whether this instance is something the CT loader accepts: a single-frame
    /// greyscale CT slice with pixel data, not a localizer. Geometry is checked when
    /// the series is assembled.
    pub fn check_ct_slice(&self, path: &Path) -> Result<(), DicomError> {
        let file = || file_label(path);
        if !self.has_pixel_data() {
            return Err(DicomError::NoPixelData {
                file: file(),
                sop_class: if self.sop_class_uid.is_empty() {
                    "unknown".to_owned()
                } else {
                    self.sop_class_uid.clone()
                },
            });
        }
        if self.modality != "CT" {
            return Err(DicomError::NotCt {
                file: file(),
                modality: if self.modality.is_empty() {
                    "missing".to_owned()
                } else {
                    self.modality.clone()
                },
            });
        }
        if self.is_localizer() {
            return Err(DicomError::Localizer { file: file() });
        }
        if self.number_of_frames > 1 {
            return Err(DicomError::MultiFrame {
                file: file(),
                frames: self.number_of_frames,
            });
        }
        self.check_pixel_format(path)
    }

    /// Whether the pixel attributes describe a greyscale integer image we can decode.
    pub(crate) fn check_pixel_format(&self, path: &Path) -> Result<(), DicomError> {
        let bad = |detail: String| DicomError::UnsupportedPixelFormat {
            file: file_label(path),
            detail,
        };
        if self.rows == 0 {
            return Err(DicomError::MissingAttribute {
                file: file_label(path),
                attribute: "Rows",
            });
        }
        if self.columns == 0 {
            return Err(DicomError::MissingAttribute {
                file: file_label(path),
                attribute: "Columns",
            });
        }
        if self.samples_per_pixel != 1 {
            return Err(bad(format!(
                "{} samples per pixel ({}); CT is greyscale",
                self.samples_per_pixel, self.photometric_interpretation
            )));
        }
        if !matches!(self.bits_allocated, 8 | 16 | 32) {
            return Err(bad(format!("{} bits allocated", self.bits_allocated)));
        }
        if self.bits_stored == 0 || self.bits_stored > self.bits_allocated {
            return Err(bad(format!(
                "{} bits stored in {} bits allocated",
                self.bits_stored, self.bits_allocated
            )));
        }
        if self.pixel_representation > 1 {
            return Err(bad(format!(
                "pixel representation {}",
                self.pixel_representation
            )));
        }
        if !self.rescale_slope.is_finite()
            || self.rescale_slope == 0.0
            || !self.rescale_intercept.is_finite()
        {
            return Err(DicomError::MissingAttribute {
                file: file_label(path),
                attribute: "RescaleSlope/RescaleIntercept",
            });
        }
        Ok(())
    }
}

/// Read the header of one DICOM file, stopping at its pixel data.
///
/// Succeeds for any parseable DICOM object, images without pixel data included
/// (check [`InstanceHeader::has_pixel_data`] or [`InstanceHeader::check_ct_slice`]).
/// Fails for non-DICOM files, unreadable or corrupt data sets, and files that end
/// before their declared native pixel data does.
pub fn read_header(path: &Path) -> Result<InstanceHeader, DicomError> {
    let walked = walk_file(path, None)?;
    let header = build(walked);
    if let PixelDataLocation::Native { offset, length } = header.pixel_data
        && !header.deflated
        && offset + u64::from(length) > header.file_size
    {
        return Err(DicomError::Truncated {
            file: file_label(path),
            detail: format!(
                "pixel data needs {length} bytes but only {} remain",
                header.file_size.saturating_sub(offset)
            ),
        });
    }
    Ok(header)
}

/// Typed access to the kept attributes.
struct Fields<'a>(&'a [(Tag, PrimitiveValue)]);

impl Fields<'_> {
    fn get(&self, tag: Tag) -> Option<&PrimitiveValue> {
        self.0.iter().find(|(t, _)| *t == tag).map(|(_, v)| v)
    }

    /// The whole value as trimmed text; `None` when absent or blank.
    fn text(&self, tag: Tag) -> Option<String> {
        let v = self.get(tag)?;
        let s = v.to_str();
        let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        (!s.is_empty()).then(|| s.to_owned())
    }

    fn text_or_empty(&self, tag: Tag) -> String {
        self.text(tag).unwrap_or_default()
    }

    /// Each value of a multi-valued text attribute, trimmed.
    fn texts(&self, tag: Tag) -> Vec<String> {
        match self.get(tag) {
            Some(PrimitiveValue::Strs(values)) => values
                .iter()
                .map(|s| {
                    s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                        .to_owned()
                })
                .collect(),
            Some(v) => v
                .to_str()
                .split('\\')
                .map(|s| {
                    s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                        .to_owned()
                })
                .collect(),
            None => Vec::new(),
        }
    }

    fn floats(&self, tag: Tag) -> Option<Vec<f64>> {
        let v = self.get(tag)?.to_multi_float64().ok()?;
        v.iter().all(|x| x.is_finite()).then_some(v)
    }

    fn float(&self, tag: Tag) -> Option<f64> {
        self.floats(tag)?.first().copied()
    }

    fn array<const N: usize>(&self, tag: Tag) -> Option<[f64; N]> {
        let v = self.floats(tag)?;
        v.get(..N)?.try_into().ok()
    }

    fn int<T: TryFrom<i64>>(&self, tag: Tag) -> Option<T> {
        let v = self.get(tag)?;
        let i: i64 = v.to_int().ok().or_else(|| {
            // IS values written as "12.0" by some exporters.
            v.to_multi_float64()
                .ok()?
                .first()
                .filter(|f| f.fract() == 0.0)
                .map(|f| *f as i64)
        })?;
        T::try_from(i).ok()
    }
}

fn build(walked: super::reader::Walked) -> InstanceHeader {
    let f = Fields(&walked.fields);
    let preface = &walked.preface;

    let study_date = f.text(tags::STUDY_DATE);
    let study_time = f.text(tags::STUDY_TIME);
    let study_id = f.text(tags::STUDY_ID);
    let accession_number = f.text(tags::ACCESSION_NUMBER);
    let patient_id = f.text_or_empty(tags::PATIENT_ID);
    let frame_of_reference_uid = f.text_or_empty(tags::FRAME_OF_REFERENCE_UID);
    let modality = f.text_or_empty(tags::MODALITY).to_ascii_uppercase();
    let rows = f.int::<u16>(tags::ROWS).unwrap_or(0);
    let columns = f.int::<u16>(tags::COLUMNS).unwrap_or(0);
    let series_number = f.int::<i32>(tags::SERIES_NUMBER);
    let series_description = f.text(tags::SERIES_DESCRIPTION);
    let instance_number = f.int::<i32>(tags::INSTANCE_NUMBER);
    let image_position = f.array::<3>(tags::IMAGE_POSITION_PATIENT);

    let mut derived = false;
    let own_study = f.text_or_empty(tags::STUDY_INSTANCE_UID);
    let study_uid = if is_valid_uid(&own_study) {
        own_study
    } else {
        derived = true;
        derived_uid(&[
            "study",
            &own_study,
            &patient_id,
            study_date.as_deref().unwrap_or(""),
            study_time.as_deref().unwrap_or(""),
            study_id.as_deref().unwrap_or(""),
            accession_number.as_deref().unwrap_or(""),
            &frame_of_reference_uid,
        ])
    };
    let own_series = f.text_or_empty(tags::SERIES_INSTANCE_UID);
    let series_uid = if is_valid_uid(&own_series) {
        own_series
    } else {
        derived = true;
        derived_uid(&[
            "series",
            &own_series,
            &study_uid,
            &frame_of_reference_uid,
            &modality,
            &series_number.map(|n| n.to_string()).unwrap_or_default(),
            series_description.as_deref().unwrap_or(""),
            &format!("{rows}x{columns}"),
        ])
    };
    let own_sop = f.text_or_empty(tags::SOP_INSTANCE_UID);
    let sop_instance_uid = if is_valid_uid(&own_sop) {
        own_sop
    } else if is_valid_uid(&preface.meta_sop_instance_uid) {
        preface.meta_sop_instance_uid.clone()
    } else {
        derived = true;
        derived_uid(&[
            "instance",
            &own_sop,
            &series_uid,
            &instance_number.map(|n| n.to_string()).unwrap_or_default(),
            &image_position
                .map(|p| format!("{:.3}/{:.3}/{:.3}", p[0], p[1], p[2]))
                .unwrap_or_default(),
        ])
    };
    let sop_class_uid = f
        .text(tags::SOP_CLASS_UID)
        .unwrap_or_else(|| preface.meta_sop_class_uid.clone());

    let bits_allocated = f.int::<u16>(tags::BITS_ALLOCATED).unwrap_or(0);
    InstanceHeader {
        sop_instance_uid,
        sop_class_uid,
        study_uid,
        series_uid,
        derived_uids: derived,
        frame_of_reference_uid,
        modality,
        image_type: f
            .texts(tags::IMAGE_TYPE)
            .into_iter()
            .map(|s| s.to_ascii_uppercase())
            .collect(),
        transfer_syntax_uid: preface.ts_uid.clone(),
        has_file_meta: preface.has_file_meta,
        rows,
        columns,
        samples_per_pixel: f.int::<u16>(tags::SAMPLES_PER_PIXEL).unwrap_or(1),
        bits_allocated,
        bits_stored: f.int::<u16>(tags::BITS_STORED).unwrap_or(bits_allocated),
        pixel_representation: f.int::<u16>(tags::PIXEL_REPRESENTATION).unwrap_or(0),
        photometric_interpretation: f.text_or_empty(tags::PHOTOMETRIC_INTERPRETATION),
        number_of_frames: f.int::<u32>(tags::NUMBER_OF_FRAMES).unwrap_or(1),
        pixel_spacing: f.array::<2>(tags::PIXEL_SPACING),
        image_position,
        image_orientation: f.array::<6>(tags::IMAGE_ORIENTATION_PATIENT),
        slice_thickness: f.float(tags::SLICE_THICKNESS),
        gantry_tilt_deg: f.float(tags::GANTRY_DETECTOR_TILT),
        rescale_slope: f.float(tags::RESCALE_SLOPE).unwrap_or(1.0),
        rescale_intercept: f.float(tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        instance_number,
        acquisition_number: f.int::<i32>(tags::ACQUISITION_NUMBER),
        series_number,
        patient_id,
        patient_name: f.text_or_empty(tags::PATIENT_NAME),
        patient_birth_date: f.text(tags::PATIENT_BIRTH_DATE),
        patient_sex: f.text(tags::PATIENT_SEX),
        patient_age: f.text(tags::PATIENT_AGE),
        patient_size: f.float(tags::PATIENT_SIZE),
        patient_weight_kg: f.float(tags::PATIENT_WEIGHT),
        study_date,
        study_time,
        study_id,
        accession_number,
        referring_physician_name: f.text(tags::REFERRING_PHYSICIAN_NAME),
        study_description: f.text(tags::STUDY_DESCRIPTION),
        series_description,
        manufacturer: f.text(tags::MANUFACTURER),
        specific_character_set: f.text(tags::SPECIFIC_CHARACTER_SET),
        pixel_data: walked.pixels,
        deflated: walked.deflated,
        file_size: walked.file_len,
    }
}
