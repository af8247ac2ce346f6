//! One `Settings` type for the whole daemon, layered: built-in defaults, then a TOML
//! file, then `IDOCTOR_*` environment variables, then command-line flags.
//!
//! Environment variables name a setting by its path: `IDOCTOR_DATA_DIR` for a top-level
//! key, `IDOCTOR_INGEST__SERIES_QUIET_S` for `[ingest] series_quiet_s` (two underscores
//! between section and key). A value is parsed as the type of the setting it replaces, so
//! `IDOCTOR_AUTH__JWT_SECRET=1234…` stays a string. Unknown keys in a file are an error;
//! unknown `IDOCTOR_*` variables are reported as warnings, because the console and the
//! test suite use that prefix too.

use crate::pipeline::labels::HuWindows;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variables with the `IDOCTOR_` prefix that are not daemon settings.
const FOREIGN_ENV: &[&str] = &[
    "IDOCTOR_PASSWORD",
    "IDOCTOR_CONFIG",
    "IDOCTOR_CONFIG_DIR",
    "IDOCTOR_SERVER",
    "IDOCTOR_TEST_PG",
    "IDOCTOR_LOG",
];

/// Errors while building the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, or a value has the wrong type or name.
    #[error("invalid configuration{}: {message}", origin.as_ref().map(|o| format!(" in {o}")).unwrap_or_default())]
    Invalid {
        /// Where the bad value came from (file path or variable name).
        origin: Option<String>,
        /// What is wrong.
        message: String,
    },
}

/// Every daemon setting. Field docs become the comments of `idoctord default-config`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Root of the database, archive, results, quarantine, outbox, socket and secrets.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`. Empty: `sqlite://<data_dir>/idoctor.db`.
    pub database_url: String,
    /// RPC listeners.
    pub server: ServerSettings,
    /// Sessions.
    pub auth: AuthSettings,
    /// Watch folders.
    pub ingest: IngestSettings,
    /// Job queue and workers.
    pub jobs: JobSettings,
    /// Measurement.
    pub pipeline: PipelineSettings,
    /// Logging.
    pub log: LogSettings,
}

/// Where the daemon listens.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Unix socket path. Empty: `<data_dir>/idoctord.sock` (mode 0660).
    pub socket: PathBuf,
    /// Extra listeners: `tls://HOST:PORT` (self-signed certificate made on first run) or
    /// `tcp://127.0.0.1:PORT` (plain TCP, loopback only).
    pub listen: Vec<String>,
    /// Seconds in-flight requests get to finish at shutdown.
    pub shutdown_grace_s: f64,
}

/// Session tokens.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 signing secret, at least 32 bytes. Empty: a random secret is generated once
    /// into `<data_dir>/secrets/jwt.key` (mode 0600).
    pub jwt_secret: String,
    /// Token lifetime in seconds (default 12 h).
    pub token_ttl_s: u64,
}

/// Watch folders and intake.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// Run intake in this daemon. With several daemons on one database and one archive,
    /// one may ingest while the others only run jobs.
    pub enabled: bool,
    /// Root of the per-user drop folders (`<watch_root>/<username>/`).
    pub watch_root: PathBuf,
    /// A file is picked up once its size and mtime have not changed for this long.
    pub file_settle_ms: u64,
    /// A file its writer has closed (inotify close-write; local disks only) is picked up
    /// once unchanged for this long instead.
    pub close_settle_ms: u64,
    /// A series is complete after this many seconds without a new instance.
    pub series_quiet_s: f64,
    /// A study's series are completed after this long even if instances keep trickling in.
    pub study_force_complete_s: f64,
    /// Polling interval, used when inotify is unavailable or `force_polling` is set.
    pub poll_interval_ms: u64,
    /// Full safety rescan of the watch root, seconds.
    pub rescan_interval_s: f64,
    /// Series with fewer slices are quarantined.
    pub min_slices: u32,
    /// Poll instead of using inotify (network shares).
    pub force_polling: bool,
    /// Extra drop folders mapped to users: `"/mnt/pacs/ward7" = "alice"`, or with the
    /// folder's own job mode: `"/mnt/pacs/qa" = { user = "alice", mode = "review" }`.
    pub folders: BTreeMap<String, FolderMapping>,
}

