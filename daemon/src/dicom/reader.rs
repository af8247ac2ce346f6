//! Opening one DICOM file and walking its data set up to the pixel data.
//!
//! dicom-object's `open_file` reads the whole object, pixels included, and its
//! `read_until` option cannot tell "stopped at the pixel data" from "the data set ended
//! without any". Ingest routes thousands of files on headers alone, and the loader wants
//! to know where the native pixel bytes start so it can read them straight from disk.
//! So this module drives dicom-parser's lazy token reader itself:
//!
//! * it finds the start: 128-byte preamble + `DICM`, bare `DICM`, or no file meta group
//!   at all (some PACS exports), in which case the transfer syntax is guessed from the
//!   first element (explicit VR if it carries a VR, implicit otherwise);
//! * it keeps only the root-level attributes in [`WANTED`] and skips every other value
//!   (private blobs, sequences) without reading it into memory;
//! * it stops at (7FE0,0010) and reports where the pixel data lives.
//!
//! Deflated data sets cannot be walked lazily (the inflater does not seek), so they
//! are inflated into memory first; offsets then refer to the inflated stream.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use dicom_core::{PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::transfer_syntax::{Codec, TransferSyntax, TransferSyntaxIndex};
use dicom_object::FileMetaTable;
use dicom_parser::StatefulDecode;
use dicom_parser::dataset::LazyDataToken;
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::error::{DicomError, file_label};

/// Root-level attributes the header keeps, sorted for binary search.
pub(crate) const WANTED: &[Tag] = &[
    tags::SPECIFIC_CHARACTER_SET,
    tags::IMAGE_TYPE,
    tags::SOP_CLASS_UID,
    tags::SOP_INSTANCE_UID,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::ACCESSION_NUMBER,
    tags::MODALITY,
    tags::MANUFACTURER,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_DESCRIPTION,
    tags::SERIES_DESCRIPTION,
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
    tags::SLICE_THICKNESS,
    tags::GANTRY_DETECTOR_TILT,
    tags::STUDY_INSTANCE_UID,
    tags::SERIES_INSTANCE_UID,
    tags::STUDY_ID,
    tags::SERIES_NUMBER,
    tags::ACQUISITION_NUMBER,
    tags::INSTANCE_NUMBER,
    tags::IMAGE_POSITION_PATIENT,
    tags::IMAGE_ORIENTATION_PATIENT,
    tags::FRAME_OF_REFERENCE_UID,
    tags::SAMPLES_PER_PIXEL,
    tags::PHOTOMETRIC_INTERPRETATION,
    tags::NUMBER_OF_FRAMES,
    tags::ROWS,
    tags::COLUMNS,
    tags::PIXEL_SPACING,
    tags::BITS_ALLOCATED,
    tags::BITS_STORED,
    tags::HIGH_BIT,
    tags::PIXEL_REPRESENTATION,
    tags::RESCALE_INTERCEPT,
    tags::RESCALE_SLOPE,
];

/// Values larger than this are never kept, whatever their tag: no wanted attribute is
/// anywhere near it, and a corrupt length must not make us allocate.
const MAX_KEPT_VALUE: u32 = 64 * 1024;

/// Where the pixel data of an instance lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelDataLocation {
    /// The data set has no (7FE0,0010).
    #[default]
    Absent,
    /// Native (uncompressed) pixel data: its value starts `offset` bytes into the file
    /// (into the inflated stream for deflated files) and is `length` bytes long.
    Native {
        /// Byte offset of the value.
        offset: u64,
        /// Value length in bytes.
        length: u32,
    },
    /// Encapsulated (compressed) pixel data fragments.
    Encapsulated,
}

/// What the file meta group (or its absence) says about how to read the data set.
#[derive(Debug, Clone)]
pub(crate) struct Preface {
    /// Transfer Syntax UID, declared or guessed.
    pub ts_uid: String,
    /// (0002,0003), empty when there is no meta group.
    pub meta_sop_instance_uid: String,
    /// (0002,0002), empty when there is no meta group.
    pub meta_sop_class_uid: String,
    /// Whether the file had a file meta group.
    pub has_file_meta: bool,
}

/// The outcome of one walk.
#[derive(Debug)]
pub(crate) struct Walked {
    pub preface: Preface,
    /// Kept root attributes, in file order.
    pub fields: Vec<(Tag, PrimitiveValue)>,
    pub pixels: PixelDataLocation,
    /// The data set was deflated (offsets refer to the inflated stream).
    pub deflated: bool,
    /// Size of the file in bytes.
    pub file_len: u64,
}

