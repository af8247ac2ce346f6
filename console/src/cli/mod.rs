//! The scriptable subcommands. Each prints JSON with `--json` (and nothing else on
//! stdout), exits non-zero on failure, and prints one clear line on stderr.

mod account;
mod admin;
mod jobs;
mod output;
mod quota;
mod series;

pub use output::print_json;

use crate::client::{Client, ClientError};
use crate::endpoint::Endpoint;
use crate::files::{Sessions, config_dir};
use clap::{Parser, Subcommand};
use idoctor_protocol::Role;
use std::path::PathBuf;

/// iDoctor console: follow jobs, correct L3, review results, administer users and quotas.
/// With no subcommand it opens the interactive console.
#[derive(Parser, Debug)]
#[command(name = "idoctor", version, about)]
pub struct Cli {
    /// The daemon: unix:PATH, tls://HOST:PORT or tcp://127.0.0.1:PORT
    /// [default: unix:./idoctor-data/idoctord.sock]
    #[arg(long, global = true, env = "IDOCTOR_SERVER")]
    pub server: Option<Endpoint>,
    /// Interactive console only: browse, never change anything.
    #[arg(long)]
    pub readonly: bool,
    /// Interactive console only: colour theme, dark or light (overrides the config file).
    #[arg(long, value_parser = ["dark", "light"])]
    pub theme: Option<String>,
    /// Interactive console only: the config file with theme, colours and key bindings
    /// [default: tui.toml in the config folder].
    #[arg(long, value_name = "FILE")]
    pub tui_config: Option<PathBuf>,
    /// Subcommand; none opens the interactive console.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Log in and save the session (password from --password-stdin, IDOCTOR_PASSWORD or a prompt).
    Login {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Show who you are logged in as.
    Whoami {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget the saved session.
    Logout,
    /// My quota balances.
    Quota {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// My usage ledger, newest first.
    Usage(UsageArgs),
    /// My series.
    #[command(subcommand)]
    Series(SeriesCommand),
    /// My jobs, newest first.
    Jobs {
        /// Only jobs in this state (queued, running, awaiting_review, done, failed, held, cancelled).
        #[arg(long)]
        state: Option<idoctor_protocol::JobState>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One job: show it, correct L3, continue, re-run, upload a mask, get results.
    #[command(subcommand)]
    Job(JobCommand),
    /// Administration (admins only).
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// Admin subcommands.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// List users.
    Users {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage one user.
    #[command(subcommand)]
    User(AdminUserCommand),
    /// Plans.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Quotas of one user.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// The usage ledger of every user (filters optional).
    Usage {
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
        /// Filters and output.
        #[command(flatten)]
        args: UsageArgs,
    },
    /// Per-type statistics: totals, per-day consumption, users near their limit.
    Stats {
        /// Quota type.
        #[arg(long = "type")]
        quota_type: idoctor_protocol::QuotaType,
        /// Days of per-day consumption.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Files set aside by intake, with reasons.
    Quarantine {
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recent 80 % / 100 % quota warnings.
    Warnings {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `idoctor job …`
#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Show a job with its versions and current L3.
    Show {
        /// Job id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move L3 to the slice nearest Z (mm). While awaiting review this only records it
    /// (then `continue`); on a finished job it makes a new, L3-corrected version.
    SetL3 {
        /// Job id.
        id: i64,
        /// Mid-slice z in mm (patient coordinates).
        #[arg(long = "z-mm", allow_negative_numbers = true)]
        z_mm: f64,
    },
    /// Continue a reviewed job: segment and measure at its L3.
    Continue {
        /// Job id.
        id: i64,
    },
    /// Run the job again from the start (a new version).
    Rerun {
        /// Job id.
        id: i64,
    },
    /// Cancel a queued, held or awaiting job.
    Cancel {
        /// Job id.
        id: i64,
    },
    /// Replace the muscle or psoas mask of the L3 mid slice with a PNG (same size as the
    /// slice, in the orientation of the overlay images; non-zero = inside) and re-measure.
    UploadMask {
        /// Job id.
        id: i64,
        /// muscle or psoas.
        #[arg(long)]
        tissue: idoctor_protocol::MaskTissue,
        /// The PNG file.
        #[arg(long)]
        png: PathBuf,
    },
    /// A result version (the latest by default).
    Results {
        /// Job id.
        id: i64,
        /// Version number.
        #[arg(long)]
        version: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write every output file of a version into a folder.
    Export {
        /// Job id.
        id: i64,
        /// Destination folder (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Version number (latest by default).
        #[arg(long)]
        version: Option<i64>,
    },
    /// The job's pipeline log.
    Log {
        /// Job id.
        id: i64,
        /// How many lines.
        #[arg(long, default_value_t = 50)]
        tail: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `idoctor series …`
#[derive(Subcommand, Debug)]
pub enum SeriesCommand {
    /// List my series with state, instance count and bytes.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `idoctor admin plan …`
#[derive(Subcommand, Debug)]
pub enum PlanCommand {
    /// Move a user to another plan (limits without an override follow it).
    Set {
        /// Login name.
        #[arg(long)]
        user: String,
        /// free, pro or enterprise.
        #[arg(long)]
        plan: String,
    },
}

/// `idoctor admin quota …`
#[derive(Subcommand, Debug)]
pub enum QuotaCommand {
    /// Show a user's balances.
    Show {
        /// Login name.
        #[arg(long)]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a per-user limit (or --clear to follow the plan again).
    Adjust {
        /// Login name.
        #[arg(long)]
        user: String,
        /// Quota type.
        #[arg(long = "type")]
        quota_type: idoctor_protocol::QuotaType,
        /// New limit (calls, bytes or studies).
        #[arg(long, required_unless_present = "clear")]
        limit: Option<i64>,
        /// Remove the override.
        #[arg(long, conflicts_with = "limit")]
        clear: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set balances back to zero (one type, or all).
    Reset {
        /// Login name.
        #[arg(long)]
        user: String,
        /// Only this type.
        #[arg(long = "type")]
        quota_type: Option<idoctor_protocol::QuotaType>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Ledger filters shared by `usage` and `admin usage`.
#[derive(clap::Args, Debug, Clone)]
pub struct UsageArgs {
    /// Only this quota type.
    #[arg(long = "type")]
    pub quota_type: Option<idoctor_protocol::QuotaType>,
    /// Only this kind: consume, refund, reset, adjust, plan_change.
    #[arg(long)]
    pub kind: Option<idoctor_protocol::UsageKind>,
    /// Rows at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// Rows before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Page size (1-1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Paging cursor: rows older than this id (printed at the end of a page).
    #[arg(long)]
    pub before: Option<i64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `idoctor admin user …`
#[derive(Subcommand, Debug)]
pub enum AdminUserCommand {
    /// Create a user (password from --password-stdin, IDOCTOR_PASSWORD or a prompt).
    Add {
        /// Login name.
        #[arg(long)]
        username: String,
        /// admin or operator.
        #[arg(long, default_value = "operator")]
        role: Role,
        /// free, pro or enterprise.
        #[arg(long, default_value = "free")]
        plan: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lock a user out (their sessions stop working at once).
    Disable {
        /// Login name.
        username: String,
    },
    /// Let a disabled user in again.
    Enable {
        /// Login name.
        username: String,
    },
    /// Set a user's password (their sessions end).
    Passwd {
        /// Login name.
        username: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's processing mode (auto or review) and DICOM outbox.
    Mode {
        /// Login name.
        username: String,
        /// auto or review.
        #[arg(long)]
        mode: idoctor_protocol::JobMode,
        /// Write DICOM SC/SEG outputs to the user's outbox.
        #[arg(long)]
        outbox: bool,
    },
}

/// What every command needs: where the daemon is and where sessions are saved.
#[derive(Debug, Clone)]
pub struct Context {
    /// The daemon.
    pub endpoint: Endpoint,
    /// The console's config folder.
    pub config_dir: PathBuf,
}

impl Context {
    /// From the parsed flags and the environment.
    pub fn new(server: Option<Endpoint>) -> Self {
        Self {
            endpoint: server.unwrap_or_default(),
            config_dir: config_dir(),
        }
    }

    /// The saved sessions.
    pub fn sessions(&self) -> Sessions {
        Sessions::in_dir(&self.config_dir)
    }

    /// A connection without a session.
    pub async fn connect(&self) -> Result<Client, ClientError> {
        Client::connect(&self.endpoint, &self.config_dir).await
    }

    /// A connection with the saved session.
    /// Connects first, so a wrong address is reported as such rather than as a
    /// missing session.
    pub async fn client(&self) -> Result<Client, ClientError> {
        let client = self.connect().await?;
        let saved = self
            .sessions()
            .get(&self.endpoint.key())
            .ok_or_else(|| ClientError::NotLoggedIn(self.endpoint.to_string()))?;
        Ok(client.with_token(saved.token))
    }
}

/// Runs one subcommand.
pub async fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Login {
            username,
            password_stdin,
        } => account::login(ctx, &username, password_stdin).await,
        Command::Whoami { json } => account::whoami(ctx, json).await,
        Command::Logout => account::logout(ctx).await,
        Command::Quota { json } => quota::mine(ctx, json).await,
        Command::Usage(args) => quota::my_usage(ctx, args).await,
        Command::Series(SeriesCommand::List { json }) => series::list(ctx, json).await,
        Command::Jobs { state, json } => jobs::list(ctx, state, json).await,
        Command::Job(cmd) => jobs::run(ctx, cmd).await,
        Command::Admin(cmd) => admin::run(ctx, cmd).await,
    }
}

/// A failed command: the message is printed as one line on stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the daemon or the connection.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Anything else (files, input).
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code: 1 in general, 3 when logging in again would help,
    /// 4 when the daemon cannot be reached.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Client(e) if e.needs_login() => 3,
            CliError::Client(e) if e.is_connection() => 4,
            _ => 1,
        }
    }
}
