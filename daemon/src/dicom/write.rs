//! DICOM outputs for the outbox: a Secondary Capture of an overlay image and a DICOM
//! SEG of the tissue labels, both filed under the *source* study so the PACS shows them
//! beside the CT they were measured on.
//!
//! Each object copies the patient module and the study identifiers from the source
//! headers, references the source series and the exact source instances, and gets new
//! SOP Instance and Series UIDs under `2.25`. Nothing is ever a placeholder: an output
//! whose source identity is unknown is an error, not an object filed under "Anonymous"
//! (the Comp2Comp defect the product brief calls out).
//!
//! Label maps arrive in the volume's canonical orientation; the SEG frames are written
//! in the source images' stored pixel order (the volume's flips undone), with the
//! source ImageOrientationPatient and each slice's ImagePositionPatient, so every
//! frame lies exactly on its source image.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dicom_core::value::{C, DataSetSequence};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject};
use ndarray::{ArrayView2, Axis};
use thiserror::Error;

use super::header::InstanceHeader;
use super::uid::{derived_uid, new_uid, sanitize_uid};
use super::volume::Volume;
use crate::pipeline::labels;

/// Why an output object could not be built or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A slice of the volume has no header among those given.
    #[error("no source header for slice {slice} (SOP Instance UID {sop_instance_uid})")]
    MissingSourceSlice {
        /// Volume slice index.
        slice: usize,
        /// Its SOP Instance UID.
        sop_instance_uid: String,
    },
    /// The output refers to a slice the volume does not have.
    #[error("slice index {slice} is outside the volume's {slices} slices")]
    SliceOutOfRange {
        /// Index asked for.
        slice: usize,
        /// Slices in the volume.
        slices: usize,
    },
    /// The source study has no usable Study Instance UID to file the output under.
    #[error("the source has no Study Instance UID; refusing to invent a study")]
    NoSourceStudy,
    /// An image or label map whose size does not match what it claims or needs.
    #[error("{what}: expected {expected}, got {got}")]
    Size {
        /// Which input.
        what: &'static str,
        /// Expected size.
        expected: String,
        /// Given size.
        got: String,
    },
    /// Nothing to write.
    #[error("no label slices given")]
    NoSlices,
    /// dicom-object refused to build or encode the object.
    #[error("cannot encode the DICOM object: {0}")]
    Encode(String),
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// Target path.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// One source image an output refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSlice {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// ImagePositionPatient, mm.
    pub position: [f64; 3],
}

/// Identity and geometry of the analysed series, as the outputs must repeat it.
#[derive(Clone, PartialEq)]
pub struct SourceSeries {
    /// Patient's Name, as in the source. Never log it.
    pub patient_name: String,
    /// Patient ID.
    pub patient_id: String,
    /// Patient's Birth Date.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex as written.
    pub patient_sex: Option<String>,
    /// Study Instance UID.
    pub study_uid: String,
    /// Study Date.
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
    /// Series Instance UID of the source series.
    pub series_uid: String,
    /// Frame of Reference UID shared with the source (derived if the source lacks one).
    pub frame_of_reference_uid: String,
    /// SOP Class UID of the source images.
    pub sop_class_uid: String,
    /// ImageOrientationPatient of the source images.
    pub orientation: [f64; 6],
    /// Pixel Spacing `[row, column]`, mm.
    pub pixel_spacing: [f64; 2],
    /// Slice Thickness, mm (falls back to the slice spacing).
    pub slice_thickness: f64,
    /// Distance between slices, mm.
    pub slice_spacing: f64,
    /// Stored rows and columns of the source images.
    pub rows: u16,
    /// See `rows`.
    pub columns: u16,
    /// Flips from stored to canonical orientation (the volume's), undone on output.
    pub flipped_rows: bool,
    /// See `flipped_rows`.
    pub flipped_cols: bool,
    /// Source images in volume order (index = volume slice index).
    pub slices: Vec<SourceSlice>,
}