/// Where an extra drop folder's files go.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum FolderMapping {
    /// To this user, processed in the user's mode.
    User(String),
    /// To this user, processed in the folder's mode when it has one.
    Detailed {
        /// Login name.
        user: String,
        /// `auto` or `review`; overrides the user's mode for series dropped here.
        #[serde(default)]
        mode: Option<idoctor_protocol::JobMode>,
    },
}

impl FolderMapping {
    /// The user it maps to.
    pub fn user(&self) -> &str {
        match self {
            FolderMapping::User(u) | FolderMapping::Detailed { user: u, .. } => u,
        }
    }

    /// The folder's own job mode, if set.
    pub fn mode(&self) -> Option<idoctor_protocol::JobMode> {
        match self {
            FolderMapping::User(_) => None,
            FolderMapping::Detailed { mode, .. } => *mode,
        }
    }
}

/// The job queue.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Concurrent pipeline runs in this daemon.
    pub workers: usize,
    /// Lease length in seconds; renewed while a job runs, taken over when it expires.
    pub lease_s: f64,
    /// Attempts before a job that keeps failing for system reasons stays `failed`.
    pub max_attempts: u32,
    /// First retry delay in seconds; doubles with each attempt.
    pub retry_backoff_s: f64,
    /// How often held jobs and series are re-tried against their quota, seconds.
    pub held_retry_s: f64,
    /// How often idle workers look for work, milliseconds.
    pub poll_ms: u64,
}

/// Measurement settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// HU windows per tissue (Alberta protocol by default).
    pub windows: HuWindows,
    /// L3 answers below this confidence are flagged `low_confidence`.
    pub review_confidence: f64,
    /// Optional ONNX model for L3 (see pipeline/model.rs). Empty: classical method.
    pub l3_model: PathBuf,
    /// Optional ONNX model for tissues. Empty: classical method.
    pub tissue_model: PathBuf,
}

/// Logging.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `idoctor_daemon=debug`. `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./idoctor-data"),
            database_url: String::new(),
            server: ServerSettings::default(),
            auth: AuthSettings::default(),
            ingest: IngestSettings::default(),
            jobs: JobSettings::default(),
            pipeline: PipelineSettings::default(),
            log: LogSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            socket: PathBuf::new(),
            listen: Vec::new(),
            shutdown_grace_s: 10.0,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            token_ttl_s: 12 * 3600,
        }
    }
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            watch_root: PathBuf::from("./watch-folders"),
            file_settle_ms: 2000,
            close_settle_ms: 100,
            series_quiet_s: 60.0,
            study_force_complete_s: 900.0,
            poll_interval_ms: 1000,
            rescan_interval_s: 300.0,
            min_slices: 10,
            force_polling: false,
            folders: BTreeMap::new(),
        }
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            workers: 1,
            lease_s: 60.0,
            max_attempts: 3,
            retry_backoff_s: 10.0,
            held_retry_s: 30.0,
            poll_ms: 500,
        }
    }
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            windows: HuWindows::default(),
            // One threshold with the localiser's own default: a single-anchor count
            // (confidence 0.6–0.65) must come out flagged.
            review_confidence: crate::pipeline::l3::L3Params::default().low_confidence_below,
            l3_model: PathBuf::new(),
            tissue_model: PathBuf::new(),
        }
    }
}

impl PipelineSettings {
    /// The pipeline options these settings describe, with any configured ONNX models
    /// loaded (once, at start).
    pub fn options(
        &self,
    ) -> Result<crate::pipeline::PipelineOptions, crate::pipeline::model::ModelError> {
        let path = |p: &PathBuf| (!p.as_os_str().is_empty()).then(|| p.clone());
        let models = crate::pipeline::Models::load(
            path(&self.tissue_model).as_deref(),
            path(&self.l3_model).as_deref(),
        )?;
        Ok(crate::pipeline::PipelineOptions {
            windows: self.windows,
            models,
            review_threshold: self.review_confidence,
            ..Default::default()
        })
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("server", &self.server)
            .field("auth", &self.auth)
            .field("ingest", &self.ingest)
            .field("jobs", &self.jobs)
            .field("pipeline", &self.pipeline)
            .field("log", &self.log)
            .finish()
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.jwt_secret.is_empty() {
            "<generated>"
        } else {
            "<redacted>"
        };
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &secret)
            .field("token_ttl_s", &self.token_ttl_s)
            .finish()
    }
}

