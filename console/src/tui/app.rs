//! Console state and its update function. `App::update` takes an [`Action`] and returns
//! the [`Effect`]s the runtime should perform; it never waits and never draws, so every
//! behaviour here is testable without a terminal or a daemon.

use super::action::{
    Action, Effect, ErrorKind, Fetch, Mutation, NewUserSpec, Outcome, Rpc, RpcError,
};
use super::admin::{QuotasView, StatsView, UsageView, UsersView};
use super::chrome;
use super::detail::DetailView;
use super::form::{Confirm, Form, FormEvent, FormKind, LineInput};
use super::jobs::JobsView;
use super::keymap::{Cmd, Key, Keymap};
use super::listing::{Filter, Listing};
use super::mine::{MyQuotaView, SeriesView};
use super::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent};
use idoctor_protocol::{JobMode, JobState, MaskTissue, QuotaType, Role, UserInfo};
use ratatui::Frame;
use ratatui::style::Color;
use ratatui_image::picker::Picker;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Where the operator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// The jobs table.
    Jobs,
    /// One job.
    Job(i64),
    /// My series (and the quarantine for admins).
    Series,
    /// My quota.
    MyQuota,
    /// Users (admin).
    Users,
    /// A user's quotas (admin).
    Quotas,
    /// The usage ledger.
    Usage,
    /// Statistics (admin).
    Stats,
}

impl View {
    fn name(self) -> String {
        match self {
            View::Jobs => "jobs".into(),
            View::Job(id) => format!("job {id}"),
            View::Series => "series".into(),
            View::MyQuota => "my quota".into(),
            View::Users => "users".into(),
            View::Quotas => "quotas".into(),
            View::Usage => "usage".into(),
            View::Stats => "stats".into(),
        }
    }

    fn admin_only(self) -> bool {
        matches!(self, View::Users | View::Quotas | View::Stats)
    }

    /// How often its data is fetched again.
    fn interval(self) -> Duration {
        match self {
            View::Jobs | View::Job(_) => Duration::from_secs(1),
            _ => Duration::from_secs(5),
        }
    }
}

/// The connection as the header shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// Still trying for the first time.
    Connecting,
    /// Working.
    Online,
    /// Failed `failures` times in a row; next try at `retry_at`.
    Reconnecting {
        /// Consecutive failures.
        failures: u32,
        /// When the next try goes out.
        retry_at: Instant,
        /// The last reason.
        reason: String,
    },
    /// The session is missing or expired.
    NeedsLogin,
}

/// Which periodic fetch is in flight (at most one of each kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Poll {
    Whoami,
    View(View),
}

/// All console state.
#[derive(Debug)]
pub struct App {
    /// The daemon, as shown in the header.
    pub server: String,
    /// `--readonly`.
    pub readonly: bool,
    /// Colours.
    pub theme: Theme,
    /// Key bindings.
    pub keymap: Keymap,
    /// How images are drawn.
    pub picker: Picker,
    /// Who is logged in.
    pub user: Option<UserInfo>,
    /// Connection state.
    pub connection: Connection,
    /// The status line: message and whether it is an error.
    pub status: Option<(String, bool)>,
    /// The navigation stack; the last is shown.
    pub stack: Vec<View>,
    /// `:` or `/` being typed.
    pub input: Option<LineInput>,
    /// A form popup.
    pub form: Option<Form>,
    /// A pending y/n.
    pub confirm: Option<Confirm>,
    /// `?` is open.
    pub help: bool,
    quit: bool,
    now: Instant,
    inflight: HashSet<Poll>,
    next_poll: Instant,
    /// Jobs table.
    pub jobs: JobsView,
    /// Job detail (for the job on top of the stack).
    pub detail: Option<DetailView>,
    /// Series.
    pub series: SeriesView,
    /// My quota.
    pub my_quota: MyQuotaView,
    /// Users.
    pub users: UsersView,
    /// Quotas of one user.
    pub quotas: QuotasView,
    /// Usage ledger.
    pub usage: UsageView,
    /// Stats.
    pub stats: StatsView,
}

/// Backoff after `failures` consecutive connection failures: 1, 2, 4, 8, then 10 s.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(3)).min(Duration::from_secs(10))
}

/// The commands that work in every view: the first ones in help order.
const GLOBAL: &[Cmd] = Cmd::ALL.split_at(13).0;

impl App {
    /// A console for a server.
    pub fn new(
        server: String,
        readonly: bool,
        theme: Theme,
        keymap: Keymap,
        picker: Picker,
    ) -> Self {
        let now = Instant::now();
        Self {
            server,
            readonly,
            theme,
            keymap,
            picker,
            user: None,
            connection: Connection::Connecting,
            status: None,
            stack: vec![View::Jobs],
            input: None,
            form: None,
            confirm: None,
            help: false,
            quit: false,
            now,
            inflight: HashSet::new(),
            next_poll: now,
            jobs: JobsView::default(),
            detail: None,
            series: SeriesView::default(),
            my_quota: MyQuotaView::default(),
            users: UsersView::default(),
            quotas: QuotasView::default(),
            usage: UsageView::default(),
            stats: StatsView::default(),
        }
    }

