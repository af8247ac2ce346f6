//! The DICOM layer on real CT: series assembly, every transfer syntax we claim, the
//! canonical orientation, discovery in mixed folders, and bad input built from real
//! files. Data is read in place from `../shared/data` (see its README).

use std::fs;
use std::path::{Path, PathBuf};

use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, DicomValue, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{InMemDicomObject, open_file};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use idoctor_daemon::dicom::{
    DecodeScratch, DicomError, Flips, JPEG_LS_SUPPORTED, LoadOptions, Volume, decode_into,
    discover, load_series, load_series_with, load_slice, read_header,
};
use ndarray::{Array2, Axis, s};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn pancreas_dir() -> PathBuf {
    data().join("ct/pancreas-ct-cb-001/dicom")
}

fn j2k_dir() -> PathBuf {
    data().join("dicom/jpeg2000-t11-t12")
}

fn ts_dir() -> PathBuf {
    data().join("ct/ts-t11-l2-tissue")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// HU of one file as dicom-pixeldata decodes it (modality LUT applied, rounded), in
/// stored orientation: an independent reference for our own decoding paths.
fn reference_hu(path: &Path) -> Array2<i16> {
    let obj = open_file(path).unwrap();
    let decoded = obj.decode_pixel_data().unwrap();
    let arr = decoded
        .to_ndarray_with_options::<f64>(
            &ConvertOptions::new().with_modality_lut(ModalityLutOption::Default),
        )
        .unwrap();
    arr.slice(s![0, .., .., 0])
        .mapv(|v| v.round().clamp(-32768.0, 32767.0) as i16)
}

fn flip(a: &Array2<i16>, flips: Flips) -> Array2<i16> {
    let mut v = a.view();
    if flips.rows {
        v.invert_axis(Axis(0));
    }
    if flips.cols {
        v.invert_axis(Axis(1));
    }
    v.to_owned()
}

fn load_dir(dir: &Path) -> Volume {
    load_series(&files_in(dir)).unwrap()
}

#[test]
fn pancreas_series_is_sorted_by_position_not_file_name() {
    let files = files_in(&pancreas_dir());
    let v = load_series(&files).unwrap();
    assert_eq!(v.hu.dim(), (134, 512, 512));
    for k in [0usize, 1, 44, 100, 133] {
        let expected = 85.91 + 3.0 * k as f64;
        assert!((v.z_mm[k] - expected).abs() < 1e-3, "k={k}: {}", v.z_mm[k]);
    }
    assert!((v.slice_spacing - 3.0).abs() < 1e-6);
    assert!((v.pixel_spacing[0] - 1.074).abs() < 1e-3 && (v.pixel_spacing[1] - 1.074).abs() < 1e-3);
    assert!(!v.flipped_rows && !v.flipped_cols);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    // File names run superior → inferior: 1-001 is the top slice.
    let top = read_header(&pancreas_dir().join("1-001.dcm")).unwrap();
    let bottom = read_header(&pancreas_dir().join("1-134.dcm")).unwrap();
    assert_eq!(v.sop_uids[133], top.sop_instance_uid);
    assert_eq!(v.sop_uids[0], bottom.sop_instance_uid);
    assert_eq!(v.origin[2], 85.91);
    assert_eq!(v.meta.sex.as_deref(), Some("M"));
    assert_eq!(v.meta.modality, "CT");
    assert_eq!(v.meta.height_m, None);
    // The decoded slice equals dicom-pixeldata's decoding of the same file.
    assert_eq!(
        v.slice(133),
        reference_hu(&pancreas_dir().join("1-001.dcm"))
    );
    // Air outside the body, soft tissue inside.
    assert!(v.hu.slice(s![44, 0..20, 0..20]).iter().all(|&h| h <= -900));
    let mid = v.slice(44);
    let soft = mid.iter().filter(|&&h| (0..=100).contains(&h)).count();
    assert!(soft > 10_000, "{soft} soft-tissue pixels at L3");
}

#[test]
fn jpeg2000_series_decodes_to_plausible_hu() {
    let v = load_dir(&j2k_dir());
    assert_eq!(v.hu.dim(), (20, 512, 512));
    assert!((v.slice_spacing - 2.0).abs() < 1e-6);
    assert!((v.z_mm[0] + 804.5).abs() < 1e-6 && (v.z_mm[19] + 766.5).abs() < 1e-6);
    // Anonymised: the UIDs are blank and derived ones stand in, with a warning.
    assert!(
        v.meta.series_uid.starts_with("2.25."),
        "{}",
        v.meta.series_uid
    );
    assert!(v.sop_uids.iter().all(|u| !u.is_empty()));
    assert!(
        v.warnings.iter().any(|w| w.contains("derived")),
        "{:?}",
        v.warnings
    );
    for k in [0, 10, 19] {
        let slice = v.slice(k);
        let corner = slice.slice(s![0..16, 0..16]);
        let mean_corner = corner.iter().map(|&h| f64::from(h)).sum::<f64>() / 256.0;
        assert!(
            (-1030.0..=-950.0).contains(&mean_corner),
            "air {mean_corner}"
        );
        // The most common value among soft-tissue-range pixels is soft tissue.
        let mut hist = vec![0usize; 401];
        for &h in slice.iter().filter(|&&h| (-200..=200).contains(&h)) {
            hist[(h + 200) as usize] += 1;
        }
        let mode = hist.iter().enumerate().max_by_key(|(_, n)| **n).unwrap().0 as i32 - 200;
        assert!(
            (0..=100).contains(&mode),
            "soft tissue mode {mode} HU on slice {k}"
        );
    }
    let first = &files_in(&j2k_dir())[0];
    let z_first = read_header(first).unwrap().image_position.unwrap()[2];
    let k = v.nearest_slice(z_first);
    assert_eq!(v.slice(k), reference_hu(first));
}

#[test]
fn single_slice_j2k_has_its_rows_flipped_into_canonical_order() {
    let path = data().join("dicom/pancreas-ct-single-slice-j2k.dcm");
    let s = load_slice(&path).unwrap();
    assert_eq!(
        s.flips,
        Flips {
            rows: true,
            cols: false
        }
    );
    // This file writes most attributes with VR UN (dicom-pixeldata then misreads its
    // rescale); they must still read as their dictionary VR.
    assert_eq!(s.header.modality, "CT");
    assert_eq!(
        (s.header.rescale_slope, s.header.rescale_intercept),
        (1.0, 0.0)
    );
    assert_eq!(s.header.pixel_representation, 1);
    let mut stored = Array2::<i16>::zeros(s.hu.dim());
    decode_into(
        &path,
        &s.header,
        Flips::default(),
        stored.view_mut(),
        &mut DecodeScratch::default(),
    )
    .unwrap();
    assert_eq!(s.hu, flip(&stored, s.flips));
    assert_ne!(s.hu, stored);
    // Figures checked once against pydicom + OpenJPEG on the same file.
    assert_eq!(s.hu.iter().min(), Some(&-1024));
    assert_eq!(s.hu.iter().max(), Some(&1186));
    let mean = s.hu.iter().map(|&h| f64::from(h)).sum::<f64>() / s.hu.len() as f64;
    assert!((mean + 671.0).abs() < 0.1, "mean {mean}");
    // Canonical rows run anterior → posterior: the spine (dense bone) sits in the
    // posterior (lower) half, the anterior abdominal wall in the upper half.
    let bone_rows: Vec<usize> =
        s.hu.indexed_iter()
            .filter(|(_, h)| **h > 400)
            .map(|((r, _), _)| r)
            .collect();
    let mean_row = bone_rows.iter().sum::<usize>() as f64 / bone_rows.len() as f64;
    assert!(mean_row > 256.0, "bone centroid row {mean_row}");
}

#[test]
fn ct_small_signed_slice_matches_the_reference_decoder() {
    let path = data().join("dicom/ct-small-128.dcm");
    let s = load_slice(&path).unwrap();
    assert_eq!(s.hu.dim(), (128, 128));
    assert_eq!(s.hu, flip(&reference_hu(&path), s.flips));
    assert!(s.hu.iter().any(|&h| h > 500) && s.hu.iter().any(|&h| h < -100));
}

#[test]
fn ts_series_matches_its_masks_row_for_row() {
    let v = load_dir(&ts_dir().join("dicom"));
    assert_eq!(v.hu.dim(), (30, 101, 122));
    assert_eq!(v.meta.height_m, Some(1.711));
    assert!(!v.flipped_rows && !v.flipped_cols);
    // Volume slice k is dicom/slice_k (z ascending), and its rows and columns line up
    // with masks/…/slice_k.png: muscle mask pixels sit in the muscle HU window.
    let mut aligned = 0.0;
    let mut mirrored = 0.0;
    for k in 0..30 {
        let mask = image::open(ts_dir().join(format!("masks/skeletal_muscle/slice_{k:04}.png")))
            .unwrap()
            .to_luma8();
        assert_eq!((mask.width(), mask.height()), (122, 101));
        let slice = v.slice(k);
        let mut n: f64 = 0.0;
        let (mut hit, mut hit_flipped) = (0.0, 0.0);
        for (x, y, p) in mask.enumerate_pixels() {
            if p.0[0] == 0 {
                continue;
            }
            n += 1.0;
            let (x, y) = (x as usize, y as usize);
            hit += f64::from(u8::from((-29..=150).contains(&slice[[y, x]])));
            hit_flipped += f64::from(u8::from((-29..=150).contains(&slice[[100 - y, x]])));
        }
        aligned += hit / n.max(1.0);
        mirrored += hit_flipped / n.max(1.0);
    }
    aligned /= 30.0;
    mirrored /= 30.0;
    assert!(aligned > 0.8, "muscle mask in muscle window: {aligned:.3}");
    assert!(
        mirrored < aligned - 0.2,
        "mirrored {mirrored:.3} vs aligned {aligned:.3}"
    );
    let first = read_header(&ts_dir().join("dicom/slice_0000.dcm")).unwrap();
    assert_eq!(v.sop_uids[0], first.sop_instance_uid);
}

#[test]
fn discover_finds_two_series_in_a_mixed_folder_and_rejects_the_junk() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Pancreas files deep, without extensions; J2K split over two folders; junk around.
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::create_dir_all(root.join("d")).unwrap();
    for (i, f) in files_in(&pancreas_dir()).iter().enumerate() {
        std::os::unix::fs::symlink(f, root.join(format!("a/b/c/IM{i:05}"))).unwrap();
    }
    for (i, f) in files_in(&j2k_dir()).iter().enumerate() {
        let dir = if i % 2 == 0 { "a" } else { "d" };
        std::os::unix::fs::symlink(f, root.join(format!("{dir}/img{i}.bin"))).unwrap();
    }
    fs::copy(
        data().join("ct/pancreas-ct-cb-001/LICENSE.txt"),
        root.join("a/LICENSE.txt"),
    )
    .unwrap();
    fs::copy(
        data().join("ct/pancreas-ct-cb-001/CITATIONS.txt"),
        root.join("d/CITATIONS"),
    )
    .unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(
        root.join("a/b/random.dat"),
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();

    let found = discover(&[root.to_path_buf()]);
    assert_eq!(
        found.series.len(),
        2,
        "{:?}",
        found
            .series
            .iter()
            .map(|s| &s.series_uid)
            .collect::<Vec<_>>()
    );
    let mut counts: Vec<usize> = found.series.iter().map(|s| s.instances.len()).collect();
    counts.sort();
    assert_eq!(counts, vec![20, 134]);
    assert_eq!(found.rejected.len(), 4, "{:?}", found.rejected);
    assert!(
        found.rejected.iter().all(|(_, e)| e.code() == "not_dicom"),
        "{:?}",
        found.rejected
    );
    for s in &found.series {
        let v = load_series(&s.files()).unwrap();
        assert_eq!(v.slices(), s.instances.len());
        assert_eq!(v.meta.series_uid, s.series_uid);
    }

    // The data folder itself: one series, its licence and citation files rejected.
    let found = discover(&[data().join("ct/pancreas-ct-cb-001")]);
    assert_eq!(found.series.len(), 1);
    assert_eq!(found.rejected.len(), 2);
}

/// Write `obj` as a file under `dir`.
fn write(obj: &dicom_object::DefaultDicomObject, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    obj.write_to_file(&path).unwrap();
    path
}

#[test]
fn bad_input_gives_clear_errors_and_good_series_still_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pancreas = files_in(&pancreas_dir());

    // Truncated in the middle of the pixel data.
    let bytes = fs::read(&pancreas[50]).unwrap();
    let truncated = dir.join("truncated.dcm");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_header(&truncated).unwrap_err();
    assert_eq!(e.code(), "truncated", "{e}");
    assert!(
        e.to_string()
            .starts_with("truncated.dcm: truncated DICOM file"),
        "{e}"
    );
    // Truncated inside the header.
    let head_cut = dir.join("head-cut.dcm");
    fs::write(&head_cut, &bytes[..700]).unwrap();
    assert_eq!(read_header(&head_cut).unwrap_err().code(), "truncated");

    // Not DICOM.
    let text = dir.join("notes.txt");
    fs::copy(data().join("ct/pancreas-ct-cb-001/LICENSE.txt"), &text).unwrap();
    let e = read_header(&text).unwrap_err();
    assert!(matches!(e, DicomError::NotDicom { .. }), "{e}");

    // A CT object whose pixel data was removed.
    let mut obj = open_file(&pancreas[60]).unwrap();
    assert!(obj.remove_element(tags::PIXEL_DATA));
    let pixelless = write(&obj, dir, "no-pixels.dcm");
    let h = read_header(&pixelless).unwrap();
    assert!(!h.has_pixel_data());
    let e = h.check_ct_slice(&pixelless).unwrap_err();
    assert_eq!(e.code(), "no_pixel_data");
    assert!(e.to_string().contains("has no pixel data"), "{e}");
    let e = load_series(&[pixelless.clone(), pancreas[61].clone()]).unwrap_err();
    assert_eq!(e.code(), "no_pixel_data");

    // A single-slice series.
    let e = load_series(&[pancreas[70].clone()]).unwrap_err();
    assert!(e.to_string().starts_with("single-slice series"), "{e}");

    // Mixed sizes: a 128² slice re-labelled into the pancreas series.
    let series_uid = read_header(&pancreas[0]).unwrap().series_uid;
    let mut small = open_file(data().join("dicom/ct-small-128.dcm")).unwrap();
    small.put(DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(series_uid.as_str()),
    ));
    let mixed_dir = dir.join("mixed");
    fs::create_dir(&mixed_dir).unwrap();
    let small_path = write(&small, &mixed_dir, "small.dcm");
    let mut mixed = vec![small_path];
    for f in &pancreas[10..13] {
        let target = mixed_dir.join(f.file_name().unwrap());
        fs::copy(f, &target).unwrap();
        mixed.push(target);
    }
    let e = load_series(&mixed).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mixed matrix sizes in one series: 512×512 (3 slices), 128×128 (1 slice)"
    );

    // JPEG-LS and an unknown syntax, by rewriting the meta Transfer Syntax UID of real
    // JPEG 2000 files (same length, so the meta group stays valid).
    let j2k = files_in(&j2k_dir());
    for (uid, expect) in [
        ("1.2.840.10008.1.2.4.80", "JPEG-LS"),
        ("1.2.840.10008.1.2.4.99", "unknown transfer syntax"),
    ] {
        assert!(uid != "1.2.840.10008.1.2.4.99" || TransferSyntaxRegistry.get(uid).is_none());
        let sub = dir.join(uid);
        fs::create_dir(&sub).unwrap();
        let rewritten: Vec<PathBuf> = j2k[..3]
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let bytes = fs::read(f).unwrap();
                let from = b"1.2.840.10008.1.2.4.90";
                let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
                let mut out = bytes.clone();
                out[at..at + from.len()].copy_from_slice(uid.as_bytes());
                let p = sub.join(format!("f{i}"));
                fs::write(&p, out).unwrap();
                p
            })
            .collect();
        let h = read_header(&rewritten[0]).unwrap();
        assert_eq!(h.transfer_syntax_uid, uid);
        let e = load_series(&rewritten).unwrap_err();
        let msg = e.to_string();
        if uid.ends_with(".80") && JPEG_LS_SUPPORTED {
            // With CharLS built in, the JPEG 2000 bytes fail as JPEG-LS data instead.
            assert_eq!(e.code(), "decode", "{e}");
            continue;
        }
        assert_eq!(e.code(), "unsupported_transfer_syntax", "{e}");
        assert!(msg.contains(expect) && msg.contains(uid), "{msg}");
        if uid.ends_with(".80") {
            assert!(
                msg.ends_with("JPEG-LS needs the jpegls build feature"),
                "{msg}"
            );
        }
    }

    // Everything at once through discovery: the junk is rejected with reasons, the
    // bad series fail one by one, and a good series among them still loads.
    let good = dir.join("good");
    fs::create_dir(&good).unwrap();
    for f in files_in(&ts_dir().join("dicom")) {
        std::os::unix::fs::symlink(&f, good.join(f.file_name().unwrap())).unwrap();
    }
    fs::copy(
        data().join("dicom/ct-small-128.dcm"),
        dir.join("lonely.dcm"),
    )
    .unwrap();
    let found = discover(&[dir.to_path_buf()]);
    let mut codes: Vec<&str> = found.rejected.iter().map(|(_, e)| e.code()).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec!["no_pixel_data", "not_dicom", "truncated", "truncated"]
    );
    let mut loaded = 0;
    let mut failed = Vec::new();
    for s in &found.series {
        match load_series(&s.files()) {
            Ok(v) => {
                loaded += 1;
                assert_eq!(v.slices(), 30);
            }
            Err(e) => failed.push(e.code()),
        }
    }
    failed.sort();
    failed.dedup();
    assert_eq!(loaded, 1);
    // The two rewritten J2K sets share their (derived) series UID, so they form one
    // series; the lonely 128² slice is a series of its own.
    assert_eq!(
        failed,
        vec![
            "mixed_sizes",
            "too_few_slices",
            "unsupported_transfer_syntax"
        ]
    );
}