/// Hides the password in a database URL (`postgres://u:secret@h/db` → `postgres://u:***@h/db`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Values given on the command line; each wins over every other layer.
#[derive(Debug, Default, Clone)]
pub struct CliOverrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--watch-root`.
    pub watch_root: Option<PathBuf>,
    /// `--listen` (repeatable).
    pub listen: Vec<String>,
}

/// The loaded settings plus what the loader wants to tell the operator once logging is up.
#[derive(Debug)]
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// `IDOCTOR_*` variables that name no setting.
    pub unknown_env: Vec<String>,
}

impl Settings {
    /// Builds the settings from every layer. `env` is normally `std::env::vars()`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        cli: &CliOverrides,
    ) -> Result<Loaded, ConfigError> {
        let defaults = toml::Table::try_from(Settings::default()).map_err(|e| invalid(None, e))?;
        let mut table = defaults.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let file_table: toml::Table = text
                .parse()
                .map_err(|e| invalid(Some(path.display().to_string()), e))?;
            merge(&mut table, file_table);
            // Validate the file on its own so an unknown key names the file.
            toml::Value::Table(table.clone())
                .try_into::<Settings>()
                .map_err(|e| invalid(Some(path.display().to_string()), e))?;
        }
        let mut unknown_env = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("IDOCTOR_") else {
                continue;
            };
            if FOREIGN_ENV.contains(&name.as_str()) {
                continue;
            }
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            if !set_path(&mut table, &defaults, &path, &value)
                .map_err(|m| invalid(Some(name.clone()), m))?
            {
                unknown_env.push(name);
            }
        }
        let set = |table: &mut toml::Table, path: &[&str], value: toml::Value| {
            let mut cursor = table;
            for part in &path[..path.len() - 1] {
                cursor = cursor
                    .entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .expect("settings sections are tables");
            }
            cursor.insert(path[path.len() - 1].to_string(), value);
        };
        if let Some(dir) = &cli.data_dir {
            set(&mut table, &["data_dir"], path_value(dir));
        }
        if let Some(url) = &cli.database_url {
            set(
                &mut table,
                &["database_url"],
                toml::Value::String(url.clone()),
            );
        }
        if let Some(root) = &cli.watch_root {
            set(&mut table, &["ingest", "watch_root"], path_value(root));
        }
        if !cli.listen.is_empty() {
            let list = cli
                .listen
                .iter()
                .cloned()
                .map(toml::Value::String)
                .collect();
            set(&mut table, &["server", "listen"], toml::Value::Array(list));
        }
        let settings: Settings = toml::Value::Table(table)
            .try_into()
            .map_err(|e| invalid(None, e))?;
        settings.validate()?;
        Ok(Loaded {
            settings,
            unknown_env,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(invalid(None, m));
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret.len() < 32 {
            return bad("auth.jwt_secret must be at least 32 bytes (or empty to generate one)");
        }
        if self.auth.token_ttl_s == 0 {
            return bad("auth.token_ttl_s must be positive");
        }
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !non_negative(self.ingest.series_quiet_s)
            || !non_negative(self.ingest.study_force_complete_s)
        {
            return bad("ingest quiet periods must be zero or positive");
        }
        if self.jobs.workers == 0 {
            return bad("jobs.workers must be at least 1");
        }
        if !self.jobs.lease_s.is_finite() || self.jobs.lease_s <= 0.0 {
            return bad("jobs.lease_s must be positive");
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return bad("log.format must be text or json");
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite in the data dir.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("idoctor.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The Unix socket path.
    pub fn socket_path(&self) -> PathBuf {
        if self.server.socket.as_os_str().is_empty() {
            self.data_dir.join("idoctord.sock")
        } else {
            self.server.socket.clone()
        }
    }

    /// Token lifetime.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.token_ttl_s)
    }
}

fn path_value(p: &Path) -> toml::Value {
    toml::Value::String(p.display().to_string())
}

fn invalid(origin: Option<String>, e: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        origin,
        message: e.to_string().trim().to_string(),
    }
}

/// Deep-merges `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Sets one setting from an environment string, typed like the setting's default
/// (so a file that wrote `5` for a float does not turn the variable into an integer).
/// Returns `Ok(false)` when the path names no setting.
fn set_path(
    table: &mut toml::Table,
    defaults: &toml::Table,
    path: &[String],
    raw: &str,
) -> Result<bool, String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut cursor = table;
    let mut typed = defaults;
    for part in parents {
        match (cursor.get_mut(part), typed.get(part)) {
            (Some(toml::Value::Table(t)), Some(toml::Value::Table(d))) => {
                cursor = t;
                typed = d;
            }
            _ => return Ok(false),
        }
    }
    let Some(current) = typed.get(last) else {
        return Ok(false);
    };
    let parsed = match current {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected an integer, got {raw:?}"))?,
        ),
        toml::Value::Float(_) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected a number, got {raw:?}"))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(format!("expected true or false, got {raw:?}")),
        }),
        toml::Value::Array(_) => {
            if raw.trim_start().starts_with('[') {
                let wrapped: toml::Table = format!("v = {raw}")
                    .parse()
                    .map_err(|e| format!("expected a TOML array: {e}"))?;
                wrapped["v"].clone()
            } else {
                toml::Value::Array(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.to_string()))
                        .collect(),
                )
            }
        }
        toml::Value::Table(_) => {
            let wrapped: toml::Table = format!("v = {raw}")
                .parse()
                .map_err(|e| format!("expected an inline TOML table: {e}"))?;
            wrapped["v"].clone()
        }
        toml::Value::Datetime(_) => return Err("datetime settings are not supported".into()),
    };
    cursor.insert(last.clone(), parsed);
    Ok(true)
}

