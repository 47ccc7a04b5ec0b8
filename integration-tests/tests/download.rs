//! ListFlights, GetFlightInfo, GetSchema and DoGet over the demo data,
//! checked against DataFusion run directly on the files.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, TimeUnit};
use arrow_flight::{FlightDescriptor, Ticket};
use laker_integration_tests::{
    DEMO_ROWS, TestServer, fetch, fetch_all, info_for, list, list_names, rows, status,
};
use serde_json::json;

use crate::reference;

#[tokio::test]
async fn list_flights_shows_demo_datasets_and_searches() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let all = list(&mut c, "").await.unwrap();
    assert_eq!(
        list_names(&mut c, "").await.unwrap(),
        ["demo.trips", "demo.zones"]
    );
    let trips_schema = all[0].clone().try_decode_schema().unwrap();
    assert_eq!(trips_schema.fields().len(), 14);
    let meta: serde_json::Value = serde_json::from_slice(&all[1].app_metadata).unwrap();
    assert_eq!(meta["name"], "demo.zones");
    assert!(meta["tags"].as_array().unwrap().contains(&json!("lookup")));

    for (search, expect) in [
        ("LOOKUP", vec!["demo.zones"]),
        ("Taxi", vec!["demo.trips", "demo.zones"]),
        ("norwegian", vec!["demo.trips"]),
        ("nothing-like-this", vec![]),
    ] {
        assert_eq!(
            list_names(&mut c, search).await.unwrap(),
            expect,
            "search {search}"
        );
    }
}

#[tokio::test]
async fn whole_dataset_by_path_in_parallel_endpoints() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let info = c
        .get_flight_info(FlightDescriptor::new_path(vec![
            "demo".into(),
            "trips".into(),
        ]))
        .await
        .unwrap();
    assert_eq!(info.total_records, DEMO_ROWS as i64);
    assert!(!info.ordered);
    // 24 files, at most 8 partitions.
    assert_eq!(info.endpoint.len(), 8);
    let schema = info.clone().try_decode_schema().unwrap();
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    assert_eq!(
        schema.field_with_name("pickup_at").unwrap().data_type(),
        &ts
    );
    assert_eq!(
        schema.field_with_name("city").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        schema.field_with_name("month").unwrap().data_type(),
        &DataType::Utf8
    );

    // Endpoints fetched concurrently add up to the whole dataset.
    let fetches = info.endpoint.iter().map(|e| {
        let ticket = e.ticket.clone().unwrap();
        let server = &s;
        async move {
            let mut client = server.demo_client().await;
            fetch(&mut client, ticket).await.map(|b| rows(&b))
        }
    });
    let counts = futures::future::try_join_all(fetches).await.unwrap();
    assert!(counts.iter().all(|n| *n > 0), "{counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), DEMO_ROWS);
}

#[tokio::test]
async fn spec_projection_filter_limit_match_datafusion() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let filter = "fare > 30 AND passengers >= 2";
    let expected = reference::count(&format!("SELECT count(*) FROM trips WHERE {filter}")).await;
    assert!(
        expected > 10_000,
        "demo data should make this filter non-trivial: {expected}"
    );

    let spec = json!({"dataset": "demo.trips", "columns": ["pickup_at", "fare"], "filter": filter});
    let info = info_for(&mut c, &spec).await.unwrap();
    let schema = info.clone().try_decode_schema().unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["pickup_at", "fare"]);
    assert_eq!(
        info.total_records, -1,
        "filtered counts are not known up front"
    );
    let batches = fetch_all(&mut c, &info).await.unwrap();
    assert_eq!(rows(&batches), expected);
    for b in &batches {
        assert_eq!(b.schema().fields().len(), 2);
        let fares = b.column(1).as_primitive::<Float64Type>();
        assert!(fares.iter().all(|f| f.unwrap() > 30.0));
    }

    let limited = json!({"dataset": "demo.trips", "columns": ["pickup_at", "fare"], "filter": filter, "limit": 1000});
    let info = info_for(&mut c, &limited).await.unwrap();
    assert_eq!(info.endpoint.len(), 1, "a limit is served by one endpoint");
    assert_eq!(rows(&fetch_all(&mut c, &info).await.unwrap()), 1000);

    // The same spec as a raw JSON ticket, straight to DoGet.
    let batches = fetch(&mut c, Ticket::new(limited.to_string()))
        .await
        .unwrap();
    assert_eq!(rows(&batches), 1000);
    let batches = fetch(&mut c, Ticket::new(spec.to_string())).await.unwrap();
    assert_eq!(rows(&batches), expected);
}

