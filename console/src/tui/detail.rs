//! One job: its state, the sagittal with the L3 cursor, the axial preview of the cursor's
//! slice, the overlay of the selected version, the results table with the version
//! selector, the versions, and the log tail.
//!
//! L3 correction moves a cursor over `JobDetail::slice_z_mm` (inferior first): ↑ moves
//! it one slice up the picture (superior), PgUp one vertebra (≈ 35 mm of slices). Enter
//! sends `set-l3` with the cursor's z; nothing changes on the daemon before that.

use super::action::{Effect, Fetch, ImageKey, Picture};
use super::app::App;
use super::chrome::block;
use super::images::ImageSlot;
use crate::format::{bytes, time};
use idoctor_protocol::{
    ImageKind, JobDetail, JobState, LogLine, ResultVersion, TissueSet, TissueStats,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};

/// Height of one vertebra, for PgUp/PgDn.
pub const VERTEBRA_MM: f64 = 35.0;

const OVERLAYS: [ImageKind; 3] = [
    ImageKind::OverlayAll,
    ImageKind::OverlayCombo,
    ImageKind::OverlayPsoas,
];

/// The job detail's state.
#[derive(Debug)]
pub struct DetailView {
    /// Job id.
    pub id: i64,
    /// The job as last fetched.
    pub detail: Option<JobDetail>,
    /// The log tail.
    pub log: Vec<LogLine>,
    /// The L3 cursor: an index into `slice_z_mm`.
    pub cursor: Option<usize>,
    /// The L3 z the cursor was last placed from (so refreshes do not move it back).
    l3_seen: Option<f64>,
    /// The chosen version (`None`: the latest).
    pub version: Option<i64>,
    /// The results shown.
    pub results: Option<ResultVersion>,
    /// The results version being fetched.
    pub results_inflight: Option<i64>,
    results_failed: Option<i64>,
    /// The sagittal of the shown version.
    pub sagittal: ImageSlot,
    /// The axial slice under the cursor.
    pub axial: ImageSlot,
    /// The overlay of the shown version.
    pub overlay: ImageSlot,
    /// Which overlay.
    pub overlay_kind: usize,
}

impl DetailView {
    /// A detail view waiting for its first fetch.
    pub fn new(id: i64) -> Self {
        Self {
            id,
            detail: None,
            log: Vec::new(),
            cursor: None,
            l3_seen: None,
            version: None,
            results: None,
            results_inflight: None,
            results_failed: None,
            sagittal: ImageSlot::default(),
            axial: ImageSlot::default(),
            overlay: ImageSlot::default(),
            overlay_kind: 0,
        }
    }

    /// New data: keeps the cursor unless the job's L3 itself changed.
    pub fn set_detail(&mut self, detail: JobDetail) {
        let l3_z = detail.l3.as_ref().and_then(|l| l.mid_z_mm);
        if self.cursor.is_none() || l3_z != self.l3_seen {
            self.cursor = self.l3_index(&detail);
            self.l3_seen = l3_z;
        }
        if let Some(c) = self.cursor {
            self.cursor = Some(c.min(detail.slice_z_mm.len().saturating_sub(1)));
        }
        self.detail = Some(detail);
    }

    fn l3_index(&self, d: &JobDetail) -> Option<usize> {
        let l3 = d.l3.as_ref()?;
        if let Some(i) = l3.mid_slice_index {
            return Some(i as usize);
        }
        let z = l3.mid_z_mm?;
        nearest(&d.slice_z_mm, z)
    }

    /// The version whose results and images are shown.
    pub fn effective_version(&self) -> Option<i64> {
        let latest = self.detail.as_ref()?.versions.last().map(|v| v.version);
        self.version.or(latest)
    }

    /// Moves the cursor by `slices` (positive = superior), clamped to the series.
    pub fn move_l3(&mut self, slices: isize) {
        let Some(d) = &self.detail else { return };
        let n = d.slice_z_mm.len();
        if n == 0 {
            return;
        }
        let from = self.cursor.unwrap_or(n / 2) as isize;
        self.cursor = Some((from + slices).clamp(0, n as isize - 1) as usize);
    }

