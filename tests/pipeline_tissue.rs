//! Tissue segmentation accuracy: against reference masks on real CT, for anatomical
//! plausibility on a real contrast scan at L3, and against phantom truth.
//!
//! `ts-t11-l2-tissue` (30 slices, T11–L2, 3 mm pixels) has TotalSegmentator `tissue_types`
//! masks aligned with the DICOM pixels.
//! The references are not intersected with any HU window (about 5 % of their muscle and
//! 2–4 % of their fat pixels lie outside the Alberta windows), so a perfect compartment map
//! plus the windows scores about 0.97–0.99, not 1. `torso_fat` is all fat inside the wall,
//! compared here with our VAT ∪ IMAT labels (the VAT window, −150…−50, is narrower than the
//! fat window, which alone caps that Dice near 0.94).

use std::path::{Path, PathBuf};

use idoctor_daemon::dicom::{Volume, load_series};
use idoctor_daemon::pipeline::labels::{HuWindows, IMAT, SAT, VAT, is_muscle};
use idoctor_daemon::pipeline::tissue::segment_slice;
use ndarray::Array2;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ct/ts-t11-l2-tissue")
}

/// The series in `dir` through the product's own reader: sorted inferior → superior by
/// position (the pancreas files are numbered the other way) and in canonical orientation.
fn load(dir: &Path) -> Volume {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("series folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
        .collect();
    files.sort();
    load_series(&files).expect("load series")
}

fn read_mask(path: &Path) -> Array2<bool> {
    let img = image::open(path).expect("open mask").to_luma8();
    Array2::from_shape_fn((img.height() as usize, img.width() as usize), |(y, x)| {
        img.get_pixel(x as u32, y as u32)[0] > 0
    })
}

fn dice(a: &Array2<bool>, b: &Array2<bool>) -> f64 {
    let inter = a.iter().zip(b.iter()).filter(|(x, y)| **x && **y).count() as f64;
    let total = (a.iter().filter(|v| **v).count() + b.iter().filter(|v| **v).count()) as f64;
    if total == 0.0 {
        1.0
    } else {
        2.0 * inter / total
    }
}

struct Stats {
    mean: f64,
    min: f64,
    max: f64,
}

fn stats(v: &[f64]) -> Stats {
    Stats {
        mean: v.iter().sum::<f64>() / v.len() as f64,
        min: v.iter().copied().fold(f64::INFINITY, f64::min),
        max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

#[test]
fn real_ct_dice_against_reference_masks() {
    let dir = data_dir();
    let windows = HuWindows::default();
    let vol = load(&dir.join("dicom"));
    assert_eq!(vol.slices(), 30);
    let (mut d_sat, mut d_mus, mut d_fat) = (Vec::new(), Vec::new(), Vec::new());
    // Slice files are numbered inferior → superior, like the volume.
    for i in 0..30 {
        let hu = vol.hu.index_axis(ndarray::Axis(0), i);
        let spacing = vol.pixel_spacing;
        let labels = segment_slice(hu, spacing, &windows);
        // The masks follow the stored pixel order; undo any canonical flip.
        let mask = |t: &str| {
            let m = read_mask(&dir.join(format!("masks/{t}/slice_{i:04}.png")));
            let m = if vol.flipped_rows {
                m.slice(ndarray::s![..;-1, ..]).to_owned()
            } else {
                m
            };
            if vol.flipped_cols {
                m.slice(ndarray::s![.., ..;-1]).to_owned()
            } else {
                m
            }
        };
        let (ref_mus, ref_sat, ref_fat) = (
            mask("skeletal_muscle"),
            mask("subcutaneous_fat"),
            mask("torso_fat"),
        );
        assert_eq!(ref_mus.dim(), labels.dim(), "mask and image grids differ");
        d_sat.push(dice(&labels.mapv(|l| l == SAT), &ref_sat));
        d_mus.push(dice(&labels.mapv(is_muscle), &ref_mus));
        d_fat.push(dice(&labels.mapv(|l| l == VAT || l == IMAT), &ref_fat));
    }
    let (s, m, f) = (stats(&d_sat), stats(&d_mus), stats(&d_fat));
    println!(
        "SAT    mean {:.3} (min {:.3}, max {:.3})",
        s.mean, s.min, s.max
    );
    println!(
        "muscle mean {:.3} (min {:.3}, max {:.3})",
        m.mean, m.min, m.max
    );
    println!(
        "VAT+IMAT vs torso_fat mean {:.3} (min {:.3}, max {:.3})",
        f.mean, f.min, f.max
    );
    // The bars are 0.90, 0.85 and 0.80; these floors sit just under what the
    // segmenter reaches (0.926, 0.873, 0.838 when set).
    assert!(s.mean >= 0.92, "SAT Dice {:.3}", s.mean);
    assert!(m.mean >= 0.87, "muscle Dice {:.3}", m.mean);
    assert!(f.mean >= 0.83, "fat inside the wall Dice {:.3}", f.mean);
}

/// Writes an overlay PNG (grey HU, one colour per label) when `IDOCTOR_TISSUE_OVERLAYS`
/// names a folder: the quickest way to judge a segmentation by eye.
fn maybe_overlay(name: &str, hu: &Array2<i16>, labels: &Array2<u8>) {
    let Some(dir) = std::env::var_os("IDOCTOR_TISSUE_OVERLAYS") else {
        return;
    };
    let (h, w) = labels.dim();
    let mut img = image::RgbImage::new(w as u32, h as u32);
    for ((y, x), &l) in labels.indexed_iter() {
        let g = ((f32::from(hu[[y, x]]) + 250.0) / 500.0 * 255.0).clamp(0.0, 255.0);
        let tint: Option<[f32; 3]> = match l {
            1 => Some([255.0, 0.0, 0.0]),
            2 => Some([0.0, 255.0, 0.0]),
            3 => Some([0.0, 0.0, 255.0]),
            4 => Some([255.0, 255.0, 0.0]),
            5 => Some([255.0, 128.0, 255.0]),
            6 => Some([0.0, 255.0, 255.0]),
            7 => Some([255.0, 128.0, 0.0]),
            _ => None,
        };
        let px = match tint {
            Some(c) => c.map(|c| (0.55 * g + 0.45 * c) as u8),
            None => [g as u8; 3],
        };
        img.put_pixel(x as u32, y as u32, image::Rgb(px));
    }
    let path = Path::new(&dir).join(format!("{name}.png"));
    img.save(&path).expect("write overlay");
}

#[test]
fn pancreas_l3_slices_are_anatomically_plausible() {
    use idoctor_daemon::pipeline::labels::{PARASPINAL, PSOAS_LEFT, PSOAS_RIGHT};
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ct/pancreas-ct-cb-001/dicom");
    let vol = load(&dir);
    assert_eq!(vol.slices(), 134);
    let spacing = &vol.pixel_spacing;
    let slice = |k: usize| vol.hu.index_axis(ndarray::Axis(0), k).to_owned();
    let windows = HuWindows::default();
    // L3 is k 40–49 in the inferior → superior order (see the data README).
    let start = std::time::Instant::now();
    for k in 40..50 {
        let hu = slice(k);
        let labels = segment_slice(hu.view(), *spacing, &windows);
        maybe_overlay(&format!("pancreas_k{k}"), &hu, &labels);
        let px_cm2 = spacing[0] * spacing[1] / 100.0;
        let area =
            |f: &dyn Fn(u8) -> bool| labels.iter().filter(|&&l| f(l)).count() as f64 * px_cm2;
        let (pl, pr) = (area(&|l| l == PSOAS_LEFT), area(&|l| l == PSOAS_RIGHT));
        let (para, muscle) = (area(&|l| l == PARASPINAL), area(&|l| is_muscle(l)));
        let (sat, vat) = (area(&|l| l == SAT), area(&|l| l == VAT));
        println!(
            "k {k}: psoas L {pl:.1} R {pr:.1}, paraspinal {para:.1}, muscle {muscle:.1}, SAT {sat:.1}, VAT {vat:.1} cm²"
        );
        assert!(
            (4.0..30.0).contains(&pl) && (4.0..30.0).contains(&pr),
            "k {k}: psoas {pl:.1} / {pr:.1} cm²"
        );
        assert!(
            pl / pr > 0.5 && pl / pr < 2.0,
            "k {k}: psoas asymmetry {pl:.1} / {pr:.1}"
        );
        assert!(para > 30.0, "k {k}: paraspinal {para:.1} cm²");
        assert!(
            (100.0..260.0).contains(&muscle),
            "k {k}: muscle {muscle:.1} cm²"
        );
        assert!((150.0..350.0).contains(&sat), "k {k}: SAT {sat:.1} cm²");
        assert!((50.0..250.0).contains(&vat), "k {k}: VAT {vat:.1} cm²");
        // The patient's left psoas lies at larger x (image right) than the right one.
        let mean_x = |lab: u8| {
            let (s, n) = labels
                .indexed_iter()
                .filter(|(_, l)| **l == lab)
                .fold((0.0, 0.0), |(s, n), ((_, x), _)| (s + x as f64, n + 1.0));
            s / n
        };
        assert!(mean_x(PSOAS_LEFT) > mean_x(PSOAS_RIGHT));
    }
    println!(
        "{:.1} ms per slice including checks (this build's profile)",
        start.elapsed().as_secs_f64() * 100.0
    );
    // Timing of the segmentation alone, on one core (the caller runs slices in parallel):
    // the best of five rounds over the ten slices, so a busy machine inflates it less.
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t0 = std::time::Instant::now();
        for k in 40..50 {
            let hu = vol.hu.index_axis(ndarray::Axis(0), k);
            std::hint::black_box(segment_slice(hu, *spacing, &windows));
        }
        best = best.min(t0.elapsed().as_secs_f64() * 1000.0 / 10.0);
    }
    println!(
        "{best:.1} ms per 512² slice, segmentation only, best of 5 rounds (this build's profile)"
    );
}

/// Dice of one label between two label maps, pooled over slices: `(intersection, total)`.
fn pooled(pred: &[Array2<u8>], truth: &[Array2<u8>], lab: u8) -> (usize, usize) {
    let mut acc = (0, 0);
    for (p, t) in pred.iter().zip(truth) {
        for (&a, &b) in p.iter().zip(t.iter()) {
            acc.0 += (a == lab && b == lab) as usize;
            acc.1 += (a == lab) as usize + (b == lab) as usize;
        }
    }
    acc
}

/// Phantom Dice floors per tissue (psoas L, psoas R, paraspinal, wall, SAT, VAT, IMAT):
/// mean over the 20 seeds, and worst seed.
/// Reached when set: means 0.977, 0.966, 0.972, 0.975, 1.000, 0.996, 0.978; worst 0.952,
/// 0.929 (seed 19: a right psoas wrapped by the liver and the vena cava at its own HU along
/// a broad front; seeds 16 and 10, 0.946 and 0.947: a bowel loop, and the liver), 0.946
/// (seed 19: a kidney abutting the quadratus lumborum at its HU; seed 9, 0.949: at these
/// thick slices the quadratus' edges are partial volume), 0.950 (seed 10: stool against a
/// thin wall), 0.999, 0.992, 0.954.
/// Before the psoas shed a rim brighter than its core and split at its necks
/// (`tissue::border`, `tissue::necks`), psoas L was 0.974 / 0.952 and psoas R 0.961 /
/// 0.918. Before the posterior sheet was trimmed to the erector's lateral edge, bowel gas
/// marked stool, the wall's thickness window widened to ±40° and the linea alba dropped,
/// paraspinal was 0.964 / 0.938 and wall 0.966 / 0.924; before the sector was aimed behind
/// the vertebra, kept walking past a thin midline and took the erector's flank under the
/// wall sheet, 0.935 / 0.873 and 0.947 / 0.894.
const PHANTOM_MEAN_FLOOR: [f64; 7] = [0.975, 0.965, 0.97, 0.97, 0.99, 0.99, 0.975];
const PHANTOM_WORST_FLOOR: [f64; 7] = [0.95, 0.925, 0.945, 0.945, 0.99, 0.99, 0.95];

/// Anatomy under the phantom's labels, pooled over the 20 seeds' L3 slices: the share of
/// the spinal canal's and kidneys' pixels labelled muscle (both read as muscle by HU), and
/// the share of the paraspinal mass (erector spinae and quadratus lumborum) found as
/// muscle. Ceilings and floor just past what the segmenter reaches (0.072, 0.044, 0.974
/// when set: a psoas grown into an abutting kidney of its own HU is the largest share of
/// the kidney figure; the quadratus seeded nearest the bone took less kidney, 0.061 before,
/// and the psoas's bright rim and necks less again, 0.051 before).
const CANAL_AS_MUSCLE_CEILING: f64 = 0.08;
const KIDNEY_AS_MUSCLE_CEILING: f64 = 0.048;
const PARASPINAL_FOUND_FLOOR: f64 = 0.97;
/// The same share for bowel (wall, fluid, stool) and the linea alba, both of muscle HU:
/// ceilings just past what is reached (0.016 and 0.283; bowel was 0.025 before bowel gas
/// marked stool and the wall's thickness window widened).
const BOWEL_AS_MUSCLE_CEILING: f64 = 0.02;
const LINEA_AS_MUSCLE_CEILING: f64 = 0.3;

#[test]
fn phantom_dice_per_tissue() {
    use idoctor_daemon::phantom::{PhantomOptions, generate_with_structures, structure_name};
    let names = [
        "",
        "psoas L",
        "psoas R",
        "paraspinal",
        "wall",
        "SAT",
        "VAT",
        "IMAT",
    ];
    let windows = HuWindows::default();
    let mut worst = [1.0f64; 8];
    let mut sum = [0.0f64; 8];
    // (pixels labelled muscle, pixels) per anatomical structure, over every seed.
    let mut by_structure = std::collections::HashMap::<&str, (usize, usize)>::new();
    for seed in 1..=20u64 {
        let t0 = std::time::Instant::now();
        let (ph, structures) = generate_with_structures(&PhantomOptions::new(seed, 125, 512));
        let gen_s = t0.elapsed().as_secs_f64();
        let Some([a, b]) = ph.truth.l3.slice_range else {
            panic!("seed {seed}: L3 outside the field")
        };
        let spacing = ph.volume.pixel_spacing;
        let mut pred = Vec::new();
        let mut truth = Vec::new();
        for k in a..=b {
            let hu = ph.volume.hu.index_axis(ndarray::Axis(0), k).to_owned();
            let labels = segment_slice(hu.view(), spacing, &windows);
            if k == ph.truth.l3.mid_slice_index {
                maybe_overlay(&format!("phantom_s{seed}_pred"), &hu, &labels);
                maybe_overlay(
                    &format!("phantom_s{seed}_truth"),
                    &hu,
                    &ph.labels_of(k).to_owned(),
                );
            }
            let ids = structures.index_axis(ndarray::Axis(0), k);
            for ((&l, &t), &id) in labels.iter().zip(ph.labels_of(k).iter()).zip(ids.iter()) {
                let name = structure_name(id);
                // Paraspinal pixels count where the truth calls them muscle (not their fat).
                if name != "para" || is_muscle(t) {
                    let e = by_structure.entry(name).or_default();
                    e.0 += usize::from(is_muscle(l));
                    e.1 += 1;
                }
            }
            pred.push(labels);
            truth.push(ph.labels_of(k).to_owned());
        }
        let mut line = format!("seed {seed:2} ({} slices, gen {gen_s:.1}s):", b - a + 1);
        for lab in 1..=7u8 {
            let (i, t) = pooled(&pred, &truth, lab);
            let d = if t == 0 {
                1.0
            } else {
                2.0 * i as f64 / t as f64
            };
            worst[lab as usize] = worst[lab as usize].min(d);
            sum[lab as usize] += d;
            line += &format!(" {} {d:.3}", names[lab as usize]);
        }
        println!("{line}");
        if std::env::var_os("IDOCTOR_TISSUE_CONFUSION").is_some() {
            let mut conf = [[0usize; 8]; 8];
            for (p, t) in pred.iter().zip(&truth) {
                for (&a, &b) in p.iter().zip(t.iter()) {
                    conf[b.min(7) as usize][a.min(7) as usize] += 1;
                }
            }
            println!("  truth\\pred {:?}", names);
            for (r, row) in conf.iter().enumerate() {
                println!("  {:>10} {:?}", names[r], row);
            }
        }
    }
    let share = |names: &[&str]| {
        let (m, n) = names.iter().fold((0, 0), |(m, n), s| {
            let e = by_structure.get(s).copied().unwrap_or_default();
            (m + e.0, n + e.1)
        });
        m as f64 / n.max(1) as f64
    };
    let canal = share(&["canal"]);
    let kidney = share(&["kidney_cortex", "kidney_medulla"]);
    let para = share(&["para"]);
    let bowel = share(&["gut_wall", "gut_fluid", "stool"]);
    let linea = share(&["linea_alba"]);
    println!(
        "labelled muscle: canal {canal:.3}, kidney {kidney:.3}, paraspinal mass {para:.3}, bowel {bowel:.3}, linea alba {linea:.3}"
    );
    let mean: Vec<f64> = sum.iter().map(|s| s / 20.0).collect();
    for lab in 1..=7 {
        println!(
            "{:>10}: mean {:.3}, worst {:.3}",
            names[lab], mean[lab], worst[lab]
        );
    }
    // Floors just under what the classical segmenter reaches (see the module notes); the
    // issue's goal is 0.95 for every tissue.
    for (lab, (&mean_floor, &worst_floor)) in PHANTOM_MEAN_FLOOR
        .iter()
        .zip(&PHANTOM_WORST_FLOOR)
        .enumerate()
    {
        let l = lab + 1;
        assert!(
            mean[l] >= mean_floor,
            "{} mean Dice {:.3} < {mean_floor}",
            names[l],
            mean[l]
        );
        assert!(
            worst[l] >= worst_floor,
            "{} worst Dice {:.3} < {worst_floor}",
            names[l],
            worst[l]
        );
    }
    assert!(
        canal <= CANAL_AS_MUSCLE_CEILING,
        "canal as muscle {canal:.3}"
    );
    assert!(
        kidney <= KIDNEY_AS_MUSCLE_CEILING,
        "kidney as muscle {kidney:.3}"
    );
    assert!(
        bowel <= BOWEL_AS_MUSCLE_CEILING,
        "bowel as muscle {bowel:.3}"
    );
    assert!(
        linea <= LINEA_AS_MUSCLE_CEILING,
        "linea alba as muscle {linea:.3}"
    );
    assert!(
        para >= PARASPINAL_FOUND_FLOOR,
        "paraspinal mass found {para:.3}"
    );
}

/// A psoas cut back to its fellow's mirror image is reported in the metrics' segmentation
/// notes, by slice, so a reviewer knows which overlay to check; a run with no cut reports
/// none, and the notes reach the result's JSON. (Phantom seed 4's right psoas abuts a
/// kidney and the liver with no fat plane; seed 1's psoas are clear.)
#[test]
fn psoas_cut_back_is_noted_in_the_result() {
    use idoctor_daemon::phantom::{PhantomOptions, generate};
    use idoctor_daemon::pipeline::{PipelineOptions, measure, no_progress, range_slices};
    let opts = PipelineOptions::default();
    let run = |seed: u64| {
        let ph = generate(&PhantomOptions::new(seed, 125, 512));
        let finding = ph.truth_finding();
        let ks = range_slices(&ph.volume, &finding).expect("L3 range");
        let m = measure(&ph.volume, &finding, &[], &opts, &no_progress).expect("measured");
        (ks, m.metrics)
    };
    let (_, clear) = run(1);
    assert!(
        clear.segmentation_notes.is_empty(),
        "{:?}",
        clear.segmentation_notes
    );

    let (ks, m) = run(4);
    assert!(
        !m.segmentation_notes.is_empty(),
        "seed 4's cut is not reported"
    );
    for note in &m.segmentation_notes {
        // "slice K (z Z mm): psoas right cut back from A to B cm² (the other side C cm²): …"
        let k: usize = note
            .strip_prefix("slice ")
            .and_then(|r| r.split(' ').next())
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("no slice in {note:?}"));
        assert!(ks.contains(&k), "slice {k} is outside the L3 range {ks:?}");
        let z = m
            .slices
            .iter()
            .find(|s| s.index as usize == k)
            .map(|s| s.z_mm)
            .expect("the noted slice is measured");
        assert!(note.contains(&format!("(z {z:.1} mm)")), "{note}");
        let areas: Vec<f64> = note
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|t| t.parse().ok())
            .collect();
        // k, z, before, after, fellow.
        let [_, _, before, after, fellow] = areas[..] else {
            panic!("{note}")
        };
        assert!(note.contains("psoas right cut back"), "{note}");
        assert!(after < before && before > 1.3 * fellow, "{note}");
    }
    let json = serde_json::to_string(&m).expect("serialises");
    assert!(
        json.contains("\"segmentation_notes\":[\"slice "),
        "notes missing from JSON"
    );

    // An operator's psoas mask on a noted slice (made the mid slice) drops that slice's
    // notes and keeps the others'.
    use idoctor_daemon::pipeline::labels::is_psoas;
    use idoctor_daemon::pipeline::metrics::{MaskOverride, OverrideTissue};
    let noted = |notes: &[String], k: usize| {
        notes
            .iter()
            .filter(|n| n.starts_with(&format!("slice {k} ")))
            .count()
    };
    let ph = generate(&PhantomOptions::new(4, 125, 512));
    let mut finding = ph.truth_finding();
    let k = *ks
        .iter()
        .find(|&&k| noted(&m.segmentation_notes, k) > 0)
        .expect("a noted slice");
    finding.mid_slice_index = Some(k as u32);
    let ov = MaskOverride {
        tissue: OverrideTissue::Psoas,
        mask: ph.labels_of(k).mapv(is_psoas),
    };
    let with_ov = measure(&ph.volume, &finding, &[ov], &opts, &no_progress).expect("measured");
    let notes = &with_ov.metrics.segmentation_notes;
    assert_eq!(noted(notes, k), 0, "{notes:?}");
    assert_eq!(
        notes.len(),
        m.segmentation_notes.len() - noted(&m.segmentation_notes, k)
    );
}