impl std::fmt::Debug for SourceSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSeries")
            .field("study_uid", &self.study_uid)
            .field("series_uid", &self.series_uid)
            .field("slices", &self.slices.len())
            .field("patient_name", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SourceSeries {
    /// Collect what the outputs need from the volume and its source headers (as
    /// [`discover`](super::discover) or [`read_headers`](super::read_headers) return
    /// them). Every slice of the volume must have its header.
    pub fn from_volume(volume: &Volume, headers: &[InstanceHeader]) -> Result<Self, WriteError> {
        let by_uid: HashMap<&str, &InstanceHeader> = headers
            .iter()
            .map(|h| (h.sop_instance_uid.as_str(), h))
            .collect();
        let mut slices = Vec::with_capacity(volume.sop_uids.len());
        let mut first: Option<&InstanceHeader> = None;
        for (slice, uid) in volume.sop_uids.iter().enumerate() {
            let h = by_uid
                .get(uid.as_str())
                .ok_or_else(|| WriteError::MissingSourceSlice {
                    slice,
                    sop_instance_uid: uid.clone(),
                })?;
            first.get_or_insert(h);
            slices.push(SourceSlice {
                sop_instance_uid: uid.clone(),
                position: h.image_position.unwrap_or(volume.origin),
            });
        }
        let h = first.ok_or(WriteError::NoSlices)?;
        if h.study_uid.is_empty() {
            return Err(WriteError::NoSourceStudy);
        }
        let frame_of_reference_uid = if h.frame_of_reference_uid.is_empty() {
            derived_uid(&["frame-of-reference", &h.series_uid])
        } else {
            h.frame_of_reference_uid.clone()
        };
        Ok(Self {
            patient_name: h.patient_name.clone(),
            patient_id: h.patient_id.clone(),
            patient_birth_date: h.patient_birth_date.clone(),
            patient_sex: h.patient_sex.clone(),
            study_uid: h.study_uid.clone(),
            study_date: h.study_date.clone(),
            study_time: h.study_time.clone(),
            study_id: h.study_id.clone(),
            accession_number: h.accession_number.clone(),
            referring_physician_name: h.referring_physician_name.clone(),
            study_description: h.study_description.clone(),
            series_uid: h.series_uid.clone(),
            frame_of_reference_uid,
            sop_class_uid: if h.sop_class_uid.is_empty() {
                uids::CT_IMAGE_STORAGE.to_owned()
            } else {
                h.sop_class_uid.clone()
            },
            orientation: volume.orientation,
            pixel_spacing: volume.pixel_spacing,
            slice_thickness: h
                .slice_thickness
                .filter(|t| *t > 0.0)
                .unwrap_or(volume.slice_spacing),
            slice_spacing: volume.slice_spacing,
            rows: u16::try_from(volume.rows())
                .map_err(|_| size_err("volume rows", volume.rows()))?,
            columns: u16::try_from(volume.cols())
                .map_err(|_| size_err("volume columns", volume.cols()))?,
            flipped_rows: volume.flipped_rows,
            flipped_cols: volume.flipped_cols,
            slices,
        })
    }

    fn slice(&self, slice: usize) -> Result<&SourceSlice, WriteError> {
        self.slices.get(slice).ok_or(WriteError::SliceOutOfRange {
            slice,
            slices: self.slices.len(),
        })
    }
}

fn size_err(what: &'static str, got: usize) -> WriteError {
    WriteError::Size {
        what,
        expected: "at most 65535".to_owned(),
        got: got.to_string(),
    }
}

/// An 8-bit RGB image, rows top to bottom, pixels `R G B` interleaved.
#[derive(Debug, Clone, Copy)]
pub struct RgbImage<'a> {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `width × height × 3` bytes.
    pub pixels: &'a [u8],
}

/// The labels of one volume slice, in the volume's canonical orientation.
#[derive(Debug, Clone, Copy)]
pub struct LabelSlice<'a> {
    /// Index of the slice in the volume.
    pub slice: usize,
    /// One [`labels`] code per pixel.
    pub labels: ArrayView2<'a, u8>,
}

