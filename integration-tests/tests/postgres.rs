//! The server on a PostgreSQL catalog, end to end.

use arrow_flight::Ticket;
use laker_integration_tests::postgres::PgDatabase;
use laker_integration_tests::{DEMO_ROWS, TestServer, fetch, list_names, rows};

#[tokio::test]
async fn server_runs_on_a_postgres_catalog() {
    let Some(db) = PgDatabase::create().await else {
        panic!(
            "LAKER_TEST_POSTGRES_URL is not set; .ci/run sets it (postgres://postgres@127.0.0.1:5432/test)"
        );
    };
    let url = db.url.clone();
    let s = TestServer::start_with(move |c| c.catalog_url = url).await;
    assert_eq!(s.catalog.backend(), laker_catalog::Backend::Postgres);
    let mut c = s.demo_client().await;
    assert_eq!(
        list_names(&mut c, "").await.unwrap(),
        ["demo.trips", "demo.zones"]
    );
    let info = c
        .get_flight_info(arrow_flight::FlightDescriptor::new_path(vec![
            "demo".into(),
            "trips".into(),
        ]))
        .await
        .unwrap();
    assert_eq!(info.total_records, DEMO_ROWS as i64);
    let zones = fetch(
        &mut c,
        Ticket::new(r#"{"dataset": "demo.zones", "filter": "city = 'Oslo'"}"#),
    )
    .await
    .unwrap();
    assert_eq!(rows(&zones), 12);
    drop(s);
}