#[test]
fn files_without_preamble_or_meta_group_still_read() {
    let tmp = tempfile::tempdir().unwrap();
    let src = pancreas_dir().join("1-050.dcm");
    let bytes = fs::read(&src).unwrap();
    assert_eq!(&bytes[128..132], b"DICM");
    let no_preamble = tmp.path().join("no-preamble");
    fs::write(&no_preamble, &bytes[128..]).unwrap();

    // A bare implicit-VR data set, as old PACS exports write it.
    let obj = open_file(&src).unwrap();
    let mut bare = Vec::new();
    let implicit = TransferSyntaxRegistry.get("1.2.840.10008.1.2").unwrap();
    obj.write_dataset_with_ts(&mut bare, implicit).unwrap();
    let no_meta = tmp.path().join("no-meta");
    fs::write(&no_meta, bare).unwrap();

    let reference = load_slice(&src).unwrap();
    for p in [&no_preamble, &no_meta] {
        let s = load_slice(p).unwrap();
        assert_eq!(s.hu, reference.hu, "{}", p.display());
        assert_eq!(s.header.sop_instance_uid, reference.header.sop_instance_uid);
    }
    assert!(!read_header(&no_meta).unwrap().has_file_meta);
}

/// PackBits, the byte-run coding inside DICOM RLE segments.
fn packbits(row: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < row.len() {
        let mut run = 1;
        while i + run < row.len() && run < 128 && row[i + run] == row[i] {
            run += 1;
        }
        if run >= 3 {
            out.push((1 - run as i32) as i8 as u8);
            out.push(row[i]);
            i += run;
            continue;
        }
        let start = i;
        while i < row.len()
            && i - start < 128
            && !(i + 2 < row.len() && row[i] == row[i + 1] && row[i] == row[i + 2])
        {
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&row[start..i]);
    }
}