/// The output series an object starts.
#[derive(Debug, Clone)]
pub struct OutputSeries {
    /// Series Number shown in the PACS.
    pub number: i32,
    /// Series Description shown in the PACS.
    pub description: String,
}

const MANUFACTURER: &str = "iDoctor";
const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A Secondary Capture (RGB) of `image`, e.g. an overlay PNG, filed under the source
/// study in a new series and referencing `referenced_slices` (volume indices) as its
/// source images.
pub fn secondary_capture(
    source: &SourceSeries,
    image: RgbImage<'_>,
    referenced_slices: &[usize],
    series: &OutputSeries,
) -> Result<DefaultDicomObject, WriteError> {
    let expected = image.width as usize * image.height as usize * 3;
    if image.pixels.len() != expected || image.width == 0 || image.height == 0 {
        return Err(WriteError::Size {
            what: "RGB image",
            expected: format!("{expected} bytes ({}×{}×3)", image.width, image.height),
            got: format!("{} bytes", image.pixels.len()),
        });
    }
    let rows =
        u16::try_from(image.height).map_err(|_| size_err("image height", image.height as usize))?;
    let cols =
        u16::try_from(image.width).map_err(|_| size_err("image width", image.width as usize))?;
    let referenced: Vec<&SourceSlice> = referenced_slices
        .iter()
        .map(|&k| source.slice(k))
        .collect::<Result<_, _>>()?;

    let sop_uid = new_uid();
    let mut o = InMemDicomObject::new_empty();
    common_modules(
        &mut o,
        source,
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
        &sop_uid,
        "OT",
        series,
    );
    put_str(&mut o, tags::CONVERSION_TYPE, VR::CS, "WSD");
    put_strs(&mut o, tags::IMAGE_TYPE, VR::CS, &["DERIVED", "SECONDARY"]);
    put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
    put_str(&mut o, tags::PATIENT_ORIENTATION, VR::CS, "");
    put_str(&mut o, tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
    put_str(
        &mut o,
        tags::DERIVATION_DESCRIPTION,
        VR::ST,
        "Body composition overlay rendered by iDoctor",
    );
    put_seq(
        &mut o,
        tags::SOURCE_IMAGE_SEQUENCE,
        referenced
            .iter()
            .map(|s| instance_ref(&source.sop_class_uid, &s.sop_instance_uid))
            .collect(),
    );
    put_referenced_series(&mut o, source, referenced.iter().copied());
    put_u16(&mut o, tags::SAMPLES_PER_PIXEL, 3);
    put_str(&mut o, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
    put_u16(&mut o, tags::PLANAR_CONFIGURATION, 0);
    put_u16(&mut o, tags::ROWS, rows);
    put_u16(&mut o, tags::COLUMNS, cols);
    put_u16(&mut o, tags::BITS_ALLOCATED, 8);
    put_u16(&mut o, tags::BITS_STORED, 8);
    put_u16(&mut o, tags::HIGH_BIT, 7);
    put_u16(&mut o, tags::PIXEL_REPRESENTATION, 0);
    put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    let mut pixels = image.pixels.to_vec();
    if pixels.len() % 2 == 1 {
        pixels.push(0);
    }
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(pixels),
    ));
    finish(o)
}

/// One segment of the SEG: which label, what to call it, how to code it.
struct SegmentDef {
    label: u8,
    name: &'static str,
    category: Code,
    kind: Code,
    laterality: Option<Code>,
}