    /// Moves the cursor by about one vertebra (35 mm worth of slices).
    pub fn move_l3_vertebra(&mut self, direction: isize) {
        let step = self
            .detail
            .as_ref()
            .map_or(1, |d| slices_per(&d.slice_z_mm, VERTEBRA_MM));
        self.move_l3(direction * step as isize);
    }

    /// The cursor's slice index and z.
    pub fn cursor_target(&self) -> Option<(usize, f64)> {
        let d = self.detail.as_ref()?;
        let i = self.cursor?;
        d.slice_z_mm.get(i).map(|&z| (i, z))
    }

    /// Whether the cursor is away from the job's L3.
    pub fn cursor_moved(&self) -> bool {
        match (&self.detail, self.cursor) {
            (Some(d), Some(c)) => self.l3_index(d).is_some_and(|i| i != c),
            _ => false,
        }
    }

    /// Selects an older (−1) or newer (+1) version; past the newest means "latest".
    pub fn step_version(&mut self, delta: i64) {
        let Some(d) = &self.detail else { return };
        let Some(latest) = d.versions.last().map(|v| v.version) else {
            return;
        };
        let first = d.versions.first().map_or(1, |v| v.version);
        let current = self.version.unwrap_or(latest);
        let next = (current + delta).clamp(first, latest);
        self.version = if next == latest { None } else { Some(next) };
    }

    /// Cycles the overlay kind.
    pub fn next_overlay(&mut self) {
        self.overlay_kind = (self.overlay_kind + 1) % OVERLAYS.len();
    }

    /// Forgets failures so `refresh` retries them.
    pub fn clear_failures(&mut self) {
        self.results_failed = None;
        for slot in [&mut self.sagittal, &mut self.axial, &mut self.overlay] {
            slot.failed = None;
        }
    }

    /// A picture arrived.
    pub fn image_arrived(&mut self, key: ImageKey, r: Result<Picture, String>) {
        let slot = match key.kind {
            ImageKind::Sagittal => &mut self.sagittal,
            ImageKind::Axial { .. } => &mut self.axial,
            _ => &mut self.overlay,
        };
        slot.arrived(key, r);
    }

    fn measured(&self) -> bool {
        self.results
            .as_ref()
            .is_some_and(|r| r.analysis.metrics.is_some())
    }

    /// The results and images this view still needs.
    pub fn wanted_fetches(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(d) = &self.detail else { return fx };
        let id = self.id;
        let version = self.effective_version();
        if let Some(v) = version
            && self.results.as_ref().map(|r| r.info.version) != Some(v)
            && self.results_inflight.is_none()
            && self.results_failed != Some(v)
        {
            self.results_inflight = Some(v);
            fx.push(Effect::Fetch(Fetch::Results(id, Some(v))));
        }
        if version.is_some() {
            let key = ImageKey {
                job_id: id,
                version,
                kind: ImageKind::Sagittal,
            };
            if self.sagittal.wants(key) {
                self.sagittal.inflight = Some(key);
                fx.push(Effect::Fetch(Fetch::Image(key)));
            }
        }
        if let Some(c) = self.cursor
            && c < d.slice_z_mm.len()
        {
            let key = ImageKey {
                job_id: id,
                version: None,
                kind: ImageKind::Axial { index: c as u32 },
            };
            if self.axial.wants(key) {
                self.axial.inflight = Some(key);
                fx.push(Effect::Fetch(Fetch::Image(key)));
            }
        }
        if self.measured() && self.results.as_ref().map(|r| r.info.version) == version {
            let key = ImageKey {
                job_id: id,
                version,
                kind: OVERLAYS[self.overlay_kind],
            };
            if self.overlay.wants(key) {
                self.overlay.inflight = Some(key);
                fx.push(Effect::Fetch(Fetch::Image(key)));
            }
        }
        fx
    }

