//! Render benchmark: one frame of a 10,000-job table drawn into a `TestBackend`, at
//! 200×60 and 80×24, plus the cost of a refresh (filter and sort of every row) and the
//! process's resident memory. `cargo bench -p idoctor-console --bench render`.

use idoctor_console::tui::bench;

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    for (w, h) in [(200, 60), (80, 24)] {
        let r = bench::run(n, w, h, 300);
        println!(
            "jobs table: {} jobs at {}x{}: {:.3} ms/frame over {} frames; refresh (filter+sort) {:.3} ms; RSS {} KiB",
            r.jobs,
            r.size.0,
            r.size.1,
            r.per_frame.as_secs_f64() * 1000.0,
            r.frames,
            r.per_refresh.as_secs_f64() * 1000.0,
            r.rss_kib.map_or_else(|| "?".into(), |k| k.to_string()),
        );
    }
}