/// A coded concept (code value, scheme, meaning).
#[derive(Clone, Copy)]
struct Code(&'static str, &'static str, &'static str);

const TISSUE: Code = Code("85756007", "SCT", "Tissue");
const ANATOMICAL_STRUCTURE: Code = Code("91723000", "SCT", "Anatomical Structure");
const MUSCLE: Code = Code("91727004", "SCT", "Muscle");
const ABDOMINAL_WALL_MUSCLE: Code = Code("1142228004", "SCT", "Abdominal wall muscle");
const SUBCUTANEOUS_TISSUE: Code = Code("71966008", "SCT", "Subcutaneous tissue");
const FAT: Code = Code("55603005", "SCT", "Fat");
const LEFT: Code = Code("7771000", "SCT", "Left");
const RIGHT: Code = Code("24028007", "SCT", "Right");

/// The segments, one per tissue label. Codes come from the DICOM context groups for
/// segmentation (CID 7150 categories, CID 7166 tissue types, CID 7151/7154 structures,
/// CID 244 laterality); where no finer standard code exists (psoas, paraspinal group,
/// visceral vs intermuscular fat) the segment label carries the distinction.
fn segment_defs() -> [SegmentDef; 7] {
    [
        SegmentDef {
            label: labels::PSOAS_LEFT,
            name: "Psoas left",
            category: TISSUE,
            kind: MUSCLE,
            laterality: Some(LEFT),
        },
        SegmentDef {
            label: labels::PSOAS_RIGHT,
            name: "Psoas right",
            category: TISSUE,
            kind: MUSCLE,
            laterality: Some(RIGHT),
        },
        SegmentDef {
            label: labels::PARASPINAL,
            name: "Paraspinal muscles",
            category: TISSUE,
            kind: MUSCLE,
            laterality: None,
        },
        SegmentDef {
            label: labels::ABDOMINAL_WALL,
            name: "Abdominal wall muscles",
            category: ANATOMICAL_STRUCTURE,
            kind: ABDOMINAL_WALL_MUSCLE,
            laterality: None,
        },
        SegmentDef {
            label: labels::SAT,
            name: "Subcutaneous adipose tissue",
            category: TISSUE,
            kind: SUBCUTANEOUS_TISSUE,
            laterality: None,
        },
        SegmentDef {
            label: labels::VAT,
            name: "Visceral adipose tissue",
            category: TISSUE,
            kind: FAT,
            laterality: None,
        },
        SegmentDef {
            label: labels::IMAT,
            name: "Intermuscular adipose tissue",
            category: TISSUE,
            kind: FAT,
            laterality: None,
        },
    ]
}

/// A binary DICOM SEG of the label maps: one segment per tissue label, one frame per
/// (segment, slice) pair that holds any pixel of it, each frame on its source image.
pub fn segmentation(
    source: &SourceSeries,
    slices: &[LabelSlice<'_>],
    series: &OutputSeries,
) -> Result<DefaultDicomObject, WriteError> {
    if slices.is_empty() {
        return Err(WriteError::NoSlices);
    }
    let (rows, cols) = (usize::from(source.rows), usize::from(source.columns));
    let mut ordered: Vec<&LabelSlice<'_>> = slices.iter().collect();
    ordered.sort_by_key(|s| s.slice);
    ordered.dedup_by_key(|s| s.slice);
    for s in &ordered {
        source.slice(s.slice)?;
        if s.labels.dim() != (rows, cols) {
            return Err(WriteError::Size {
                what: "label map",
                expected: format!("{rows}×{cols} (rows×columns)"),
                got: format!("{}×{}", s.labels.dim().0, s.labels.dim().1),
            });
        }
    }
    let defs = segment_defs();

    // Frames: for each segment, each slice (inferior → superior) where it occurs.
    struct Frame {
        segment: u16,
        slice_pos: usize,
        slice: usize,
    }
    let mut frames = Vec::new();
    for (s_idx, def) in defs.iter().enumerate() {
        for (pos, ls) in ordered.iter().enumerate() {
            if ls.labels.iter().any(|&l| l == def.label) {
                frames.push(Frame {
                    segment: s_idx as u16 + 1,
                    slice_pos: pos,
                    slice: ls.slice,
                });
            }
        }
    }
    if frames.is_empty() {
        // An all-background result is still a result: one empty frame of segment 1.
        frames.push(Frame {
            segment: 1,
            slice_pos: 0,
            slice: ordered[0].slice,
        });
    }

    // Pack the frames' bits contiguously, least significant bit first.
    let frame_bits = rows * cols;
    let mut bits = vec![0u8; (frames.len() * frame_bits).div_ceil(8).next_multiple_of(2)];
    for (f, frame) in frames.iter().enumerate() {
        let label = defs[usize::from(frame.segment) - 1].label;
        let mut view = ordered[frame.slice_pos].labels;
        // Back from canonical to stored pixel order.
        if source.flipped_rows {
            view.invert_axis(Axis(0));
        }
        if source.flipped_cols {
            view.invert_axis(Axis(1));
        }
        let base = f * frame_bits;
        for (i, &l) in view.iter().enumerate() {
            if l == label {
                let bit = base + i;
                bits[bit / 8] |= 1 << (bit % 8);
            }
        }
    }

    let sop_uid = new_uid();
    let mut o = InMemDicomObject::new_empty();
    common_modules(
        &mut o,
        source,
        uids::SEGMENTATION_STORAGE,
        &sop_uid,
        "SEG",
        series,
    );
    put_str(
        &mut o,
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        &source.frame_of_reference_uid,
    );
    put_str(&mut o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    put_str(
        &mut o,
        tags::MANUFACTURER_MODEL_NAME,
        VR::LO,
        "iDoctor body composition",
    );
    put_str(&mut o, tags::DEVICE_SERIAL_NUMBER, VR::LO, "1");
    put_strs(&mut o, tags::IMAGE_TYPE, VR::CS, &["DERIVED", "PRIMARY"]);
    put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
    put_str(&mut o, tags::CONTENT_LABEL, VR::CS, "BODY_COMPOSITION");
    put_str(
        &mut o,
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        "Tissue segmentation over the L3 range",
    );
    put_str(&mut o, tags::CONTENT_CREATOR_NAME, VR::PN, "iDoctor");
    put_str(&mut o, tags::SEGMENTATION_TYPE, VR::CS, "BINARY");
    put_u16(&mut o, tags::SAMPLES_PER_PIXEL, 1);
    put_str(
        &mut o,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    put_u16(&mut o, tags::ROWS, source.rows);
    put_u16(&mut o, tags::COLUMNS, source.columns);
    put_u16(&mut o, tags::BITS_ALLOCATED, 1);
    put_u16(&mut o, tags::BITS_STORED, 1);
    put_u16(&mut o, tags::HIGH_BIT, 0);
    put_u16(&mut o, tags::PIXEL_REPRESENTATION, 0);
    put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put_str(
        &mut o,
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &frames.len().to_string(),
    );

    put_seq(
        &mut o,
        tags::SEGMENT_SEQUENCE,
        defs.iter()
            .enumerate()
            .map(|(i, def)| {
                let mut item = InMemDicomObject::new_empty();
                put_u16(&mut item, tags::SEGMENT_NUMBER, i as u16 + 1);
                put_str(&mut item, tags::SEGMENT_LABEL, VR::LO, def.name);
                put_str(&mut item, tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC");
                put_str(&mut item, tags::SEGMENT_ALGORITHM_NAME, VR::LO, "iDoctor");
                put_seq(
                    &mut item,
                    tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
                    vec![code_item(def.category)],
                );
                let mut kind = code_item(def.kind);
                if let Some(side) = def.laterality {
                    put_seq(
                        &mut kind,
                        tags::SEGMENTED_PROPERTY_TYPE_MODIFIER_CODE_SEQUENCE,
                        vec![code_item(side)],
                    );
                }
                put_seq(
                    &mut item,
                    tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
                    vec![kind],
                );
                item
            })
            .collect(),
    );

    // Dimensions: segment number, then position.
    let dimension_uid = new_uid();
    put_seq(
        &mut o,
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![{
            let mut item = InMemDicomObject::new_empty();
            put_str(
                &mut item,
                tags::DIMENSION_ORGANIZATION_UID,
                VR::UI,
                &dimension_uid,
            );
            item
        }],
    );
    let dimension = |index: Tag, group: Tag, label: &str| {
        let mut item = InMemDicomObject::new_empty();
        put_str(
            &mut item,
            tags::DIMENSION_ORGANIZATION_UID,
            VR::UI,
            &dimension_uid,
        );
        put_tag(&mut item, tags::DIMENSION_INDEX_POINTER, index);
        put_tag(&mut item, tags::FUNCTIONAL_GROUP_POINTER, group);
        put_str(&mut item, tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label);
        item
    };
    put_seq(
        &mut o,
        tags::DIMENSION_INDEX_SEQUENCE,
        vec![
            dimension(
                tags::REFERENCED_SEGMENT_NUMBER,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                "ReferencedSegmentNumber",
            ),
            dimension(
                tags::IMAGE_POSITION_PATIENT,
                tags::PLANE_POSITION_SEQUENCE,
                "ImagePositionPatient",
            ),
        ],
    );

    // Shared: pixel measures and orientation of the source.
    let mut shared = InMemDicomObject::new_empty();
    let mut measures = InMemDicomObject::new_empty();
    put_ds(&mut measures, tags::PIXEL_SPACING, &source.pixel_spacing);
    // Unknown for a lone slice without SliceThickness: leave out rather than write 0.
    if source.slice_thickness > 0.0 {
        put_ds(
            &mut measures,
            tags::SLICE_THICKNESS,
            &[source.slice_thickness],
        );
    }
    if source.slice_spacing > 0.0 {
        put_ds(
            &mut measures,
            tags::SPACING_BETWEEN_SLICES,
            &[source.slice_spacing],
        );
    }
    put_seq(&mut shared, tags::PIXEL_MEASURES_SEQUENCE, vec![measures]);
    let mut plane = InMemDicomObject::new_empty();
    put_ds(
        &mut plane,
        tags::IMAGE_ORIENTATION_PATIENT,
        &source.orientation,
    );
    put_seq(&mut shared, tags::PLANE_ORIENTATION_SEQUENCE, vec![plane]);
    put_seq(
        &mut o,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared],
    );

    // Per frame: dimension indices, position, source image, segment.
    let per_frame = frames
        .iter()
        .map(|frame| {
            let src = &source.slices[frame.slice];
            let mut item = InMemDicomObject::new_empty();
            let mut content = InMemDicomObject::new_empty();
            content.put(DataElement::new(
                tags::DIMENSION_INDEX_VALUES,
                VR::UL,
                PrimitiveValue::U32(C::from_slice(&[
                    u32::from(frame.segment),
                    frame.slice_pos as u32 + 1,
                ])),
            ));
            put_seq(&mut item, tags::FRAME_CONTENT_SEQUENCE, vec![content]);
            let mut position = InMemDicomObject::new_empty();
            put_ds(&mut position, tags::IMAGE_POSITION_PATIENT, &src.position);
            put_seq(&mut item, tags::PLANE_POSITION_SEQUENCE, vec![position]);
            let mut derivation = InMemDicomObject::new_empty();
            put_seq(
                &mut derivation,
                tags::DERIVATION_CODE_SEQUENCE,
                vec![code_item(Code("113076", "DCM", "Segmentation"))],
            );
            let mut source_image = instance_ref(&source.sop_class_uid, &src.sop_instance_uid);
            put_seq(
                &mut source_image,
                tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                vec![code_item(Code(
                    "121322",
                    "DCM",
                    "Source image for image processing operation",
                ))],
            );
            put_seq(
                &mut derivation,
                tags::SOURCE_IMAGE_SEQUENCE,
                vec![source_image],
            );
            put_seq(&mut item, tags::DERIVATION_IMAGE_SEQUENCE, vec![derivation]);
            let mut segment = InMemDicomObject::new_empty();
            put_u16(&mut segment, tags::REFERENCED_SEGMENT_NUMBER, frame.segment);
            put_seq(
                &mut item,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                vec![segment],
            );
            item
        })
        .collect();
    put_seq(
        &mut o,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame,
    );

    let referenced: Vec<&SourceSlice> = ordered.iter().map(|s| &source.slices[s.slice]).collect();
    put_referenced_series(&mut o, source, referenced.into_iter());
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(bits),
    ));
    finish(o)
}

/// Write `obj` into `dir` as `<SOP Instance UID>.dcm`, through a temporary name and a
/// rename, so a PACS polling the folder never picks up a half-written file.
pub fn write_atomically(obj: &DefaultDicomObject, dir: &Path) -> Result<PathBuf, WriteError> {
    let name = sanitize_uid(obj.meta().media_storage_sop_instance_uid());
    let path = dir.join(format!("{name}.dcm"));
    let tmp = dir.join(format!(".{name}.dcm.partial"));
    obj.write_to_file(&tmp).map_err(|e| match e {
        dicom_object::WriteError::WriteFile { source, .. } => WriteError::Io {
            path: tmp.clone(),
            source,
        },
        other => WriteError::Encode(other.to_string()),
    })?;
    if let Err(e) = std::fs::rename(&tmp, &path) {
        // Best effort: a leftover partial file is harmless but untidy.
        let _ = std::fs::remove_file(&tmp);
        return Err(WriteError::Io { path, source: e });
    }
    Ok(path)
}

/// Patient, study, series, equipment and SOP common modules shared by both outputs.
fn common_modules(
    o: &mut InMemDicomObject,
    source: &SourceSeries,
    sop_class: &str,
    sop_uid: &str,
    modality: &str,
    series: &OutputSeries,
) {
    let now = chrono::Local::now();
    let date = now.format("%Y%m%d").to_string();
    let time = now.format("%H%M%S").to_string();
    // UTF-8, so any source name survives whatever character set it came in.
    put_str(o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    put_str(o, tags::SOP_CLASS_UID, VR::UI, sop_class);
    put_str(o, tags::SOP_INSTANCE_UID, VR::UI, sop_uid);
    put_str(o, tags::INSTANCE_CREATION_DATE, VR::DA, &date);
    put_str(o, tags::INSTANCE_CREATION_TIME, VR::TM, &time);
    put_str(o, tags::CONTENT_DATE, VR::DA, &date);
    put_str(o, tags::CONTENT_TIME, VR::TM, &time);
    put_str(o, tags::SERIES_DATE, VR::DA, &date);
    put_str(o, tags::SERIES_TIME, VR::TM, &time);
    // Patient module, copied.
    put_str(o, tags::PATIENT_NAME, VR::PN, &source.patient_name);
    put_str(o, tags::PATIENT_ID, VR::LO, &source.patient_id);
    put_opt(
        o,
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        &source.patient_birth_date,
    );
    put_opt(o, tags::PATIENT_SEX, VR::CS, &source.patient_sex);
    // General study module, copied.
    put_str(o, tags::STUDY_INSTANCE_UID, VR::UI, &source.study_uid);
    put_opt(o, tags::STUDY_DATE, VR::DA, &source.study_date);
    put_opt(o, tags::STUDY_TIME, VR::TM, &source.study_time);
    put_opt(
        o,
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        &source.referring_physician_name,
    );
    put_opt(o, tags::STUDY_ID, VR::SH, &source.study_id);
    put_opt(o, tags::ACCESSION_NUMBER, VR::SH, &source.accession_number);
    if let Some(d) = &source.study_description {
        put_str(o, tags::STUDY_DESCRIPTION, VR::LO, d);
    }
    // New series.
    put_str(o, tags::MODALITY, VR::CS, modality);
    put_str(o, tags::SERIES_INSTANCE_UID, VR::UI, &new_uid());
    put_str(o, tags::SERIES_NUMBER, VR::IS, &series.number.to_string());
    put_str(o, tags::SERIES_DESCRIPTION, VR::LO, &series.description);
    // Equipment.
    put_str(o, tags::MANUFACTURER, VR::LO, MANUFACTURER);
    put_str(o, tags::SOFTWARE_VERSIONS, VR::LO, SOFTWARE_VERSION);
}

/// Common Instance Reference: the source series and the instances used.
fn put_referenced_series<'a>(
    o: &mut InMemDicomObject,
    source: &SourceSeries,
    instances: impl Iterator<Item = &'a SourceSlice>,
) {
    let mut series = InMemDicomObject::new_empty();
    put_str(
        &mut series,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &source.series_uid,
    );
    put_seq(
        &mut series,
        tags::REFERENCED_INSTANCE_SEQUENCE,
        instances
            .map(|s| instance_ref(&source.sop_class_uid, &s.sop_instance_uid))
            .collect(),
    );
    put_seq(o, tags::REFERENCED_SERIES_SEQUENCE, vec![series]);
}

fn instance_ref(class: &str, instance: &str) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_str(&mut item, tags::REFERENCED_SOP_CLASS_UID, VR::UI, class);
    put_str(
        &mut item,
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        instance,
    );
    item
}

fn code_item(code: Code) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_str(&mut item, tags::CODE_VALUE, VR::SH, code.0);
    put_str(&mut item, tags::CODING_SCHEME_DESIGNATOR, VR::SH, code.1);
    put_str(&mut item, tags::CODE_MEANING, VR::LO, code.2);
    item
}

