//! Writing a phantom to disk: one uncompressed CT Image Storage file per slice and a
//! `truth.json` beside them.
//!
//! Headers look like a scanner's (IPP/IOP, spacing, rescale −1024/1, patient size, sex
//! and age, study/series descriptions) so that the reader is exercised the way real data
//! exercises it. UIDs are `2.25.<decimal>` values derived from the seed, so a seed always
//! gives the same series. Files are numbered from superior to inferior, as the pancreas
//! case is, so a reader that trusts file order gets the volume upside down.

use std::io;
use std::path::{Path, PathBuf};

use dicom_core::value::{C, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use rayon::prelude::*;

use super::Phantom;
use super::rng::{Rng, hash128};

/// Name of the truth file written beside the slices.
pub const TRUTH_FILE: &str = "truth.json";

pub(crate) const UID_STUDY: u64 = 1;
pub(crate) const UID_SERIES: u64 = 2;
pub(crate) const UID_SOP: u64 = 3;
const UID_FRAME: u64 = 4;

/// What [`write_series`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenSeries {
    /// The slice files, superior first (their numbering order).
    pub files: Vec<PathBuf>,
    /// The `truth.json` path.
    pub truth: PathBuf,
    /// Bytes written in all.
    pub bytes: u64,
}

/// A deterministic `2.25.<decimal>` UID for one purpose of one seed.
pub(crate) fn uid(seed: u64, purpose: u64, index: u64) -> String {
    format!("2.25.{}", hash128(seed, purpose, index))
}

/// A plausible study date for a seed (2019–2024).
pub(crate) fn study_date(seed: u64) -> String {
    let mut r = Rng::new(seed, 0xDA7E);
    format!(
        "{}{:02}{:02}",
        r.int(2019, 2024),
        r.int(1, 12),
        r.int(1, 28)
    )
}

/// A DICOM decimal string (at most 16 characters).
fn ds(v: f64) -> String {
    for prec in (0..=6).rev() {
        let mut s = format!("{v:.prec$}");
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
        }
        if s == "-0" {
            s = "0".into();
        }
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.0}")
}

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: impl Into<String>) {
    obj.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::from(value.into()),
    ));
}

