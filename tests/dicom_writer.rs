//! The outbox writers on real series: a Secondary Capture and a SEG are written, read
//! back with dicom-object, and must carry the source study, patient and instance
//! references, new UIDs, and pixels that land on the right source pixels.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, open_file};
use idoctor_daemon::dicom::{
    InstanceHeader, LabelSlice, LoadOptions, OutputSeries, RgbImage, SourceSeries, Volume,
    assemble, read_header, read_headers, secondary_capture, segmentation, write_atomically,
};
use idoctor_daemon::pipeline::labels;
use ndarray::{Array2, Axis};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn load(files: &[PathBuf], min_slices: usize) -> (Volume, Vec<InstanceHeader>) {
    let instances = read_headers(files).unwrap();
    let volume = assemble(&instances, &LoadOptions { min_slices }).unwrap();
    (volume, instances.into_iter().map(|i| i.header).collect())
}

fn ts_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data().join("ct/ts-t11-l2-tissue/dicom"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn text(o: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    o.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_owned()
}

fn items(o: &InMemDicomObject, tag: dicom_core::Tag) -> &[InMemDicomObject] {
    o.element(tag).unwrap().items().unwrap()
}

/// Labels from HU alone: enough structure to exercise every segment.
fn threshold_labels(hu: ndarray::ArrayView2<i16>) -> Array2<u8> {
    let (rows, cols) = hu.dim();
    Array2::from_shape_fn((rows, cols), |(y, x)| {
        let h = hu[[y, x]];
        let left = x >= cols / 2;
        match h {
            -190..=-30 if y < rows / 3 => labels::SAT,
            -190..=-30 if y < 2 * rows / 3 => labels::VAT,
            -190..=-30 => labels::IMAT,
            -29..=150 if y < rows / 3 => labels::ABDOMINAL_WALL,
            -29..=150 if y > 2 * rows / 3 => labels::PARASPINAL,
            -29..=150 if left => labels::PSOAS_LEFT,
            -29..=150 => labels::PSOAS_RIGHT,
            _ => labels::BACKGROUND,
        }
    })
}

#[test]
fn secondary_capture_is_filed_under_the_source_study() {
    let tmp = tempfile::tempdir().unwrap();
    let (volume, headers) = load(&ts_files(), 2);
    let source = SourceSeries::from_volume(&volume, &headers).unwrap();
    let k = 12;
    // A grey RGB rendering of slice k, with a red mark in one corner.
    let slice = volume.slice(k);
    let (h, w) = slice.dim();
    let mut rgb = Vec::with_capacity(w * h * 3);
    for ((y, x), &v) in slice.indexed_iter() {
        let g = ((i32::from(v) + 160) * 255 / 400).clamp(0, 255) as u8;
        rgb.extend(if y < 5 && x < 5 {
            [255, 0, 0]
        } else {
            [g, g, g]
        });
    }
    let image = RgbImage {
        width: w as u32,
        height: h as u32,
        pixels: &rgb,
    };
    let series = OutputSeries {
        number: 9901,
        description: "iDoctor overlay".into(),
    };
    let obj = secondary_capture(&source, image, &[k], &series).unwrap();
    let path = write_atomically(&obj, tmp.path()).unwrap();
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no partial file left"
    );

    let back = open_file(&path).unwrap();
    let src = read_header(&ts_files()[k]).unwrap();
    assert_eq!(text(&back, tags::STUDY_INSTANCE_UID), src.study_uid);
    assert_eq!(text(&back, tags::PATIENT_ID), src.patient_id);
    assert_eq!(text(&back, tags::PATIENT_NAME), src.patient_name);
    assert_eq!(
        text(&back, tags::SOP_CLASS_UID),
        "1.2.840.10008.5.1.4.1.1.7"
    );
    let sop = text(&back, tags::SOP_INSTANCE_UID);
    let series_uid = text(&back, tags::SERIES_INSTANCE_UID);
    assert!(sop.starts_with("2.25.") && series_uid.starts_with("2.25."));
    assert_ne!(series_uid, src.series_uid);
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{sop}.dcm")
    );
    assert_eq!(back.meta().media_storage_sop_instance_uid(), sop);
    let refs = items(&back, tags::SOURCE_IMAGE_SEQUENCE);
    assert_eq!(refs.len(), 1);
    assert_eq!(
        text(&refs[0], tags::REFERENCED_SOP_INSTANCE_UID),
        src.sop_instance_uid
    );
    assert_eq!(
        text(&refs[0], tags::REFERENCED_SOP_CLASS_UID),
        src.sop_class_uid
    );
    let series_refs = items(&back, tags::REFERENCED_SERIES_SEQUENCE);
    assert_eq!(
        text(&series_refs[0], tags::SERIES_INSTANCE_UID),
        src.series_uid
    );
    assert_eq!(
        text(
            &items(&series_refs[0], tags::REFERENCED_INSTANCE_SEQUENCE)[0],
            tags::REFERENCED_SOP_INSTANCE_UID
        ),
        src.sop_instance_uid
    );
    let pixels = back.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    assert_eq!(&pixels[..rgb.len()], rgb.as_slice());
    assert_eq!(text(&back, tags::PHOTOMETRIC_INTERPRETATION), "RGB");
    // Our own reader files it as a non-CT object, so an outbox inside a watch folder
    // is never analysed as a CT series.
    let own = read_header(&path).unwrap();
    assert_eq!(own.check_ct_slice(&path).unwrap_err().code(), "not_ct");

    // A wrong-sized image is refused, not written.
    let bad = RgbImage {
        width: w as u32 + 1,
        height: h as u32,
        pixels: &rgb,
    };
    assert!(secondary_capture(&source, bad, &[k], &series).is_err());
    assert!(secondary_capture(&source, image, &[999], &series).is_err());
}

