//! The scriptable subcommands. Each prints JSON with `--json` (and nothing else on
//! stdout), exits non-zero on failure, and prints one clear line on stderr.

mod account;
mod admin;
mod output;

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
