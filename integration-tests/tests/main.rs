//! Laker end-to-end tests: real servers on 127.0.0.1:0, real Flight clients.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

mod access;
mod access_requests;
mod admin;
mod adversarial;
mod audit;
mod auth;
mod cache;
mod catalog;
mod catalog_sessions;
mod curate;
mod demo;
mod download;
mod errors;
mod flight_sql;
mod formats;
mod hardening;
mod ingest_jobs;
mod ingest_recovery;
mod ingest_support;
mod lakes;
mod lifecycle;
mod onboard;
mod outbox;
mod postgres;
mod proxies;
mod reference;
mod retention;
mod s3;
mod seed;
mod shared_limits;
mod sql_limits;
mod streaming;
mod tickets;
mod token_revocation;
mod uploads;