/// DICOM RLE Lossless of 16-bit samples: a 64-byte header, then the high-byte and
/// low-byte segments, each coded row by row.
fn rle_encode(samples: &[u16], cols: usize) -> Vec<u8> {
    let mut segments = Vec::new();
    for shift in [8u32, 0] {
        let plane: Vec<u8> = samples.iter().map(|v| (v >> shift) as u8).collect();
        let mut seg = Vec::new();
        for row in plane.chunks(cols) {
            packbits(row, &mut seg);
        }
        if seg.len() % 2 == 1 {
            seg.push(0);
        }
        segments.push(seg);
    }
    let mut out = Vec::new();
    let mut header = [0u32; 16];
    header[0] = 2;
    header[1] = 64;
    header[2] = 64 + segments[0].len() as u32;
    for h in header {
        out.extend_from_slice(&h.to_le_bytes());
    }
    for seg in segments {
        out.extend(seg);
    }
    out
}

/// A minimal lossless JPEG (process 14, first-order prediction, 16-bit precision),
/// one 5-bit Huffman code per difference category.
fn jpeg_lossless_encode(samples: &[u16], rows: usize, cols: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u32, len: u32) {
            for i in (0..len).rev() {
                self.acc = (self.acc << 1) | ((value >> i) & 1);
                self.n += 1;
                if self.n == 8 {
                    let b = self.acc as u8;
                    self.out.push(b);
                    if b == 0xFF {
                        self.out.push(0x00);
                    }
                    self.acc = 0;
                    self.n = 0;
                }
            }
        }
    }
    let mut out = vec![0xFF, 0xD8];
    // SOF3: precision 16, rows, cols, one component.
    out.extend([0xFF, 0xC3, 0x00, 0x0B, 16]);
    out.extend((rows as u16).to_be_bytes());
    out.extend((cols as u16).to_be_bytes());
    out.extend([1, 1, 0x11, 0]);
    // DHT: DC table 0, 17 codes of length 5 for categories 0..=16.
    out.extend([0xFF, 0xC4, 0x00, 36, 0x00]);
    let mut counts = [0u8; 16];
    counts[4] = 17;
    out.extend(counts);
    out.extend(0..=16u8);
    // SOS: predictor 1 (left), point transform 0.
    out.extend([0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 1, 0, 0]);
    let mut bits = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    for r in 0..rows {
        for c in 0..cols {
            let x = i32::from(samples[r * cols + c]);
            let predicted = match (r, c) {
                (0, 0) => 1 << 15,
                (_, 0) => i32::from(samples[(r - 1) * cols]),
                _ => i32::from(samples[r * cols + c - 1]),
            };
            let mut diff = (x - predicted).rem_euclid(1 << 16);
            if diff > 1 << 15 {
                diff -= 1 << 16;
            }
            let category = if diff == 0 {
                0
            } else {
                32 - diff.unsigned_abs().leading_zeros()
            };
            bits.put(category, 5);
            if category > 0 && category < 16 {
                let extra = if diff > 0 {
                    diff
                } else {
                    diff - 1 + (1 << category)
                };
                bits.put(extra as u32 & ((1 << category) - 1), category);
            }
        }
    }
    if bits.n > 0 {
        let pad = 8 - bits.n;
        bits.put((1 << pad) - 1, pad);
    }
    out.extend(bits.out);
    out.extend([0xFF, 0xD9]);
    out
}

