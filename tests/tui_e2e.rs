//! The interactive console end to end: a real daemon, the real `idoctor` binary in a
//! detached `tmux` pane, keys sent with `send-keys` and the screen read with
//! `capture-pane`. An operator logs in through the TUI prompt, opens a job awaiting
//! review, moves L3 down two slices, confirms, continues, and sees version 2 appear; the
//! scriptable `job results --json` then shows L3 moved by exactly two slices.

use crate::common::{Daemon, FAST_INGEST, TestDb, binaries, drop_phantom, wait_for};
use idoctor_protocol::{JobMode, JobState};
use std::process::{Command, Output};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

/// A tmux server of our own (its own socket), killed on drop whatever happens.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Starts `command` in a detached `width`×`height` session.
    fn start(width: u16, height: u16, command: &str) -> Tmux {
        let unique = format!("idoctor-tui-{}-{}", std::process::id(), rand_suffix());
        let t = Tmux {
            socket: unique.clone(),
            session: unique,
        };
        let out = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(["-s", &t.session, command])
            .output()
            .expect("start tmux");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Keep the pane after the program exits, so a crash is visible in the capture.
        t.tmux(&["set-option", "-t", &t.session, "remain-on-exit", "on"]);
        t
    }

    /// Sends tmux key names (`Down`, `Enter`, `y`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success(), "send-keys {keys:?}");
    }

    /// Types text literally.
    fn text(&self, text: &str) {
        assert!(
            self.tmux(&["send-keys", "-t", &self.session, "-l", text])
                .status
                .success()
        );
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    /// Polls the screen until it contains every needle.
    async fn wait_screen(&self, needles: &[&str]) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let screen = self.capture();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {needles:?} on screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The pid of the program in the pane.
    fn pane_pid(&self) -> Option<u32> {
        String::from_utf8_lossy(
            &self
                .tmux(&["list-panes", "-t", &self.session, "-F", "#{pane_pid}"])
                .stdout,
        )
        .trim()
        .parse()
        .ok()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[tokio::test]
async fn operator_corrects_l3_in_the_tui_under_tmux() {
    if !Tmux::available() {
        eprintln!("tmux is not on PATH: skipping the TUI end-to-end test (CI installs it)");
        return;
    }
    let db = TestDb::create("sqlite").await;
    let daemon = Daemon::start(&db, FAST_INGEST).await;
    let root_pw = daemon.add_user("root", "admin", "enterprise");
    let pw = daemon.add_user("rita", "operator", "pro");
    let root = daemon.login("root", &root_pw).await;
    root.set_user_mode("rita".into(), JobMode::Review, false)
        .await
        .unwrap();
    let rita = daemon.login("rita", &pw).await;
    drop_phantom(&daemon, "rita", 5, 125, 256);
    let jobs = wait_for(WAIT, "the job to await review", || async {
        let j = rita.list_jobs(None).await.ok()?;
        (j.len() == 1 && j[0].state == JobState::AwaitingReview).then_some(j)
    })
    .await;
    let id = jobs[0].id;
    let detail = rita.get_job(id).await.unwrap();
    let k = detail
        .l3
        .as_ref()
        .and_then(|l| l.mid_slice_index)
        .expect("a detected L3") as usize;
    assert!(k >= 2, "the detected L3 leaves room to move down");
    let expected_z = detail.slice_z_mm[k - 2];

    // The console with the same config dir and endpoint as `Daemon::console`, and no session.
    let command = format!(
        "exec env -u IDOCTOR_PASSWORD -u IDOCTOR_SERVER IDOCTOR_CONFIG_DIR={} {} --server {}",
        quote(&daemon.config_dir.display().to_string()),
        quote(&binaries().console.display().to_string()),
        quote(&format!("unix:{}", daemon.socket().display())),
    );
    let tmux = Tmux::start(200, 60, &command);

    // Log in through the TUI prompt (the password is masked on screen).
    tmux.wait_screen(&["log in to", "password"]).await;
    tmux.text("rita");
    tmux.keys(&["Tab"]);
    tmux.text(&pw);
    let screen = tmux.capture();
    assert!(!screen.contains(&pw), "the password shows:\n{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_screen(&["logged in as rita", "awaiting_review"])
        .await;

    // Open the job, move L3 down two slices, confirm, continue.
    tmux.keys(&["Enter"]);
    tmux.wait_screen(&[&format!("job {id}"), &format!("cursor slice {k}/")])
        .await;
    tmux.keys(&["Down"]);
    tmux.wait_screen(&[&format!("cursor slice {}/", k - 1)])
        .await;
    tmux.keys(&["Down"]);
    tmux.wait_screen(&[&format!("cursor slice {}/", k - 2), "moved: enter sets it"])
        .await;
    tmux.keys(&["Enter"]);
    tmux.wait_screen(&["confirm", &format!("slice {}", k - 2)])
        .await;
    tmux.keys(&["y"]);
    tmux.wait_screen(&["L3 set to z", &format!("(slice {}) by operator", k - 2)])
        .await;
    tmux.keys(&["c"]);
    tmux.wait_screen(&[&format!("job {id} continues")]).await;
    let screen = tmux
        .wait_screen(&["v2 ", "l3_corrected", "results v2"])
        .await;
    assert!(
        screen.contains("SMI"),
        "the new version's results show:\n{screen}"
    );

    if let Some(pid) = tmux.pane_pid()
        && let Some((rss, hwm)) = rss_kib(pid)
    {
        eprintln!("console memory: RSS {rss} KiB, peak {hwm} KiB (job detail with images)");
    }

    // The scriptable console agrees, using the session the TUI saved.
    let out = daemon.console(&["job", "results", &id.to_string(), "--json"], None);
    assert!(
        out.status.success(),
        "job results: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["info"]["version"], 2);
    assert_eq!(json["info"]["kind"], "l3_corrected");
    let z = json["analysis"]["l3"]["mid_z_mm"].as_f64().unwrap();
    assert_eq!(z, expected_z, "L3 moved by exactly two slices");
    let index = json["analysis"]["metrics"]["middle"]["index"]
        .as_u64()
        .unwrap();
    assert_eq!(index as usize, k - 2);

    // `q` quits and gives the terminal back.
    tmux.keys(&["q"]);
    wait_for(Duration::from_secs(10), "the console to exit", || async {
        let dead = tmux.tmux(&["list-panes", "-t", &tmux.session, "-F", "#{pane_dead}"]);
        (String::from_utf8_lossy(&dead.stdout).trim() == "1").then_some(())
    })
    .await;
}