    /// Whether the loop should end.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// The view on top.
    pub fn view(&self) -> View {
        *self.stack.last().unwrap_or(&View::Jobs)
    }

    fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Admin)
    }

    /// The clock the last tick brought.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Header text and colour for the connection.
    pub fn connection_text(&self) -> (String, Color) {
        match &self.connection {
            Connection::Connecting => ("connecting…".into(), self.theme.warn),
            Connection::Online => ("● online".into(), self.theme.ok),
            Connection::Reconnecting {
                retry_at, reason, ..
            } => {
                let secs = retry_at.saturating_duration_since(self.now).as_secs();
                (
                    format!("reconnecting… (retry in {secs}s: {reason})"),
                    self.theme.error,
                )
            }
            Connection::NeedsLogin => ("login needed (:login)".into(), self.theme.warn),
        }
    }

    /// The breadcrumb: the stack, then the version and filter.
    pub fn breadcrumb(&self) -> Vec<String> {
        let mut crumbs: Vec<String> = self.stack.iter().map(|v| v.name()).collect();
        if let (View::Job(_), Some(d)) = (self.view(), &self.detail)
            && let Some(v) = d.effective_version()
        {
            crumbs.push(format!("v{v}"));
        }
        if let Some(l) = self.listing()
            && !l.filter.is_empty()
        {
            crumbs.push(l.filter.describe());
        }
        crumbs
    }

    /// The commands that work in the current view, view-specific first.
    pub fn allowed_cmds(&self) -> Vec<Cmd> {
        let specific: &[Cmd] = match self.view() {
            View::Jobs => &[
                Cmd::Sort,
                Cmd::SortReverse,
                Cmd::JumpReview,
                Cmd::JumpHeld,
                Cmd::Continue,
                Cmd::Rerun,
                Cmd::CancelJob,
            ],
            View::Job(_) => &[
                Cmd::Continue,
                Cmd::Rerun,
                Cmd::CancelJob,
                Cmd::Left,
                Cmd::Right,
                Cmd::Overlay,
                Cmd::UploadMask,
            ],
            View::Users => &[
                Cmd::AddUser,
                Cmd::Disable,
                Cmd::Enable,
                Cmd::Password,
                Cmd::Plan,
                Cmd::Mode,
            ],
            View::Quotas => &[Cmd::Adjust, Cmd::Reset, Cmd::ResetAll, Cmd::PickUser],
            View::Usage => &[Cmd::EditFilters, Cmd::NextPage, Cmd::PrevPage, Cmd::Export],
            View::Stats => &[Cmd::Left, Cmd::Right],
            View::Series | View::MyQuota => &[],
        };
        specific.iter().chain(GLOBAL.iter()).copied().collect()
    }

    /// What the footer shows here.
    pub fn footer_keys(&self) -> Vec<(Cmd, &'static str)> {
        let mut keys: Vec<(Cmd, &'static str)> = match self.view() {
            View::Jobs => vec![
                (Cmd::Select, "open"),
                (Cmd::Sort, "sort"),
                (Cmd::JumpReview, "next review"),
                (Cmd::JumpHeld, "next held"),
                (Cmd::Rerun, "rerun"),
                (Cmd::CancelJob, "cancel"),
            ],
            View::Job(_) => vec![
                (Cmd::Up, "L3 up"),
                (Cmd::Down, "L3 down"),
                (Cmd::PageUp, "vertebra up"),
                (Cmd::PageDown, "vertebra down"),
                (Cmd::Select, "set L3"),
                (Cmd::Continue, "continue"),
                (Cmd::Left, "version"),
                (Cmd::Overlay, "overlay"),
                (Cmd::UploadMask, "mask"),
                (Cmd::Rerun, "rerun"),
            ],
            View::Users => vec![
                (Cmd::Select, "quotas"),
                (Cmd::AddUser, "add"),
                (Cmd::Disable, "disable"),
                (Cmd::Enable, "enable"),
                (Cmd::Password, "password"),
                (Cmd::Plan, "plan"),
                (Cmd::Mode, "mode"),
            ],
            View::Quotas => vec![
                (Cmd::Adjust, "adjust"),
                (Cmd::Reset, "reset"),
                (Cmd::ResetAll, "reset all"),
                (Cmd::PickUser, "user"),
            ],
            View::Usage => vec![
                (Cmd::EditFilters, "filters"),
                (Cmd::NextPage, "older"),
                (Cmd::PrevPage, "newer"),
                (Cmd::Export, "csv"),
            ],
            View::Stats => vec![(Cmd::Right, "quota type")],
            View::Series | View::MyQuota => vec![],
        };
        keys.extend([
            (Cmd::Command, "cmd"),
            (Cmd::Filter, "filter"),
            (Cmd::Help, "help"),
            (Cmd::Back, "back"),
            (Cmd::Quit, "quit"),
        ]);
        keys
    }

    fn listing(&self) -> Option<&Listing> {
        match self.view() {
            View::Jobs => Some(&self.jobs.listing),
            View::Series => Some(&self.series.listing),
            View::Users => Some(&self.users.listing),
            View::Quotas => Some(&self.quotas.listing),
            View::Usage => Some(&self.usage.listing),
            View::MyQuota => Some(&self.my_quota.listing),
            View::Job(_) | View::Stats => None,
        }
    }

    fn listing_mut(&mut self) -> Option<&mut Listing> {
        match self.view() {
            View::Jobs => Some(&mut self.jobs.listing),
            View::Series => Some(&mut self.series.listing),
            View::Users => Some(&mut self.users.listing),
            View::Quotas => Some(&mut self.quotas.listing),
            View::Usage => Some(&mut self.usage.listing),
            View::MyQuota => Some(&mut self.my_quota.listing),
            View::Job(_) | View::Stats => None,
        }
    }

    fn rebuild(&mut self, view: View) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        match view {
            View::Jobs => self.jobs.rebuild(now_ms),
            View::Series => self.series.rebuild(),
            View::Users => self.users.rebuild(),
            View::Quotas => self.quotas.rebuild(),
            View::Usage => self.usage.rebuild(),
            View::MyQuota => self.my_quota.rebuild(),
            View::Job(_) | View::Stats => {}
        }
    }

    fn info(&mut self, msg: impl Into<String>) {
        self.status = Some((msg.into(), false));
    }

    fn error(&mut self, msg: impl Into<String>) {
        self.status = Some((msg.into(), true));
    }

    /// Applies an action and returns the work it asks for.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let mut fx = Vec::new();
        match action {
            Action::Key(key) => self.on_key(key, &mut fx),
            Action::Tick(now) => self.now = now,
            Action::Redraw => {}
            Action::Connected(r) => {
                self.inflight.remove(&Poll::Whoami);
                if let Some(user) = self.on_result(r) {
                    self.user = Some(user);
                    self.next_poll = self.now;
                }
            }
            Action::LoggedIn(r) => match r {
                Ok(user) => {
                    self.form = None;
                    self.info(format!("logged in as {}", user.username));
                    self.user = Some(user);
                    self.connection = Connection::Online;
                    self.inflight.clear();
                    self.next_poll = self.now;
                }
                Err(e) => {
                    let mut form = self.login_form();
                    form.error = Some(e.message);
                    self.form = Some(form);
                }
            },
            Action::Jobs(r) => {
                self.poll_done(View::Jobs);
                if let Some(list) = self.on_result(r) {
                    self.jobs.list = list;
                    self.jobs.loaded = true;
                    self.rebuild(View::Jobs);
                }
            }
            Action::Detail(id, r) => {
                self.poll_done(View::Job(id));
                if let Some((detail, log)) = self.on_result(r)
                    && let Some(d) = self.detail.as_mut().filter(|d| d.id == id)
                {
                    d.set_detail(detail);
                    d.log = log;
                }
            }
            Action::Results(id, r) => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.id == id) {
                    d.results_inflight = None;
                }
                let r = self.on_result(r);
                if let (Some(res), Some(d)) = (r, self.detail.as_mut().filter(|d| d.id == id)) {
                    d.results = Some(res);
                }
            }
            Action::Image(key, r) => {
                let r = r.map_err(|e| e.message);
                if let Some(d) = self.detail.as_mut().filter(|d| d.id == key.job_id) {
                    d.image_arrived(key, r);
                }
            }
            Action::Series(r) => {
                self.poll_done(View::Series);
                if let Some((list, quarantine)) = self.on_result(r) {
                    self.series.list = list;
                    self.series.quarantine = quarantine;
                    self.rebuild(View::Series);
                }
            }
            Action::MyQuota(r) => {
                self.poll_done(View::MyQuota);
                if let Some((quotas, usage)) = self.on_result(r) {
                    self.my_quota.quotas = quotas;
                    self.my_quota.usage = usage.entries;
                    self.rebuild(View::MyQuota);
                }
            }
            Action::Users(r) => {
                self.poll_done(View::Users);
                if let Some(list) = self.on_result(r) {
                    self.users.list = list;
                    self.rebuild(View::Users);
                }
            }
            Action::Quotas(user, r) => {
                self.poll_done(View::Quotas);
                if let Some(list) = self.on_result(r)
                    && self.quotas.user.as_deref() == Some(user.as_str())
                {
                    self.quotas.list = list;
                    self.rebuild(View::Quotas);
                }
            }
            Action::Usage(r) => {
                self.poll_done(View::Usage);
                if let Some(page) = self.on_result(r) {
                    self.usage.entries = page.entries;
                    self.usage.next_before = page.next_before_id;
                    self.rebuild(View::Usage);
                }
            }
            Action::Stats(r) => {
                self.poll_done(View::Stats);
                if let Some(list) = self.on_result(r) {
                    self.stats.list = list;
                }
            }
            Action::Done(r) => {
                if let Some(outcome) = self.on_result(r) {
                    self.on_outcome(outcome);
                }
                self.next_poll = self.now;
            }
        }
        self.poll(&mut fx);
        if let (View::Job(_), Some(d)) = (self.view(), self.detail.as_mut()) {
            fx.extend(d.wanted_fetches());
        }
        fx
    }

    fn poll_done(&mut self, view: View) {
        self.inflight.remove(&Poll::View(view));
    }

    /// Handles an RPC result: connection errors start the backoff and keep the data,
    /// login errors open the login prompt, refusals go to the status line.
    fn on_result<T>(&mut self, r: Rpc<T>) -> Option<T> {
        match r {
            Ok(v) => {
                if !matches!(self.connection, Connection::Online) && self.user.is_some() {
                    self.connection = Connection::Online;
                }
                if matches!(self.connection, Connection::Connecting) {
                    self.connection = Connection::Online;
                }
                Some(v)
            }
            Err(RpcError { kind, message }) => {
                match kind {
                    ErrorKind::Connection => {
                        let failures = match &self.connection {
                            Connection::Reconnecting { failures, .. } => failures + 1,
                            _ => 1,
                        };
                        let retry_at = self.now + backoff(failures);
                        self.next_poll = self.next_poll.max(retry_at);
                        self.connection = Connection::Reconnecting {
                            failures,
                            retry_at,
                            reason: message,
                        };
                    }
                    ErrorKind::Login => {
                        self.connection = Connection::NeedsLogin;
                        if self.form.as_ref().is_none_or(|f| f.kind != FormKind::Login) {
                            self.form = Some(self.login_form());
                        }
                    }
                    ErrorKind::Refused => self.error(message),
                }
                None
            }
        }
    }

    fn login_form(&self) -> Form {
        let name = self.user.as_ref().map_or("", |u| u.username.as_str());
        Form::new(
            FormKind::Login,
            format!("log in to {}", self.server),
            &[("username", name, false), ("password", "", true)],
        )
    }

    /// Issues the periodic fetch of the current view when it is due and not in flight.
    fn poll(&mut self, fx: &mut Vec<Effect>) {
        if self.now < self.next_poll || self.connection == Connection::NeedsLogin {
            return;
        }
        let (poll, fetch) = if self.user.is_none() {
            (Poll::Whoami, Fetch::Whoami)
        } else {
            let view = self.view();
            let fetch = match view {
                View::Jobs => Fetch::Jobs,
                View::Job(id) => Fetch::Detail(id),
                View::Series => Fetch::Series {
                    admin: self.is_admin(),
                },
                View::MyQuota => Fetch::MyQuota,
                View::Users => Fetch::Users,
                View::Quotas => match &self.quotas.user {
                    Some(u) => Fetch::Quotas(u.clone()),
                    None => return,
                },
                View::Usage => Fetch::Usage(self.usage.query(self.is_admin())),
                View::Stats => Fetch::Stats(self.stats.days),
            };
            (Poll::View(view), fetch)
        };
        if self.inflight.insert(poll) {
            fx.push(Effect::Fetch(fetch));
            let interval = match poll {
                Poll::Whoami => Duration::from_secs(1),
                Poll::View(v) => v.interval(),
            };
            self.next_poll = self.now + interval;
        }
    }

    fn on_key(&mut self, key: KeyEvent, fx: &mut Vec<Effect>) {
        if let Some(form) = self.form.as_mut() {
            match form.key(key) {
                FormEvent::Editing => {}
                FormEvent::Cancel => self.form = None,
                FormEvent::Submit => self.submit_form(fx),
            }
            return;
        }
        if let Some(c) = self.confirm.take() {
            match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.info("working…");
                    fx.push(c.effect);
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => self.info("cancelled"),
                _ => self.confirm = Some(c),
            }
            return;
        }
        if let Some(input) = self.input.as_mut() {
            match key.code {
                KeyCode::Esc => self.input = None,
                KeyCode::Backspace if input.text.pop().is_none() => self.input = None,
                KeyCode::Enter => {
                    let LineInput { prefix, text } = self.input.take().unwrap_or(LineInput {
                        prefix: ':',
                        text: String::new(),
                    });
                    if prefix == ':' {
                        self.run_command(text.trim());
                    } else {
                        self.set_filter(Filter::parse(&text));
                    }
                }
                KeyCode::Char(c) => input.text.push(c),
                _ => {}
            }
            return;
        }
        let Some(cmd) = self
            .keymap
            .lookup(Key::from_event(key), &self.allowed_cmds())
        else {
            return;
        };
        if self.help {
            if matches!(cmd, Cmd::Back | Cmd::Help | Cmd::Quit) {
                self.help = false;
            }
            return;
        }
        self.on_cmd(cmd, fx);
    }

    fn set_filter(&mut self, filter: Filter) {
        let view = self.view();
        if let Some(l) = self.listing_mut() {
            l.filter = filter;
            l.selected = 0;
        }
        self.rebuild(view);
    }

    /// Applies a command (the same path keys take after the keymap).
    pub fn on_cmd(&mut self, cmd: Cmd, fx: &mut Vec<Effect>) {
        if self.readonly && cmd.mutates() {
            self.error(format!("read-only: {} is disabled", cmd.describe()));
            return;
        }
        let view = self.view();
        match cmd {
            Cmd::Quit => self.quit = true,
            Cmd::Help => self.help = true,
            Cmd::Command => {
                self.input = Some(LineInput {
                    prefix: ':',
                    text: String::new(),
                })
            }
            Cmd::Filter if self.listing().is_some() => {
                let current = self.listing().map(|l| l.filter.clone()).unwrap_or_default();
                let text = if current.is_empty() {
                    String::new()
                } else {
                    format!(
                        "{}{}",
                        if current.inverse { "!" } else { "" },
                        current.needle
                    )
                };
                self.input = Some(LineInput { prefix: '/', text });
            }
            Cmd::Filter => {}
            Cmd::Back => {
                if self.listing().is_some_and(|l| !l.filter.is_empty()) {
                    self.set_filter(Filter::default());
                } else if self.stack.len() > 1 {
                    self.stack.pop();
                    self.entered();
                }
            }
            Cmd::Refresh => {
                self.next_poll = self.now;
                if let Some(d) = self.detail.as_mut() {
                    d.clear_failures();
                }
            }
            Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown | Cmd::Top | Cmd::Bottom => {
                self.navigate(view, cmd)
            }
            Cmd::Select => self.select(view),
            _ => match view {
                View::Jobs => self.jobs_cmd(cmd, fx),
                View::Job(id) => self.job_cmd(id, cmd, fx),
                View::Users => self.users_cmd(cmd),
                View::Quotas => self.quotas_cmd(cmd),
                View::Usage => self.usage_cmd(cmd),
                View::Stats => self.stats.step(if cmd == Cmd::Left { -1 } else { 1 }),
                View::Series | View::MyQuota => {}
            },
        }
    }

    fn navigate(&mut self, view: View, cmd: Cmd) {
        if let View::Job(_) = view {
            if let Some(d) = self.detail.as_mut() {
                match cmd {
                    Cmd::Up => d.move_l3(1),
                    Cmd::Down => d.move_l3(-1),
                    Cmd::PageUp => d.move_l3_vertebra(1),
                    Cmd::PageDown => d.move_l3_vertebra(-1),
                    _ => {}
                }
            }
            return;
        }
        if let Some(l) = self.listing_mut() {
            match cmd {
                Cmd::Up => l.step(-1),
                Cmd::Down => l.step(1),
                Cmd::PageUp => l.step(-20),
                Cmd::PageDown => l.step(20),
                Cmd::Top => l.select(0),
                _ => l.select(usize::MAX),
            }
        }
    }

    /// Pushes a view (replacing the stack when `reset`), and fetches it at once.
    pub fn push(&mut self, view: View, reset: bool) {
        if view.admin_only() && !self.is_admin() {
            self.error(format!("{} is for admins", view.name()));
            return;
        }
        if reset {
            self.stack.truncate(1);
        }
        if self.view() != view {
            self.stack.push(view);
        }
        self.entered();
    }

    fn entered(&mut self) {
        self.help = false;
        self.next_poll = self.now;
        if let View::Job(id) = self.view()
            && self.detail.as_ref().is_none_or(|d| d.id != id)
        {
            self.detail = Some(DetailView::new(id));
        }
    }

    fn select(&mut self, view: View) {
        match view {
            View::Jobs => {
                if let Some(j) = self.jobs.selected() {
                    let id = j.id;
                    self.push(View::Job(id), false);
                }
            }
            View::Job(id) => {
                if self.readonly {
                    self.error("read-only: set L3 is disabled");
                    return;
                }
                match self.detail.as_ref().and_then(|d| d.cursor_target()) {
                    Some((index, z)) => {
                        self.confirm = Some(Confirm {
                            question: format!(
                                "Set the L3 mid slice of job {id} to slice {index} (z {z:.1} mm)?"
                            ),
                            effect: Effect::Mutate(Mutation::SetL3(id, z)),
                        });
                    }
                    None => self.error("no slices to choose from yet"),
                }
            }
            View::Users => {
                if let Some(u) = self.users.selected() {
                    self.quotas.set_user(u.username.clone());
                    self.push(View::Quotas, false);
                }
            }
            View::Quotas => self.quotas_cmd(Cmd::Adjust),
            _ => {}
        }
    }

    fn jobs_cmd(&mut self, cmd: Cmd, fx: &mut Vec<Effect>) {
        match cmd {
            Cmd::Sort => {
                self.jobs.next_sort();
                self.rebuild(View::Jobs);
            }
            Cmd::SortReverse => {
                self.jobs.descending = !self.jobs.descending;
                self.rebuild(View::Jobs);
            }
            Cmd::JumpReview | Cmd::JumpHeld => {
                let want = if cmd == Cmd::JumpReview {
                    JobState::AwaitingReview
                } else {
                    JobState::Held
                };
                let list = &self.jobs.list;
                if !self.jobs.listing.jump(|i| list[i].state == want) {
                    self.info(format!("no {want} jobs"));
                }
            }
            Cmd::Continue | Cmd::Rerun | Cmd::CancelJob => {
                if let Some(id) = self.jobs.selected().map(|j| j.id) {
                    self.job_cmd(id, cmd, fx);
                }
            }
            _ => {}
        }
    }

    fn job_cmd(&mut self, id: i64, cmd: Cmd, fx: &mut Vec<Effect>) {
        match cmd {
            Cmd::Continue => {
                if let Some(d) = self.detail.as_ref().filter(|d| d.id == id)
                    && d.cursor_moved()
                {
                    self.error("L3 was moved but not set: press enter to set it first");
                    return;
                }
                self.info(format!("continuing job {id}…"));
                fx.push(Effect::Mutate(Mutation::Continue(id)));
            }
            Cmd::Rerun => {
                self.confirm = Some(Confirm {
                    question: format!("Re-run job {id} from the start (a new version)?"),
                    effect: Effect::Mutate(Mutation::Rerun(id)),
                })
            }
            Cmd::CancelJob => {
                self.confirm = Some(Confirm {
                    question: format!("Cancel job {id}?"),
                    effect: Effect::Mutate(Mutation::Cancel(id)),
                })
            }
            Cmd::Left | Cmd::Right => {
                if let Some(d) = self.detail.as_mut() {
                    d.step_version(if cmd == Cmd::Left { -1 } else { 1 });
                }
            }
            Cmd::Overlay => {
                if let Some(d) = self.detail.as_mut() {
                    d.next_overlay();
                }
            }
            Cmd::UploadMask => {
                self.form = Some(Form::new(
                    FormKind::Mask(id),
                    format!("upload a mask for job {id}"),
                    &[("tissue", "muscle", false), ("png path", "", false)],
                ))
            }
            _ => {}
        }
    }

    fn users_cmd(&mut self, cmd: Cmd) {
        if cmd == Cmd::AddUser {
            self.form = Some(Form::new(
                FormKind::AddUser,
                "add a user",
                &[
                    ("username", "", false),
                    ("password", "", true),
                    ("role", "operator", false),
                    ("plan", "free", false),
                ],
            ));
            return;
        }
        let Some(u) = self.users.selected().cloned() else {
            return;
        };
        let name = u.username.clone();
        match cmd {
            Cmd::Disable => {
                self.confirm = Some(Confirm {
                    question: format!("Disable {name}? Their sessions stop working at once."),
                    effect: Effect::Mutate(Mutation::SetDisabled(name, true)),
                })
            }
            Cmd::Enable => {
                self.confirm = Some(Confirm {
                    question: format!("Enable {name}?"),
                    effect: Effect::Mutate(Mutation::SetDisabled(name, false)),
                })
            }
            Cmd::Password => {
                self.form = Some(Form::new(
                    FormKind::Password(name.clone()),
                    format!("new password for {name}"),
                    &[("password", "", true)],
                ))
            }
            Cmd::Plan => {
                self.form = Some(Form::new(
                    FormKind::Plan(name.clone()),
                    format!("plan for {name} (free, pro, enterprise)"),
                    &[("plan", &u.plan, false)],
                ))
            }
            Cmd::Mode => {
                let mode = match u.mode {
                    JobMode::Auto => JobMode::Review,
                    JobMode::Review => JobMode::Auto,
                };
                self.confirm = Some(Confirm {
                    question: format!("Switch {name} to {mode} mode?"),
                    effect: Effect::Mutate(Mutation::SetMode(name, mode, u.outbox)),
                })
            }
            _ => {}
        }
    }

    fn quotas_cmd(&mut self, cmd: Cmd) {
        if cmd == Cmd::PickUser {
            let current = self.quotas.user.clone().unwrap_or_default();
            self.form = Some(Form::new(
                FormKind::PickUser,
                "show the quotas of",
                &[("username", &current, false)],
            ));
            return;
        }
        let Some(user) = self.quotas.user.clone() else {
            self.error("pick a user first (u)");
            return;
        };
        match cmd {
            Cmd::Adjust => {
                if let Some(q) = self.quotas.selected() {
                    let t = q.quota_type;
                    let limit = if q.overridden {
                        q.limit.to_string()
                    } else {
                        String::new()
                    };
                    self.form = Some(Form::new(
                        FormKind::Adjust(user.clone(), t),
                        format!("{t} limit for {user} (empty: follow the plan)"),
                        &[("limit", &limit, false)],
                    ));
                }
            }
            Cmd::Reset => {
                if let Some(t) = self.quotas.selected().map(|q| q.quota_type) {
                    self.confirm = Some(Confirm {
                        question: format!("Reset {user}'s {t} balance to zero?"),
                        effect: Effect::Mutate(Mutation::Reset(user, Some(t))),
                    });
                }
            }
            Cmd::ResetAll => {
                self.confirm = Some(Confirm {
                    question: format!("Reset ALL of {user}'s quota balances to zero?"),
                    effect: Effect::Mutate(Mutation::Reset(user, None)),
                })
            }
            _ => {}
        }
    }

    fn usage_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::EditFilters => {
                let q = &self.usage.filter;
                let fmt_time = |ms: Option<i64>| {
                    ms.and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default()
                };
                let user = q.username.clone().unwrap_or_default();
                let qt = q.quota_type.map(|t| t.to_string()).unwrap_or_default();
                let kind = q.kind.map(|k| k.to_string()).unwrap_or_default();
                let (since, until) = (fmt_time(q.since_ms), fmt_time(q.until_ms));
                self.form = Some(Form::new(
                    FormKind::UsageFilter,
                    "usage filters (empty: any; times RFC 3339)",
                    &[
                        ("user", &user, false),
                        ("type", &qt, false),
                        ("kind", &kind, false),
                        ("since", &since, false),
                        ("until", &until, false),
                    ],
                ));
            }
            Cmd::NextPage => match self.usage.next_before {
                Some(cursor) => {
                    self.usage.pages.push(self.usage.filter.before_id);
                    self.usage.filter.before_id = Some(cursor);
                    self.usage.listing.select(0);
                    self.next_poll = self.now;
                }
                None => self.info("this is the last page"),
            },
            Cmd::PrevPage => match self.usage.pages.pop() {
                Some(cursor) => {
                    self.usage.filter.before_id = cursor;
                    self.usage.listing.select(0);
                    self.next_poll = self.now;
                }
                None => self.info("this is the newest page"),
            },
            Cmd::Export => {
                let name = format!("usage-{}.csv", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
                self.form = Some(Form::new(
                    FormKind::Export,
                    "export the rows shown to CSV",
                    &[("file", &name, false)],
                ));
            }
            _ => {}
        }
    }

    fn submit_form(&mut self, fx: &mut Vec<Effect>) {
        let Some(mut form) = self.form.take() else {
            return;
        };
        let result: Result<Option<Effect>, String> = match form.kind.clone() {
            FormKind::Login => {
                if form.value(0).is_empty() {
                    Err("enter a username".into())
                } else {
                    self.info("logging in…");
                    Ok(Some(Effect::Login {
                        username: form.value(0).to_string(),
                        password: form.fields[1].value.clone(),
                    }))
                }
            }
            FormKind::AddUser => form.value(2).parse::<Role>().map(|role| {
                Some(Effect::Mutate(Mutation::AddUser(NewUserSpec {
                    username: form.value(0).to_string(),
                    password: form.fields[1].value.clone(),
                    role,
                    plan: form.value(3).to_string(),
                })))
            }),
            FormKind::Password(user) => Ok(Some(Effect::Mutate(Mutation::SetPassword(
                user,
                form.fields[0].value.clone(),
            )))),
            FormKind::Plan(user) => Ok(Some(Effect::Mutate(Mutation::SetPlan(
                user,
                form.value(0).to_string(),
            )))),
            FormKind::Adjust(user, t) => {
                let v = form.value(0);
                if v.is_empty() {
                    Ok(Some(Effect::Mutate(Mutation::Adjust(user, t, None))))
                } else {
                    v.parse::<i64>()
                        .map_err(|_| format!("{v:?} is not a whole number"))
                        .and_then(|n| {
                            if n < 0 {
                                Err("a limit cannot be negative".into())
                            } else {
                                Ok(Some(Effect::Mutate(Mutation::Adjust(user, t, Some(n)))))
                            }
                        })
                }
            }
            FormKind::PickUser => {
                let u = form.value(0).to_string();
                if u.is_empty() {
                    Err("enter a username".into())
                } else {
                    self.quotas.set_user(u);
                    self.next_poll = self.now;
                    Ok(None)
                }
            }
            FormKind::UsageFilter => self.usage.apply_form(&form).map(|()| {
                self.next_poll = self.now;
                None
            }),
            FormKind::Export => {
                let path = form.value(0).to_string();
                if path.is_empty() {
                    Err("enter a file name".into())
                } else {
                    Ok(Some(Effect::WriteFile {
                        path,
                        contents: self.usage.csv(),
                    }))
                }
            }
            FormKind::Mask(id) => form.value(0).parse::<MaskTissue>().and_then(|tissue| {
                let path = form.value(1).to_string();
                if path.is_empty() {
                    Err("enter the PNG's path".into())
                } else {
                    Ok(Some(Effect::Mutate(Mutation::UploadMask(id, tissue, path))))
                }
            }),
        };
        match result {
            Ok(effect) => fx.extend(effect),
            Err(e) => {
                form.error = Some(e);
                self.form = Some(form);
            }
        }
    }

    fn run_command(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let head = words.next().unwrap_or("");
        let arg = words.next();
        match (head, arg) {
            ("", _) => {}
            ("q" | "quit" | "q!", _) => self.quit = true,
            ("jobs" | "j", _) => {
                self.stack.truncate(1);
                self.entered();
            }
            ("job", Some(id)) => match id.parse::<i64>() {
                Ok(id) => self.push(View::Job(id), true),
                Err(_) => self.error(format!("not a job id: {id}")),
            },
            ("series" | "s", _) => self.push(View::Series, true),
            ("quota" | "myquota", None) => self.push(View::MyQuota, true),
            ("quota" | "quotas", Some(user)) => {
                self.quotas.set_user(user.to_string());
                self.push(View::Quotas, true);
            }
            ("quotas", None) => self.push(View::Quotas, true),
            ("usage" | "u", _) => self.push(View::Usage, true),
            ("users", _) => self.push(View::Users, true),
            ("stats", _) => self.push(View::Stats, true),
            ("help" | "h", _) => self.help = true,
            ("login", _) => self.form = Some(self.login_form()),
            ("theme", Some(name)) => match Theme::named(name) {
                Ok(t) => self.theme = t,
                Err(e) => self.error(e),
            },
            (other, _) => self.error(format!(
                "unknown command :{other} (try :jobs :series :quota :usage :users :stats :help)"
            )),
        }
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Job(detail, msg) => {
                self.info(msg);
                if let Some(d) = self.detail.as_mut().filter(|d| d.id == detail.job.id) {
                    d.set_detail(*detail);
                }
            }
            Outcome::User(user, msg) => {
                self.info(msg);
                if let Some(u) = self.users.list.iter_mut().find(|u| u.id == user.id) {
                    *u = user;
                } else {
                    self.users.list.push(user);
                }
                self.rebuild(View::Users);
            }
            Outcome::Quota(user, change, msg) => {
                let mut text = msg;
                for n in &change.notes {
                    text.push_str("; ");
                    text.push_str(n);
                }
                if change.released > 0 {
                    text.push_str(&format!("; {} held item(s) released", change.released));
                }
                self.info(text);
                if self.quotas.user.as_deref() == Some(user.as_str()) {
                    self.quotas.list = change.quotas;
                    self.quotas.notes = change.notes;
                    self.rebuild(View::Quotas);
                }
            }
            Outcome::File(msg) => self.info(msg),
        }
    }

    /// Draws the whole screen.
    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        let [head, crumbs, body, foot] = chrome::frame_areas(area);
        chrome::header(self, frame, head);
        chrome::breadcrumb(self, frame, crumbs);
        match self.view() {
            View::Jobs => self.jobs.draw(self, frame, body),
            View::Job(id) => match &self.detail {
                Some(d) if d.id == id => d.draw(self, frame, body),
                _ => {}
            },
            View::Series => self.series.draw(self, frame, body),
            View::MyQuota => self.my_quota.draw(self, frame, body),
            View::Users => self.users.draw(self, frame, body),
            View::Quotas => self.quotas.draw(self, frame, body),
            View::Usage => self.usage.draw(self, frame, body),
            View::Stats => self.stats.draw(self, frame, body),
        }
        chrome::footer(self, frame, foot);
        if self.help {
            chrome::help(self, frame, body);
        }
        if let Some(c) = &self.confirm {
            chrome::confirm(&self.theme, c, frame, body);
        }
        if let Some(f) = &self.form {
            chrome::form(&self.theme, f, frame, area);
        }
    }
}

/// Parses a quota type leniently (`storage_dicom`, or empty for any).
pub fn parse_quota_type(s: &str) -> Result<Option<QuotaType>, String> {
    if s.is_empty() {
        Ok(None)
    } else {
        s.parse().map(Some)
    }
}
