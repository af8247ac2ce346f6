//! `DicomError`: why a file or a series could not become a [`Volume`](super::Volume),
//! worded for the operator who has to act on it.
//!
//! File-level variants carry only the file's *name* (never its directory: PACS exports
//! sometimes name folders after the patient) and no header text, so a message can go
//! into logs, quarantine reason files and JSON results without leaking identities.
//! [`DicomError::code`] gives a stable snake_case code for machines.

use std::path::Path;

use thiserror::Error;

/// Whether this build decodes JPEG-LS (the `jpegls` cargo feature, which needs cmake).
pub const JPEG_LS_SUPPORTED: bool = cfg!(feature = "jpegls");

/// Everything that can stop a DICOM file or series from being read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DicomError {
    /// The file could not be opened or read at all.
    #[error("{file}: cannot read the file: {source}")]
    Io {
        /// File name (no directory).
        file: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Neither a DICOM file (no `DICM` magic) nor a bare DICOM data set.
    #[error("{file}: not a DICOM file ({detail})")]
    NotDicom {
        /// File name (no directory).
        file: String,
        /// What was found instead.
        detail: String,
    },
    /// The file ends before its own declared content does.
    #[error("{file}: truncated DICOM file ({detail})")]
    Truncated {
        /// File name (no directory).
        file: String,
        /// Where it ends.
        detail: String,
    },
    /// The bytes do not parse as DICOM although the file claims to be DICOM.
    #[error("{file}: corrupt DICOM data ({detail})")]
    Corrupt {
        /// File name (no directory).
        file: String,
        /// The parser's complaint.
        detail: String,
    },
    /// A DICOM object without (7FE0,0010) Pixel Data: a report, a DICOMDIR, a
    /// presentation state, or an image whose pixels were stripped.
    #[error("{file}: DICOM object has no pixel data (SOP class {sop_class})")]
    NoPixelData {
        /// File name (no directory).
        file: String,
        /// SOP Class UID, or `unknown`.
        sop_class: String,
    },
    /// The pixel data is encoded in a transfer syntax this build cannot decode.
    #[error("{file}: unsupported transfer syntax {name} ({uid}){hint}")]
    UnsupportedTransferSyntax {
        /// File name (no directory).
        file: String,
        /// Transfer Syntax UID.
        uid: String,
        /// Its registered name, or `unknown transfer syntax`.
        name: String,
        /// Extra advice, starting with `: ` when present.
        hint: String,
    },
    /// Modality other than CT: HU thresholds mean nothing elsewhere.
    #[error("{file}: not a CT image (modality {modality})")]
    NotCt {
        /// File name (no directory).
        file: String,
        /// The Modality found (`MR`, `PT`, `SR`…) or `missing`.
        modality: String,
    },
    /// A scout / topogram: a projection, not an axial slice.
    #[error("{file}: localizer (scout) image, not an axial slice")]
    Localizer {
        /// File name (no directory).
        file: String,
    },
    /// Enhanced multi-frame objects are not read (yet): one file must be one slice.
    #[error("{file}: multi-frame image ({frames} frames); only single-frame CT slices are read")]
    MultiFrame {
        /// File name (no directory).
        file: String,
        /// Number of Frames.
        frames: u32,
    },
    /// Colour, float or odd bit depths: not a CT HU image.
    #[error("{file}: unsupported pixel format: {detail}")]
    UnsupportedPixelFormat {
        /// File name (no directory).
        file: String,
        /// Which attribute is out of range.
        detail: String,
    },
    /// An attribute the geometry or the decoder needs is absent or unreadable.
    #[error("{file}: missing or invalid {attribute}")]
    MissingAttribute {
        /// File name (no directory).
        file: String,
        /// The attribute's keyword.
        attribute: &'static str,
    },
    /// The codec rejected the pixel data.
    #[error("{file}: cannot decode pixel data: {detail}")]
    Decode {
        /// File name (no directory).
        file: String,
        /// The codec's complaint.
        detail: String,
    },
    /// `load_series` was given nothing.
    #[error("no DICOM files given")]
    Empty,
    /// The files given to `load_series` belong to several series.
    #[error("the files belong to {count} different series; load one series at a time")]
    MixedSeries {
        /// Number of distinct series.
        count: usize,
    },
    /// Slices of different matrix sizes cannot be stacked.
    #[error("mixed matrix sizes in one series: {sizes}")]
    MixedSizes {
        /// For example `512×512 (130 slices), 256×256 (4 slices)` (columns × rows).
        sizes: String,
    },
    /// Slices with different in-plane directions cannot be stacked.
    #[error("mixed image orientations in one series: {detail}")]
    MixedOrientation {
        /// The two orientations that differ.
        detail: String,
    },
    /// Slices with different pixel spacings cannot be stacked.
    #[error("mixed pixel spacing in one series: {detail}")]
    MixedPixelSpacing {
        /// The two spacings that differ.
        detail: String,
    },
    /// Fewer distinct slices than a volume needs.
    #[error("{}", too_few_message(*found, *min))]
    TooFewSlices {
        /// Distinct slice positions found.
        found: usize,
        /// Minimum required.
        min: usize,
    },
    /// Sagittal or coronal (or strongly oblique) slices: L3 work needs axial CT.
    #[error(
        "non-axial series: the slices are {plane} (slice normal {normal}); an axial series is needed"
    )]
    NonAxial {
        /// `sagittal`, `coronal` or `oblique`.
        plane: &'static str,
        /// The slice normal in LPS, formatted.
        normal: String,
    },
    /// Rows run left–right and columns anterior–posterior swapped (a 90° in-plane
    /// rotation): the canonical layout only records flips, not transposes.
    #[error(
        "in-plane axes are swapped (image rows run {row_direction}); only row/column flips are supported"
    )]
    TransposedInPlane {
        /// Direction of the image rows in LPS, formatted.
        row_direction: String,
    },
    /// A gantry tilt too large to treat the slices as one axial stack.
    #[error(
        "gantry tilt of {degrees:.1}° is too large (more than {limit:.0}°) to stack the slices as axial"
    )]
    GantryTilt {
        /// Angle between the slice normal and the stacking direction.
        degrees: f64,
        /// The largest accepted tilt.
        limit: f64,
    },
    /// Too many slices share positions: two stacks in one series.
    #[error(
        "{count} of {total} slices share a position with another slice: the series holds overlapping stacks"
    )]
    DuplicatePositions {
        /// Slices dropped as duplicates.
        count: usize,
        /// Slices given.
        total: usize,
    },
    /// Positions that cannot be ordered into a stack.
    #[error("inconsistent slice positions: {detail}")]
    Geometry {
        /// What is inconsistent.
        detail: String,
    },
}

