//! The frame around every view: the header (server, user, connection), the breadcrumb,
//! the footer with the keys that work here, the `:`/`/` input line, and the popups (help
//! generated from the keymap, forms, y/n confirmation). Also the shared table drawer
//! that builds only the visible rows.

use super::app::App;
use super::form::{Confirm, Form, LineInput};
use super::keymap::Cmd;
use super::listing::Listing;
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Table, Wrap};

/// A bordered block with a title in the theme.
pub fn block<'a>(theme: &Theme, title: impl Into<Line<'a>>) -> Block<'a> {
    Block::bordered()
        .border_style(theme.border())
        .title(title.into().style(theme.accent()))
}

/// Draws a table of `listing`'s visible rows only; `row(data_index)` builds one row.
#[allow(
    clippy::too_many_arguments,
    reason = "a table needs all of these, and a struct would only rename them"
)]
pub fn draw_table<'a>(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: String,
    header: &[&'a str],
    widths: &[Constraint],
    listing: &Listing,
    row: impl Fn(usize) -> Row<'a>,
) {
    let count = listing.order.len();
    let title = if count > 0 {
        format!(" {title} [{}/{count}] ", listing.selected + 1)
    } else {
        format!(" {title} [0] ")
    };
    let block = block(theme, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let body_height = inner.height.saturating_sub(1) as usize;
    let window = listing.window(body_height);
    let rows: Vec<Row> = window
        .clone()
        .map(|pos| {
            let r = row(listing.order[pos]);
            if pos == listing.selected {
                r.style(theme.selected())
            } else {
                r
            }
        })
        .collect();
    let header = Row::new(header.iter().copied()).style(theme.dim().add_modifier(Modifier::BOLD));
    frame.render_widget(
        Table::new(rows, widths.to_vec())
            .header(header)
            .column_spacing(1),
        inner,
    );
    if count == 0 && inner.height > 1 {
        let msg = if listing.filter.is_empty() {
            "nothing here"
        } else {
            "no rows match the filter"
        };
        frame.render_widget(
            Paragraph::new(msg).style(theme.dim()),
            Rect {
                y: inner.y + 1,
                height: 1,
                ..inner
            },
        );
    }
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The top line: product, server, user, connection state.
pub fn header(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut spans = vec![
        Span::styled(" iDoctor ", t.accent().add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(app.server.clone(), t.dim()),
        Span::raw("  "),
    ];
    if let Some(u) = &app.user {
        spans.push(Span::styled(
            u.username.clone(),
            t.text().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!(" ({})  ", u.role), t.dim()));
    }
    let (text, color) = app.connection_text();
    spans.push(Span::styled(text, Style::new().fg(color)));
    if app.readonly {
        spans.push(Span::styled("  [read-only]", Style::new().fg(t.warn)));
    }
    frame.render_widget(Line::from(spans), area);
}

/// The breadcrumb line with the status message on the right.
pub fn breadcrumb(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut spans = Vec::new();
    let crumbs = app.breadcrumb();
    for (i, c) in crumbs.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.dim()));
        }
        let style = if i + 1 == crumbs.len() {
            t.accent()
        } else {
            t.text()
        };
        spans.push(Span::styled(c.clone(), style));
    }
    if let Some((msg, error)) = &app.status {
        spans.push(Span::raw("   "));
        let color = if *error { t.error } else { t.ok };
        spans.push(Span::styled(msg.clone(), Style::new().fg(color)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The bottom line: the input being typed, or the keys that work here.
pub fn footer(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    if let Some(LineInput { prefix, text }) = &app.input {
        let line = Line::from(vec![
            Span::styled(prefix.to_string(), t.accent()),
            Span::raw(text.clone()),
            Span::styled("█", t.dim()),
        ]);
        frame.render_widget(line, area);
        return;
    }
    // `?` always shows at the right; the view's keys fill the rest and are cut first.
    let help = format!("<{}> help ", app.keymap.first_key(Cmd::Help));
    let help_w = (help.chars().count() as u16).min(area.width);
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(help_w)]).areas(area);
    frame.render_widget(Line::from(Span::styled(help, t.accent())), right);
    let mut spans = Vec::new();
    for (cmd, label) in app.footer_keys() {
        if cmd == Cmd::Help {
            continue;
        }
        let key = app.keymap.first_key(cmd);
        if key.is_empty() {
            continue;
        }
        let disabled = app.readonly && cmd.mutates();
        spans.push(Span::styled(
            format!("<{key}>"),
            if disabled { t.dim() } else { t.accent() },
        ));
        spans.push(Span::styled(format!(" {label}  "), t.dim()));
    }
    frame.render_widget(Line::from(spans), left);
}

/// `?`: every binding of every command, from the keymap.
pub fn help(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let popup = centered(area, 70, area.height.saturating_sub(2).max(3));
    let here = app.allowed_cmds();
    let lines: Vec<Line> = Cmd::ALL
        .iter()
        .filter(|c| here.contains(c))
        .map(|&c| {
            Line::from(vec![
                Span::styled(format!("{:<14}", app.keymap.keys_of(c)), t.accent()),
                Span::styled(c.describe().to_string(), t.text()),
                Span::styled(
                    if app.readonly && c.mutates() {
                        "  (read-only)"
                    } else {
                        ""
                    },
                    t.dim(),
                ),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block(t, " help: keys here (esc closes) ")),
        popup,
    );
}

/// A form popup; masked fields show bullets.
pub fn form(theme: &Theme, form: &Form, frame: &mut Frame, area: Rect) {
    let h = form.fields.len() as u16 + 4 + u16::from(form.error.is_some());
    let popup = centered(area, 64, h);
    let mut lines = Vec::new();
    for (i, f) in form.fields.iter().enumerate() {
        let value = if f.masked {
            "•".repeat(f.value.chars().count())
        } else {
            f.value.clone()
        };
        let focused = i == form.focus;
        lines.push(Line::from(vec![
            Span::styled(
                format!("{}{:<10} ", if focused { "›" } else { " " }, f.label),
                if focused { theme.accent() } else { theme.dim() },
            ),
            Span::styled(value, theme.text()),
            Span::styled(if focused { "█" } else { "" }, theme.dim()),
        ]));
    }
    if let Some(e) = &form.error {
        lines.push(Line::from(Span::styled(
            e.clone(),
            Style::new().fg(theme.error),
        )));
    }
    lines.push(Line::from(Span::styled(
        "enter next/submit · tab move · esc cancel",
        theme.dim(),
    )));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, format!(" {} ", form.title))),
        popup,
    );
}

/// The y/n popup.
pub fn confirm(theme: &Theme, c: &Confirm, frame: &mut Frame, area: Rect) {
    let popup = centered(area, 60, 5);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(c.question.clone(), theme.text())),
            Line::from(vec![
                Span::styled("y", theme.accent()),
                Span::styled(" yes   ", theme.dim()),
                Span::styled("n", theme.accent()),
                Span::styled(" no", theme.dim()),
            ]),
        ])
        .wrap(Wrap { trim: true })
        .block(block(theme, " confirm ").border_style(Style::new().fg(theme.warn))),
        popup,
    );
}

/// Splits the screen into header, breadcrumb, body and footer.
pub fn frame_areas(area: Rect) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area)
}
