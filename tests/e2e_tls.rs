//! Remote consoles over TLS, end to end with the real binaries: the daemon makes its
//! certificate on first run and logs its fingerprint; the console pins it on first login
//! (trust on first use), keeps working while it matches, and refuses a changed certificate
//! with a message that names the pin file. Plain TCP is refused off loopback.

use crate::common::{Daemon, TestDb, binaries};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_console_pins_the_certificate_and_refuses_a_changed_one() {
    let db = TestDb::create("sqlite").await;
    let port = free_port();
    let server = format!("tls://127.0.0.1:{port}");
    let mut daemon = Daemon::start(&db, &[("IDOCTOR_SERVER__LISTEN", server.as_str())]).await;
    let pw = daemon.add_user("tess", "operator", "free");
    let login = |d: &Daemon| {
        d.console_at(
            &server,
            &["login", "--username", "tess", "--password-stdin"],
            Some(&format!("{pw}\n")),
        )
    };

    // First contact pins the certificate the daemon logged.
    let out = login(&daemon);
    assert!(out.status.success(), "TLS login: {}", text(&out.stderr));
    let pins = std::fs::read_to_string(daemon.config_dir.join("known_servers.json"))
        .expect("the pin file is written");
    let log = daemon.log();
    let fingerprint = log
        .split("sha256=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|fp| fp.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("the daemon logs its certificate's SHA-256:\n{log}"));
    assert!(
        pins.contains(&fingerprint),
        "pin {pins} is the logged fingerprint {fingerprint}"
    );
    assert!(!log.contains(&pw), "the password never reaches the log");

    // While it matches, the session works over TLS.
    let who = daemon.console_at(&server, &["whoami", "--json"], None);
    assert!(who.status.success(), "whoami: {}", text(&who.stderr));
    let json: serde_json::Value = serde_json::from_slice(&who.stdout).expect("whoami JSON");
    assert_eq!(json["username"], "tess");

    // A new certificate (the old one deleted, the daemon restarted) is refused.
    daemon.stop();
    std::fs::remove_dir_all(daemon.data_dir.join("tls")).expect("remove the certificate");
    daemon.restart().await;
    let out = login(&daemon);
    assert!(
        !out.status.success(),
        "a changed certificate must be refused"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("changed") && err.contains("known_servers.json"),
        "the refusal explains itself and names the pin file: {err}"
    );
    let pins_after = std::fs::read_to_string(daemon.config_dir.join("known_servers.json"))
        .expect("the pin file stays");
    assert_eq!(
        pins, pins_after,
        "a refused certificate never replaces the pin"
    );
}

#[test]
fn plain_tcp_off_loopback_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = format!("tcp://0.0.0.0:{}", free_port());
    let out = std::process::Command::new(&binaries().daemon)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--database-url")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("db.sqlite").display()
        ))
        .args(["run", "--listen", &listen, "--watch-root"])
        .arg(dir.path().join("watch"))
        .env_remove("IDOCTOR_PASSWORD")
        .output()
        .expect("run idoctord");
    assert!(
        !out.status.success(),
        "a plain TCP listener on 0.0.0.0 must not start"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("plain TCP is only allowed on loopback"),
        "clear refusal: {err}"
    );
}
