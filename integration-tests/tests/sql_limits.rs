//! Resource limits of Flight SQL queries: the timeout, the per-user cap on
//! concurrent queries, the per-query memory pool, and cancellation.

use std::time::Duration;

use arrow_flight::{CancelFlightInfoRequest, CancelStatus};
use futures::{StreamExt, TryStreamExt};
use laker_integration_tests::TestServer;
use tonic::Code;

use crate::flight_sql::{flight_status, query, sql_client};

/// Counts a range far larger than any test waits for.
const ENDLESS: &str = "SELECT count(*) FROM range(1000000000000)";

#[tokio::test]
async fn queries_past_the_timeout_end_with_deadline_exceeded() {
    let s = TestServer::start_with(|c| c.sql_limits.timeout = Some(Duration::from_secs(1))).await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let e = query(&mut sql, ENDLESS).await.unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert!(e.message().contains("SQL timeout"), "{}", e.message());
    // Quick queries are unaffected.
    let batches = query(&mut sql, "SELECT 1 AS one").await.unwrap();
    assert_eq!(batches[0].num_rows(), 1);
}

#[tokio::test]
async fn each_user_runs_at_most_the_configured_queries_at_once() {
    let s = TestServer::start_with(|c| c.sql_limits.concurrent_per_principal = 1).await;
    let mut demo = sql_client(&s, "demo", "demo").await;
    let info = demo
        .execute("SELECT trip_id FROM demo.trips".into(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    // The first stream holds demo's only slot until it ends.
    let mut first = demo.do_get(ticket.clone()).await.unwrap();
    assert!(first.next().await.unwrap().is_ok());
    let e = flight_status(demo.do_get(ticket.clone()).await.unwrap_err());
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("at most 1"), "{}", e.message());

    // Other users have slots of their own.
    let hash = laker_auth::password::hash_password("pw-of-carol").unwrap();
    s.catalog.create_user("carol", &hash).await.unwrap();
    s.catalog
        .grant("carol", "demo.zones", "read")
        .await
        .unwrap();
    let mut carol = sql_client(&s, "carol", "pw-of-carol").await;
    assert_eq!(
        query(&mut carol, "SELECT count(*) FROM demo.zones")
            .await
            .unwrap()[0]
            .num_rows(),
        1
    );

    // Once the first stream is read to its end, the slot is free again.
    let rest: Vec<_> = first.try_collect().await.unwrap();
    assert!(!rest.is_empty());
    let again = demo.do_get(ticket).await.unwrap();
    let batches: Vec<_> = again.try_collect().await.unwrap();
    assert_eq!(
        laker_integration_tests::rows(&batches),
        laker_integration_tests::DEMO_ROWS
    );
}

#[tokio::test]
async fn a_query_over_its_memory_pool_is_resource_exhausted() {
    let s = TestServer::start_with(|c| c.sql_limits.memory_per_query = 32 << 20).await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    // array_agg keeps every value in memory and cannot spill (2M × ~40 bytes).
    let e = query(
        &mut sql,
        "SELECT cardinality(array_agg(repeat(city, 4))) FROM demo.trips",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("resource limit"), "{}", e.message());
    // Small queries fit.
    let batches = query(&mut sql, "SELECT count(*) FROM demo.trips")
        .await
        .unwrap();
    assert_eq!(batches[0].num_rows(), 1);
}

#[tokio::test]
async fn cancel_flight_info_stops_the_running_query_and_its_tickets() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let info = sql.execute(ENDLESS.into(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut running = sql.do_get(ticket.clone()).await.unwrap();

    let mut plain = s.demo_client().await;
    let result = plain
        .cancel_flight_info(CancelFlightInfoRequest::new(info.clone()))
        .await
        .unwrap();
    assert_eq!(result.status, CancelStatus::Cancelled as i32);

    let e = flight_status(running.next().await.unwrap().unwrap_err());
    assert_eq!(e.code(), Code::Cancelled, "{e:?}");
    let e = flight_status(sql.do_get(ticket).await.unwrap_err());
    assert_eq!(
        e.code(),
        Code::Cancelled,
        "a cancelled statement stays cancelled"
    );

    // Only the caller's own statements can be cancelled.
    let other = sql.execute("SELECT 1".into(), None).await.unwrap();
    let mut admin = s.admin_client().await;
    let e = laker_integration_tests::status(
        admin
            .cancel_flight_info(CancelFlightInfoRequest::new(other))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
}