/// The commented example configuration printed by `idoctord default-config`.
/// A test checks that it parses back to exactly `Settings::default()`.
pub const DEFAULT_CONFIG: &str = r#"# idoctord configuration. Every key is optional; shown are the defaults.
# Precedence: defaults < this file (--config) < IDOCTOR_* environment < command-line flags.
# Environment names: IDOCTOR_DATA_DIR, IDOCTOR_INGEST__SERIES_QUIET_S=2, ...

# Root of the database, archive, results, quarantine, outbox, socket and secrets.
data_dir = "./idoctor-data"
# "sqlite://PATH" or "postgres://USER[:PASSWORD]@HOST[:PORT]/DB".
# Empty: sqlite://<data_dir>/idoctor.db (embedded, WAL mode).
database_url = ""

[server]
# Unix socket (mode 0660). Empty: <data_dir>/idoctord.sock
socket = ""
# Extra listeners: "tls://0.0.0.0:7443" (self-signed certificate made on first run,
# pinned by consoles on first use) or "tcp://127.0.0.1:7444" (plain, loopback only).
listen = []
# Seconds in-flight requests get to finish at shutdown.
shutdown_grace_s = 10.0

[auth]
# HS256 secret, at least 32 bytes. Empty: generated once into <data_dir>/secrets/jwt.key.
jwt_secret = ""
# Session lifetime in seconds (12 h).
token_ttl_s = 43200

[ingest]
# Run intake in this daemon (several daemons may share one database and archive; one
# can ingest while the others only run jobs).
enabled = true
# Root of the per-user drop folders: <watch_root>/<username>/
watch_root = "./watch-folders"
# A file counts once its size and mtime have been still this long (partial-write guard).
file_settle_ms = 2000
# A file its writer has closed (seen through inotify, so local disks only) counts once it
# has been still this long instead.
close_settle_ms = 100
# A series is complete after this many seconds without a new instance (fractions allowed).
series_quiet_s = 60.0
# Complete a study's series after this long even if instances keep trickling in.
study_force_complete_s = 900.0
# Polling interval when inotify is unavailable or force_polling is set.
poll_interval_ms = 1000
# Full safety rescan of the watch root, seconds.
rescan_interval_s = 300.0
# Series with fewer slices go to quarantine.
min_slices = 10
# Poll instead of inotify (network shares).
force_polling = false

# Extra drop folders mapped to users; a folder may set its own job mode (auto or review),
# which wins over the user's for series dropped there.
[ingest.folders]
# "/mnt/pacs/ward7" = "alice"
# "/mnt/pacs/qa" = { user = "alice", mode = "review" }

