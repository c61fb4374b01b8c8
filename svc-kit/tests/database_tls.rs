//! PostgreSQL over TLS (`sslmode=verify-full`, rustls): the connection is encrypted, the server's
//! certificate is checked against the authority named and the host it names, and a server
//! whose certificate another authority signed is refused. scripts/test.sh turns `ssl` on for
//! the test PostgreSQL with a certificate its own authority signed.

use sea_orm::ConnectionTrait;
use secrecy::{ExposeSecret, SecretString};
use svc_kit::testing::{TestCa, TestDb, count, fresh_postgres_database};

fn pool() -> svc_kit::config::DatabaseSettings {
    svc_kit::config::DatabaseSettings {
        max_connections: 2,
        min_connections: 1,
        connect_timeout_ms: 5000,
        acquire_timeout_ms: 5000,
    }
}

#[tokio::test]
async fn verify_full_connects_encrypted_and_refuses_another_authority() {
    let test = TestDb::postgres_over_tls().await;
    assert!(test.url.expose_secret().contains("sslmode=verify-full"));
    let encrypted = count(
        &test.db,
        "SELECT COUNT(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
    )
    .await;
    assert_eq!(encrypted, 1, "this connection is TLS");
    // The kit's own tables were migrated over it, and it reads and writes.
    test.db
        .execute_unprepared("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('ș Ї')")
        .await
        .unwrap();
    assert_eq!(count(&test.db, "SELECT COUNT(*) FROM t").await, 1);

    // Trusting another authority: refused before any query.
    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("other-ca.pem");
    std::fs::write(&stranger, TestCa::new("Someone else's CA").pem()).unwrap();
    let plain = fresh_postgres_database().await;
    let wrong = SecretString::from(format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        plain.expose_secret(),
        stranger.display()
    ));
    let refused = svc_kit::db::connect(&wrong, &pool()).await;
    assert!(refused.is_err(), "another authority's trust must fail");
}
