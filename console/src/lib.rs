//! The iDoctor console: a typed client for `idoctord`, the scriptable subcommands and
//! the interactive ratatui console. It depends on the protocol crate only, never on the
//! daemon's database or pipeline code.

pub mod cli;
pub mod client;
pub mod endpoint;
pub mod files;
pub mod format;
pub mod password;
pub mod pinning;
pub mod tui;
