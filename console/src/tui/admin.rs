//! The admin views: users, one user's quotas (adjust and reset inline), the usage ledger
//! (filters, paging, CSV export) and per-type statistics (sparklines, totals, users at
//! ≥ 80 % and 100 %).

use super::action::UsageQuery;
use super::app::{App, parse_quota_type};
use super::chrome::{block, draw_table};
use super::form::Form;
use super::listing::Listing;
use crate::format::{amount, time};
use idoctor_protocol::{QuotaStats, QuotaStatus, UsageEntry, UsageKind, UserInfo};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Gauge, Paragraph, Row, Sparkline, Wrap};

/// Users.
#[derive(Debug, Default)]
pub struct UsersView {
    /// As fetched.
    pub list: Vec<UserInfo>,
    /// Selection and filter.
    pub listing: Listing,
}

impl UsersView {
    /// The selected user.
    pub fn selected(&self) -> Option<&UserInfo> {
        self.listing.selected_index().and_then(|i| self.list.get(i))
    }

    /// Recomputes the visible order.
    pub fn rebuild(&mut self) {
        let hay = self.list.iter().map(|u| {
            format!(
                "{} {} {} {} {}",
                u.username,
                u.role,
                u.plan,
                u.mode,
                if u.disabled { "disabled" } else { "active" }
            )
            .to_lowercase()
        });
        let list = &self.list;
        self.listing.rebuild(
            hay,
            Some(|a: &usize, b: &usize| list[*a].username.cmp(&list[*b].username)),
        );
    }

    /// Draws the table.
    pub fn draw(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        draw_table(
            frame,
            area,
            t,
            "users".into(),
            &[
                "USER", "ROLE", "PLAN", "MODE", "OUTBOX", "STATUS", "CREATED",
            ],
            &[
                Constraint::Min(10),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Length(8),
                Constraint::Length(16),
            ],
            &self.listing,
            |i| {
                let u = &self.list[i];
                let status = if u.disabled {
                    Span::styled("disabled", Style::new().fg(t.error))
                } else {
                    Span::styled("active", Style::new().fg(t.ok))
                };
                Row::new(vec![
                    Cell::from(u.username.clone()),
                    Cell::from(u.role.to_string()),
                    Cell::from(u.plan.clone()),
                    Cell::from(u.mode.to_string()),
                    Cell::from(if u.outbox { "yes" } else { "no" }),
                    Cell::from(status),
                    Cell::from(time(u.created_at_ms)),
                ])
                .style(t.text())
            },
        );
    }
}

/// One user's quotas.
#[derive(Debug, Default)]
pub struct QuotasView {
    /// Whose.
    pub user: Option<String>,
    /// Balances.
    pub list: Vec<QuotaStatus>,
    /// Notes from the last change.
    pub notes: Vec<String>,
    /// Selection.
    pub listing: Listing,
}

fn percent(used: i64, limit: i64) -> f64 {
    if limit > 0 {
        used as f64 * 100.0 / limit as f64
    } else if used > 0 {
        100.0
    } else {
        0.0
    }
}

impl QuotasView {
    /// Shows another user's quotas.
    pub fn set_user(&mut self, user: String) {
        if self.user.as_deref() != Some(user.as_str()) {
            self.list.clear();
            self.notes.clear();
            self.listing = Listing::default();
        }
        self.user = Some(user);
    }

    /// The selected balance.
    pub fn selected(&self) -> Option<&QuotaStatus> {
        self.listing.selected_index().and_then(|i| self.list.get(i))
    }

    /// Recomputes the visible order.
    pub fn rebuild(&mut self) {
        let hay = self.list.iter().map(|q| q.quota_type.to_string());
        self.listing
            .rebuild(hay, None::<fn(&usize, &usize) -> std::cmp::Ordering>);
    }