#[tokio::test]
async fn order_by_is_global_and_flagged() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let spec = json!({"dataset": "demo.trips", "columns": ["trip_id", "fare"], "filter": "city = 'Oslo'", "order_by": ["fare DESC", "trip_id"], "limit": 25});
    let info = info_for(&mut c, &spec).await.unwrap();
    assert!(info.ordered);
    assert_eq!(info.endpoint.len(), 1);
    let got = fetch_all(&mut c, &info).await.unwrap();
    let want = reference::query(
        "SELECT trip_id, fare FROM trips WHERE city = 'Oslo' ORDER BY fare DESC, trip_id LIMIT 25",
    )
    .await;
    let flat = |b: &[arrow::record_batch::RecordBatch]| -> Vec<(i64, f64)> {
        b.iter()
            .flat_map(|b| {
                let ids = b
                    .column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .clone();
                let fares = b.column(1).as_primitive::<Float64Type>().clone();
                (0..b.num_rows()).map(move |i| (ids.value(i), fares.value(i)))
            })
            .collect()
    };
    let got = flat(&got);
    assert_eq!(got.len(), 25);
    assert_eq!(got, flat(&want));
    assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
}

#[tokio::test]
async fn get_schema_follows_the_projection() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let full = c
        .get_schema(FlightDescriptor::new_path(vec![
            "demo".into(),
            "zones".into(),
        ]))
        .await
        .unwrap();
    let names: Vec<&str> = full.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["zone_id", "name", "city"]);
    let projected = c
        .get_schema(FlightDescriptor::new_cmd(
            json!({"dataset": "demo.trips", "columns": ["tip", "month"]}).to_string(),
        ))
        .await
        .unwrap();
    let fields: Vec<(&str, bool)> = projected
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.is_nullable()))
        .collect();
    assert_eq!(fields, [("tip", true), ("month", false)]);
}

#[tokio::test]
async fn zones_round_trip_values() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let batches = fetch(
        &mut c,
        Ticket::new(r#"{"dataset": "demo.zones", "filter": "zone_id = 7"}"#),
    )
    .await
    .unwrap();
    assert_eq!(rows(&batches), 1);
    let want = reference::query("SELECT zone_id, name, city FROM zones WHERE zone_id = 7").await;
    assert_eq!(batches[0].columns(), want[0].columns());
    // Column names match case-insensitively, like unquoted SQL identifiers.
    let upper = fetch(
        &mut c,
        Ticket::new(
            r#"{"dataset": "demo.zones", "columns": ["Zone_ID", "CITY"], "filter": "ZONE_ID = 7"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(upper[0].schema().field(0).name(), "zone_id");
    assert_eq!(upper[0].num_rows(), 1);
    let city = batches[0].column(2).as_string::<i32>();
    assert_eq!(city.value(0), "Bergen");
    assert!(!batches[0].column(1).is_null(0));
}

#[tokio::test]
async fn a_resumed_download_skips_the_rows_the_client_has() {
    let s = TestServer::start().await;
    let mut client = s.demo_client().await;
    let spec =
        json!({"dataset": "demo.trips", "columns": ["trip_id"], "filter": "trip_id < 50000"});
    let info = info_for(&mut client, &spec).await.unwrap();
    let ids = |batches: &[arrow::array::RecordBatch]| -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect()
    };
    let mut total = 0;
    for endpoint in &info.endpoint {
        let ticket = endpoint.ticket.clone().unwrap();
        let whole = ids(&fetch(&mut client, ticket.clone()).await.unwrap());
        total += whole.len();
        let skips = [0, 1, 8191, 8192, 10_000, whole.len(), whole.len() + 5];
        for skip in skips.into_iter().filter(|&n| n <= whole.len() + 5) {
            client
                .add_header("x-laker-skip-rows", &skip.to_string())
                .unwrap();
            let rest = ids(&fetch(&mut client, ticket.clone()).await.unwrap());
            assert_eq!(rest, whole[skip.min(whole.len())..], "skipping {skip}");
        }
        client.metadata_mut().remove("x-laker-skip-rows");
    }
    assert_eq!(total, 50_000);
    client.add_header("x-laker-skip-rows", "many").unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let e = status(fetch(&mut client, ticket).await.unwrap_err());
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("x-laker-skip-rows"), "{e:?}");
}

