//! The jobs table: the caller's jobs refreshed every second, sortable by any column,
//! filterable, with jumps to held and `awaiting_review` jobs.

use super::app::App;
use super::chrome::draw_table;
use super::listing::Listing;
use crate::format::age;
use idoctor_protocol::{JobInfo, JobState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};
use std::cmp::Ordering;

/// Columns, in order; sorting cycles through them.
pub const COLUMNS: [&str; 9] = [
    "ID", "PATIENT", "DATE", "SERIES", "STATE", "STAGE", "L3", "VER", "AGE",
];

/// The jobs table's state.
#[derive(Debug, Default)]
pub struct JobsView {
    /// Jobs as last fetched.
    pub list: Vec<JobInfo>,
    /// Whether a fetch has arrived.
    pub loaded: bool,
    /// Selection, filter, order.
    pub listing: Listing,
    /// Sort column (index into [`COLUMNS`]).
    pub sort: usize,
    /// Sort descending.
    pub descending: bool,
    now_ms: i64,
}

fn state_text(j: &JobInfo) -> String {
    match (j.state, j.held_quota) {
        (JobState::Held, Some(q)) => format!("held({q})"),
        (s, _) => s.to_string(),
    }
}

fn stage_text(j: &JobInfo) -> String {
    match (&j.stage, j.progress) {
        (Some(s), Some(p)) if j.state == JobState::Running => format!("{s} {:.0}%", p * 100.0),
        (Some(s), _) if j.state == JobState::Running => s.clone(),
        _ => String::new(),
    }
}

impl JobsView {
    /// The selected job.
    pub fn selected(&self) -> Option<&JobInfo> {
        self.listing.selected_index().and_then(|i| self.list.get(i))
    }

    /// Cycles the sort column.
    pub fn next_sort(&mut self) {
        self.sort = (self.sort + 1) % COLUMNS.len();
    }

    /// Recomputes the visible order (filter, then sort).
    pub fn rebuild(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        let list = &self.list;
        let (col, desc) = (self.sort, self.descending);
        let hay = list.iter().map(|j| {
            format!(
                "{} {} {} {} {} {} {}",
                j.id,
                j.patient_id,
                j.study_date.as_deref().unwrap_or(""),
                j.series_description.as_deref().unwrap_or(""),
                state_text(j),
                j.stage.as_deref().unwrap_or(""),
                j.username
            )
            .to_lowercase()
        });
        let cmp = |a: &usize, b: &usize| {
            let (x, y) = (&list[*a], &list[*b]);
            let o = match col {
                0 => x.id.cmp(&y.id),
                1 => x.patient_id.cmp(&y.patient_id),
                2 => x.study_date.cmp(&y.study_date),
                3 => x.series_description.cmp(&y.series_description),
                4 => x.state.as_str().cmp(y.state.as_str()),
                5 => x
                    .progress
                    .partial_cmp(&y.progress)
                    .unwrap_or(Ordering::Equal),
                6 => x
                    .l3_confidence
                    .partial_cmp(&y.l3_confidence)
                    .unwrap_or(Ordering::Equal),
                7 => x.version.cmp(&y.version),
                _ => y.updated_at_ms.cmp(&x.updated_at_ms),
            }
            .then(x.id.cmp(&y.id));
            if desc { o.reverse() } else { o }
        };
        self.listing.rebuild(hay, Some(cmp));
    }

    /// Draws the table.
    pub fn draw(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let header: Vec<&str> = COLUMNS.to_vec();
        let arrow = if self.descending { "↓" } else { "↑" };
        let title = if self.loaded {
            format!("jobs (sort {} {arrow})", COLUMNS[self.sort].to_lowercase())
        } else {
            "jobs (loading…)".to_string()
        };
        let widths = [
            Constraint::Length(5),
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Fill(3),
            Constraint::Length(15),
            Constraint::Length(11),
            Constraint::Length(4),
            Constraint::Length(3),
            Constraint::Length(5),
        ];
        let now = self.now_ms;
        draw_table(
            frame,
            area,
            t,
            title,
            &header,
            &widths,
            &self.listing,
            |i| {
                let j = &self.list[i];
                let color = match j.state {
                    JobState::Done => t.ok,
                    JobState::Failed => t.error,
                    JobState::AwaitingReview | JobState::Held => t.warn,
                    JobState::Running => t.accent,
                    _ => t.text,
                };
                let conf = j
                    .l3_confidence
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_default();
                Row::new(vec![
                    Cell::from(j.id.to_string()),
                    Cell::from(j.patient_id.clone()),
                    Cell::from(j.study_date.clone().unwrap_or_default()),
                    Cell::from(j.series_description.clone().unwrap_or_default()),
                    Cell::from(Span::styled(state_text(j), Style::new().fg(color))),
                    Cell::from(stage_text(j)),
                    Cell::from(conf),
                    Cell::from(j.version.map(|v| format!("v{v}")).unwrap_or_default()),
                    Cell::from(age(now, j.updated_at_ms)),
                ])
                .style(t.text())
            },
        );
    }
}