/// Rewrite real pancreas slices with encapsulated pixel data made by `encode`.
fn encapsulate(
    files: &[PathBuf],
    dir: &Path,
    ts_uid: &str,
    encode: impl Fn(&[u16], usize, usize) -> Vec<u8>,
) -> Vec<PathBuf> {
    let ts = TransferSyntaxRegistry.get(ts_uid).unwrap();
    files
        .iter()
        .map(|f| {
            let mut obj = open_file(f).unwrap();
            let rows = usize::from(obj.element(tags::ROWS).unwrap().to_int::<u16>().unwrap());
            let cols = usize::from(obj.element(tags::COLUMNS).unwrap().to_int::<u16>().unwrap());
            let raw = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
            let samples: Vec<u16> = raw
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            let fragment = encode(&samples, rows, cols);
            obj.put(DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                DicomValue::<InMemDicomObject, _>::from(PixelFragmentSequence::new(
                    Vec::<u32>::new(),
                    vec![fragment],
                )),
            ));
            obj.update_meta(|m| m.set_transfer_syntax(ts));
            write(&obj, dir, f.file_name().unwrap().to_str().unwrap())
        })
        .collect()
}

#[test]
fn rle_and_lossless_jpeg_decode_to_the_same_hu_as_uncompressed() {
    let tmp = tempfile::tempdir().unwrap();
    let source: Vec<PathBuf> = files_in(&pancreas_dir())[40..44].to_vec();
    let reference = load_series(&source).unwrap();

    let rle_dir = tmp.path().join("rle");
    fs::create_dir(&rle_dir).unwrap();
    let rle = encapsulate(&source, &rle_dir, "1.2.840.10008.1.2.5", |s, _, c| {
        rle_encode(s, c)
    });
    let jpeg_dir = tmp.path().join("jpeg");
    fs::create_dir(&jpeg_dir).unwrap();
    let jpeg = encapsulate(
        &source,
        &jpeg_dir,
        "1.2.840.10008.1.2.4.70",
        jpeg_lossless_encode,
    );

    for files in [rle, jpeg] {
        let h = read_header(&files[0]).unwrap();
        assert!(matches!(
            h.pixel_data,
            idoctor_daemon::dicom::PixelDataLocation::Encapsulated
        ));
        let v = load_series(&files).unwrap();
        assert_eq!(v.z_mm, reference.z_mm);
        assert_eq!(v.hu, reference.hu, "{}", h.transfer_syntax_uid);
    }
}