    /// Draws the table with a usage bar per type.
    pub fn draw(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        let Some(user) = &self.user else {
            frame.render_widget(
                Paragraph::new("pick a user: press u, or open one from :users")
                    .style(t.dim())
                    .block(block(t, " quotas ")),
                area,
            );
            return;
        };
        let notes_h = if self.notes.is_empty() { 0 } else { 3 };
        let [table, notes] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(notes_h)]).areas(area);
        draw_table(
            frame,
            table,
            t,
            format!("quotas of {user}"),
            &["TYPE", "USED", "LIMIT", "USE", "BAR", "RESETS"],
            &[
                Constraint::Length(22),
                Constraint::Length(10),
                Constraint::Length(12),
                Constraint::Length(5),
                Constraint::Min(10),
                Constraint::Length(16),
            ],
            &self.listing,
            |i| {
                let q = &self.list[i];
                let pct = percent(q.used, q.limit);
                let color = if pct >= 100.0 {
                    t.error
                } else if pct >= 80.0 {
                    t.warn
                } else {
                    t.ok
                };
                let filled = (pct.min(100.0) / 10.0).round() as usize;
                Row::new(vec![
                    Cell::from(q.quota_type.to_string()),
                    Cell::from(amount(q.quota_type, q.used)),
                    Cell::from(format!(
                        "{}{}",
                        amount(q.quota_type, q.limit),
                        if q.overridden { " *" } else { "" }
                    )),
                    Cell::from(Span::styled(format!("{pct:.0}%"), Style::new().fg(color))),
                    Cell::from(Span::styled(
                        format!("{}{}", "█".repeat(filled), "░".repeat(10 - filled)),
                        Style::new().fg(color),
                    )),
                    Cell::from(q.period_end_ms.map_or_else(|| "never".into(), time)),
                ])
                .style(t.text())
            },
        );
        if notes_h > 0 {
            frame.render_widget(
                Paragraph::new(self.notes.join("; "))
                    .style(Style::new().fg(t.warn))
                    .wrap(Wrap { trim: true })
                    .block(block(t, " notes ")),
                notes,
            );
        }
    }
}

/// The usage ledger.
#[derive(Debug)]
pub struct UsageView {
    /// Filters and the page cursor.
    pub filter: UsageQuery,
    /// Cursors of the newer pages visited, for going back.
    pub pages: Vec<Option<i64>>,
    /// Rows of this page.
    pub entries: Vec<UsageEntry>,
    /// The cursor of the next (older) page.
    pub next_before: Option<i64>,
    /// Selection and `/` filter.
    pub listing: Listing,
}

impl Default for UsageView {
    fn default() -> Self {
        Self {
            filter: UsageQuery {
                limit: 50,
                ..UsageQuery::default()
            },
            pages: Vec::new(),
            entries: Vec::new(),
            next_before: None,
            listing: Listing::default(),
        }
    }
}

