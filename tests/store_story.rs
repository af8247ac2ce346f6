//! The store story, run on every backend: users, login material, disable, password
//! change, plans and quota rows.

use crate::common::{TestDb, backends};
use idoctor_daemon::auth;
use idoctor_daemon::store::{NewUserRow, PgStore, SqliteStore, Store, StoreError};
use idoctor_protocol::Role;

async fn story<S: Store>(store: S) {
    let hash = auth::hash_password("pass-word-1").unwrap();
    let now = 1_790_000_000_000;
    let alice = store
        .create_user(
            NewUserRow {
                username: "alice".into(),
                password_hash: hash.clone(),
                role: Role::Operator,
                plan: "free".into(),
                now_ms: now,
            },
            now + 30 * 86_400_000,
        )
        .await
        .unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.role().unwrap(), Role::Operator);
    assert!(!alice.disabled);

    // The same name again is a conflict; an unknown plan is invalid.
    let again = store
        .create_user(
            NewUserRow {
                username: "alice".into(),
                password_hash: hash.clone(),
                role: Role::Admin,
                plan: "free".into(),
                now_ms: now,
            },
            now,
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let bad_plan = store
        .create_user(
            NewUserRow {
                username: "bob".into(),
                password_hash: hash.clone(),
                role: Role::Admin,
                plan: "platinum".into(),
                now_ms: now,
            },
            now,
        )
        .await;
    assert!(
        matches!(bad_plan, Err(StoreError::Invalid(_))),
        "{bad_plan:?}"
    );
    assert!(store.user_by_name("bob").await.unwrap().is_none());

    // Login material: the stored hash verifies the password.
    let found = store.user_by_name("alice").await.unwrap().unwrap();
    assert!(auth::verify_password(
        "pass-word-1",
        Some(&found.password_hash)
    ));
    assert!(!auth::verify_password("wrong", Some(&found.password_hash)));
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap().username,
        "alice"
    );
    assert!(store.user_by_id(alice.id + 1000).await.unwrap().is_none());

    // Disable and enable.
    let disabled = store
        .set_user_disabled("alice", true, now + 1)
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert!(
        !store
            .set_user_disabled("alice", false, now + 2)
            .await
            .unwrap()
            .disabled
    );
    assert!(matches!(
        store.set_user_disabled("nobody", true, now).await,
        Err(StoreError::NotFound)
    ));

    // A password change bumps the token epoch (revoking sessions).
    let new_hash = auth::hash_password("pass-word-2").unwrap();
    let changed = store
        .set_password_hash("alice", &new_hash, now + 3)
        .await
        .unwrap();
    assert_eq!(changed.token_epoch, alice.token_epoch + 1);

    let users = store.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(
        store.plan_names().await.unwrap(),
        vec!["enterprise", "free", "pro"]
    );
}

#[tokio::test]
async fn store_story_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        match backend {
            "sqlite" => story(SqliteStore::connect(&db.url).await.unwrap()).await,
            _ => story(PgStore::connect(&db.url).await.unwrap()).await,
        }
        eprintln!("store story passed on {backend}");
    }
}

#[tokio::test]
async fn unreachable_databases_give_clear_errors() {
    let err = PgStore::connect("postgres://nobody:secret@127.0.0.1:1/none")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot connect to PostgreSQL"), "{text}");
    assert!(!text.contains("secret"), "password leaked: {text}");
    let err = SqliteStore::connect("sqlite:///proc/no-such-dir/x.db")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/proc/no-such-dir"), "{err}");
}
