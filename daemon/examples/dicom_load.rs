//! Load every CT series under the given paths and print what was found and how long
//! each stage took: discovery (walk + header pass), then pixel decoding into the volume.
//!
//! `cargo run --release -p idoctor-daemon --example dicom_load -- ../shared/data/ct/pancreas-ct-cb-001`
//! Run under `/usr/bin/time -v` for peak memory.

use std::path::PathBuf;
use std::time::Instant;

use idoctor_daemon::dicom::{LoadOptions, assemble, discover, read_headers};

fn main() {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: dicom_load PATH...");
        std::process::exit(2);
    }
    let t = Instant::now();
    let found = discover(&paths);
    println!(
        "discover: {} series, {} rejected, {:.1} ms",
        found.series.len(),
        found.rejected.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    for (path, e) in &found.rejected {
        println!("  rejected {}: {e}", path.display());
    }
    for s in &found.series {
        // Time the two passes of load_series separately: headers, then plan + decode.
        let files = s.files();
        let t0 = Instant::now();
        let instances = match read_headers(&files) {
            Ok(i) => i,
            Err(e) => {
                println!("series {}: {e}", s.series_uid);
                continue;
            }
        };
        let t1 = Instant::now();
        match assemble(&instances, &LoadOptions::default()) {
            Ok(v) => {
                let t2 = Instant::now();
                let mb = v.hu.len() as f64 * 2.0 / 1e6;
                println!(
                    "series {}: {}×{}×{} ({mb:.1} MB), z {:.2}..{:.2} mm, spacing {:.3} mm, pixel {:?}, flips r={} c={}",
                    s.series_uid,
                    v.slices(),
                    v.rows(),
                    v.cols(),
                    v.z_mm[0],
                    v.z_mm[v.slices() - 1],
                    v.slice_spacing,
                    v.pixel_spacing,
                    v.flipped_rows,
                    v.flipped_cols,
                );
                println!(
                    "  headers {:.1} ms, decode {:.1} ms, total {:.1} ms",
                    (t1 - t0).as_secs_f64() * 1e3,
                    (t2 - t1).as_secs_f64() * 1e3,
                    (t2 - t0).as_secs_f64() * 1e3
                );
                for w in &v.warnings {
                    println!("  warning: {w}");
                }
            }
            Err(e) => println!("series {}: {e}", s.series_uid),
        }
    }
}
