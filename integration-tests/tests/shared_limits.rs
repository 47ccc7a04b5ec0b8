//! Replicas on one PostgreSQL catalog count failed logins together.

use laker_integration_tests::postgres::PgDatabase;
use laker_integration_tests::{TestServer, status};
use tonic::Code;

#[tokio::test]
async fn wrong_passwords_on_one_replica_lock_the_user_out_on_another() {
    let Some(db) = PgDatabase::create().await else {
        panic!(
            "LAKER_TEST_POSTGRES_URL is not set; .ci/run sets it (postgres://postgres@127.0.0.1:5432/test)"
        );
    };
    let url = db.url.clone();
    let a = TestServer::start_with(|c| c.catalog_url = url.clone()).await;
    let b = TestServer::start_with(|c| c.catalog_url = url.clone()).await;
    // Five failures (the default limit per user), all on replica a.
    for _ in 0..5 {
        let refused = status(a.login("demo", "wrong-password").await.unwrap_err());
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    }
    // Replica b never saw them, and refuses even the right password.
    let limited = status(b.login("demo", "demo").await.unwrap_err());
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    assert!(
        limited
            .message()
            .contains("too many failed logins for user 'demo'"),
        "{}",
        limited.message()
    );
    // Other users are not affected (the address has room left).
    b.admin_client().await;
    drop((a, b));
}