[jobs]
# Concurrent pipeline runs in this daemon.
workers = 1
# Lease seconds; renewed while running, taken over by another worker when it expires.
lease_s = 60.0
# Attempts before a job failing for system reasons stays failed.
max_attempts = 3
# First retry delay in seconds; doubles with each attempt.
retry_backoff_s = 10.0
# How often held jobs and series are re-tried against their quota, seconds.
held_retry_s = 30.0
# How often idle workers look for work, milliseconds.
poll_ms = 500

[pipeline]
# L3 answers below this confidence are flagged low_confidence (both anchors agreeing
# give 0.92; one anchor, S1 or T12, gives 0.65 or 0.6).
review_confidence = 0.75
# Optional ONNX models (see daemon/src/pipeline/model.rs). Empty: classical methods.
l3_model = ""
tissue_model = ""

# HU windows (Alberta protocol).
[pipeline.windows]
muscle = { min = -29, max = 150 }
sat = { min = -190, max = -30 }
imat = { min = -190, max = -30 }
vat = { min = -150, max = -50 }

[log]
# "text" or "json"
format = "text"
# tracing filter; RUST_LOG overrides it.
filter = "info"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn load(
        file: Option<&str>,
        env: &[(&str, &str)],
        cli: CliOverrides,
    ) -> Result<Loaded, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load(file.map(|_| path.as_path()), env, &cli)
    }

    #[test]
    fn default_config_parses_to_defaults() {
        let parsed: Settings = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(parsed, Settings::default());
    }

    #[test]
    fn layers_apply_in_order() {
        let file = "data_dir = \"/from-file\"\n[ingest]\nseries_quiet_s = 5\nmin_slices = 3\n";
        let env = [
            ("IDOCTOR_INGEST__SERIES_QUIET_S", "0.25"),
            ("IDOCTOR_DATA_DIR", "/from-env"),
            (
                "IDOCTOR_AUTH__JWT_SECRET",
                "12345678901234567890123456789012",
            ),
        ];
        let cli = CliOverrides {
            data_dir: Some("/from-cli".into()),
            ..Default::default()
        };
        let s = load(Some(file), &env, cli).unwrap().settings;
        assert_eq!(s.data_dir, PathBuf::from("/from-cli"));
        assert_eq!(s.ingest.series_quiet_s, 0.25);
        assert_eq!(s.ingest.min_slices, 3);
        assert_eq!(s.auth.jwt_secret, "12345678901234567890123456789012");
        let s = load(Some(file), &[], CliOverrides::default())
            .unwrap()
            .settings;
        assert_eq!(s.data_dir, PathBuf::from("/from-file"));
        assert_eq!(s.ingest.series_quiet_s, 5.0);
    }

    #[test]
    fn unknown_file_keys_are_errors_and_unknown_env_is_reported() {
        let err = load(Some("[ingest]\nquiet = 3\n"), &[], CliOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("quiet"), "{err}");
        let loaded = load(
            None,
            &[("IDOCTOR_NOPE", "1"), ("IDOCTOR_PASSWORD", "x")],
            CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(loaded.unknown_env, vec!["IDOCTOR_NOPE".to_string()]);
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let err = load(
            None,
            &[("IDOCTOR_INGEST__MIN_SLICES", "many")],
            CliOverrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("IDOCTOR_INGEST__MIN_SLICES"),
            "{err}"
        );
        let err = load(
            None,
            &[("IDOCTOR_AUTH__JWT_SECRET", "short")],
            CliOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut s = Settings::default();
        s.auth.jwt_secret = "super-secret-value-that-is-long-enough!!".into();
        s.database_url = "postgres://me:hunter2@db/idoctor".into();
        let text = format!("{s:?}");
        assert!(!text.contains("super-secret"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("postgres://me:***@db/idoctor"), "{text}");
    }

    #[test]
    fn default_paths() {
        let s = Settings::default();
        assert_eq!(s.database_url(), "sqlite://./idoctor-data/idoctor.db");
        assert_eq!(
            s.socket_path(),
            PathBuf::from("./idoctor-data/idoctord.sock")
        );
    }
}