#[test]
fn min_slices_option_is_honoured() {
    let files = files_in(&pancreas_dir())[..5].to_vec();
    let e = load_series_with(&files, &LoadOptions { min_slices: 10 }).unwrap_err();
    assert!(
        matches!(e, DicomError::TooFewSlices { found: 5, min: 10 }),
        "{e}"
    );
    assert_eq!(
        load_series_with(&files, &LoadOptions { min_slices: 5 })
            .unwrap()
            .slices(),
        5
    );
}

#[test]
fn jpeg_baseline_decodes_close_to_its_8_bit_source() {
    use dicom_pixeldata::Transcode;
    let tmp = tempfile::tempdir().unwrap();
    let source = files_in(&pancreas_dir())[44].clone();
    let hu = load_slice(&source).unwrap().hu;
    // An 8-bit soft-tissue window of a real slice, the only depth baseline JPEG has.
    let bytes: Vec<u8> = hu
        .iter()
        .map(|&h| ((i32::from(h) + 160) * 255 / 400).clamp(0, 255) as u8)
        .collect();
    let mut obj = open_file(&source).unwrap();
    for (tag, v) in [
        (tags::BITS_ALLOCATED, 8u16),
        (tags::BITS_STORED, 8),
        (tags::HIGH_BIT, 7),
        (tags::PIXEL_REPRESENTATION, 0),
    ] {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }
    obj.put(DataElement::new(
        tags::RESCALE_INTERCEPT,
        VR::DS,
        PrimitiveValue::from("0"),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(bytes.clone()),
    ));
    obj.transcode(
        TransferSyntaxRegistry
            .get("1.2.840.10008.1.2.4.50")
            .unwrap(),
    )
    .unwrap();
    let path = write(&obj, tmp.path(), "baseline.dcm");
    let h = read_header(&path).unwrap();
    assert_eq!(h.transfer_syntax_uid, "1.2.840.10008.1.2.4.50");
    assert_eq!(
        h.pixel_data,
        idoctor_daemon::dicom::PixelDataLocation::Encapsulated
    );
    let decoded = load_slice(&path).unwrap().hu;
    let diffs: Vec<i32> = decoded
        .iter()
        .zip(&bytes)
        .map(|(&d, &b)| (i32::from(d) - i32::from(b)).abs())
        .collect();
    let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
    assert!(mean < 2.0, "mean error {mean}");
    assert!(mean > 0.0, "lossy coding leaves some error");
    assert!(decoded.iter().all(|&v| (0..=255).contains(&v)));
}

