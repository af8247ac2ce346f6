//! What flows through the console: [`Action`]s into `App::update` (from keys, the clock
//! and finished RPCs) and [`Effect`]s out of it (RPCs and file writes the runtime performs
//! on spawned tasks, reporting back as actions).

use crate::client::ClientError;
use idoctor_protocol::{
    JobDetail, JobInfo, LogLine, MaskTissue, NewUser, QuarantineEntry, QuotaChange, QuotaStats,
    QuotaStatus, QuotaType, ResultVersion, SeriesInfo, UsageFilter, UsageKind, UsagePage, UserInfo,
};
use std::time::Instant;

/// Why an RPC failed, reduced to what the console reacts to.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// One sentence for the status line.
    pub message: String,
}

/// The console's reaction to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The daemon is unreachable: reconnect with backoff, keep the last data.
    Connection,
    /// The session is missing or expired: show the login prompt.
    Login,
    /// The daemon refused the request: show the message.
    Refused,
}

impl From<ClientError> for RpcError {
    fn from(e: ClientError) -> Self {
        let kind = if e.needs_login() {
            ErrorKind::Login
        } else if e.is_connection() {
            ErrorKind::Connection
        } else {
            ErrorKind::Refused
        };
        RpcError {
            kind,
            message: e.to_string(),
        }
    }
}

/// An RPC's outcome.
pub type Rpc<T> = Result<T, RpcError>;

/// A decoded picture for a job.
#[derive(Debug, Clone)]
pub struct Picture {
    /// Which request it answers.
    pub key: ImageKey,
    /// The decoded image.
    pub image: image::DynamicImage,
}

/// Identifies an image request: job, version and kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageKey {
    /// Job id.
    pub job_id: i64,
    /// Version (`None`: latest or live).
    pub version: Option<i64>,
    /// Which image.
    pub kind: idoctor_protocol::ImageKind,
}

/// Something that changes the console's state.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a few actions a second pass through the channel; boxing buys nothing"
)]
pub enum Action {
    /// A key press.
    Key(crossterm::event::KeyEvent),
    /// Time passed; drives refreshes and backoff.
    Tick(Instant),
    /// The terminal changed size.
    Redraw,
    /// The first whoami (or a later one) finished.
    Connected(Rpc<UserInfo>),
    /// The in-TUI login finished.
    LoggedIn(Rpc<UserInfo>),
    /// The jobs table.
    Jobs(Rpc<Vec<JobInfo>>),
    /// One job and its log tail.
    Detail(i64, Rpc<(JobDetail, Vec<LogLine>)>),
    /// A result version.
    Results(i64, Rpc<ResultVersion>),
    /// An image.
    Image(ImageKey, Rpc<Picture>),
    /// The caller's series, and the quarantine for admins.
    Series(Rpc<(Vec<SeriesInfo>, Option<Vec<QuarantineEntry>>)>),
    /// My quota and recent usage.
    MyQuota(Rpc<(Vec<QuotaStatus>, UsagePage)>),
    /// Every user.
    Users(Rpc<Vec<UserInfo>>),
    /// One user's quotas.
    Quotas(String, Rpc<Vec<QuotaStatus>>),
    /// A page of the usage ledger.
    Usage(Rpc<UsagePage>),
    /// Stats for every quota type.
    Stats(Rpc<Vec<QuotaStats>>),
    /// A change finished; the text goes to the status line.
    Done(Rpc<Outcome>),
}

/// What a finished change returned.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A job changed.
    Job(Box<JobDetail>, String),
    /// A user changed.
    User(UserInfo, String),
    /// A quota changed.
    Quota(String, QuotaChange, String),
    /// A file was written.
    File(String),
}

/// Reads the console wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    /// Who am I (also the connectivity probe).
    Whoami,
    /// The jobs table.
    Jobs,
    /// A job and its log tail.
    Detail(i64),
    /// A result version.
    Results(i64, Option<i64>),
    /// An image.
    Image(ImageKey),
    /// Series (+ quarantine when admin).
    Series {
        /// Also fetch the quarantine.
        admin: bool,
    },
    /// My quota and usage.
    MyQuota,
    /// Users.
    Users,
    /// A user's quotas.
    Quotas(String),
    /// A ledger page.
    Usage(UsageQuery),
    /// Stats over `days`.
    Stats(u32),
}

/// Changes the console asks for (never issued with `--readonly`).
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// Move L3.
    SetL3(i64, f64),
    /// Continue a reviewed job.
    Continue(i64),
    /// Re-run a job.
    Rerun(i64),
    /// Cancel a job.
    Cancel(i64),
    /// Upload a mask read from a file.
    UploadMask(i64, MaskTissue, String),
    /// Add a user.
    AddUser(NewUserSpec),
    /// Disable or enable.
    SetDisabled(String, bool),
    /// Set a password.
    SetPassword(String, String),
    /// Change plan.
    SetPlan(String, String),
    /// Set mode (and keep the outbox flag).
    SetMode(String, idoctor_protocol::JobMode, bool),
    /// Set or clear a limit.
    Adjust(String, QuotaType, Option<i64>),
    /// Reset one or all balances.
    Reset(String, Option<QuotaType>),
}

/// [`NewUser`] with equality, for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUserSpec {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Role.
    pub role: idoctor_protocol::Role,
    /// Plan.
    pub plan: String,
}

impl From<NewUserSpec> for NewUser {
    fn from(s: NewUserSpec) -> Self {
        NewUser {
            username: s.username,
            password: s.password,
            role: s.role,
            plan: Some(s.plan),
        }
    }
}

/// Work for the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read something.
    Fetch(Fetch),
    /// Change something.
    Mutate(Mutation),
    /// Log in and save the session like `idoctor login`.
    Login {
        /// Login name.
        username: String,
        /// Password.
        password: String,
    },
    /// Write a CSV file.
    WriteFile {
        /// Destination.
        path: String,
        /// Contents.
        contents: String,
    },
}

/// Usage ledger filters as the console edits them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageQuery {
    /// Only this user (admins).
    pub username: Option<String>,
    /// Only this quota type.
    pub quota_type: Option<QuotaType>,
    /// Only this kind.
    pub kind: Option<UsageKind>,
    /// At or after (ms).
    pub since_ms: Option<i64>,
    /// Before (ms).
    pub until_ms: Option<i64>,
    /// Page cursor.
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u32,
    /// Use the admin ledger (every user) rather than my own.
    pub admin: bool,
}

impl From<&UsageQuery> for UsageFilter {
    fn from(q: &UsageQuery) -> Self {
        UsageFilter {
            username: q.username.clone(),
            quota_type: q.quota_type,
            kind: q.kind,
            since_ms: q.since_ms,
            until_ms: q.until_ms,
            limit: Some(q.limit),
            before_id: q.before_id,
        }
    }
}
