//! Failed-login windows and revoked token ids in the catalog, on SQLite
//! and on PostgreSQL.

use laker_catalog::{CatalogError, LoginFailures};

use crate::catalog::catalogs;

#[tokio::test]
async fn failed_logins_are_counted_in_windows_by_every_writer_and_cleared() {
    for (c, _guard) in catalogs().await {
        let b = c.backend();
        assert_eq!(c.login_failures("u:x", 0).await.unwrap(), None, "{b:?}");
        c.record_login_failure("u:x", 1_000, 500).await.unwrap();
        c.record_login_failure("u:x", 1_100, 600).await.unwrap();
        assert_eq!(
            c.login_failures("u:x", 500).await.unwrap(),
            Some(LoginFailures {
                window_start: 1_000,
                failures: 2
            }),
            "{b:?}"
        );
        // Its window has ended: nothing to read, and the next failure
        // starts a new one.
        assert_eq!(c.login_failures("u:x", 1_000).await.unwrap(), None);
        c.record_login_failure("u:x", 5_000, 4_000).await.unwrap();
        assert_eq!(
            c.login_failures("u:x", 4_000).await.unwrap(),
            Some(LoginFailures {
                window_start: 5_000,
                failures: 1
            }),
            "{b:?}"
        );
        // Counted at once (as replicas do), none is lost.
        let counted = futures::future::join_all(
            (0..20).map(|_| c.record_login_failure("a:10.0.0.1", 6_000, 5_500)),
        )
        .await;
        assert!(counted.iter().all(Result::is_ok), "{b:?}: {counted:?}");
        let address = c.login_failures("a:10.0.0.1", 5_500).await.unwrap();
        assert_eq!(address.map(|f| f.failures), Some(20), "{b:?}");
        c.clear_login_failures("u:x").await.unwrap();
        assert_eq!(c.login_failures("u:x", 0).await.unwrap(), None);
        assert_eq!(c.prune_login_failures(6_000).await.unwrap(), 1, "{b:?}");
        assert_eq!(c.login_failures("a:10.0.0.1", 0).await.unwrap(), None);
    }
}

#[tokio::test]
async fn revoked_token_ids_are_kept_until_they_expire() {
    for (c, _guard) in catalogs().await {
        let b = c.backend();
        let now = chrono::Utc::now().timestamp_millis();
        assert!(!c.token_revoked("t1").await.unwrap(), "{b:?}");
        assert!(c.revoke_token("t1", "admin", now + 60_000).await.unwrap());
        assert!(
            !c.revoke_token("t1", "admin", now + 60_000).await.unwrap(),
            "{b:?}: revoked already"
        );
        assert!(c.token_revoked("t1").await.unwrap());
        assert!(c.revoke_token("t2", "admin", now - 1).await.unwrap());
        assert_eq!(c.prune_revoked_tokens(now).await.unwrap(), 1, "{b:?}");
        assert!(!c.token_revoked("t2").await.unwrap(), "expired: forgotten");
        assert!(c.token_revoked("t1").await.unwrap());
        let long = "x".repeat(129);
        for bad in ["", "a b", long.as_str()] {
            let refused = c.revoke_token(bad, "admin", now).await;
            assert!(
                matches!(refused, Err(CatalogError::InvalidArgument(_))),
                "{b:?} {bad:?}: {refused:?}"
            );
        }
    }
}