/// Copies of real pancreas slices with their orientation and positions rewritten.
fn reoriented(dir: &Path, iop: [f64; 6], position: impl Fn(usize) -> [f64; 3]) -> Vec<PathBuf> {
    files_in(&pancreas_dir())[40..46]
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
            write(&obj, dir, &format!("s{k}"))
        })
        .collect()
}

#[test]
fn sagittal_series_is_refused_and_gantry_tilt_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let sag_dir = tmp.path().join("sag");
    fs::create_dir(&sag_dir).unwrap();
    let sagittal = reoriented(&sag_dir, [0.0, 1.0, 0.0, 0.0, 0.0, -1.0], |k| {
        [3.0 * k as f64, 0.0, 0.0]
    });
    let e = load_series(&sagittal).unwrap_err();
    assert_eq!(e.code(), "non_axial");
    assert!(e.to_string().contains("sagittal"), "{e}");

    // A 15° gantry tilt: the table moves along z while the slice normal is tipped.
    let tilt_dir = tmp.path().join("tilt");
    fs::create_dir(&tilt_dir).unwrap();
    let t = 15f64.to_radians();
    let tilted = reoriented(&tilt_dir, [1.0, 0.0, 0.0, 0.0, t.cos(), t.sin()], |k| {
        [-275.0, -178.1, 200.0 + 3.0 * k as f64]
    });
    let v = load_series(&tilted).unwrap();
    assert_eq!(v.slices(), 6);
    assert!(
        v.warnings
            .iter()
            .any(|w| w.contains("gantry tilt") && w.contains("15.0°")),
        "{:?}",
        v.warnings
    );
    assert!(
        (v.slice_spacing - 3.0 * t.cos()).abs() < 1e-3,
        "{}",
        v.slice_spacing
    );

    // Extreme: a 45° oblique stack is not treated as axial.
    let steep_dir = tmp.path().join("steep");
    fs::create_dir(&steep_dir).unwrap();
    let t = 45f64.to_radians();
    let steep = reoriented(&steep_dir, [1.0, 0.0, 0.0, 0.0, t.cos(), t.sin()], |k| {
        [-275.0, -178.1, 200.0 + 3.0 * k as f64]
    });
    let e = load_series(&steep).unwrap_err();
    assert!(matches!(e.code(), "non_axial" | "gantry_tilt"), "{e}");
}

#[test]
fn missing_and_repeated_slices_are_reported_where_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = files_in(&pancreas_dir());
    // Files run superior → inferior: 1-075.dcm lies at z = 484.91 − 3 × 74 = 262.91 mm.
    let gone = files.remove(74);
    assert!(gone.ends_with("1-075.dcm"));
    let copy = tmp.path().join("again");
    fs::copy(&files[10], &copy).unwrap();
    files.push(copy);
    let v = load_series(&files).unwrap();
    assert_eq!(v.slices(), 133);
    let text = v.warnings.join("\n");
    assert!(text.contains("missing slice(s): a 6.00 mm step"), "{text}");
    assert!(text.contains("between z = 259.91 and z = 265.91"), "{text}");
    assert!(text.contains("1 file(s) repeat an instance"), "{text}");
}