    /// Draws the view.
    pub fn draw(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let Some(d) = &self.detail else {
            frame.render_widget(
                Paragraph::new(format!("loading job {}…", self.id))
                    .style(t.dim())
                    .block(block(t, format!(" job {} ", self.id))),
                area,
            );
            return;
        };
        let wide = area.width >= 120;
        let info_h = 4u16.min(area.height);
        let rest = area.height.saturating_sub(info_h);
        let images_h = if area.height >= 30 {
            rest * 11 / 20
        } else {
            rest / 2
        };
        let [info, images, bottom] = Layout::vertical([
            Constraint::Length(info_h),
            Constraint::Length(images_h),
            Constraint::Min(0),
        ])
        .areas(area);
        self.draw_info(app, d, frame, info);
        let pics: Vec<Rect> = if wide {
            Layout::horizontal([Constraint::Ratio(1, 3); 3])
                .split(images)
                .to_vec()
        } else {
            Layout::horizontal([Constraint::Ratio(1, 2); 2])
                .split(images)
                .to_vec()
        };
        self.draw_sagittal(app, d, frame, pics[0]);
        self.draw_axial(app, frame, pics[1]);
        if let Some(&r) = pics.get(2) {
            self.draw_overlay(app, frame, r);
        }
        let [results, side] = if wide {
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(bottom)
        } else {
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(bottom)
        };
        self.draw_results(app, frame, results);
        let [versions, log] = Layout::vertical([
            Constraint::Length((d.versions.len() as u16 + 2).min(side.height / 2).max(3)),
            Constraint::Min(0),
        ])
        .areas(side);
        self.draw_versions(app, d, frame, versions);
        self.draw_log(app, frame, log);
    }

