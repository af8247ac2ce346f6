//! `idoctord`: the iDoctor daemon and its administrative commands.
//!
//! Only this file uses `anyhow`; library modules return typed errors. Data goes to
//! stdout (JSON with `--json`), logs to stderr.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use idoctor_daemon::config::{CliOverrides, DEFAULT_CONFIG, Settings};
use idoctor_daemon::daemon::{self, AnyStore};
use idoctor_daemon::store::Store;
use idoctor_daemon::{accounts, with_store};
use idoctor_protocol::{NewUser, Role};
use std::io::Read;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// iDoctor daemon: watches DICOM drop folders, finds L3, measures body composition.
#[derive(Parser, Debug)]
#[command(name = "idoctord", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct GlobalArgs {
    /// Root of the database, archive, results, quarantine, outbox, socket and secrets.
    #[arg(long, global = true, env = "IDOCTOR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (see `idoctord default-config`).
    #[arg(long, global = true, env = "IDOCTOR_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon.
    Run(RunArgs),
    /// Run on embedded defaults with demo users (passwords printed once).
    Demo(RunArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Print a commented example configuration.
    DefaultConfig,
    /// One-shot pipeline on folders or files: no database, no quotas. Prints one result
    /// per series found (and one error per unusable file).
    Analyze {
        /// Files or folders (searched recursively; mixed series are told apart).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
        /// Write outputs (results.json, CSVs, PNGs) to DIR/<series uid>/.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a synthetic abdominal CT series with known truth (truth.json).
    Phantom {
        /// Output folder.
        out: PathBuf,
        /// Anatomy seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of slices.
        #[arg(long, default_value_t = 120)]
        slices: usize,
        /// Matrix size (rows = columns).
        #[arg(long, default_value_t = 512)]
        matrix: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage users directly in the database (bootstrap; admins can also use the console).
    #[command(subcommand)]
    User(UserCommand),
    /// Measure speed and memory (use a release build: cargo run --release --bin idoctord -- bench …).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Pipeline timings and peak memory: every series under PATH (default: the shared
    /// pancreas case) and a 300-slice 512² phantom.
    Pipeline {
        /// Series to measure.
        paths: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Intake: a phantom series copied file by file into a drop folder; files/s and MB/s
    /// from drop to archived (with a plain copy for reference) and the latency from the
    /// last file written to the series being stable, beyond the quiet period. Scratch data
    /// dir; the database of --database-url (default: a fresh SQLite file).
    Ingest {
        /// Number of slices (files).
        #[arg(long, default_value_t = 300)]
        slices: usize,
        /// Matrix size (rows = columns).
        #[arg(long, default_value_t = 512)]
        matrix: usize,
        /// Quiet period, seconds [default: the configured `[ingest] series_quiet_s`].
        #[arg(long)]
        quiet_s: Option<f64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Quota reservations per second and p50/p99 latency: 1 client; 16 clients on 16
    /// users; 16 clients on one user (a hot balance row). On the database of
    /// --database-url (default: a fresh SQLite file in a temp dir).
    Quota {
        /// Reservations per client.
        #[arg(long, default_value_t = 500)]
        per_client: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Clone, Default)]
struct RunArgs {
    /// Root of the per-user drop folders.
    #[arg(long)]
    watch_root: Option<PathBuf>,
    /// Extra listener: tls://HOST:PORT or tcp://127.0.0.1:PORT (repeatable).
    #[arg(long)]
    listen: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a user. The password is read from stdin (--password-stdin) or IDOCTOR_PASSWORD.
    Add {
        /// Login name.
        #[arg(long)]
        username: String,
        /// admin or operator.
        #[arg(long)]
        role: Role,
        /// free, pro or enterprise.
        #[arg(long, default_value = "free")]
        plan: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (their sessions end).
    Passwd {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("idoctord: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(cli)) {
        eprintln!("idoctord: {e:#}");
        std::process::exit(1);
    }
}

fn load_settings(global: &GlobalArgs, run: &RunArgs) -> Result<Settings> {
    let cli = CliOverrides {
        data_dir: global.data_dir.clone(),
        database_url: global.database_url.clone(),
        watch_root: run.watch_root.clone(),
        listen: run.listen.clone(),
    };
    let loaded = Settings::load(global.config.as_deref(), std::env::vars(), &cli)?;
    init_tracing(&loaded.settings);
    for name in &loaded.unknown_env {
        tracing::warn!(
            variable = name,
            "ignoring an IDOCTOR_ variable that names no setting"
        );
    }
    Ok(loaded.settings)
}

fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if settings.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn open_store(settings: &Settings) -> Result<AnyStore> {
    daemon::open_sqlite_or_pg(settings)
        .await
        .context("cannot open the database")
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Migrate => {
            let settings = load_settings(&cli.global, &RunArgs::default())?;
            let store = open_store(&settings).await?;
            with_store!(store, |s| s.close().await);
            println!("database schema is up to date");
            Ok(())
        }
        Command::Run(args) => {
            let settings = load_settings(&cli.global, &args)?;
            let store = open_store(&settings).await?;
            with_store!(store, |s| serve(s, settings, None).await)
        }
        Command::Demo(args) => {
            let settings = load_settings(&cli.global, &args)?;
            let store = open_store(&settings).await?;
            with_store!(store, |s| demo(s, settings).await)
        }
        Command::Bench(cmd) => bench(&cli.global, cmd).await,
        Command::Analyze { paths, json, out } => {
            let settings = load_settings(&cli.global, &RunArgs::default())?;
            analyze(&settings, paths, json, out).await
        }
        Command::Phantom {
            out,
            seed,
            slices,
            matrix,
            json,
        } => {
            let (truth, written) = tokio::task::spawn_blocking(move || {
                idoctor_daemon::analyze::write_phantom(&out, seed, slices, matrix)
            })
            .await?
            .context("cannot write the phantom")?;
            let summary = idoctor_daemon::analyze::phantom_summary(&truth, &written);
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "wrote {} slices ({} bytes) and truth.json; L3 mid z {:.1} mm",
                    written.files.len(),
                    written.bytes,
                    truth.l3.mid_z_mm
                );
            }
            Ok(())
        }
        Command::User(cmd) => {
            let settings = load_settings(&cli.global, &RunArgs::default())?;
            let store = open_store(&settings).await?;
            let result = with_store!(store.clone(), |s| user_command(&s, &settings, cmd).await);
            with_store!(store, |s| s.close().await);
            result
        }
    }
}

async fn serve<S: Store>(
    store: S,
    settings: Settings,
    on_ready: Option<daemon::OnReady>,
) -> Result<()> {
    let shutdown = CancellationToken::new();
    daemon::cancel_on_signals(shutdown.clone());
    let state = daemon::build_state(store, settings, shutdown)?;
    daemon::serve(state, on_ready).await?;
    Ok(())
}

fn pipeline_options(settings: &Settings) -> Result<idoctor_daemon::pipeline::PipelineOptions> {
    settings
        .pipeline
        .options()
        .context("cannot load the configured ONNX model")
}

async fn analyze(
    settings: &Settings,
    paths: Vec<PathBuf>,
    json: bool,
    out: Option<PathBuf>,
) -> Result<()> {
    let opts = pipeline_options(settings)?;
    let outcomes = tokio::task::spawn_blocking(move || {
        idoctor_daemon::analyze::analyze(&paths, out.as_deref(), &opts)
    })
    .await?;
    idoctor_daemon::analyze::write_report(&outcomes, json, std::io::stdout().lock())?;
    let failed = outcomes.iter().filter(|o| o.is_error()).count();
    if outcomes.is_empty() {
        bail!("no DICOM files found under the given paths");
    }
    if failed == outcomes.len() {
        bail!("no series could be analysed ({failed} errors)");
    }
    Ok(())
}

async fn bench(global: &GlobalArgs, cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Pipeline { paths, json } => {
            let settings = load_settings(global, &RunArgs::default())?;
            let opts = pipeline_options(&settings)?;
            let paths = if paths.is_empty() {
                vec![PathBuf::from("../shared/data/ct/pancreas-ct-cb-001/dicom")]
            } else {
                paths
            };
            let scratch = tempfile::tempdir().context("temp dir")?;
            let dir = scratch.path().to_path_buf();
            let cases = tokio::task::spawn_blocking(move || {
                idoctor_daemon::analyze::bench(&paths, &dir, &opts)
            })
            .await?;
            if json {
                let list: Vec<_> = cases
                    .iter()
                    .map(|c| match c {
                        Ok(c) => serde_json::to_value(c).unwrap_or_default(),
                        Err(e) => serde_json::json!({ "error": e }),
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", idoctor_daemon::analyze::bench_table(&cases));
            }
            Ok(())
        }
        BenchCommand::Ingest {
            slices,
            matrix,
            quiet_s,
            json,
        } => {
            let scratch = tempfile::tempdir().context("temp dir")?;
            let mut settings = load_settings(global, &RunArgs::default())?;
            settings.data_dir = scratch.path().join("data");
            settings.ingest.watch_root = scratch.path().join("watch");
            if global.database_url.is_none() {
                settings.database_url =
                    format!("sqlite://{}", scratch.path().join("bench.db").display());
            }
            if let Some(q) = quiet_s {
                settings.ingest.series_quiet_s = q;
            }
            let store = open_store(&settings).await?;
            let shutdown = CancellationToken::new();
            let f = with_store!(store, |s| {
                let state = daemon::build_state(s, settings, shutdown)?;
                idoctor_daemon::bench::ingest::run(state, slices, matrix, scratch.path()).await
            })
            .map_err(anyhow::Error::msg)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                println!(
                    "{} files, {:.1} MB on {}\n\
                     plain copy (reference)      {:>8.0} MB/s\n\
                     drop → archived             {:>8.2} s  {:>7.0} files/s  {:>6.0} MB/s\n\
                     last write → stable         {:>8.2} s  (quiet period {:.2} s, beyond it {:.3} s)",
                    f.files,
                    f.bytes as f64 / 1e6,
                    f.backend,
                    f.copy_mb_per_s,
                    f.drop_to_archived_s,
                    f.files_per_s,
                    f.mb_per_s,
                    f.last_write_to_stable_s,
                    f.quiet_s,
                    f.beyond_quiet_s
                );
            }
            Ok(())
        }
        BenchCommand::Quota { per_client, json } => {
            let scratch = tempfile::tempdir().context("temp dir")?;
            let mut settings = load_settings(global, &RunArgs::default())?;
            if global.database_url.is_none() {
                settings.database_url =
                    format!("sqlite://{}", scratch.path().join("bench.db").display());
            }
            let store = open_store(&settings).await?;
            let mut figures = Vec::new();
            for (clients, users) in [(1, 1), (16, 16), (16, 1)] {
                let f = with_store!(store.clone(), |s| {
                    idoctor_daemon::bench::quota::reserve(
                        s,
                        clients,
                        users,
                        per_client,
                        scratch.path(),
                    )
                    .await
                })
                .map_err(anyhow::Error::msg)?;
                figures.push(f);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                println!(
                    "{:<9} {:>7} {:>5} {:>12} {:>10} {:>9} {:>9}",
                    "BACKEND", "CLIENTS", "USERS", "RESERVATIONS", "PER_SEC", "P50_MS", "P99_MS"
                );
                for f in figures {
                    println!(
                        "{:<9} {:>7} {:>5} {:>12} {:>10.0} {:>9.2} {:>9.2}",
                        f.backend,
                        f.clients,
                        f.users,
                        f.reservations,
                        f.per_second,
                        f.p50_ms,
                        f.p99_ms
                    );
                }
            }
            Ok(())
        }
    }
}

/// Creates the demo users on first run (printing their passwords once), drops a phantom
/// series for the demo user when they have none, then serves.
async fn demo<S: Store>(store: S, mut settings: Settings) -> Result<()> {
    // A demo should finish in seconds: intake waits less (explicit settings still win).
    let env_has = |k: &str| std::env::var_os(k).is_some();
    if !env_has("IDOCTOR_INGEST__SERIES_QUIET_S") && settings.ingest.series_quiet_s > 2.0 {
        settings.ingest.series_quiet_s = 2.0;
    }
    if !env_has("IDOCTOR_INGEST__FILE_SETTLE_MS") && settings.ingest.file_settle_ms > 500 {
        settings.ingest.file_settle_ms = 500;
    }
    let paths = idoctor_daemon::paths::Paths::new(&settings.data_dir, &settings.ingest.watch_root);
    let created = idoctor_daemon::demo::ensure_users(&store, &paths).await?;
    let demo_user = store
        .user_by_name("demo")
        .await?
        .context("the demo user is missing")?;
    let has_series = !store.list_series(Some(demo_user.id)).await?.is_empty();
    let watch = paths.watch_dir("demo");
    let dropped = if has_series {
        None
    } else {
        let staging = settings.data_dir.join("demo");
        let watch = watch.clone();
        let opts = idoctor_daemon::phantom::PhantomOptions::new(7, 125, 512);
        let (truth, dir) = tokio::task::spawn_blocking(move || {
            idoctor_daemon::demo::drop_phantom(&opts, &staging, &watch)
        })
        .await?
        .context("cannot write the demo phantom")?;
        Some((truth.l3.mid_z_mm, dir))
    };
    let on_ready: daemon::OnReady = Box::new(move |listeners| {
        println!("iDoctor demo is running.");
        if created.is_empty() {
            println!(
                "  Users admin and demo already exist (passwords were shown when they were created;"
            );
            println!("  reset one with: idoctord user passwd --username demo --password-stdin).");
        } else {
            println!("  Passwords (shown once, keep them):");
            for (user, password) in &created {
                println!("    {user:<6} {password}");
            }
        }
        for l in listeners {
            println!("  Listening on {l}");
        }
        if let Some((z, dir)) = &dropped {
            println!(
                "  A phantom CT series (true L3 mid z {z:.1} mm) was dropped into {}",
                dir.display()
            );
        }
        println!("  Drop more DICOM series into {}", watch.display());
        println!(
            "  Connect a console:  idoctor login --username demo   then   idoctor jobs   or   idoctor"
        );
        println!("  Stop with Ctrl-C.");
    });
    serve(store, settings, Some(on_ready)).await
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        let line = text.lines().next().unwrap_or_default().to_string();
        if line.is_empty() {
            bail!("no password on stdin");
        }
        return Ok(line);
    }
    match std::env::var("IDOCTOR_PASSWORD") {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => bail!("give the password on stdin with --password-stdin, or in IDOCTOR_PASSWORD"),
    }
}

async fn user_command<S: Store>(store: &S, settings: &Settings, cmd: UserCommand) -> Result<()> {
    let paths = idoctor_daemon::paths::Paths::new(&settings.data_dir, &settings.ingest.watch_root);
    match cmd {
        UserCommand::Add {
            username,
            role,
            plan,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let row = accounts::create_user(
                store,
                &paths,
                NewUser {
                    username,
                    password,
                    role,
                    plan: Some(plan),
                },
            )
            .await?;
            println!(
                "created {} ({}, plan {}); watch folder {}",
                row.username,
                row.role,
                row.plan,
                paths.watch_dir(&row.username).display()
            );
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            accounts::set_password(store, &username, password)
                .await
                .map_err(|e| match e {
                    accounts::AccountError::Store(idoctor_daemon::store::StoreError::NotFound) => {
                        anyhow::anyhow!("no user named {username:?}")
                    }
                    other => other.into(),
                })?;
            println!("password changed for {username}; their sessions have ended");
        }
        UserCommand::List { json } => {
            let users = store
                .list_users()
                .await?
                .iter()
                .map(|u| u.to_info())
                .collect::<Result<Vec<_>, _>>()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!(
                    "{:<20} {:<9} {:<11} {:<7} STATUS",
                    "USERNAME", "ROLE", "PLAN", "MODE"
                );
                for u in users {
                    let status = if u.disabled { "disabled" } else { "active" };
                    println!(
                        "{:<20} {:<9} {:<11} {:<7} {}",
                        u.username, u.role, u.plan, u.mode, status
                    );
                }
            }
        }
    }
    Ok(())
}