/// Unpack frame `f` of a 1-bit SEG into rows × columns.
fn frame(bits: &[u8], f: usize, rows: usize, cols: usize) -> Array2<bool> {
    Array2::from_shape_fn((rows, cols), |(y, x)| {
        let bit = f * rows * cols + y * cols + x;
        bits[bit / 8] >> (bit % 8) & 1 == 1
    })
}

/// Check a written SEG against the label maps it was made from.
fn check_seg(path: &Path, volume: &Volume, maps: &[(usize, Array2<u8>)]) {
    let back = open_file(path).unwrap();
    let first = read_header(
        &ts_files()
            .into_iter()
            .chain(std::iter::once(
                data().join("dicom/pancreas-ct-single-slice-j2k.dcm"),
            ))
            .find(|p| read_header(p).unwrap().sop_instance_uid == volume.sop_uids[0])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(text(&back, tags::STUDY_INSTANCE_UID), first.study_uid);
    assert_eq!(text(&back, tags::PATIENT_ID), first.patient_id);
    assert_eq!(
        text(&back, tags::FRAME_OF_REFERENCE_UID),
        first.frame_of_reference_uid
    );
    assert_eq!(text(&back, tags::MODALITY), "SEG");
    assert_eq!(
        text(&back, tags::SOP_CLASS_UID),
        "1.2.840.10008.5.1.4.1.1.66.4"
    );
    assert!(text(&back, tags::SERIES_INSTANCE_UID).starts_with("2.25."));
    assert_eq!(items(&back, tags::SEGMENT_SEQUENCE).len(), 7);

    // The referenced instances are exactly the labelled slices.
    let series_ref = &items(&back, tags::REFERENCED_SERIES_SEQUENCE)[0];
    assert_eq!(
        text(series_ref, tags::SERIES_INSTANCE_UID),
        first.series_uid
    );
    let mut referenced: Vec<String> = items(series_ref, tags::REFERENCED_INSTANCE_SEQUENCE)
        .iter()
        .map(|i| text(i, tags::REFERENCED_SOP_INSTANCE_UID))
        .collect();
    referenced.sort();
    let mut expected: Vec<String> = maps
        .iter()
        .map(|(k, _)| volume.sop_uids[*k].clone())
        .collect();
    expected.sort();
    assert_eq!(referenced, expected);

    // Every frame holds, in stored pixel order, exactly its segment's pixels.
    let rows = back.element(tags::ROWS).unwrap().to_int::<usize>().unwrap();
    let cols = back
        .element(tags::COLUMNS)
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let n_frames = back
        .element(tags::NUMBER_OF_FRAMES)
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let bits = back.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    let per_frame = items(&back, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    assert_eq!(per_frame.len(), n_frames);
    let mut pixels_seen = 0usize;
    for (f, item) in per_frame.iter().enumerate() {
        let segment = items(item, tags::SEGMENT_IDENTIFICATION_SEQUENCE)[0]
            .element(tags::REFERENCED_SEGMENT_NUMBER)
            .unwrap()
            .to_int::<u8>()
            .unwrap();
        let derivation = &items(item, tags::DERIVATION_IMAGE_SEQUENCE)[0];
        let uid = text(
            &items(derivation, tags::SOURCE_IMAGE_SEQUENCE)[0],
            tags::REFERENCED_SOP_INSTANCE_UID,
        );
        let k = volume.sop_uids.iter().position(|u| *u == uid).unwrap();
        let (_, map) = maps.iter().find(|(kk, _)| *kk == k).unwrap();
        let mut stored = map.view();
        if volume.flipped_rows {
            stored.invert_axis(Axis(0));
        }
        if volume.flipped_cols {
            stored.invert_axis(Axis(1));
        }
        let got = frame(&bits, f, rows, cols);
        let want = stored.mapv(|l| l == segment);
        assert_eq!(got, want, "frame {f}: segment {segment} on slice {k}");
        pixels_seen += got.iter().filter(|b| **b).count();
        let position = items(item, tags::PLANE_POSITION_SEQUENCE)[0]
            .element(tags::IMAGE_POSITION_PATIENT)
            .unwrap()
            .to_multi_float64()
            .unwrap();
        assert!((position[2] - volume.z_mm[k]).abs() < 1e-3);
    }
    let labelled: usize = maps
        .iter()
        .map(|(_, m)| m.iter().filter(|l| **l != 0).count())
        .sum();
    assert_eq!(
        pixels_seen, labelled,
        "every labelled pixel is in exactly one frame"
    );
}

#[test]
fn seg_references_the_source_and_puts_labels_on_their_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    let (volume, headers) = load(&ts_files(), 2);
    let source = SourceSeries::from_volume(&volume, &headers).unwrap();
    let maps: Vec<(usize, Array2<u8>)> = (10..15)
        .map(|k| (k, threshold_labels(volume.slice(k))))
        .collect();
    for l in 1..=7 {
        assert!(
            maps.iter().any(|(_, m)| m.iter().any(|&v| v == l)),
            "label {l} present"
        );
    }
    let slices: Vec<LabelSlice> = maps
        .iter()
        .map(|(k, m)| LabelSlice {
            slice: *k,
            labels: m.view(),
        })
        .collect();
    let series = OutputSeries {
        number: 9902,
        description: "iDoctor tissue SEG".into(),
    };
    let obj = segmentation(&source, &slices, &series).unwrap();
    let path = write_atomically(&obj, tmp.path()).unwrap();
    check_seg(&path, &volume, &maps);
}

#[test]
fn seg_frames_undo_the_canonical_row_flip() {
    let tmp = tempfile::tempdir().unwrap();
    let (volume, headers) = load(&[data().join("dicom/pancreas-ct-single-slice-j2k.dcm")], 1);
    assert!(volume.flipped_rows);
    let source = SourceSeries::from_volume(&volume, &headers).unwrap();
    // Label only the canonical top rows: they must land on the stored bottom rows.
    let mut map = threshold_labels(volume.slice(0));
    map.slice_mut(ndarray::s![256.., ..]).fill(0);
    let slices = [LabelSlice {
        slice: 0,
        labels: map.view(),
    }];
    let series = OutputSeries {
        number: 9902,
        description: "flip check".into(),
    };
    let obj = segmentation(&source, &slices, &series).unwrap();
    let path = write_atomically(&obj, tmp.path()).unwrap();
    check_seg(&path, &volume, &[(0, map.clone())]);
    let back = open_file(&path).unwrap();
    let bits = back.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    let any_top = (0..back
        .element(tags::NUMBER_OF_FRAMES)
        .unwrap()
        .to_int::<usize>()
        .unwrap())
        .any(|f| {
            frame(&bits, f, 512, 512)
                .slice(ndarray::s![..256, ..])
                .iter()
                .any(|b| *b)
        });
    assert!(!any_top, "stored top half (canonical bottom) must be empty");
}

#[test]
fn outputs_refuse_unknown_slices_and_wrong_sizes() {
    let (volume, headers) = load(&ts_files(), 2);
    // Headers missing for some slices: no source, no output.
    assert!(SourceSeries::from_volume(&volume, &headers[..10]).is_err());
    let source = SourceSeries::from_volume(&volume, &headers).unwrap();
    let series = OutputSeries {
        number: 1,
        description: String::new(),
    };
    let small = Array2::<u8>::zeros((10, 10));
    let e = segmentation(
        &source,
        &[LabelSlice {
            slice: 0,
            labels: small.view(),
        }],
        &series,
    );
    assert!(e.is_err());
    let ok = Array2::<u8>::zeros((101, 122));
    assert!(
        segmentation(
            &source,
            &[LabelSlice {
                slice: 30,
                labels: ok.view()
            }],
            &series
        )
        .is_err()
    );
    assert!(segmentation(&source, &[], &series).is_err());
    // All background is still a valid (empty) segmentation.
    assert!(
        segmentation(
            &source,
            &[LabelSlice {
                slice: 3,
                labels: ok.view()
            }],
            &series
        )
        .is_ok()
    );
}
