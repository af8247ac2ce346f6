//! One database per test: SQLite in a temp dir always, PostgreSQL when `IDOCTOR_TEST_PG`
//! names a server (CI sets it). Each Postgres test creates its own database and drops it.

use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};

/// A test database of one backend.
#[derive(Debug)]
pub struct TestDb {
    /// URL to give the daemon or the store.
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Keeps the SQLite file's folder alive.
    _dir: Option<tempfile::TempDir>,
    /// Postgres admin URL and database name, for the drop.
    pg: Option<(String, String)>,
}

/// Which backends to test: `["sqlite"]`, plus `"postgres"` when `IDOCTOR_TEST_PG` is set.
pub fn backends() -> Vec<&'static str> {
    let mut v = vec!["sqlite"];
    if pg_admin_url().is_some() {
        v.push("postgres");
    }
    v
}

fn pg_admin_url() -> Option<String> {
    std::env::var("IDOCTOR_TEST_PG")
        .ok()
        .filter(|s| !s.is_empty())
}

fn with_database(admin: &str, db: &str) -> String {
    // Replace the path (database name) of the admin URL, keeping any query string.
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

impl TestDb {
    /// A fresh, empty database of `backend`.
    pub async fn create(backend: &str) -> TestDb {
        match backend {
            "sqlite" => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    backend: "sqlite",
                    _dir: Some(dir),
                    pg: None,
                }
            }
            "postgres" => {
                static COUNTER: AtomicU32 = AtomicU32::new(0);
                let admin = pg_admin_url().expect("IDOCTOR_TEST_PG");
                let name = format!(
                    "idoctor_test_{}_{}_{:08x}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    rand_u32()
                );
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("IDOCTOR_TEST_PG is set but unusable: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                TestDb {
                    url: with_database(&admin, &name),
                    backend: "postgres",
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
            other => panic!("unknown backend {other}"),
        }
    }
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        // Drop runs outside async; use a short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

#[test]
fn database_urls_are_rewritten() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "y"),
        "postgres://u:p@h/y?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h:1", "z"), "postgres://h:1/z");
}

impl TestDb {
    /// Runs one statement on the database directly, behind the daemon's back (to move a
    /// clock boundary into the past, say). Returns the rows affected.
    pub async fn execute(&self, sql: &'static str) -> u64 {
        match self.backend {
            "sqlite" => {
                let pool = sqlx::SqlitePool::connect(&self.url)
                    .await
                    .expect("open SQLite");
                let done = sqlx::query(sql).execute(&pool).await.expect(sql);
                pool.close().await;
                done.rows_affected()
            }
            _ => {
                let pool = sqlx::PgPool::connect(&self.url)
                    .await
                    .expect("open Postgres");
                let done = sqlx::query(sql).execute(&pool).await.expect(sql);
                pool.close().await;
                done.rows_affected()
            }
        }
    }

    /// Asserts that every balance equals the sum of its ledger rows (no drift).
    pub async fn assert_reconciled(&self) {
        use idoctor_daemon::store::{PgStore, QuotaStore, SqliteStore};
        let drift = match self.backend {
            "sqlite" => SqliteStore::connect(&self.url)
                .await
                .expect("open the SQLite store")
                .reconcile()
                .await
                .expect("reconcile"),
            _ => PgStore::connect(&self.url)
                .await
                .expect("open the Postgres store")
                .reconcile()
                .await
                .expect("reconcile"),
        };
        assert!(
            drift.is_empty(),
            "ledger drift on {}: {drift:?}",
            self.backend
        );
    }
}