    fn draw_info(&self, app: &App, d: &JobDetail, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let j = &d.job;
        let state_color = match j.state {
            JobState::Done => t.ok,
            JobState::Failed => t.error,
            JobState::AwaitingReview | JobState::Held => t.warn,
            _ => t.accent,
        };
        let mut state = j.state.to_string();
        if let (JobState::Running, Some(s)) = (j.state, &j.stage) {
            state.push_str(&format!(" ({s} {:.0}%)", j.progress.unwrap_or(0.0) * 100.0));
        }
        let mut lines = vec![Line::from(vec![
            Span::styled(
                state,
                Style::new().fg(state_color).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!(
                    "  patient {}  study {}  {}  {} mode",
                    j.patient_id,
                    j.study_date.as_deref().unwrap_or("-"),
                    j.series_description.as_deref().unwrap_or("-"),
                    j.mode
                ),
                t.text(),
            ),
        ])];
        let l3 = match &d.l3 {
            Some(l3) => match (l3.mid_z_mm, l3.mid_slice_index) {
                (Some(z), i) => format!(
                    "L3 z {z:.1} mm (slice {}) by {}, confidence {:.2}{}",
                    i.map_or("-".into(), |i| i.to_string()),
                    l3.method,
                    l3.confidence,
                    if l3.low_confidence { " LOW" } else { "" }
                ),
                _ => format!("L3 not found: {}", l3.reason.as_deref().unwrap_or("-")),
            },
            None => "L3 not detected yet".into(),
        };
        let cursor = match self.cursor_target() {
            Some((i, z)) => {
                let moved = if self.cursor_moved() {
                    "  (moved: enter sets it)"
                } else {
                    ""
                };
                format!("cursor slice {i}/{} z {z:.1} mm{moved}", d.slice_z_mm.len())
            }
            None => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(l3, t.text()),
            Span::raw("   "),
            Span::styled(cursor, Style::new().fg(t.warn)),
        ]));
        if let Some(e) = &j.error {
            lines.push(Line::from(Span::styled(
                e.clone(),
                Style::new().fg(t.error),
            )));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(block(t, format!(" job {} ", j.id))),
            area,
        );
    }

    fn draw_sagittal(&self, app: &App, d: &JobDetail, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let title = match self.effective_version() {
            Some(v) => format!(" sagittal v{v} "),
            None => " sagittal ".into(),
        };
        let b = block(t, title);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        let line = self.cursor_target().and_then(|(_, z)| {
            let lo = d.slice_z_mm.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = d
                .slice_z_mm
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            (hi > lo).then(|| (hi - z) / (hi - lo))
        });
        if !self.sagittal.draw(frame, inner, &app.picker, line) {
            placeholder(app, &self.sagittal, frame, inner);
        }
    }

    fn draw_axial(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let title = match self.cursor_target() {
            Some((i, z)) => format!(" axial slice {i} (z {z:.1}) "),
            None => " axial ".into(),
        };
        let b = block(t, title);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        if !self.axial.draw(frame, inner, &app.picker, None) {
            placeholder(app, &self.axial, frame, inner);
        }
    }

    fn draw_overlay(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let name = match OVERLAYS[self.overlay_kind] {
            ImageKind::OverlayAll => "all tissues",
            ImageKind::OverlayCombo => "muscle",
            _ => "psoas",
        };
        let b = block(t, format!(" overlay: {name} "));
        let inner = b.inner(area);
        frame.render_widget(b, area);
        if !self.measured() {
            frame.render_widget(Paragraph::new("not measured yet").style(t.dim()), inner);
        } else if !self.overlay.draw(frame, inner, &app.picker, None) {
            placeholder(app, &self.overlay, frame, inner);
        }
    }

    fn draw_results(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let title = match &self.results {
            Some(r) => {
                // The title stays in view at any size; the notes' rows may not.
                let notes = r
                    .analysis
                    .metrics
                    .as_ref()
                    .map_or(0, |m| m.segmentation_notes.len());
                let check = if notes > 0 {
                    format!("· {notes} to check ")
                } else {
                    String::new()
                };
                format!(
                    " results v{} ({}) {check}←/→ version ",
                    r.info.version,
                    r.info.kind.as_str()
                )
            }
            None => " results ".into(),
        };
        let b = block(t, title);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        let Some(r) = &self.results else {
            frame.render_widget(Paragraph::new("no results yet").style(t.dim()), inner);
            return;
        };
        let Some(m) = &r.analysis.metrics else {
            let why = r
                .analysis
                .metrics_missing_reason
                .clone()
                .unwrap_or_else(|| "not measured".into());
            frame.render_widget(
                Paragraph::new(why).style(t.dim()).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        let tis: &TissueSet<TissueStats> = &m.middle.tissues;
        let vol = &m.volumes;
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
        let row = |name: &'static str, s: &TissueStats, v: f64| {
            Row::new(vec![
                name.to_string(),
                format!("{:.2}", s.area_cm2),
                f(s.hu_mean),
                f(s.hu_sd),
                format!("{v:.1}"),
            ])
        };
        let mut rows = vec![
            row("muscle", &tis.muscle, vol.muscle.volume_cm3),
            row("psoas", &tis.psoas, vol.psoas.volume_cm3),
            row("paraspinal", &tis.paraspinal, vol.paraspinal.volume_cm3),
            row(
                "abd. wall",
                &tis.abdominal_wall,
                vol.abdominal_wall.volume_cm3,
            ),
            row("SAT", &tis.sat, vol.sat.volume_cm3),
            row("VAT", &tis.vat, vol.vat.volume_cm3),
            row("IMAT", &tis.imat, vol.imat.volume_cm3),
        ];
        let d = |v: &idoctor_protocol::Derived<f64>| {
            v.value.map_or_else(
                || format!("n/a ({})", v.reason.as_deref().unwrap_or("")),
                |x| format!("{x:.1}"),
            )
        };
        let sarc = match (m.sarcopenic.value, &m.sarcopenic.reason) {
            (Some(true), _) => "SARCOPENIC".to_string(),
            (Some(false), _) => "no".to_string(),
            (None, r) => format!("n/a ({})", r.as_deref().unwrap_or("")),
        };
        rows.push(Row::new(vec![String::new()]));
        rows.push(
            Row::new(vec![
                "SMI".to_string(),
                d(&m.smi_cm2_m2),
                "PSOAS IDX".into(),
                d(&m.psoas_index_cm2_m2),
            ])
            .style(t.accent()),
        );
        rows.push(Row::new(vec![
            "sarcopenia".to_string(),
            sarc,
            "masks".into(),
            m.mask_source.clone(),
        ]));
        // What the segmenter adjusted, for the reviewer to check on the overlays.
        for note in &m.segmentation_notes {
            rows.push(
                Row::new(vec![
                    "check".to_string(),
                    String::new(),
                    String::new(),
                    String::new(),
                    note.clone(),
                ])
                .style(Style::new().fg(t.warn)),
            );
        }
        let header = Row::new(["TISSUE", "AREA cm²", "HU", "HU SD", "VOL cm³"])
            .style(t.dim().add_modifier(Modifier::BOLD));
        frame.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(11),
                    Constraint::Length(10),
                    Constraint::Length(10),
                    Constraint::Length(7),
                    Constraint::Min(7),
                ],
            )
            .header(header)
            .style(t.text()),
            inner,
        );
    }

    fn draw_versions(&self, app: &App, d: &JobDetail, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let shown = self.effective_version();
        let lines: Vec<Line> = d
            .versions
            .iter()
            .rev()
            .map(|v| {
                let style = if Some(v.version) == shown {
                    t.selected()
                } else {
                    t.text()
                };
                Line::from(Span::styled(
                    format!(
                        "v{} {} {} {} {}",
                        v.version,
                        time(v.created_at_ms),
                        v.kind.as_str(),
                        v.created_by.as_deref().unwrap_or("pipeline"),
                        bytes(v.bytes)
                    ),
                    style,
                ))
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).block(block(t, " versions ")), area);
    }

    fn draw_log(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let height = area.height.saturating_sub(2) as usize;
        let skip = self.log.len().saturating_sub(height);
        let lines: Vec<Line> = self.log[skip..]
            .iter()
            .map(|l| {
                let color = match l.level.as_str() {
                    "error" => t.error,
                    "warn" => t.warn,
                    _ => t.text,
                };
                Line::from(vec![
                    Span::styled(
                        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(l.at_ms)
                            .map(|x| x.format("%H:%M:%S ").to_string())
                            .unwrap_or_default(),
                        t.dim(),
                    ),
                    Span::styled(format!("{:<8} ", l.stage), t.dim()),
                    Span::styled(l.message.clone(), Style::new().fg(color)),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).block(block(t, " log ")), area);
    }
}

fn placeholder(app: &App, slot: &ImageSlot, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let (text, style) = match (&slot.failed, slot.inflight) {
        (Some((_, e)), _) => (e.clone(), Style::new().fg(t.error)),
        (_, Some(_)) => ("loading…".into(), t.dim()),
        _ => ("no image".into(), t.dim()),
    };
    frame.render_widget(
        Paragraph::new(text).style(style).wrap(Wrap { trim: true }),
        area,
    );
}

/// The index of the value nearest `z`.
pub fn nearest(zs: &[f64], z: f64) -> Option<usize> {
    zs.iter()
        .enumerate()
        .min_by(|a, b| (a.1 - z).abs().total_cmp(&(b.1 - z).abs()))
        .map(|(i, _)| i)
}

/// How many slices span `mm` (at least 1), from the median spacing.
pub fn slices_per(zs: &[f64], mm: f64) -> usize {
    let mut gaps: Vec<f64> = zs.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if gaps.is_empty() {
        return 1;
    }
    gaps.sort_by(f64::total_cmp);
    let spacing = gaps[gaps.len() / 2];
    if spacing <= 0.0 {
        return 1;
    }
    ((mm / spacing).round() as usize).max(1)
}