fn parse_time(label: &str, s: &str) -> Result<Option<i64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|e| format!("{label}: {s:?} is not an RFC 3339 time ({e})"))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl UsageView {
    /// The query for the current page.
    pub fn query(&self, admin: bool) -> UsageQuery {
        UsageQuery {
            admin,
            ..self.filter.clone()
        }
    }

    /// Applies the filter form (user, type, kind, since, until); restarts paging.
    pub fn apply_form(&mut self, form: &Form) -> Result<(), String> {
        let user = form.value(0);
        let quota_type = parse_quota_type(form.value(1))?;
        let kind = match form.value(2) {
            "" => None,
            k => Some(k.parse::<UsageKind>()?),
        };
        let since_ms = parse_time("since", form.value(3))?;
        let until_ms = parse_time("until", form.value(4))?;
        self.filter = UsageQuery {
            username: (!user.is_empty()).then(|| user.to_string()),
            quota_type,
            kind,
            since_ms,
            until_ms,
            before_id: None,
            limit: self.filter.limit,
            admin: false,
        };
        self.pages.clear();
        self.listing.select(0);
        Ok(())
    }

    /// Recomputes the visible order (newest first, as the daemon sends them).
    pub fn rebuild(&mut self) {
        let hay = self.entries.iter().map(|e| {
            format!(
                "{} {} {} {} {} {}",
                e.username,
                e.actor.as_deref().unwrap_or("system"),
                e.quota_type,
                e.kind,
                e.job_id.map(|j| j.to_string()).unwrap_or_default(),
                e.idempotency_key
            )
            .to_lowercase()
        });
        self.listing
            .rebuild(hay, None::<fn(&usize, &usize) -> std::cmp::Ordering>);
    }

    /// The rows shown (after the `/` filter), as CSV with a header.
    pub fn csv(&self) -> String {
        let mut out =
            String::from("id,at,username,actor,quota_type,kind,amount,job_id,series_id,key\n");
        for &i in &self.listing.order {
            let e = &self.entries[i];
            let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(e.at_ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            let fields = [
                e.id.to_string(),
                at,
                e.username.clone(),
                e.actor.clone().unwrap_or_else(|| "system".into()),
                e.quota_type.to_string(),
                e.kind.to_string(),
                e.amount.to_string(),
                e.job_id.map(|j| j.to_string()).unwrap_or_default(),
                e.series_id.map(|s| s.to_string()).unwrap_or_default(),
                e.idempotency_key.clone(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }

    fn describe_filter(&self) -> String {
        let f = &self.filter;
        let mut parts = Vec::new();
        if let Some(u) = &f.username {
            parts.push(format!("user={u}"));
        }
        if let Some(q) = f.quota_type {
            parts.push(format!("type={q}"));
        }
        if let Some(k) = f.kind {
            parts.push(format!("kind={k}"));
        }
        if let Some(s) = f.since_ms {
            parts.push(format!("since {}", time(s)));
        }
        if let Some(u) = f.until_ms {
            parts.push(format!("until {}", time(u)));
        }
        parts.push(format!("page {}", self.pages.len() + 1));
        parts.join(" ")
    }

    /// Draws the ledger page.
    pub fn draw(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        draw_table(
            frame,
            area,
            t,
            format!("usage ({})", self.describe_filter()),
            &["ID", "AT", "USER", "ACTOR", "TYPE", "KIND", "AMOUNT", "JOB"],
            &[
                Constraint::Length(6),
                Constraint::Length(16),
                Constraint::Min(8),
                Constraint::Length(8),
                Constraint::Length(22),
                Constraint::Length(11),
                Constraint::Length(10),
                Constraint::Length(6),
            ],
            &self.listing,
            |i| {
                let e = &self.entries[i];
                Row::new(vec![
                    e.id.to_string(),
                    time(e.at_ms),
                    e.username.clone(),
                    e.actor.clone().unwrap_or_else(|| "system".into()),
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

/// Statistics for every quota type.
#[derive(Debug)]
pub struct StatsView {
    /// One per type, in display order.
    pub list: Vec<QuotaStats>,
    /// The type whose users are listed.
    pub selected: usize,
    /// Days of history.
    pub days: u32,
}

impl Default for StatsView {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            selected: 0,
            days: 30,
        }
    }
}

impl StatsView {
    /// Selects the previous or next type.
    pub fn step(&mut self, delta: isize) {
        let n = self.list.len().max(1) as isize;
        self.selected = (self.selected as isize + delta).rem_euclid(n) as usize;
    }

    /// Draws one row per type (sparkline, total, counts) and the selected type's users.
    pub fn draw(&self, app: &App, frame: &mut Frame, area: Rect) {
        let t = &app.theme;
        if self.list.is_empty() {
            frame.render_widget(
                Paragraph::new("loading…")
                    .style(t.dim())
                    .block(block(t, " stats ")),
                area,
            );
            return;
        }
        let compact = area.height < 40;
        let per = if compact { 1u16 } else { 3 };
        let wanted = per * self.list.len() as u16 + u16::from(compact) * 2;
        let top_h = wanted.min(area.height / 2).max(per);
        let [top, bottom] =
            Layout::vertical([Constraint::Length(top_h), Constraint::Min(0)]).areas(area);
        let top = if compact {
            let b = block(t, format!(" per day, last {} days ", self.days));
            let inner = b.inner(top);
            frame.render_widget(b, top);
            inner
        } else {
            top
        };
        let visible = (top.height / per).max(1) as usize;
        let first = self.selected.saturating_sub(visible - 1);
        for (k, s) in self.list.iter().enumerate().skip(first).take(visible) {
            let y = top.y + (k - first) as u16 * per;
            if y + per > top.y + top.height {
                break;
            }
            let r = Rect::new(top.x, y, top.width, per);
            let total: i64 = s.per_day.iter().map(|d| d.amount).sum();
            let style = if k == self.selected {
                t.accent()
            } else {
                t.text()
            };
            let data: Vec<u64> = s.per_day.iter().map(|d| d.amount.max(0) as u64).collect();
            let spark = Sparkline::default()
                .data(&data)
                .style(Style::new().fg(t.accent));
            if compact {
                let label = format!(
                    "{:<22} {:>9} ≥80% {} 100% {} ",
                    s.quota_type.as_str(),
                    amount(s.quota_type, total),
                    s.near_limit.len(),
                    s.at_limit.len()
                );
                let [l, g] = Layout::horizontal([
                    Constraint::Length(label.chars().count() as u16),
                    Constraint::Min(0),
                ])
                .areas(r);
                frame.render_widget(Span::styled(label, style), l);
                frame.render_widget(spark, g);
            } else {
                let title = format!(
                    " {} · used now {} · {} days {} · ≥80% {} · 100% {} ",
                    s.quota_type,
                    amount(s.quota_type, s.total_used),
                    self.days,
                    amount(s.quota_type, total),
                    s.near_limit.len(),
                    s.at_limit.len()
                );
                frame.render_widget(
                    spark.block(block(t, Line::from(Span::styled(title, style)))),
                    r,
                );
            }
        }
        let Some(s) = self.list.get(self.selected) else {
            return;
        };
        let mut lines = Vec::new();
        for (label, users, color) in [
            ("at or over 100%", &s.at_limit, t.error),
            ("at 80% or more", &s.near_limit, t.warn),
        ] {
            lines.push(Line::from(Span::styled(
                format!("{label}: {}", users.len()),
                Style::new().fg(color),
            )));
            for u in users {
                lines.push(Line::from(Span::styled(
                    format!(
                        "  {:<20} {:>12} / {:<12} {:>5.0}%",
                        u.username,
                        amount(s.quota_type, u.used),
                        amount(s.quota_type, u.limit),
                        u.percent
                    ),
                    t.text(),
                )));
            }
        }
        let pct = s
            .at_limit
            .iter()
            .chain(&s.near_limit)
            .map(|u| u.percent)
            .fold(0.0, f64::max);
        let gauge_h = if compact { 0 } else { 3 };
        let [gauge, users] =
            Layout::vertical([Constraint::Length(gauge_h), Constraint::Min(0)]).areas(bottom);
        frame.render_widget(
            Gauge::default()
                .ratio((pct / 100.0).clamp(0.0, 1.0))
                .label(format!("highest user {pct:.0}%"))
                .gauge_style(Style::new().fg(if pct >= 100.0 { t.error } else { t.warn }))
                .block(block(t, format!(" {} ", s.quota_type))),
            gauge,
        );
        frame.render_widget(
            Paragraph::new(lines).block(block(
                t,
                format!(
                    " {}: users near or at their limit (←/→ type) ",
                    s.quota_type
                ),
            )),
            users,
        );
    }
}