fn too_few_message(found: usize, min: usize) -> String {
    if found <= 1 {
        format!("single-slice series: {found} slice, a volume needs at least {min}")
    } else {
        format!("too few slices: {found}, a volume needs at least {min}")
    }
}

impl DicomError {
    /// A stable snake_case code for JSON output and quarantine reason files.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::NotDicom { .. } => "not_dicom",
            Self::Truncated { .. } => "truncated",
            Self::Corrupt { .. } => "corrupt",
            Self::NoPixelData { .. } => "no_pixel_data",
            Self::UnsupportedTransferSyntax { .. } => "unsupported_transfer_syntax",
            Self::NotCt { .. } => "not_ct",
            Self::Localizer { .. } => "localizer",
            Self::MultiFrame { .. } => "multi_frame",
            Self::UnsupportedPixelFormat { .. } => "unsupported_pixel_format",
            Self::MissingAttribute { .. } => "missing_attribute",
            Self::Decode { .. } => "decode",
            Self::Empty => "empty",
            Self::MixedSeries { .. } => "mixed_series",
            Self::MixedSizes { .. } => "mixed_sizes",
            Self::MixedOrientation { .. } => "mixed_orientation",
            Self::MixedPixelSpacing { .. } => "mixed_pixel_spacing",
            Self::TooFewSlices { .. } => "too_few_slices",
            Self::NonAxial { .. } => "non_axial",
            Self::TransposedInPlane { .. } => "transposed_in_plane",
            Self::GantryTilt { .. } => "gantry_tilt",
            Self::DuplicatePositions { .. } => "duplicate_positions",
            Self::Geometry { .. } => "geometry",
        }
    }

    /// The advice attached to an unsupported transfer syntax.
    pub(crate) fn transfer_syntax_hint(uid: &str) -> String {
        match uid {
            "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" if !JPEG_LS_SUPPORTED => {
                ": JPEG-LS needs the jpegls build feature".to_owned()
            }
            _ => String::new(),
        }
    }
}

/// The name shown for a file in messages: its last path component only.
pub(crate) fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "(unnamed file)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_not_its_folder() {
        let e = DicomError::NotDicom {
            file: file_label(Path::new("/data/DOE^JOHN/IM0001")),
            detail: "text".into(),
        };
        let msg = e.to_string();
        assert!(msg.starts_with("IM0001:"), "{msg}");
        assert!(!msg.contains("DOE"), "{msg}");
        assert_eq!(e.code(), "not_dicom");
    }

    #[test]
    fn single_slice_is_named_as_such() {
        let e = DicomError::TooFewSlices { found: 1, min: 2 };
        assert!(e.to_string().starts_with("single-slice series"), "{e}");
        let e = DicomError::TooFewSlices { found: 3, min: 10 };
        assert!(e.to_string().starts_with("too few slices: 3"), "{e}");
    }

    #[test]
    fn jpeg_ls_hint_depends_on_the_feature() {
        let hint = DicomError::transfer_syntax_hint("1.2.840.10008.1.2.4.80");
        if JPEG_LS_SUPPORTED {
            assert!(hint.is_empty());
        } else {
            assert_eq!(hint, ": JPEG-LS needs the jpegls build feature");
        }
        assert!(DicomError::transfer_syntax_hint("1.2.840.10008.1.2.4.50").is_empty());
    }
}