/// Every column of the first 60,000 trips, as one batch, fetched by `client`.
async fn trips_sample(client: &mut arrow_flight::FlightClient) -> arrow::array::RecordBatch {
    let spec =
        json!({"dataset": "demo.trips", "filter": "trip_id < 60000", "order_by": ["trip_id"]});
    let info = info_for(client, &spec).await.unwrap();
    let batches = fetch_all(client, &info).await.unwrap();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[tokio::test]
async fn compressed_downloads_carry_the_same_rows_in_fewer_bytes() {
    let s = TestServer::start().await;
    let mut client = s.demo_client().await;
    let sent = || s.server.metrics().bytes_sent();
    let before = sent();
    let plain = trips_sample(&mut client).await;
    let plain_bytes = sent() - before;
    assert_eq!(plain.num_rows(), 60_000);
    for codec in ["lz4", "zstd", "ZSTD"] {
        client.add_header("x-laker-compression", codec).unwrap();
        let before = sent();
        let got = trips_sample(&mut client).await;
        let bytes = sent() - before;
        assert_eq!(got, plain, "{codec}");
        assert!(
            bytes < plain_bytes,
            "{codec}: {bytes} vs {plain_bytes} bytes"
        );
    }
    client.add_header("x-laker-compression", "snappy").unwrap();
    let spec = json!({"dataset": "demo.trips", "limit": 5});
    let info = info_for(&mut client, &spec).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let e = status(fetch(&mut client, ticket).await.unwrap_err());
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(e.message(), "x-laker-compression must be lz4, zstd or none");
}

#[tokio::test]
async fn the_generic_encoder_path_sends_the_same_data() {
    let direct = TestServer::start().await;
    let generic = TestServer::start_with(|c| c.direct_do_get = false).await;
    let expected = trips_sample(&mut direct.demo_client().await).await;
    let mut client = generic.demo_client().await;
    assert_eq!(trips_sample(&mut client).await, expected);
    // Errors before the stream starts read the same on both paths.
    for s in [&direct, &generic] {
        let mut client = s.demo_client().await;
        let e = status(
            fetch(&mut client, Ticket::new("not a ticket"))
                .await
                .unwrap_err(),
        );
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    }
}

#[tokio::test]
async fn parquet_reader_options_reach_the_scan_and_views_go_out_as_strings() {
    let s = TestServer::start_with(|c| {
        c.parquet_options = vec![("schema_force_view_types".into(), "true".into())];
    })
    .await;
    // The scan reads string views, as the option asks...
    let mut sql = crate::flight_sql::sql_client(&s, "demo", "demo").await;
    let types = crate::flight_sql::query(
        &mut sql,
        "SELECT arrow_typeof(city) FROM demo.zones LIMIT 1",
    )
    .await
    .unwrap();
    assert_eq!(crate::flight_sql::strings(&types, 0), ["Utf8View"]);
    // ...and a download sends them as plain strings, each batch with its
    // own values (not every data buffer its views share), announced so.
    let mut client = s.demo_client().await;
    let info = info_for(&mut client, &json!({"dataset": "demo.zones"}))
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let batches = fetch_all(&mut client, &info).await.unwrap();
    for schema in [
        announced.fields().clone(),
        batches[0].schema().fields().clone(),
    ] {
        let strings: Vec<&DataType> = schema
            .iter()
            .map(|f| f.data_type())
            .filter(|t| matches!(t, DataType::Utf8 | DataType::Utf8View))
            .collect();
        assert!(!strings.is_empty());
        assert!(strings.iter().all(|t| **t == DataType::Utf8), "{strings:?}");
    }
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert!(rows > 0);
}
