//! The caller's own views: series (with the quarantine and its reasons for admins) and
//! my quota (a bar per type with the period end, and my recent usage).

use super::app::App;
use super::chrome::{block, draw_table};
use super::listing::Listing;
use crate::format::{amount, bytes, time};
use idoctor_protocol::{QuarantineEntry, QuotaStatus, SeriesInfo, SeriesState, UsageEntry};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Gauge, Paragraph, Row};

/// Series.
#[derive(Debug, Default)]
pub struct SeriesView {
    /// As fetched.
    pub list: Vec<SeriesInfo>,
    /// The quarantine (admins only).
    pub quarantine: Option<Vec<QuarantineEntry>>,
    /// Selection and filter.
    pub listing: Listing,
}

impl SeriesView {
    /// Recomputes the visible order (newest first).
    pub fn rebuild(&mut self) {
        let hay = self.list.iter().map(|s| {
            format!(
                "{} {} {} {} {} {}",
                s.id,
                s.patient_id,
                s.description.as_deref().unwrap_or(""),
                s.state,
                s.reason.as_deref().unwrap_or(""),
                s.username
            )
            .to_lowercase()
        });
        let list = &self.list;
        self.listing.rebuild(
            hay,
            Some(|a: &usize, b: &usize| list[*b].id.cmp(&list[*a].id)),
        );
    }

    /// Draws the series and, for admins, the quarantine below.
    pub fn draw(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let (table, quarantine) = match &self.quarantine {
            Some(_) => {
                let [a, b] =
                    Layout::vertical([Constraint::Percentage(60), Constraint::Min(3)]).areas(area);
                (a, Some(b))
            }
            None => (area, None),
        };
        draw_table(
            frame,
            table,
            t,
            "series".into(),
            &[
                "ID",
                "PATIENT",
                "DATE",
                "DESCRIPTION",
                "STATE",
                "FILES",
                "SIZE",
                "JOB",
                "USER",
            ],
            &[
                Constraint::Length(5),
                Constraint::Min(8),
                Constraint::Length(8),
                Constraint::Min(10),
                Constraint::Length(10),
                Constraint::Length(5),
                Constraint::Length(10),
                Constraint::Length(5),
                Constraint::Length(10),
            ],
            &self.listing,
            |i| {
                let s = &self.list[i];
                let color = match s.state {
                    SeriesState::Held | SeriesState::Receiving => t.warn,
                    SeriesState::Rejected => t.error,
                    SeriesState::Queued => t.ok,
                    _ => t.text,
                };
                let state = match (s.state, s.held_quota) {
                    (SeriesState::Held, Some(q)) => format!("held({q})"),
                    (st, _) => st.to_string(),
                };
                Row::new(vec![
                    Cell::from(s.id.to_string()),
                    Cell::from(s.patient_id.clone()),
                    Cell::from(s.study_date.clone().unwrap_or_default()),
                    Cell::from(s.description.clone().unwrap_or_default()),
                    Cell::from(Span::styled(state, Style::new().fg(color))),
                    Cell::from(s.instances.to_string()),
                    Cell::from(bytes(s.bytes)),
                    Cell::from(s.job_id.map(|j| j.to_string()).unwrap_or_default()),
                    Cell::from(s.username.clone()),
                ])
                .style(t.text())
            },
        );
        if let (Some(area), Some(q)) = (quarantine, &self.quarantine) {
            let height = area.height.saturating_sub(2) as usize;
            let lines: Vec<Line> = q
                .iter()
                .take(height)
                .map(|e| {
                    Line::from(vec![
                        Span::styled(format!("{} ", time(e.at_ms)), t.dim()),
                        Span::styled(format!("{:<10} ", e.username), t.text()),
                        Span::styled(format!("{} ", e.path), t.text()),
                        Span::styled(e.reason.clone(), Style::new().fg(t.warn)),
                    ])
                })
                .collect();
            frame.render_widget(
                Paragraph::new(lines).block(block(t, format!(" quarantine ({}) ", q.len()))),
                area,
            );
        }
    }
}

/// My quota.
#[derive(Debug, Default)]
pub struct MyQuotaView {
    /// Balances.
    pub quotas: Vec<QuotaStatus>,
    /// Recent ledger rows.
    pub usage: Vec<UsageEntry>,
    /// Selection over the usage rows.
    pub listing: Listing,
}

impl MyQuotaView {
    /// Recomputes the visible usage rows.
    pub fn rebuild(&mut self) {
        let hay = self
            .usage
            .iter()
            .map(|e| format!("{} {}", e.quota_type, e.kind).to_lowercase());
        self.listing
            .rebuild(hay, None::<fn(&usize, &usize) -> std::cmp::Ordering>);
    }

    /// Draws a gauge per type and the usage table.
    pub fn draw(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let per = if area.height >= 30 { 3 } else { 1 };
        let gauges_h = (self.quotas.len() as u16 * per + 2).min(area.height / 2 + 1);
        let [top, bottom] =
            Layout::vertical([Constraint::Length(gauges_h), Constraint::Min(0)]).areas(area);
        let b = block(t, " my quota ");
        let inner = b.inner(top);
        frame.render_widget(b, top);
        for (k, q) in self.quotas.iter().enumerate() {
            let y = inner.y + k as u16 * per;
            if y + per > inner.y + inner.height {
                break;
            }
            let r = Rect::new(inner.x, y, inner.width, per);
            let ratio = if q.limit > 0 {
                q.used as f64 / q.limit as f64
            } else if q.used > 0 {
                1.0
            } else {
                0.0
            };
            let color = if ratio >= 1.0 {
                t.error
            } else if ratio >= 0.8 {
                t.warn
            } else {
                t.ok
            };
            let label = format!(
                "{}: {} / {} ({:.0}%) · {}",
                q.quota_type,
                amount(q.quota_type, q.used),
                amount(q.quota_type, q.limit),
                ratio * 100.0,
                q.period_end_ms
                    .map_or_else(|| "never resets".into(), |e| format!("resets {}", time(e)))
            );
            frame.render_widget(
                Gauge::default()
                    .ratio(ratio.clamp(0.0, 1.0))
                    .label(label)
                    .gauge_style(Style::new().fg(color)),
                r,
            );
        }
        draw_table(
            frame,
            bottom,
            t,
            "my recent usage".into(),
            &["AT", "TYPE", "KIND", "AMOUNT", "JOB"],
            &[
                Constraint::Length(16),
                Constraint::Length(22),
                Constraint::Length(11),
                Constraint::Length(12),
                Constraint::Min(5),
            ],
            &self.listing,
            |i| {
                let e = &self.usage[i];
                Row::new(vec![
                    time(e.at_ms),
                    e.quota_type.to_string(),
                    e.kind.to_string(),
                    format!("{:+}", e.amount),
                    e.job_id.map(|j| j.to_string()).unwrap_or_default(),
                ])
                .style(t.text())
            },
        );
    }
}
