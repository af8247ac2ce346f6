//! Where the tissue segmenter goes wrong on phantoms: for each seed, the muscle Dice per
//! truth-L3 slice, the wrong pixels broken down by label, and a PNG of the worst slice
//! (CT in grey, correct muscle green, false muscle red, missed muscle blue).
//!
//! `cargo run --release -p idoctor-daemon --example tissue_errors -- OUT_DIR SEED…`
//! (seeds 0..20 when none are given; slice counts cycle as in the phantom accuracy test).
//! `ZOOM=1` crops the PNG to the focused truth (all muscle by default) with a margin, at 4×; `LABELS=1` draws the
//! predicted labels instead (the focused truth brightened, white where it got no label); `RAW=1`
//! the slice in a narrow soft-tissue window; `CONF=a,b` marks in red the pixels labelled `a`
//! whose truth is `b` (e.g. `CONF=3,4`: wall taken as paraspinal).

use std::path::PathBuf;

use idoctor_daemon::phantom::{PhantomOptions, generate_with_structures, structure_name};
use idoctor_daemon::pipeline::labels::{self, HuWindows};
use idoctor_daemon::pipeline::{range_slices, tissue::segment_slice};

const SLICES: [usize; 5] = [120, 150, 200, 250, 300];
const NAMES: [&str; 8] = [
    "bg", "psoasL", "psoasR", "parasp", "wall", "sat", "vat", "imat",
];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "tissue-errors".into()));
    std::fs::create_dir_all(&out)?;
    let seeds: Vec<u64> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    let seeds = if seeds.is_empty() {
        (0..20).collect()
    } else {
        seeds
    };
    let windows = HuWindows::default();
    // `FOCUS=imat` (or psoas, psoasR, para, wall, sat, vat) scores that tissue instead of all muscle.
    let focus: fn(u8) -> bool = match std::env::var("FOCUS").as_deref() {
        Ok("imat") => |l| l == labels::IMAT,
        Ok("psoas") => labels::is_psoas,
        Ok("psoasR") => |l| l == labels::PSOAS_RIGHT,
        Ok("sat") => |l| l == labels::SAT,
        Ok("vat") => |l| l == labels::VAT,
        Ok("para") => |l| l == labels::PARASPINAL,
        Ok("wall") => |l| l == labels::ABDOMINAL_WALL,
        _ => labels::is_muscle,
    };
    for seed in seeds {
        let matrix: usize = std::env::var("MATRIX")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(512);
        let slices = std::env::var("SLICES")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(SLICES[seed as usize % SLICES.len()]);
        let (p, ids) = generate_with_structures(&PhantomOptions::new(seed, slices, matrix));
        let ks = range_slices(&p.volume, &p.truth_finding())?;
        let mut fp = [0u64; 8];
        let mut fn_ = [0u64; 8];
        // The same, by the anatomical structure under the wrong pixel.
        let mut fp_s = [0u64; 256];
        let mut fn_s = [0u64; 256];
        let mut worst = (f64::MAX, 0usize, None);
        let mut sum = 0.0;
        // Over the whole range, as the per-tissue test pools it.
        let (mut inter_all, mut total_all) = (0u64, 0u64);
        for &k in &ks {
            let pred = segment_slice(p.volume.slice(k), p.volume.pixel_spacing, &windows);
            let truth = p.labels_of(k);
            let (mut inter, mut total) = (0u64, 0u64);
            let ids_k = ids.index_axis(ndarray::Axis(0), k);
            for ((&a, &b), &id) in pred.iter().zip(truth.iter()).zip(ids_k.iter()) {
                let (ma, mb) = (focus(a), focus(b));
                inter += u64::from(ma && mb);
                total += u64::from(ma) + u64::from(mb);
                if ma && !mb {
                    fp[usize::from(b.min(7))] += 1;
                    fp_s[usize::from(id)] += 1;
                }
                if mb && !ma {
                    fn_[usize::from(a.min(7))] += 1;
                    fn_s[usize::from(id)] += 1;
                }
            }
            let d = 2.0 * inter as f64 / total.max(1) as f64;
            inter_all += inter;
            total_all += total;
            sum += d;
            // `PICK=k` draws slice k instead of the worst one.
            let pick = std::env::var("PICK")
                .ok()
                .and_then(|v| v.parse::<usize>().ok());
            if pick.map_or(d < worst.0, |p| p == k) {
                worst = (d, k, Some(pred));
            }
        }
        let mean = sum / ks.len() as f64;
        let fmt = |c: &[u64; 8]| {
            NAMES
                .iter()
                .zip(c)
                .filter(|(_, n)| **n > 0)
                .map(|(l, n)| format!("{l}:{}", n / ks.len() as u64))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "seed {seed:2} muscle mean {mean:.4} pooled {:.4} worst {:.3} (slice {}) | false muscle on truth [{}] | missed muscle labelled [{}]",
            2.0 * inter_all as f64 / total_all.max(1) as f64,
            worst.0,
            worst.1,
            fmt(&fp),
            fmt(&fn_)
        );
        let top = |c: &[u64; 256]| {
            let mut v: Vec<(usize, u64)> = c
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, n)| *n > 0)
                .collect();
            v.sort_by_key(|e| std::cmp::Reverse(e.1));
            v.iter()
                .take(6)
                .map(|(id, n)| format!("{}:{}", structure_name(*id as u8), n / ks.len() as u64))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "         by structure: false muscle [{}] | missed muscle [{}]",
            top(&fp_s),
            top(&fn_s)
        );
        if let (k, Some(pred)) = (worst.1, worst.2) {
            let hu = p.volume.slice(k);
            let truth = p.labels_of(k);
            // Mean HU of the true psoas, the true other muscle and the false muscle.
            let mean_hu = |f: &dyn Fn(u8, u8) -> bool| {
                let v: Vec<f64> = pred
                    .iter()
                    .zip(truth.iter())
                    .zip(hu.iter())
                    .filter(|((a, b), _)| f(**a, **b))
                    .map(|(_, h)| f64::from(*h))
                    .collect();
                v.iter().sum::<f64>() / v.len().max(1) as f64
            };
            let count = |f: &dyn Fn(u8, u8) -> bool| {
                pred.iter()
                    .zip(truth.iter())
                    .filter(|(a, b)| f(**a, **b))
                    .count()
            };
            println!(
                "         HU: psoas {:.1}, paraspinal {:.1}, other muscle {:.0}, false muscle {:.0}; false psoas {} px at {:.0} HU, false wall {} px at {:.0} HU, false paraspinal {} px at {:.0} HU",
                mean_hu(&|_, b| labels::is_psoas(b)),
                mean_hu(&|_, b| b == labels::PARASPINAL),
                mean_hu(&|_, b| labels::is_muscle(b) && !labels::is_psoas(b)),
                mean_hu(&|a, b| labels::is_muscle(a) && !labels::is_muscle(b)),
                count(&|a, b| labels::is_psoas(a) && !labels::is_muscle(b)),
                mean_hu(&|a, b| labels::is_psoas(a) && !labels::is_muscle(b)),
                count(&|a, b| a == labels::ABDOMINAL_WALL && !labels::is_muscle(b)),
                mean_hu(&|a, b| a == labels::ABDOMINAL_WALL && !labels::is_muscle(b)),
                count(&|a, b| a == labels::PARASPINAL && !labels::is_muscle(b)),
                mean_hu(&|a, b| a == labels::PARASPINAL && !labels::is_muscle(b)),
            );
            let (h, w) = hu.dim();
            let img = image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
                let (y, x) = (y as usize, x as usize);
                let g = ((f32::from(hu[[y, x]]) + 200.0) / 500.0 * 255.0).clamp(0.0, 255.0) as u8;
                let (a, b) = (focus(pred[[y, x]]), focus(truth[[y, x]]));
                // `CONF=a,b` marks in red the pixels labelled `a` whose truth is `b`.
                if let Some((a, b)) = std::env::var("CONF").ok().and_then(|c| {
                    let (a, b) = c.split_once(',')?;
                    Some((a.parse::<u8>().ok()?, b.parse::<u8>().ok()?))
                }) && pred[[y, x]] == a
                    && truth[[y, x]] == b
                {
                    return image::Rgb([255, 0, 0]);
                }
                if std::env::var_os("LABELS").is_some() {
                    // Predicted labels; truth psoas pixels brightened.
                    let t = if b { 80 } else { 0 };
                    return match pred[[y, x]] {
                        labels::PSOAS_LEFT => image::Rgb([0, 150 + t, 0]),
                        labels::PSOAS_RIGHT => image::Rgb([0, 100 + t, 150 + t]),
                        labels::PARASPINAL => image::Rgb([150 + t, 150 + t, 0]),
                        labels::IMAT => image::Rgb([150 + t, 0, 150 + t]),
                        labels::ABDOMINAL_WALL => image::Rgb([150 + t, 60 + t, 0]),
                        _ if t > 0 => image::Rgb([255, 255, 255]),
                        _ => image::Rgb([g / 2, g / 2, g / 2]),
                    };
                }
                if std::env::var_os("RAW").is_some() {
                    // A narrow soft-tissue window (0–80 HU) to tell organs from muscle.
                    let g = (f32::from(hu[[y, x]]) / 80.0 * 255.0).clamp(0.0, 255.0) as u8;
                    return image::Rgb([g, g, g]);
                }
                match (a, b) {
                    (true, true) => image::Rgb([g / 3, g.max(120), g / 3]),
                    (true, false) => image::Rgb([255, 40, 40]),
                    (false, true) => image::Rgb([40, 80, 255]),
                    _ => image::Rgb([g, g, g]),
                }
            });
            // The body's bounding box, doubled, so the errors are visible.
            let zoom = std::env::var_os("ZOOM").is_some();
            let inside: Vec<(usize, usize)> = hu
                .indexed_iter()
                .filter(|(p, v)| if zoom { focus(truth[*p]) } else { **v > -500 })
                .map(|(p, _)| p)
                .collect();
            let (y0, y1) = (
                inside.iter().map(|p| p.0).min().unwrap_or(0),
                inside.iter().map(|p| p.0).max().unwrap_or(h - 1),
            );
            let (x0, x1) = (
                inside.iter().map(|p| p.1).min().unwrap_or(0),
                inside.iter().map(|p| p.1).max().unwrap_or(w - 1),
            );
            let m = if zoom { 25 } else { 0 };
            let (y0, x0) = (y0.saturating_sub(m), x0.saturating_sub(m));
            let (y1, x1) = ((y1 + m).min(h - 1), (x1 + m).min(w - 1));
            let crop = image::imageops::crop_imm(
                &img,
                x0 as u32,
                y0 as u32,
                (x1 - x0 + 1) as u32,
                (y1 - y0 + 1) as u32,
            )
            .to_image();
            let big = image::imageops::resize(
                &crop,
                crop.width() * if zoom { 4 } else { 2 },
                crop.height() * if zoom { 4 } else { 2 },
                image::imageops::FilterType::Nearest,
            );
            big.save(out.join(format!("seed{seed:02}-slice{k}.png")))?;
        }
    }
    Ok(())
}
