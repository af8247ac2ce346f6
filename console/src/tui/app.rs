//! Console state and its update function.

use crossterm::event::{KeyCode, KeyEvent};
use idoctor_protocol::UserInfo;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

/// Something that changes the console's state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave the console.
    Quit,
    /// Try to connect again.
    Reconnect,
    /// The terminal changed size.
    Redraw,
    /// The connection attempt finished.
    Connected(Result<UserInfo, String>),
}

/// The connection as the header shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// Still trying.
    Connecting,
    /// Logged in.
    Online(UserInfo),
    /// Failed, with the reason.
    Failed(String),
}

/// All console state.
#[derive(Debug)]
pub struct App {
    server: String,
    readonly: bool,
    connection: Connection,
    quit: bool,
}

impl App {
    /// A console for a server.
    pub fn new(server: String, readonly: bool) -> Self {
        Self {
            server,
            readonly,
            connection: Connection::Connecting,
            quit: false,
        }
    }

    /// The connection state.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Whether the loop should end.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Maps a key to an action.
    pub fn key_action(&self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Char('r') => Some(Action::Reconnect),
            _ => None,
        }
    }

    /// Applies an action; may return a follow-up for the event loop to perform.
    pub fn update(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::Quit => self.quit = true,
            Action::Reconnect => {
                self.connection = Connection::Connecting;
                return Some(Action::Reconnect);
            }
            Action::Redraw => {}
            Action::Connected(Ok(user)) => self.connection = Connection::Online(user),
            Action::Connected(Err(reason)) => self.connection = Connection::Failed(reason),
        }
        None
    }

    /// Draws the whole screen.
    pub fn draw(&self, frame: &mut Frame) {
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let mut title = vec![Span::styled(
            " iDoctor ",
            Style::new().add_modifier(Modifier::BOLD).reversed(),
        )];
        title.push(Span::raw(format!(" {} ", self.server)));
        if self.readonly {
            title.push(Span::raw("[read-only] ").yellow());
        }
        frame.render_widget(Line::from(title), header);
        let lines: Vec<Line> = match &self.connection {
            Connection::Connecting => vec![Line::from("connecting…")],
            Connection::Online(u) => vec![
                Line::from(vec!["user  ".dim(), Span::raw(u.username.clone()).bold()]),
                Line::from(vec!["role  ".dim(), Span::raw(u.role.to_string())]),
                Line::from(vec!["plan  ".dim(), Span::raw(u.plan.clone())]),
                Line::from(vec!["mode  ".dim(), Span::raw(u.mode.to_string())]),
            ],
            Connection::Failed(reason) => vec![
                Line::from("not connected".red().bold()),
                Line::from(reason.clone()),
            ],
        };
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" session ")),
            body,
        );
        frame.render_widget(Line::from(" q quit   r reconnect ".dim()), footer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idoctor_protocol::{JobMode, Role};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn user() -> UserInfo {
        UserInfo {
            id: 1,
            username: "demo".into(),
            role: Role::Operator,
            plan: "free".into(),
            disabled: false,
            mode: JobMode::Auto,
            outbox: false,
            created_at_ms: 0,
        }
    }

    fn screen(app: &App, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| app.draw(f)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut s = String::new();
        for y in 0..h {
            for x in 0..w {
                s.push_str(buf[(x, y)].symbol());
            }
            s.push('\n');
        }
        s
    }

    #[test]
    fn shows_connection_user_and_role_and_quits() {
        let mut app = App::new("unix:/tmp/s".into(), false);
        assert!(screen(&app, 80, 24).contains("connecting"));
        app.update(Action::Connected(Ok(user())));
        let text = screen(&app, 80, 24);
        assert!(
            text.contains("unix:/tmp/s") && text.contains("demo") && text.contains("operator"),
            "{text}"
        );
        app.update(Action::Connected(Err("no daemon socket".into())));
        assert!(screen(&app, 40, 10).contains("not connected"));
        assert_eq!(app.update(Action::Reconnect), Some(Action::Reconnect));
        assert!(!app.should_quit());
        app.update(Action::Quit);
        assert!(app.should_quit());
    }
}