/// Walk `path` up to its pixel data. When `native_out` is given and the pixel data is
/// native, its bytes are appended there (used for deflated files, whose offsets cannot
/// be read back from disk directly).
pub(crate) fn walk_file(
    path: &Path,
    native_out: Option<&mut Vec<u8>>,
) -> Result<Walked, DicomError> {
    let file = File::open(path).map_err(|source| DicomError::Io {
        file: file_label(path),
        source,
    })?;
    let file_len = file
        .metadata()
        .map_err(|source| DicomError::Io {
            file: file_label(path),
            source,
        })?
        .len();
    let mut reader = BufReader::with_capacity(32 * 1024, file);
    let preface = read_preface(path, &mut reader, file_len)?;

    let (ts, parse_ts_uid) = parsing_syntax(&preface.ts_uid);
    let mut fields = Vec::with_capacity(WANTED.len());
    let (pixels, deflated) = match ts.codec() {
        Codec::Dataset(Some(adapter)) => {
            // Inflate the rest of the file, then walk it as explicit VR little endian.
            let mut inflated = Vec::new();
            adapter
                .adapt_reader(Box::new(&mut reader))
                .read_to_end(&mut inflated)
                .map_err(|e| io_to_dicom(path, e, "deflated data set"))?;
            let inner = registry_ts(uids::EXPLICIT_VR_LITTLE_ENDIAN);
            let pixels = walk_dataset(path, Cursor::new(inflated), inner, &mut fields, native_out)?;
            (pixels, true)
        }
        Codec::Dataset(None) => {
            return Err(DicomError::UnsupportedTransferSyntax {
                file: file_label(path),
                uid: preface.ts_uid.clone(),
                name: ts.name().to_owned(),
                hint: DicomError::transfer_syntax_hint(parse_ts_uid),
            });
        }
        _ => (
            walk_dataset(path, reader, ts, &mut fields, native_out)?,
            false,
        ),
    };
    Ok(Walked {
        preface,
        fields,
        pixels,
        deflated,
        file_len,
    })
}

/// The syntax used to *parse* the data set. An unknown UID is parsed as explicit VR
/// little endian, which every encapsulated syntax uses; whether its pixels can be
/// decoded is the decoder's question, so the header of such a file still reads.
fn parsing_syntax(ts_uid: &str) -> (&'static TransferSyntax, &str) {
    match TransferSyntaxRegistry.get(ts_uid) {
        Some(ts) => (ts, ts_uid),
        None => (registry_ts(uids::EXPLICIT_VR_LITTLE_ENDIAN), ts_uid),
    }
}

/// A transfer syntax that the registry always holds.
pub(crate) fn registry_ts(uid: &str) -> &'static TransferSyntax {
    match TransferSyntaxRegistry.get(uid) {
        Some(ts) => ts,
        // The three native syntaxes are compiled into dicom-transfer-syntax-registry.
        None => unreachable!("transfer syntax {uid} is built into the registry"),
    }
}

/// Find the start of the file meta group or data set, read the meta group if any, and
/// leave `reader` at the first data set element.
fn read_preface<R: Read + Seek>(
    path: &Path,
    reader: &mut R,
    file_len: u64,
) -> Result<Preface, DicomError> {
    let mut head = [0u8; 132];
    let n = read_up_to(reader, &mut head).map_err(|e| io_to_dicom(path, e, "file start"))?;
    let head = &head[..n];
    let meta_start = if n >= 132 && &head[128..132] == b"DICM" {
        Some(128)
    } else if n >= 4 && &head[0..4] == b"DICM" {
        Some(0)
    } else {
        None
    };
    if let Some(start) = meta_start {
        reader
            .seek(SeekFrom::Start(start))
            .map_err(|e| io_to_dicom(path, e, "file meta group"))?;
        let meta = FileMetaTable::from_reader(&mut *reader).map_err(|e| {
            let detail = format!("file meta group: {e}");
            if chain_has_eof(&e) {
                DicomError::Truncated {
                    file: file_label(path),
                    detail,
                }
            } else {
                DicomError::Corrupt {
                    file: file_label(path),
                    detail,
                }
            }
        })?;
        return Ok(Preface {
            ts_uid: meta.transfer_syntax().to_owned(),
            meta_sop_instance_uid: meta.media_storage_sop_instance_uid().to_owned(),
            meta_sop_class_uid: meta.media_storage_sop_class_uid().to_owned(),
            has_file_meta: true,
        });
    }
    let ts_uid = guess_bare_dataset(head, file_len).ok_or_else(|| DicomError::NotDicom {
        file: file_label(path),
        detail: describe_non_dicom(head),
    })?;
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| io_to_dicom(path, e, "file start"))?;
    Ok(Preface {
        ts_uid: ts_uid.to_owned(),
        meta_sop_instance_uid: String::new(),
        meta_sop_class_uid: String::new(),
        has_file_meta: false,
    })
}

