//! Quotas and the ledger on every backend: the story of one user's balances, the
//! concurrency proofs (64 racing reservations, replays, resets during reservations),
//! and the admin surface over a real daemon. `reconcile` runs after every story.

use crate::common::{Daemon, TestDb, backends};
use idoctor_daemon::accounts;
use idoctor_daemon::paths::Paths;
use idoctor_daemon::store::quota::UsageQuery;
use idoctor_daemon::store::{Charge, PgStore, Refund, Reservation, SqliteStore, Store};
use idoctor_protocol::{ErrorCode, NewUser, QuotaType, Role, UsageFilter, UsageKind};
use std::sync::Arc;

const DAY: i64 = 86_400_000;

async fn user<S: Store>(store: &S, name: &str, plan: &str) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path(), dir.path());
    accounts::create_user(
        store,
        &paths,
        NewUser {
            username: name.into(),
            password: "password-123".into(),
            role: Role::Operator,
            plan: Some(plan.into()),
        },
    )
    .await
    .unwrap()
    .id
}

fn charge(user_id: i64, t: QuotaType, amount: i64, key: &str) -> Charge {
    Charge {
        user_id,
        quota_type: t,
        amount,
        key: key.into(),
        job_id: None,
        series_id: None,
        actor_id: None,
        metadata: serde_json::json!({"test": true}),
    }
}

async fn assert_reconciled<S: Store>(store: &S) {
    let drift = store.reconcile().await.unwrap();
    assert!(drift.is_empty(), "ledger and balances disagree: {drift:?}");
}

async fn used<S: Store>(store: &S, user_id: i64, t: QuotaType, now: i64) -> (i64, i64) {
    let rows = store.quotas(user_id, now).await.unwrap();
    let row = rows.iter().find(|r| r.quota_type == t.as_str()).unwrap();
    (row.used, row.limit_value)
}

