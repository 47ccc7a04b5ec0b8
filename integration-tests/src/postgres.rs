//! A fresh PostgreSQL database per test, on the server named by
//! `LAKER_TEST_POSTGRES_URL` (set by `.ci/run`), dropped afterwards.

use sqlx::Connection;

/// A throwaway database; dropped with the value.
pub struct PgDatabase {
    base: String,
    name: String,
    /// URL of the new database.
    pub url: String,
}

impl PgDatabase {
    /// Creates a database, or returns `None` when `LAKER_TEST_POSTGRES_URL` is unset.
    pub async fn create() -> Option<Self> {
        let base = std::env::var("LAKER_TEST_POSTGRES_URL").ok()?;
        sqlx::any::install_default_drivers();
        let name = format!("laker_it_{:08x}", rand_u32());
        let mut admin = sqlx::AnyConnection::connect(&base)
            .await
            .expect("connect to postgres");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let (server, _) = base
            .rsplit_once('/')
            .expect("LAKER_TEST_POSTGRES_URL names a database");
        let url = format!("{server}/{name}");
        Some(Self { base, name, url })
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut c = sqlx::AnyConnection::connect(&base).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut c)
                .await
                .ok()
            })
        })
        .join();
    }
}