/// The paraspinal sector is found on every L3 slice, including the two kinds that lost it
/// whole: seed 11's first L3 slice, whose vertebra lies level with the body's centroid (the
/// sector was aimed along the noisy direction between them, 65° off the midline: Dice
/// 0.000), and a slice of seed 9 where the band behind a long spinous process stays thin
/// for more than the walk's gap (the walk stopped before the first thick ray: Dice 0.459).
/// Reached when set: worst slice 0.955 and 0.922.
#[test]
fn paraspinal_sector_is_found_on_every_l3_slice() {
    use idoctor_daemon::phantom::{PhantomOptions, generate};
    use idoctor_daemon::pipeline::labels::PARASPINAL;
    let windows = HuWindows::default();
    for (seed, slices) in [(11u64, 150usize), (9, 300)] {
        let ph = generate(&PhantomOptions::new(seed, slices, 512));
        let Some([a, b]) = ph.truth.l3.slice_range else {
            panic!("seed {seed}: L3 outside the field")
        };
        let worst = (a..=b)
            .map(|k| {
                let hu = ph.volume.hu.index_axis(ndarray::Axis(0), k);
                let pred = segment_slice(hu, ph.volume.pixel_spacing, &windows);
                let truth = ph.labels_of(k);
                (
                    dice(
                        &pred.mapv(|l| l == PARASPINAL),
                        &truth.mapv(|l| l == PARASPINAL),
                    ),
                    k,
                )
            })
            .fold((1.0f64, 0), |w, d| if d.0 < w.0 { d } else { w });
        println!(
            "seed {seed}: worst paraspinal slice {} Dice {:.3}",
            worst.1, worst.0
        );
        assert!(
            worst.0 >= 0.9,
            "seed {seed}: paraspinal Dice {:.3} on slice {}",
            worst.0,
            worst.1
        );
    }
}
