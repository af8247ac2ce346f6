//! DICOM fixtures built from real files: copies with rewritten geometry.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::open_file;
use std::path::{Path, PathBuf};

/// Copies `sources` into `dir` (as `s0`, `s1`, …) with ImageOrientationPatient set to
/// `iop` and ImagePositionPatient to `position(k)`.
pub fn reoriented(
    sources: &[PathBuf],
    dir: &Path,
    iop: [f64; 6],
    position: impl Fn(usize) -> [f64; 3],
) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    sources
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let mut obj = open_file(f).unwrap();
            obj.put(DataElement::new(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                PrimitiveValue::from(iop.map(|v| format!("{v:.6}")).join("\\")),
            ));
            obj.put(DataElement::new(
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                PrimitiveValue::from(position(k).map(|v| format!("{v:.4}")).join("\\")),
            ));
            let path = dir.join(format!("s{k}"));
            obj.write_to_file(&path).unwrap();
            path
        })
        .collect()
}

/// A copy of `source` at `path` changed by `edit`, with a fresh SOP Instance UID (`uid`) so
/// it is a new instance, not a conflicting copy of the original.
pub fn edited(
    source: &Path,
    path: &Path,
    uid: &str,
    edit: impl FnOnce(&mut dicom_object::DefaultDicomObject),
) {
    let mut obj = open_file(source).unwrap();
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(uid),
    ));
    edit(&mut obj);
    obj.write_to_file(path).unwrap();
}
