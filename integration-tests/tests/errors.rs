//! Bad input gets a status that names the problem.

use arrow_flight::{FlightDescriptor, Ticket};
use laker_integration_tests::{TestServer, fetch, info_for, status};
use serde_json::json;
use tonic::Code;

async fn refused(s: &TestServer, spec: serde_json::Value) -> tonic::Status {
    let mut c = s.demo_client().await;
    status(info_for(&mut c, &spec).await.unwrap_err())
}

#[tokio::test]
async fn bad_specs_are_invalid_argument_naming_the_field() {
    let s = TestServer::start().await;
    let cases = [
        (
            json!({"dataset": "demo.trips", "columns": ["nope"]}),
            "columns: unknown column 'nope'; available columns: trip_id, vendor",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "nope > 3"}),
            "filter:",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "fare >"}),
            "filter:",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "fare > (SELECT 1)"}),
            "filter: subqueries are not allowed",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "EXISTS (SELECT * FROM 'file:///etc/passwd')"}),
            "filter: subqueries are not allowed",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "sum(fare) > 10"}),
            "filter: aggregate function 'sum' is not allowed",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "row_number() OVER () > 1"}),
            "filter: window functions are not allowed",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "fare + 1"}),
            "filter: must be a boolean expression",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "fare > 1; DROP TABLE trips"}),
            "filter:",
        ),
        (
            json!({"dataset": "demo.trips", "filter": "fare > 1 AS x"}),
            "filter:",
        ),
        (
            json!({"dataset": "demo.trips", "order_by": ["nope"]}),
            "order_by: unknown column 'nope'",
        ),
        (
            json!({"dataset": "demo.trips", "limit": "ten"}),
            "invalid download spec: invalid type",
        ),
        (
            json!({"dataset": "demo.trips", "colums": ["fare"]}),
            "unknown field `colums`",
        ),
        (
            json!({"dataset": "trips"}),
            "dataset: invalid dataset name 'trips'",
        ),
    ];
    for (spec, want) in cases {
        let e = refused(&s, spec.clone()).await;
        assert_eq!(e.code(), Code::InvalidArgument, "{spec}: {}", e.message());
        assert!(
            e.message().starts_with(want) || e.message().contains(want),
            "{spec}: {}",
            e.message()
        );
    }
    let e = refused(&s, json!({"dataset": "demo.trips", "filter": "nope > 3"})).await;
    assert!(e.message().contains("nope"), "{}", e.message());
    let e = refused(&s, json!({"dataset": "demo.trips", "filter": "fare >"})).await;
    assert!(
        !e.message().contains("ParserError("),
        "no Rust debug output: {}",
        e.message()
    );
}

#[tokio::test]
async fn unknown_dataset_is_not_found() {
    let s = TestServer::start().await;
    let e = refused(&s, json!({"dataset": "demo.nope"})).await;
    assert_eq!(
        (e.code(), e.message()),
        (Code::NotFound, "dataset 'demo.nope' not found")
    );
    let mut c = s.demo_client().await;
    let e = status(
        c.get_flight_info(FlightDescriptor::new_path(vec![
            "demo".into(),
            "nope".into(),
        ]))
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn malformed_descriptors_and_tickets_are_invalid_argument() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let e = status(
        c.get_flight_info(FlightDescriptor::new_cmd("not json"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("invalid download spec"),
        "{}",
        e.message()
    );
    let e = status(
        c.get_flight_info(FlightDescriptor::new_path(vec![
            "a".into(),
            "b".into(),
            "c".into(),
        ]))
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = status(fetch(&mut c, Ticket::new("hello")).await.unwrap_err());
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .contains("expected a ticket from GetFlightInfo or a JSON download spec")
    );
    let e = status(
        fetch(
            &mut c,
            Ticket::new(r#"{"dataset": "demo.trips", "filter": "nope"}"#),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn runtime_errors_in_filters_are_the_callers() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let e = status(
        fetch(
            &mut c,
            Ticket::new(r#"{"dataset": "demo.trips", "filter": "CAST(vendor AS INT) > 1"}"#),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    assert!(
        !e.message().contains(".parquet"),
        "no file paths leak: {}",
        e.message()
    );
    assert!(
        !e.message().contains("/tmp"),
        "no paths leak: {}",
        e.message()
    );
}

#[tokio::test]
async fn unsupported_rpcs_say_so() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    // PollFlightInfo is offered: downloads are planned within the call, so
    // the first poll is complete.
    let descriptor = FlightDescriptor::new_path(vec!["demo".into(), "trips".into()]);
    let poll = c.poll_flight_info(descriptor.clone()).await.unwrap();
    assert_eq!(poll.progress, Some(1.0));
    assert!(poll.flight_descriptor.is_none());
    let polled = poll.info.unwrap();
    let info = c.get_flight_info(descriptor).await.unwrap();
    assert_eq!(polled.endpoint.len(), info.endpoint.len());
    assert_eq!(polled.total_records, info.total_records);
    let e = status(
        c.do_exchange(futures::stream::empty::<
            Result<arrow_flight::FlightData, arrow_flight::error::FlightError>,
        >())
        .await
        .err()
        .unwrap(),
    );
    assert_eq!(e.code(), Code::Unimplemented, "{e:?}");
    let e = status(
        c.do_action(arrow_flight::Action::new("drop_everything", ""))
            .await
            .err()
            .unwrap(),
    );
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("unknown action 'drop_everything'"));
}
