//! A real `idoctord` process on a temporary data dir, and helpers to drive it with the
//! real console binary or the console client library.

use super::{TestDb, binaries, wait_for};
use idoctor_console::client::Client;
use idoctor_console::endpoint::Endpoint;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The JWT secret every test daemon uses, so tests can forge expired tokens.
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A running daemon (killed on drop).
#[derive(Debug)]
pub struct Daemon {
    /// Everything lives under here.
    pub root: tempfile::TempDir,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--watch-root`.
    pub watch_root: PathBuf,
    /// The console's config dir (sessions, pins).
    pub config_dir: PathBuf,
    /// The Unix socket.
    socket: PathBuf,
    /// Database URL.
    pub db_url: String,
    /// Extra `IDOCTOR_*` environment.
    pub env: Vec<(String, String)>,
    child: Option<Child>,
    starts: u32,
}

impl Daemon {
    /// Starts a daemon on `db` with extra environment (e.g. quiet periods for tests).
    pub async fn start(db: &TestDb, env: &[(&str, &str)]) -> Daemon {
        let root = tempfile::tempdir().expect("temp dir");
        let data_dir = root.path().join("data");
        let watch_root = root.path().join("watch");
        let config_dir = root.path().join("console");
        let mut daemon = Daemon {
            socket: data_dir.join("idoctord.sock"),
            data_dir,
            watch_root,
            config_dir,
            db_url: db.url.clone(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            root,
            child: None,
            starts: 0,
        };
        daemon.spawn().await;
        daemon
    }

    /// A second daemon on the same database, data dir and watch root (a scaled-out
    /// site), with its own socket and logs.
    pub async fn start_sibling(&self, env: &[(&str, &str)]) -> Daemon {
        let root = tempfile::tempdir().expect("temp dir");
        let socket = root.path().join("sibling.sock");
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push((
            "IDOCTOR_SERVER__SOCKET".into(),
            socket.display().to_string(),
        ));
        let mut sibling = Daemon {
            data_dir: self.data_dir.clone(),
            watch_root: self.watch_root.clone(),
            config_dir: root.path().join("console"),
            socket,
            db_url: self.db_url.clone(),
            env,
            root,
            child: None,
            starts: 0,
        };
        sibling.spawn().await;
        sibling
    }

    /// The Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.socket.clone()
    }

    /// The socket as a console endpoint.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Unix(self.socket())
    }

    fn log_path(&self) -> PathBuf {
        self.root
            .path()
            .join(format!("idoctord-{}.log", self.starts))
    }

    /// The daemon's log so far (all starts).
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|i| {
                std::fs::read_to_string(self.root.path().join(format!("idoctord-{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    fn base_command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--database-url")
            .arg(&self.db_url)
            .env("IDOCTOR_AUTH__JWT_SECRET", TEST_SECRET)
            .env("IDOCTOR_INGEST__WATCH_ROOT", &self.watch_root)
            .env("RUST_LOG", "info,idoctor_daemon=debug")
            .env_remove("IDOCTOR_PASSWORD");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    async fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = self
            .base_command(&binaries().daemon)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn idoctord");
        self.child = Some(child);
        let endpoint = self.endpoint();
        let config = self.config_dir.clone();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if Client::connect(&endpoint, &config).await.is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("idoctord exited early ({status}):\n{}", self.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "idoctord did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs an `idoctord` admin command against the same data dir and database.
    pub fn daemon_command(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.base_command(&binaries().daemon);
        cmd.args(args);
        run_with_stdin(cmd, stdin)
    }

    /// Adds a user with `idoctord user add`; returns the password.
    pub fn add_user(&self, username: &str, role: &str, plan: &str) -> String {
        let password = format!("pw-{username}-0123456789");
        let out = self.daemon_command(
            &[
                "user",
                "add",
                "--username",
                username,
                "--role",
                role,
                "--plan",
                plan,
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        );
        assert!(
            out.status.success(),
            "user add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        password
    }

    /// Runs the `idoctor` console binary against this daemon.
    pub fn console(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.console_at(&format!("unix:{}", self.socket().display()), args, stdin)
    }

    /// Runs the `idoctor` console binary against `server` (e.g. a `tls://` listener),
    /// with this daemon's console config dir.
    pub fn console_at(&self, server: &str, args: &[&str], stdin: Option<&str>) -> Output {
        run_with_stdin(self.console_command_at(server, args), stdin)
    }

    /// The `idoctor` console command against this daemon's socket, not yet run.
    pub fn console_command(&self, args: &[&str]) -> Command {
        self.console_command_at(&format!("unix:{}", self.socket().display()), args)
    }

    fn console_command_at(&self, server: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&binaries().console);
        cmd.arg("--server")
            .arg(server)
            .args(args)
            .env("IDOCTOR_CONFIG_DIR", &self.config_dir)
            .env_remove("IDOCTOR_PASSWORD")
            .env_remove("IDOCTOR_SERVER");
        cmd
    }

    /// A console client without a session.
    pub async fn client(&self) -> Client {
        Client::connect(&self.endpoint(), &self.config_dir)
            .await
            .expect("connect to the test daemon")
    }

    /// A logged-in console client.
    pub async fn login(&self, username: &str, password: &str) -> Client {
        self.client()
            .await
            .login(username, password)
            .await
            .unwrap_or_else(|e| panic!("login {username}: {e}"))
            .1
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("idoctord did not stop after SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the daemon with SIGKILL (a crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the daemon again on the same data dir and database.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the daemon first");
        self.spawn().await;
    }

    /// Waits until the daemon log contains `needle`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) {
        wait_for(timeout, needle, || async {
            self.log().contains(needle).then_some(())
        })
        .await;
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `cmd` to completion with `stdin` (if any) written to it and closed; captures
/// stdout and stderr.
fn run_with_stdin(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait for the command")
}