async fn story<S: Store>(store: S) {
    let u = user(&store, "uma", "free").await;
    let admin = user(&store, "boss", "enterprise").await;
    let now = idoctor_daemon::store::now_ms();
    let t = QuotaType::ApiCallsFullProcess; // free plan: 10 a month

    // Charges, a replay, and the warnings at 80 % and 100 %.
    let mut warnings = Vec::new();
    for i in 0..10 {
        let r = store
            .reserve(&charge(u, t, 1, &format!("job:{i}:full:r1")), now)
            .await
            .unwrap();
        let Reservation::Granted {
            used,
            limit,
            replay,
            warnings: w,
        } = r
        else {
            panic!("refused at {i}")
        };
        assert_eq!((used, limit, replay), (i + 1, 10, false));
        warnings.extend(w);
    }
    assert_eq!(warnings, vec![80, 100], "each level warned once");
    let replay = store
        .reserve(&charge(u, t, 1, "job:3:full:r1"), now)
        .await
        .unwrap();
    assert!(
        matches!(
            replay,
            Reservation::Granted {
                used: 10,
                replay: true,
                ..
            }
        ),
        "{replay:?}"
    );
    let refused = store
        .reserve(&charge(u, t, 1, "job:10:full:r1"), now)
        .await
        .unwrap();
    assert_eq!(
        refused,
        Reservation::Exceeded {
            used: 10,
            limit: 10
        }
    );
    assert_eq!(store.warnings(10).await.unwrap().len(), 2);
    assert_reconciled(&store).await;

    // A key reused for another user or type is a conflict, not a silent success.
    assert!(
        store
            .reserve(&charge(admin, t, 1, "job:3:full:r1"), now)
            .await
            .is_err()
    );
    // Zero and negative amounts are invalid.
    assert!(store.reserve(&charge(u, t, 0, "zero"), now).await.is_err());
    assert!(
        store
            .reserve(&charge(u, t, -2, "negative"), now)
            .await
            .is_err()
    );

    // A refund gives back once.
    assert_eq!(
        store
            .refund("job:4:full:r1", None, "pipeline crashed", now)
            .await
            .unwrap(),
        Refund::Refunded(1)
    );
    assert_eq!(
        store
            .refund("job:4:full:r1", None, "again", now)
            .await
            .unwrap(),
        Refund::AlreadyRefunded
    );
    assert!(store.refund("no-such-key", None, "x", now).await.is_err());
    assert_eq!(used(&store, u, t, now).await.0, 9);
    assert_reconciled(&store).await;

    // An admin limit below usage is allowed; the next charge is refused.
    let change = store.adjust_limit(u, t, Some(5), admin, now).await.unwrap();
    assert_eq!(
        (change.old_limit, change.new_limit, change.used),
        (10, 5, 9)
    );
    assert!(
        !store
            .reserve(&charge(u, t, 1, "job:11:full:r1"), now)
            .await
            .unwrap()
            .granted()
    );
    // Removing the override goes back to the plan's limit.
    let change = store.adjust_limit(u, t, None, admin, now).await.unwrap();
    assert_eq!(change.new_limit, 10);

    // Plan change: limits follow the plan except overridden ones.
    store
        .adjust_limit(u, QuotaType::PatientCases, Some(3), admin, now)
        .await
        .unwrap();
    let changes = store.set_plan(u, "pro", admin, now).await.unwrap();
    let get = |name: &str| {
        changes
            .iter()
            .find(|c| c.quota_type == name)
            .unwrap()
            .new_limit
    };
    assert_eq!(get("api_calls_full_process"), 1000);
    assert_eq!(get("patient_cases"), 3, "override kept");
    assert!(store.set_plan(u, "platinum", admin, now).await.is_err());

    // Reset one type.
    let cleared = store.reset(u, Some(t), admin, now).await.unwrap();
    assert_eq!(cleared, vec![(t.as_str().to_string(), 9)]);
    assert_eq!(used(&store, u, t, now).await.0, 0);
    assert_reconciled(&store).await;

    // Storage is charged in bytes and never rolls over; calls roll over monthly.
    store
        .reserve(
            &charge(u, QuotaType::StorageDicom, 5_000_000, "series:1:storage:r1"),
            now,
        )
        .await
        .unwrap();
    store
        .reserve(&charge(u, t, 2, "job:20:full:r1"), now)
        .await
        .unwrap();
    let later = now + 40 * DAY;
    assert_eq!(
        used(&store, u, t, later).await.0,
        0,
        "new month, new balance"
    );
    assert_eq!(
        used(&store, u, QuotaType::StorageDicom, later).await.0,
        5_000_000
    );
    // A refund of last month's charge gives nothing back this month, and says so.
    assert_eq!(
        store
            .refund("job:20:full:r1", None, "late failure", later)
            .await
            .unwrap(),
        Refund::NothingToReturn
    );
    assert_reconciled(&store).await;

    // The ledger: filters, newest first, paging.
    let all = store
        .usage(&UsageQuery {
            user_id: Some(u),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let kinds: std::collections::BTreeSet<_> = all.iter().map(|r| r.kind.as_str()).collect();
    for k in ["consume", "refund", "reset", "adjust", "plan_change"] {
        assert!(kinds.contains(k), "missing {k} rows");
    }
    assert!(
        all.iter()
            .filter(|r| r.kind == "adjust")
            .all(|r| r.actor.as_deref() == Some("boss"))
    );
    let resets = store
        .usage(&UsageQuery {
            user_id: Some(u),
            kind: Some("reset".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        resets
            .iter()
            .any(|r| r.metadata.0["reason"] == "monthly period rollover")
    );
    let page1 = store
        .usage(&UsageQuery {
            user_id: Some(u),
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    let page2 = store
        .usage(&UsageQuery {
            user_id: Some(u),
            limit: 3,
            before_id: Some(page1[2].id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page2[0].id, all[3].id);
    let future = store
        .usage(&UsageQuery {
            user_id: Some(u),
            since_ms: Some(later),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(future.iter().all(|r| r.at_ms >= later) && !future.is_empty());

    // Statistics.
    assert!(store.total_used(QuotaType::StorageDicom).await.unwrap() >= 5_000_000);
    let per_day = store.usage_per_day(t, now - DAY).await.unwrap();
    assert!(per_day.iter().any(|(_, amount)| *amount > 0));
    assert_reconciled(&store).await;
}

async fn race<S: Store>(store: S) {
    let u = user(&store, "racer", "free").await;
    let t = QuotaType::ApiCallsContinue;
    let admin = user(&store, "referee", "enterprise").await;
    let now = idoctor_daemon::store::now_ms();
    store
        .adjust_limit(u, t, Some(10), admin, now)
        .await
        .unwrap();
    let store = Arc::new(store);

    let run = |round: &'static str| {
        let store = store.clone();
        async move {
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        store
                            .reserve(&charge(u, t, 1, &format!("race:{round}:{i}")), now)
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.unwrap());
            }
            outcomes
        }
    };
    let first = run("a").await;
    let granted: Vec<_> = first.iter().filter(|r| r.granted()).collect();
    assert_eq!(granted.len(), 10, "exactly the limit is granted");
    assert_eq!(first.len() - granted.len(), 54);
    let consumes = store
        .usage(&UsageQuery {
            user_id: Some(u),
            kind: Some("consume".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(consumes.len(), 10, "one ledger row per granted reservation");
    assert_reconciled(store.as_ref()).await;

    // Retries reuse the same keys: the 10 granted are replays, nothing is charged twice.
    let again = run("a").await;
    let replays = again
        .iter()
        .filter(|r| matches!(r, Reservation::Granted { replay: true, .. }))
        .count();
    assert_eq!(replays, 10);
    assert!(
        again
            .iter()
            .all(|r| !matches!(r, Reservation::Granted { replay: false, .. }))
    );
    assert_eq!(used(store.as_ref(), u, t, now).await.0, 10);
    assert_reconciled(store.as_ref()).await;

    // A reset racing with reservations leaves a consistent ledger.
    store.reset(u, Some(t), admin, now).await.unwrap();
    let resetter = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                store.reset(u, Some(t), admin, now).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let during = run("b").await;
    resetter.await.unwrap();
    let granted_b = during.iter().filter(|r| r.granted()).count();
    assert!(
        (10..=60).contains(&granted_b),
        "10 fit after the first reset, at most 10 more per reset: {granted_b}"
    );
    assert_reconciled(store.as_ref()).await;
    let (balance, limit) = used(store.as_ref(), u, t, now).await;
    assert!(
        balance <= limit,
        "never above the limit: {balance} > {limit}"
    );
}

#[tokio::test]
async fn quota_story_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        match backend {
            "sqlite" => story(SqliteStore::connect(&db.url).await.unwrap()).await,
            _ => story(PgStore::connect(&db.url).await.unwrap()).await,
        }
        eprintln!("quota story passed on {backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_reservations_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        match backend {
            "sqlite" => race(SqliteStore::connect(&db.url).await.unwrap()).await,
            _ => race(PgStore::connect(&db.url).await.unwrap()).await,
        }
        eprintln!("quota race passed on {backend}");
    }
}

#[tokio::test]
async fn admin_quota_surface_over_a_real_daemon() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let daemon = Daemon::start(&db, &[]).await;
        let admin_pw = daemon.add_user("root", "admin", "enterprise");
        let op_pw = daemon.add_user("olga", "operator", "free");
        let other_pw = daemon.add_user("otto", "operator", "free");
        let root = daemon.login("root", &admin_pw).await;
        let olga = daemon.login("olga", &op_pw).await;
        let otto = daemon.login("otto", &other_pw).await;

        // Operators see their own quotas and usage, never admin views.
        let mine = olga.my_quota().await.unwrap();
        assert_eq!(mine.len(), QuotaType::ALL.len());
        assert_eq!(
            olga.quota_show("otto".into()).await.unwrap_err().code(),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            olga.usage(UsageFilter::default()).await.unwrap_err().code(),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            olga.quota_reset("olga".into(), None)
                .await
                .unwrap_err()
                .code(),
            Some(ErrorCode::Forbidden)
        );

        // Admin adjusts: negative is invalid, unknown user not found, below usage says so.
        let err = root
            .quota_adjust("olga".into(), QuotaType::PatientCases, Some(-1))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidInput));
        let err = root
            .quota_adjust("ghost".into(), QuotaType::PatientCases, Some(1))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotFound));
        let change = root
            .quota_adjust("olga".into(), QuotaType::PatientCases, Some(0))
            .await
            .unwrap();
        let cases = change
            .quotas
            .iter()
            .find(|q| q.quota_type == QuotaType::PatientCases)
            .unwrap();
        assert_eq!(
            (cases.limit, cases.overridden, cases.plan_limit),
            (0, true, 10)
        );
        let change = root.set_plan("otto".into(), "pro".into()).await.unwrap();
        assert!(
            change.notes.iter().any(|n| n.contains("free → pro")),
            "{:?}",
            change.notes
        );
        assert_eq!(
            root.set_plan("otto".into(), "gold".into())
                .await
                .unwrap_err()
                .code(),
            Some(ErrorCode::InvalidInput)
        );

        // The ledger shows the admin as actor; the operator's own view is only theirs.
        let page = root
            .usage(UsageFilter {
                username: Some("olga".into()),
                kind: Some(UsageKind::Adjust),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].actor.as_deref(), Some("root"));
        let own = otto
            .my_usage(UsageFilter {
                username: Some("olga".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            own.entries.iter().all(|e| e.username == "otto"),
            "operators only see themselves"
        );
        let err = root
            .usage(UsageFilter {
                limit: Some(0),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidInput));

        // The console binary: JSON on stdout, clear errors for bad input.
        let out = daemon.console(
            &["login", "--username", "root", "--password-stdin"],
            Some(&format!("{admin_pw}\n")),
        );
        assert!(out.status.success());
        let out = daemon.console(
            &["admin", "quota", "show", "--user", "olga", "--json"],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(shown.as_array().unwrap().len(), 6);
        let out = daemon.console(
            &[
                "admin", "quota", "adjust", "--user", "olga", "--type", "bogus", "--limit", "3",
            ],
            None,
        );
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("api_calls_full_process"),
            "lists the valid types"
        );
        let out = daemon.console(
            &[
                "admin",
                "stats",
                "--type",
                "patient_cases",
                "--days",
                "7",
                "--json",
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(stats["per_day"].as_array().unwrap().len(), 7);
        assert_eq!(
            stats["at_limit"][0]["username"], "olga",
            "a 0 limit with 0 used is at the limit"
        );
        let out = daemon.console(&["admin", "usage", "--user", "olga", "--json"], None);
        let usage: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(usage["entries"][0]["kind"], "adjust");

        // `idoctor admin usage | head -0`: the reader is gone before the table is written;
        // the console ends quietly with success instead of panicking on the closed pipe.
        let mut child = daemon
            .console_command(&["admin", "usage", "--user", "olga"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{:?}: {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{stderr}");

        db.assert_reconciled().await;
        eprintln!("admin quota surface passed on {backend}");
    }
}