/// Writes `phantom` into `out_dir` (created if needed): `IM0001.dcm` (most superior) …
/// and [`TRUTH_FILE`].
pub fn write_series(phantom: &Phantom, out_dir: &Path) -> io::Result<WrittenSeries> {
    std::fs::create_dir_all(out_dir)?;
    let vol = &phantom.volume;
    let meta = &vol.meta;
    let seed = phantom.truth.seed;
    let n = vol.slices();
    let (rows, cols) = (vol.rows(), vol.cols());
    let frame_uid = uid(seed, UID_FRAME, 0);
    let width = n.to_string().len().max(4);
    let results: Vec<io::Result<(usize, PathBuf, u64)>> = (0..n)
        .into_par_iter()
        .map(|k| {
            let number = n - k; // superior first
            let path = out_dir.join(format!("IM{number:0width$}.dcm"));
            let mut o = InMemDicomObject::new_empty();
            put(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
            o.put(DataElement::new(
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::Strs(
                    ["ORIGINAL", "PRIMARY", "AXIAL"]
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ),
            ));
            put(&mut o, tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE);
            put(
                &mut o,
                tags::SOP_INSTANCE_UID,
                VR::UI,
                vol.sop_uids[k].clone(),
            );
            let date = meta.study_date.clone().unwrap_or_default();
            put(&mut o, tags::STUDY_DATE, VR::DA, date.clone());
            put(&mut o, tags::SERIES_DATE, VR::DA, date.clone());
            put(&mut o, tags::ACQUISITION_DATE, VR::DA, date);
            put(&mut o, tags::STUDY_TIME, VR::TM, "101500");
            put(
                &mut o,
                tags::ACCESSION_NUMBER,
                VR::SH,
                format!("ACC{seed:08}"),
            );
            put(&mut o, tags::MODALITY, VR::CS, "CT");
            put(&mut o, tags::MANUFACTURER, VR::LO, "iDoctor");
            put(
                &mut o,
                tags::MANUFACTURER_MODEL_NAME,
                VR::LO,
                "Synthetic phantom",
            );
            put(
                &mut o,
                tags::STUDY_DESCRIPTION,
                VR::LO,
                meta.study_description.clone().unwrap_or_default(),
            );
            put(
                &mut o,
                tags::SERIES_DESCRIPTION,
                VR::LO,
                meta.series_description.clone().unwrap_or_default(),
            );
            put(
                &mut o,
                tags::PATIENT_NAME,
                VR::PN,
                meta.patient_name.clone(),
            );
            put(&mut o, tags::PATIENT_ID, VR::LO, meta.patient_id.clone());
            put(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, "");
            if let Some(sex) = &meta.sex {
                put(&mut o, tags::PATIENT_SEX, VR::CS, sex.clone());
            }
            if let Some(age) = meta.age_years {
                put(
                    &mut o,
                    tags::PATIENT_AGE,
                    VR::AS,
                    format!("{:03}Y", age.round() as u32),
                );
            }
            if let Some(h) = meta.height_m {
                put(&mut o, tags::PATIENT_SIZE, VR::DS, ds(h));
            }
            put(
                &mut o,
                tags::PATIENT_WEIGHT,
                VR::DS,
                ds(phantom.truth.patient.weight_kg),
            );
            put(&mut o, tags::BODY_PART_EXAMINED, VR::CS, "ABDOMEN");
            put(&mut o, tags::SLICE_THICKNESS, VR::DS, ds(vol.slice_spacing));
            put(&mut o, tags::KVP, VR::DS, "120");
            put(&mut o, tags::CONVOLUTION_KERNEL, VR::SH, "STANDARD");
            put(&mut o, tags::PATIENT_POSITION, VR::CS, "HFS");
            put(
                &mut o,
                tags::STUDY_INSTANCE_UID,
                VR::UI,
                meta.study_uid.clone(),
            );
            put(
                &mut o,
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                meta.series_uid.clone(),
            );
            put(&mut o, tags::STUDY_ID, VR::SH, "1");
            put(&mut o, tags::SERIES_NUMBER, VR::IS, "3");
            put(&mut o, tags::ACQUISITION_NUMBER, VR::IS, "1");
            put(&mut o, tags::INSTANCE_NUMBER, VR::IS, number.to_string());
            let ipp = [vol.origin[0], vol.origin[1], vol.z_mm[k]];
            put(
                &mut o,
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                ipp.map(ds).join("\\"),
            );
            put(
                &mut o,
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                vol.orientation.map(ds).join("\\"),
            );
            put(
                &mut o,
                tags::FRAME_OF_REFERENCE_UID,
                VR::UI,
                frame_uid.clone(),
            );
            put(&mut o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
            put(&mut o, tags::SLICE_LOCATION, VR::DS, ds(vol.z_mm[k]));
            o.put(DataElement::new(
                tags::SAMPLES_PER_PIXEL,
                VR::US,
                PrimitiveValue::from(1u16),
            ));
            put(
                &mut o,
                tags::PHOTOMETRIC_INTERPRETATION,
                VR::CS,
                "MONOCHROME2",
            );
            o.put(DataElement::new(
                tags::ROWS,
                VR::US,
                PrimitiveValue::from(rows as u16),
            ));
            o.put(DataElement::new(
                tags::COLUMNS,
                VR::US,
                PrimitiveValue::from(cols as u16),
            ));
            put(
                &mut o,
                tags::PIXEL_SPACING,
                VR::DS,
                format!("{}\\{}", ds(vol.pixel_spacing[0]), ds(vol.pixel_spacing[1])),
            );
            o.put(DataElement::new(
                tags::BITS_ALLOCATED,
                VR::US,
                PrimitiveValue::from(16u16),
            ));
            o.put(DataElement::new(
                tags::BITS_STORED,
                VR::US,
                PrimitiveValue::from(12u16),
            ));
            o.put(DataElement::new(
                tags::HIGH_BIT,
                VR::US,
                PrimitiveValue::from(11u16),
            ));
            o.put(DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(0u16),
            ));
            put(&mut o, tags::WINDOW_CENTER, VR::DS, "40");
            put(&mut o, tags::WINDOW_WIDTH, VR::DS, "400");
            put(&mut o, tags::RESCALE_INTERCEPT, VR::DS, "-1024");
            put(&mut o, tags::RESCALE_SLOPE, VR::DS, "1");
            put(&mut o, tags::RESCALE_TYPE, VR::LO, "HU");
            let pixels: C<u16> = vol
                .slice(k)
                .iter()
                .map(|&h| (h as i32 + 1024).clamp(0, 4095) as u16)
                .collect();
            o.put(DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(pixels),
            ));
            let file = o
                .with_meta(
                    FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN),
                )
                .map_err(io::Error::other)?;
            file.write_to_file(&path).map_err(io::Error::other)?;
            let bytes = std::fs::metadata(&path)?.len();
            Ok((number, path, bytes))
        })
        .collect();
    let mut files = Vec::with_capacity(n);
    let mut bytes = 0;
    for r in results {
        let (number, path, b) = r?;
        files.push((number, path));
        bytes += b;
    }
    files.sort_by_key(|(number, _)| *number);
    let truth = out_dir.join(TRUTH_FILE);
    let json = serde_json::to_vec_pretty(&phantom.truth).map_err(io::Error::other)?;
    std::fs::write(&truth, &json)?;
    bytes += json.len() as u64;
    Ok(WrittenSeries {
        files: files.into_iter().map(|(_, p)| p).collect(),
        truth,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomOptions, generate};
    use dicom_object::open_file;

    fn text(o: &dicom_object::DefaultDicomObject, tag: Tag) -> String {
        o.element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn written_series_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = PhantomOptions::new(11, 12, 64);
        opts.slice_spacing_mm = 2.5;
        let p = generate(&opts);
        let w = write_series(&p, dir.path()).unwrap();
        assert_eq!(w.files.len(), 12);
        assert!(w.files[0].ends_with("IM0001.dcm"));
        let on_disk: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert_eq!(on_disk, w.bytes);

        // IM0001 is the most superior slice.
        for (n, path) in w.files.iter().enumerate() {
            let k = 11 - n;
            let o = open_file(path).unwrap();
            assert_eq!(
                o.meta().transfer_syntax().trim_end_matches('\0'),
                uids::EXPLICIT_VR_LITTLE_ENDIAN
            );
            assert_eq!(text(&o, tags::MODALITY), "CT");
            assert_eq!(text(&o, tags::SOP_INSTANCE_UID), p.volume.sop_uids[k]);
            assert_eq!(
                text(&o, tags::SERIES_INSTANCE_UID),
                p.volume.meta.series_uid
            );
            let ipp: Vec<f64> = text(&o, tags::IMAGE_POSITION_PATIENT)
                .split('\\')
                .map(|s| s.parse().unwrap())
                .collect();
            assert!((ipp[2] - p.volume.z_mm[k]).abs() < 1e-4);
            assert!((ipp[0] - p.volume.origin[0]).abs() < 1e-4);
            let bytes = o.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
            let stored: Vec<i16> = bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as i16 - 1024)
                .collect();
            let expect: Vec<i16> = p.volume.slice(k).iter().copied().collect();
            assert_eq!(stored, expect, "pixels of slice {k}");
        }
        let o = open_file(&w.files[0]).unwrap();
        let size: f64 = text(&o, tags::PATIENT_SIZE).parse().unwrap();
        assert_eq!(Some(size), p.volume.meta.height_m);
        assert_eq!(text(&o, tags::RESCALE_INTERCEPT), "-1024");
        assert_eq!(text(&o, tags::IMAGE_TYPE), "ORIGINAL\\PRIMARY\\AXIAL");
        let truth: crate::phantom::Truth =
            serde_json::from_slice(&std::fs::read(&w.truth).unwrap()).unwrap();
        assert_eq!(truth.series_uid, p.truth.series_uid);
        assert_eq!(truth.l3.mid_slice_index, p.truth.l3.mid_slice_index);
        assert!((truth.l3.mid_z_mm - p.truth.l3.mid_z_mm).abs() < 1e-9);
        assert_eq!(truth.vertebrae.len(), 9);
        assert_eq!(truth.slices.len(), 12);
        assert!(
            (truth.slices[5].areas_cm2.muscle - p.truth.slices[5].areas_cm2.muscle).abs() < 1e-9
        );
    }

    #[test]
    fn the_series_reader_rebuilds_the_volume_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = PhantomOptions::new(12, 24, 80);
        opts.write_sex = false;
        let p = generate(&opts);
        let w = write_series(&p, dir.path()).unwrap();
        // Hand the files over in name order (superior first): the reader must sort.
        let v = crate::dicom::load_series(&w.files).unwrap();
        assert_eq!(v.hu, p.volume.hu);
        assert_eq!(v.sop_uids, p.volume.sop_uids);
        for (a, b) in v.z_mm.iter().zip(&p.volume.z_mm) {
            assert!((a - b).abs() < 1e-6);
        }
        assert!((v.pixel_spacing[0] - p.volume.pixel_spacing[0]).abs() < 1e-9);
        assert!((v.slice_spacing - p.volume.slice_spacing).abs() < 1e-6);
        assert!(!v.flipped_rows && !v.flipped_cols);
        assert_eq!(v.meta.series_uid, p.volume.meta.series_uid);
        assert_eq!(v.meta.height_m, p.volume.meta.height_m);
        assert_eq!(v.meta.sex, None);
        assert_eq!(v.meta.age_years, p.volume.meta.age_years);
    }

    #[test]
    fn uids_are_valid_and_stable() {
        let u = uid(42, UID_SOP, 7);
        assert_eq!(u, uid(42, UID_SOP, 7));
        assert!(u.len() <= 64 && u.starts_with("2.25."));
        let digits = &u[5..];
        assert!(digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0'));
        assert_ne!(u, uid(43, UID_SOP, 7));
    }

    #[test]
    fn decimal_strings_fit() {
        assert_eq!(ds(-0.0), "0");
        assert_eq!(ds(0.78125), "0.78125");
        assert_eq!(ds(-199.609375), "-199.609375");
        assert!(ds(-123456.123456789).len() <= 16);
    }
}