fn put_str(o: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    o.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// Type 2 attributes: present, empty when unknown.
fn put_opt(o: &mut InMemDicomObject, tag: Tag, vr: VR, value: &Option<String>) {
    put_str(o, tag, vr, value.as_deref().unwrap_or(""));
}

fn put_strs(o: &mut InMemDicomObject, tag: Tag, vr: VR, values: &[&str]) {
    o.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::Strs(values.iter().map(|s| (*s).to_owned()).collect()),
    ));
}

fn put_u16(o: &mut InMemDicomObject, tag: Tag, value: u16) {
    o.put(DataElement::new(
        tag,
        VR::US,
        PrimitiveValue::U16(C::from_slice(&[value])),
    ));
}

fn put_tag(o: &mut InMemDicomObject, tag: Tag, value: Tag) {
    o.put(DataElement::new(
        tag,
        VR::AT,
        PrimitiveValue::Tags(C::from_slice(&[value])),
    ));
}

fn put_ds(o: &mut InMemDicomObject, tag: Tag, values: &[f64]) {
    o.put(DataElement::new(
        tag,
        VR::DS,
        PrimitiveValue::Strs(values.iter().map(|&v| format_ds(v)).collect()),
    ));
}

fn put_seq(o: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

/// A decimal string of at most 16 characters, as precise as fits.
fn format_ds(v: f64) -> String {
    let plain = format!("{v}");
    if plain.len() <= 16 {
        return plain;
    }
    for decimals in (0..=10).rev() {
        let s = format!("{v:.decimals$}");
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.6e}")
}

fn finish(o: InMemDicomObject) -> Result<DefaultDicomObject, WriteError> {
    o.with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| WriteError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        assert_eq!(format_ds(1.07421875), "1.07421875");
        assert_eq!(format_ds(-178.1), "-178.1");
        assert_eq!(format_ds(0.0), "0");
        let long = format_ds(-249.51171875123456);
        assert!(
            long.len() <= 16 && long.starts_with("-249.5117187512"),
            "{long}"
        );
        assert!(format_ds(1.0e300).len() <= 16);
    }

    #[test]
    fn every_tissue_label_has_one_segment() {
        let defs = segment_defs();
        let mut labels: Vec<u8> = defs.iter().map(|d| d.label).collect();
        labels.sort();
        assert_eq!(labels, (1..=7).collect::<Vec<u8>>());
        assert!(defs.iter().all(|d| d.name.len() <= 64));
    }
}