/// Recognise a data set written without preamble and meta group, the way old PACS
/// exports do: it must start with a group 0008 element. Returns the syntax to use.
pub(crate) fn guess_bare_dataset(head: &[u8], file_len: u64) -> Option<&'static str> {
    if head.len() < 8 || head[0..2] != [0x08, 0x00] {
        return None;
    }
    let vr = &head[4..6];
    if is_vr(vr) {
        return Some(uids::EXPLICIT_VR_LITTLE_ENDIAN);
    }
    let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    (u64::from(len) + 8 <= file_len).then_some(uids::IMPLICIT_VR_LITTLE_ENDIAN)
}

fn is_vr(b: &[u8]) -> bool {
    const VRS: &[&[u8; 2]] = &[
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB",
        b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
        b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
    ];
    VRS.iter().any(|v| v.as_slice() == b)
}

fn describe_non_dicom(head: &[u8]) -> String {
    if head.is_empty() {
        return "empty file".to_owned();
    }
    let printable = head
        .iter()
        .take(64)
        .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    if printable * 10 >= head.len().min(64) * 9 {
        "no DICM marker; looks like text".to_owned()
    } else {
        "no DICM marker and no recognisable data set".to_owned()
    }
}

/// Walk a data set from the reader's current position.
fn walk_dataset<R: Read + Seek>(
    path: &Path,
    source: R,
    ts: &TransferSyntax,
    fields: &mut Vec<(Tag, PrimitiveValue)>,
    mut native_out: Option<&mut Vec<u8>>,
) -> Result<PixelDataLocation, DicomError> {
    let parse_err = |e: dicom_parser::dataset::lazy_read::Error| classify(path, &e);
    let value_err = |e: dicom_parser::stateful::decode::Error| classify(path, &e);
    let read_err = |e: dicom_parser::dataset::Error| classify(path, &e);

    let mut reader = LazyDataSetReader::new_with_ts(source, ts).map_err(parse_err)?;
    // Nesting depth: sequences and pixel sequences inside items (icon images).
    let mut depth = 0usize;
    while let Some(token) = reader.advance() {
        match token.map_err(parse_err)? {
            LazyDataToken::SequenceStart { .. } => depth += 1,
            LazyDataToken::PixelSequenceStart if depth == 0 => {
                return Ok(PixelDataLocation::Encapsulated);
            }
            LazyDataToken::PixelSequenceStart => depth += 1,
            LazyDataToken::SequenceEnd => depth = depth.saturating_sub(1),
            LazyDataToken::LazyValue { header, decoder } => {
                let tag = header.tag;
                if depth == 0 && tag == tags::PIXEL_DATA {
                    let offset = decoder.position();
                    let length = header.len.0;
                    if let Some(out) = native_out.as_deref_mut() {
                        decoder.read_to_vec(length, out).map_err(value_err)?;
                    }
                    return Ok(PixelDataLocation::Native { offset, length });
                }
                let token = LazyDataToken::LazyValue { header, decoder };
                if depth == 0
                    && header.len.0 <= MAX_KEPT_VALUE
                    && WANTED.binary_search(&tag).is_ok()
                {
                    let value = token.into_value().map_err(read_err)?;
                    let value = if header.vr == VR::UN {
                        reinterpret_un(tag, value)
                    } else {
                        value
                    };
                    fields.push((tag, value));
                } else {
                    token.skip().map_err(value_err)?;
                }
            }
            token @ LazyDataToken::LazyItemValue { .. } => token.skip().map_err(value_err)?,
            // Element headers (their value token follows), item boundaries, and any
            // token kind a future dicom-parser adds: nothing to keep.
            _ => {}
        }
    }
    if depth > 0 {
        return Err(DicomError::Truncated {
            file: file_label(path),
            detail: "the file ends inside a sequence".to_owned(),
        });
    }
    Ok(PixelDataLocation::Absent)
}

/// Attributes in [`WANTED`] whose dictionary VR is US; every other wanted attribute is
/// text (CS, UI, DA, TM, SH, LO, PN, AS, DS, IS).
const WANTED_US: &[Tag] = &[
    tags::SAMPLES_PER_PIXEL,
    tags::ROWS,
    tags::COLUMNS,
    tags::BITS_ALLOCATED,
    tags::BITS_STORED,
    tags::HIGH_BIT,
    tags::PIXEL_REPRESENTATION,
];

