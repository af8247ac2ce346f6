//! End to end: a real `idoctord` process, logins through the console client library and
//! the console binary, and every way a session can be refused. Runs on each backend.

use crate::common::daemon::TEST_SECRET;
use crate::common::{Daemon, TestDb, backends};
use idoctor_console::client::ClientError;
use idoctor_daemon::auth::Keys;
use idoctor_protocol::{ErrorCode, LoginRequest, PROTOCOL_VERSION, Role};
use std::time::Duration;

fn code(e: &ClientError) -> Option<ErrorCode> {
    e.code()
}

#[tokio::test]
async fn login_whoami_and_refusals_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let daemon = Daemon::start(&db, &[]).await;
        let admin_pw = daemon.add_user("root", "admin", "enterprise");
        let op_pw = daemon.add_user("olga", "operator", "free");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(daemon.socket())
                .expect("the socket exists")
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o660,
                "socket mode {mode:o}: owner and group only"
            );
        }

        // whoami through the library.
        let olga = daemon.login("olga", &op_pw).await;
        let me = olga.whoami().await.unwrap();
        assert_eq!((me.username.as_str(), me.role), ("olga", Role::Operator));
        assert!(
            daemon.watch_root.join("olga").is_dir(),
            "watch folder created with the user"
        );

        // Wrong password and unknown user: same code, same message.
        let client = daemon.client().await;
        let wrong = client.login("olga", "not-the-password").await.unwrap_err();
        let unknown = client
            .login("nobody", "not-the-password")
            .await
            .unwrap_err();
        assert_eq!(code(&wrong), Some(ErrorCode::Unauthenticated));
        assert_eq!(wrong.to_string(), unknown.to_string());

        // Tampered and garbage tokens.
        let (session, _) = client.login("olga", &op_pw).await.unwrap();
        let mut tampered = session.token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [tampered.as_str(), "garbage", ""] {
            let err = client.clone().with_token(bad).whoami().await.unwrap_err();
            assert_eq!(
                code(&err),
                Some(ErrorCode::Unauthenticated),
                "{bad:?}: {err}"
            );
        }

        // An expired token signed with the daemon's own key.
        let keys = Keys::new(TEST_SECRET.as_bytes(), Duration::from_secs(60)).unwrap();
        let an_hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
        let (expired, _) = keys.issue(me.id, "operator", 0, an_hour_ago).unwrap();
        let err = client
            .clone()
            .with_token(expired)
            .whoami()
            .await
            .unwrap_err();
        assert_eq!(code(&err), Some(ErrorCode::Unauthenticated));
        assert!(err.to_string().contains("expired"), "{err}");

        // Operators cannot use admin requests.
        let err = olga.list_users().await.unwrap_err();
        assert_eq!(code(&err), Some(ErrorCode::Forbidden));

        // A disabled user's existing token stops working at once, and login is refused.
        let root = daemon.login("root", &admin_pw).await;
        root.set_user_disabled("olga".into(), true).await.unwrap();
        let err = olga.whoami().await.unwrap_err();
        assert_eq!(code(&err), Some(ErrorCode::Unauthenticated));
        assert!(client.login("olga", &op_pw).await.is_err());
        root.set_user_disabled("olga".into(), false).await.unwrap();
        assert_eq!(olga.whoami().await.unwrap().username, "olga");

        // A password change ends existing sessions.
        root.set_password("olga".into(), "a-brand-new-password".into())
            .await
            .unwrap();
        assert_eq!(
            code(&olga.whoami().await.unwrap_err()),
            Some(ErrorCode::Unauthenticated)
        );
        daemon.login("olga", "a-brand-new-password").await;

        // Admins cannot disable themselves.
        let err = root
            .set_user_disabled("root".into(), true)
            .await
            .unwrap_err();
        assert_eq!(code(&err), Some(ErrorCode::InvalidInput));

        eprintln!("auth e2e passed on {backend}");
    }
}

