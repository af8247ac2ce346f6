//! Pipeline benchmark: decode, L3, segmentation, total wall time and peak memory for the
//! 134-slice pancreas series and a 300-slice 512² phantom.
//!
//! Run: `cargo bench -p idoctor-daemon --bench pipeline` (release). Set
//! `IDOCTOR_BENCH_DATA` to benchmark other series (a folder) instead of the pancreas
//! case. Peak memory is the process's `VmHWM`, reset before each case, so each figure
//! covers that case alone; targets: under 1.5 s total for the phantom and a peak under
//! 4× the volume size.

use std::path::PathBuf;

use idoctor_daemon::analyze::{bench, bench_table};
use idoctor_daemon::pipeline::PipelineOptions;

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let real = std::env::var_os("IDOCTOR_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/data/ct/pancreas-ct-cb-001")
        });
    let scratch = tempfile::tempdir().expect("temporary directory");
    let threads = rayon::current_num_threads();
    let cases = bench(&[real], scratch.path(), &PipelineOptions::default());
    println!("pipeline benchmark ({threads} threads)");
    print!("{}", bench_table(&cases));
    for c in cases.iter().flatten() {
        println!("{}", serde_json::to_string(c).unwrap_or_default());
    }
}