/// Give a wanted attribute written with VR UN (some converters do that to whole data
/// sets) the value its dictionary VR implies: the bytes are the same either way.
fn reinterpret_un(tag: Tag, value: PrimitiveValue) -> PrimitiveValue {
    let PrimitiveValue::U8(bytes) = value else {
        return value;
    };
    if WANTED_US.contains(&tag) {
        let words: Vec<u16> = bytes
            .as_chunks::<2>()
            .0
            .iter()
            .map(|b| u16::from_le_bytes(*b))
            .collect();
        return PrimitiveValue::U16(words.into_iter().collect());
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(s) => s.to_owned(),
        // ISO-IR 100 (Latin-1): each byte is the code point.
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };
    PrimitiveValue::Strs(
        text.split('\\')
            .map(|s| {
                s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                    .to_owned()
            })
            .collect(),
    )
}

/// A parser error as a truncation (it ran out of bytes) or corruption (anything else).
fn classify(path: &Path, e: &(dyn std::error::Error + 'static)) -> DicomError {
    let detail = e.to_string();
    if chain_has_eof(e) {
        DicomError::Truncated {
            file: file_label(path),
            detail,
        }
    } else {
        DicomError::Corrupt {
            file: file_label(path),
            detail,
        }
    }
}

/// Read as many bytes as are available, up to `buf.len()`.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Map an I/O error while parsing: an early end of file is a truncation.
pub(crate) fn io_to_dicom(path: &Path, e: std::io::Error, what: &str) -> DicomError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        DicomError::Truncated {
            file: file_label(path),
            detail: format!("the file ends inside the {what}"),
        }
    } else {
        DicomError::Io {
            file: file_label(path),
            source: e,
        }
    }
}

/// Whether an error was caused by reading past the end of the input.
pub(crate) fn chain_has_eof(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::UnexpectedEof
        {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_tags_are_sorted() {
        assert!(WANTED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn bare_data_sets_are_recognised() {
        // (0008,0005) CS, explicit VR.
        let explicit = [0x08, 0x00, 0x05, 0x00, b'C', b'S', 0x0A, 0x00];
        assert_eq!(
            guess_bare_dataset(&explicit, 1000),
            Some(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        );
        // (0008,0005) implicit VR, length 10.
        let implicit = [0x08, 0x00, 0x05, 0x00, 0x0A, 0x00, 0x00, 0x00];
        assert_eq!(
            guess_bare_dataset(&implicit, 1000),
            Some(uids::IMPLICIT_VR_LITTLE_ENDIAN)
        );
        // A length beyond the end of the file is not a data set.
        assert_eq!(guess_bare_dataset(&implicit, 12), None);
        assert_eq!(guess_bare_dataset(b"hello world, not dicom", 22), None);
        assert_eq!(guess_bare_dataset(&[], 0), None);
    }

    #[test]
    fn un_values_take_their_dictionary_vr() {
        let v = reinterpret_un(tags::MODALITY, PrimitiveValue::from(b"CT".to_vec()));
        assert_eq!(v.to_str(), "CT");
        let v = reinterpret_un(
            tags::IMAGE_ORIENTATION_PATIENT,
            PrimitiveValue::from(b"1\\0\\0\\0\\-1\\0 ".to_vec()),
        );
        assert_eq!(
            v.to_multi_float64().unwrap(),
            vec![1.0, 0.0, 0.0, 0.0, -1.0, 0.0]
        );
        let v = reinterpret_un(tags::ROWS, PrimitiveValue::from(vec![0x00u8, 0x02]));
        assert_eq!(v.to_int::<u16>().unwrap(), 512);
        let v = reinterpret_un(
            tags::PATIENT_NAME,
            PrimitiveValue::from(vec![b'M', 0xfc, b'l']),
        );
        assert_eq!(v.to_str(), "M\u{fc}l");
    }

    #[test]
    fn text_is_described_as_text() {
        assert_eq!(
            describe_non_dicom(b"This is a licence file.\n"),
            "no DICM marker; looks like text"
        );
        assert_eq!(describe_non_dicom(&[]), "empty file");
        assert_eq!(
            describe_non_dicom(&[0xff, 0x00, 0x13, 0x88, 0x01, 0x02]),
            "no DICM marker and no recognisable data set"
        );
    }
}