#[tokio::test]
async fn protocol_version_mismatch_names_both_versions() {
    let db = TestDb::create("sqlite").await;
    let daemon = Daemon::start(&db, &[]).await;
    let pw = daemon.add_user("vera", "operator", "free");
    let client = daemon.client().await;
    let reply = client
        .rpc()
        .login(
            tarpc::context::current(),
            LoginRequest {
                username: "vera".into(),
                password: pw,
                protocol_version: PROTOCOL_VERSION + 41,
            },
        )
        .await
        .unwrap();
    let err = reply.unwrap_err();
    assert_eq!(err.code, ErrorCode::VersionMismatch);
    assert!(
        err.message.contains(&(PROTOCOL_VERSION + 41).to_string()),
        "{}",
        err.message
    );
    assert!(
        err.message.contains(&PROTOCOL_VERSION.to_string()),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn console_binary_login_whoami_logout() {
    let db = TestDb::create("sqlite").await;
    let daemon = Daemon::start(&db, &[]).await;
    let pw = daemon.add_user("carl", "operator", "pro");

    let out = daemon.console(&["whoami"], None);
    assert_eq!(out.status.code(), Some(3), "not logged in yet");

    let out = daemon.console(
        &["login", "--username", "carl", "--password-stdin"],
        Some("wrong\n"),
    );
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "idoctor: invalid username or password"
    );

    let out = daemon.console(
        &["login", "--username", "carl", "--password-stdin"],
        Some(&format!("{pw}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let session_file = daemon.config_dir.join("sessions.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&session_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        !std::fs::read_to_string(&session_file)
            .unwrap()
            .contains(&pw),
        "password saved"
    );

    let out = daemon.console(&["whoami", "--json"], None);
    assert!(out.status.success());
    let me: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    assert_eq!(me["username"], "carl");
    assert_eq!(me["role"], "operator");
    assert_eq!(me["plan"], "pro");

    let out = daemon.console(&["logout"], None);
    assert!(out.status.success());
    assert_eq!(daemon.console(&["whoami"], None).status.code(), Some(3));
}

#[tokio::test]
async fn unreachable_daemon_and_wrong_socket_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let console = &crate::common::binaries().console;
    let run = |server: String| {
        std::process::Command::new(console)
            .args(["--server", &server, "whoami"])
            .env("IDOCTOR_CONFIG_DIR", dir.path())
            .output()
            .unwrap()
    };
    let missing = dir.path().join("nope.sock");
    let out = run(format!("unix:{}", missing.display()));
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no daemon socket") && err.contains("nope.sock"),
        "{err}"
    );

    // A stale socket file with nothing listening.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let out = run(format!("unix:{}", stale.display()));
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));

    let out = run("tcp://127.0.0.1:1".into());
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connection refused"));
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_removes_the_socket() {
    let db = TestDb::create("sqlite").await;
    let mut daemon = Daemon::start(&db, &[]).await;
    assert!(daemon.socket().exists());
    let status = daemon.stop();
    assert!(status.success(), "exit status {status}");
    assert!(!daemon.socket().exists(), "socket file left behind");
    assert!(daemon.log().contains("stopped cleanly"));
    // The same data dir starts again (stale state is handled).
    daemon.restart().await;
    assert!(daemon.socket().exists());
}

#[tokio::test]
async fn bad_database_url_fails_loudly() {
    let db = TestDb::create("sqlite").await;
    let daemon = Daemon::start(&db, &[]).await;
    let mut cmd = std::process::Command::new(&crate::common::binaries().daemon);
    let out = cmd
        .args(["--data-dir"])
        .arg(daemon.root.path().join("other"))
        .args([
            "--database-url",
            "postgres://nobody:pw@127.0.0.1:1/none",
            "migrate",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to PostgreSQL at postgres://nobody:***@127.0.0.1:1/none"),
        "{err}"
    );
    let out = std::process::Command::new(&crate::common::binaries().daemon)
        .args(["--database-url", "mysql://x/y", "migrate"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL scheme"));
}
