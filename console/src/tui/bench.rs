//! The render benchmark: a jobs table of many rows drawn into a `TestBackend`, timed per
//! frame, with the process's resident memory. Run by `console/benches/render.rs`.

use super::action::Action;
use super::app::App;
use super::keymap::Keymap;
use super::theme::Theme;
use idoctor_protocol::{JobInfo, JobMode, JobState, JobStep, Role, UserInfo};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui_image::picker::Picker;
use std::time::{Duration, Instant};

/// What one benchmark run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Rows in the table.
    pub jobs: usize,
    /// Terminal size.
    pub size: (u16, u16),
    /// Frames drawn.
    pub frames: u32,
    /// Mean time per frame.
    pub per_frame: Duration,
    /// Time to apply one refresh (filter + sort of every row).
    pub per_refresh: Duration,
    /// Resident memory after the run, KiB (Linux), if known.
    pub rss_kib: Option<u64>,
}

/// `n` jobs in assorted states, as a refresh would bring them.
pub fn jobs(n: usize) -> Vec<JobInfo> {
    let states = JobState::ALL;
    (0..n)
        .map(|i| JobInfo {
            id: i as i64 + 1,
            series_id: i as i64 + 1,
            state: states[i % states.len()],
            step: JobStep::Full,
            stage: Some("segment".into()),
            progress: Some((i % 100) as f64 / 100.0),
            held_quota: None,
            error: None,
            mode: JobMode::Auto,
            attempts: 0,
            patient_id: format!("PAT{:06}", i * 7919 % 1_000_000),
            study_date: Some(format!("2026{:02}{:02}", i % 12 + 1, i % 28 + 1)),
            series_description: Some(format!("ABD CT {} mm", i % 5 + 1)),
            l3_confidence: Some((i % 97) as f64 / 97.0),
            l3_mid_z_mm: Some(-100.0),
            version: Some((i % 3) as i64 + 1),
            username: "ana".into(),
            created_at_ms: 1_700_000_000_000 + i as i64 * 1000,
            updated_at_ms: 1_700_000_000_000 + i as i64 * 1000,
        })
        .collect()
}

/// A logged-in app showing `list` on the jobs view.
pub fn app_with_jobs(list: Vec<JobInfo>) -> App {
    let mut app = App::new(
        "unix:/bench.sock".into(),
        false,
        Theme::dark(),
        Keymap::default(),
        Picker::halfblocks(),
    );
    app.update(Action::Connected(Ok(UserInfo {
        id: 1,
        username: "ana".into(),
        role: Role::Operator,
        plan: "pro".into(),
        disabled: false,
        mode: JobMode::Auto,
        outbox: false,
        created_at_ms: 0,
    })));
    app.update(Action::Jobs(Ok(list)));
    app
}

/// Resident memory of this process, KiB.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Draws `frames` frames of an `n`-job table at `width`×`height`, moving the selection
/// each frame so every frame does real work.
pub fn run(n: usize, width: u16, height: u16, frames: u32) -> Report {
    let list = jobs(n);
    let t0 = Instant::now();
    let mut app = app_with_jobs(list.clone());
    let refreshes = 5;
    for _ in 0..refreshes {
        app.update(Action::Jobs(Ok(list.clone())));
    }
    let per_refresh = t0.elapsed() / (refreshes + 1);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    let down = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::PageDown,
        crossterm::event::KeyModifiers::NONE,
    );
    let start = Instant::now();
    for _ in 0..frames {
        app.update(Action::Key(down));
        terminal.draw(|f| app.draw(f)).expect("draw");
    }
    Report {
        jobs: n,
        size: (width, height),
        frames,
        per_frame: start.elapsed() / frames.max(1),
        per_refresh,
        rss_kib: rss_kib(),
    }
}
