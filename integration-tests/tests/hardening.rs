//! Hardening (issue 17): each finding of the attack review as a regression
//! test — requests that used to end the process, widen a grant or exhaust
//! memory now answer with a status naming the problem, and the server keeps
//! serving. (The same attacks against the release binary, with the
//! process's memory watched, are in `python/test_adversarial.py`.)

use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::CompressionType;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{FlightClient, FlightData, FlightDescriptor};
use futures::{StreamExt, TryStreamExt};
use laker_integration_tests::craft::{claiming, flight_data, truncated};
use laker_integration_tests::{
    TestServer, action, fetch, fetch_all, info_for, rows, status, upload,
};
use tonic::Code;
use tonic::transport::Channel;

use crate::flight_sql::{flight_status, query, sql_client};

const PASSWORD: &str = "hardening-password";

/// `1 op 1 op …` with `n` terms.
fn chain(op: &str, n: usize) -> String {
    vec!["1"; n].join(op)
}

async fn download(
    client: &mut FlightClient,
    spec: serde_json::Value,
) -> Result<usize, tonic::Status> {
    let info = info_for(client, &spec).await.map_err(status)?;
    Ok(rows(&fetch_all(client, &info).await.map_err(status)?))
}

/// The server still answers a small download.
async fn still_serving(s: &TestServer) {
    let mut c = s.demo_client().await;
    let n = download(&mut c, serde_json::json!({"dataset": "demo.zones"}))
        .await
        .expect("the server still serves");
    assert!(n > 0);
}

#[tokio::test]
async fn long_expression_chains_are_refused_before_planning() {
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    for filter in [
        format!("trip_id > {}", chain("+", 2_000)),
        format!("trip_id = {}", chain(" OR trip_id = ", 2_000)),
        format!("trip_id > {}", chain("+", 300)),
    ] {
        let e = download(
            &mut demo,
            serde_json::json!({"dataset": "demo.trips", "filter": filter}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with("filter: "), "{}", e.message());
        assert!(e.message().contains("--max-expr-depth"), "{}", e.message());
    }
    // Within the limit, chains plan and run.
    let n = download(
        &mut demo,
        serde_json::json!({
            "dataset": "demo.zones",
            "filter": format!("{} > 0", chain("+", 240)),
        }),
    )
    .await
    .unwrap();
    assert!(n > 0);
    // Generated surrogate keys and OR lists of about a hundred terms.
    let key = vec!["city"; 120].join(" || '-' || ");
    let ors = (0..120)
        .map(|i| format!("zone_id = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let n = download(
        &mut demo,
        serde_json::json!({
            "dataset": "demo.zones",
            "filter": format!("length({key}) > 0 AND ({ors})"),
        }),
    )
    .await
    .unwrap();
    assert!(n > 0);

    // Flight SQL, by a user with no grants at all.
    let mut admin = s.admin_client().await;
    action(
        &mut admin,
        "create_user",
        serde_json::json!({"name": "nogrants", "password": PASSWORD}),
    )
    .await
    .unwrap();
    let mut sql = sql_client(&s, "nogrants", PASSWORD).await;
    for text in [
        format!("SELECT {}", chain("+", 2_500)),
        vec!["SELECT 1"; 1_000].join(" UNION ALL "),
    ] {
        let e = query(&mut sql, &text).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("--max-expr-depth"), "{}", e.message());
    }
    let ok = query(&mut sql, &format!("SELECT {}", chain("+", 240)))
        .await
        .unwrap();
    let sum = ok[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(sum.value(0), 240);
    still_serving(&s).await;
}

fn numbers(n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("n{i}")),
            )),
        ],
    )
    .unwrap()
}

async fn put(
    client: &mut FlightClient,
    dataset: &str,
    mut messages: Vec<FlightData>,
) -> Result<(), tonic::Status> {
    let path = dataset.split('.').map(str::to_string).collect();
    messages[0].flight_descriptor = Some(FlightDescriptor::new_path(path));
    client
        .add_header("x-laker-upload-mode", "create_append")
        .unwrap();
    let results: Vec<_> = client
        .do_put(futures::stream::iter(messages.into_iter().map(Ok)))
        .await
        .map_err(status)?
        .try_collect()
        .await
        .map_err(status)?;
    assert_eq!(results.len(), 1);
    Ok(())
}

async fn writer(s: &TestServer) -> FlightClient {
    let mut admin = s.admin_client().await;
    for (kind, body) in [
        ("create_namespace", serde_json::json!({"name": "up"})),
        (
            "grant",
            serde_json::json!({"user": "admin", "pattern": "up.*", "action": "write"}),
        ),
    ] {
        action(&mut admin, kind, body).await.unwrap();
    }
    admin
}

#[tokio::test]
async fn quiet_uploads_are_cut_off_and_free_their_slot() {
    let s = TestServer::start_with(|c| {
        c.upload_limits.idle = std::time::Duration::from_secs(1);
        c.stream_limits.streams_per_user = 1;
    })
    .await;
    let mut admin = writer(&s).await;
    let mut messages = flight_data(&numbers(10), None);
    messages[0].flight_descriptor = Some(FlightDescriptor::new_path(vec![
        "up".into(),
        "quiet".into(),
    ]));
    admin
        .add_header("x-laker-upload-mode", "create_append")
        .unwrap();
    // The schema and one batch, then nothing (the connection stays open).
    let quiet =
        futures::stream::iter(messages.into_iter().map(Ok)).chain(futures::stream::pending());
    let e = match admin.do_put(quiet).await {
        Ok(results) => status(results.try_collect::<Vec<_>>().await.unwrap_err()),
        Err(e) => status(e),
    };
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert!(
        e.message().contains("--upload-idle-secs"),
        "{}",
        e.message()
    );
    // Its slot is free again: the one stream this user may have.
    put(&mut admin, "up.quiet", flight_data(&numbers(10), None))
        .await
        .unwrap();
    let n = download(&mut admin, serde_json::json!({"dataset": "up.quiet"}))
        .await
        .unwrap();
    assert_eq!(n, 10, "nothing of the cut-off upload was committed");
}

#[tokio::test]
async fn compressed_bombs_and_truncated_bodies_are_refused() {
    let s = TestServer::start().await;
    let mut admin = writer(&s).await;
    let batch = numbers(1_000);
    for codec in [CompressionType::LZ4_FRAME, CompressionType::ZSTD] {
        let mut messages = flight_data(&batch, Some(codec));
        messages[1] = claiming(messages[1].clone(), 1 << 40);
        let e = put(&mut admin, "up.bomb", messages).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{codec:?}: {e:?}");
        assert!(
            e.message().contains("--upload-max-batch-mb"),
            "{}",
            e.message()
        );
        let mut messages = flight_data(&batch, Some(codec));
        messages[1] = claiming(messages[1].clone(), -7);
        let e = put(&mut admin, "up.bomb", messages).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{codec:?}: {e:?}");
    }
    // A body cut short.
    let mut messages = flight_data(&batch, None);
    messages[1] = truncated(messages[1].clone());
    let e = put(&mut admin, "up.bomb", messages).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("truncated"), "{}", e.message());
    // A batch claiming two billion rows of a column it does not send.
    let mut messages = flight_data(&numbers(1), None);
    let header = messages[1].data_header.to_vec();
    let length_at = header
        .windows(8)
        .position(|w| w == 1i64.to_le_bytes())
        .unwrap();
    let mut patched = header.clone();
    patched[length_at..length_at + 8].copy_from_slice(&2_000_000_000i64.to_le_bytes());
    messages[1].data_header = patched.into();
    let e = put(&mut admin, "up.bomb", messages).await.unwrap_err();
    assert!(
        matches!(e.code(), Code::InvalidArgument | Code::ResourceExhausted),
        "{e:?}"
    );
    // Well-formed compressed data is taken.
    put(
        &mut admin,
        "up.good",
        flight_data(&batch, Some(CompressionType::ZSTD)),
    )
    .await
    .unwrap();
    let n = download(&mut admin, serde_json::json!({"dataset": "up.good"}))
        .await
        .unwrap();
    assert_eq!(n, 1_000);

    // The same bomb bound as parameters of `SELECT $1`, by a user without grants.
    action(
        &mut admin,
        "create_user",
        serde_json::json!({"name": "binder", "password": PASSWORD}),
    )
    .await
    .unwrap();
    let mut sql = sql_client(&s, "binder", PASSWORD).await;
    let handle = prepare(&mut sql, "SELECT $1").await;
    let one = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("$1", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec!["x".repeat(64)]))],
    )
    .unwrap();
    let mut messages = flight_data(&one, Some(CompressionType::LZ4_FRAME));
    messages[1] = claiming(messages[1].clone(), 1 << 40);
    let e = bind_raw(&mut sql, handle, messages).await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("invalid parameter data"),
        "{}",
        e.message()
    );
    still_serving(&s).await;
}

/// Creates a prepared statement for `query`; returns its handle.
async fn prepare(sql: &mut FlightSqlServiceClient<Channel>, query: &str) -> Vec<u8> {
    use arrow_flight::sql::{
        ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
        ProstMessageExt,
    };
    use prost::Message;
    let request = ActionCreatePreparedStatementRequest {
        query: query.into(),
        transaction_id: None,
    };
    let action =
        arrow_flight::Action::new("CreatePreparedStatement", request.as_any().encode_to_vec());
    let mut results = sql.do_action(action).await.unwrap();
    let body = results.next().await.unwrap().unwrap().body;
    let result: ActionCreatePreparedStatementResult =
        Any::decode(&*body).unwrap().unpack().unwrap().unwrap();
    result.prepared_statement_handle.to_vec()
}

/// Binds raw Flight data messages to the prepared statement `handle`;
/// returns the error.
async fn bind_raw(
    sql: &mut FlightSqlServiceClient<Channel>,
    handle: Vec<u8>,
    mut messages: Vec<FlightData>,
) -> tonic::Status {
    use arrow_flight::sql::{CommandPreparedStatementQuery, ProstMessageExt};
    use prost::Message;
    let command = CommandPreparedStatementQuery {
        prepared_statement_handle: handle.into(),
    };
    messages[0].flight_descriptor =
        Some(FlightDescriptor::new_cmd(command.as_any().encode_to_vec()));
    match sql.do_put(futures::stream::iter(messages)).await {
        Ok(mut results) => match results.next().await {
            Some(Err(e)) => e,
            other => panic!("binding succeeded: {other:?}"),
        },
        Err(e) => flight_status(e),
    }
}

#[tokio::test]
async fn parameters_are_checked_while_they_arrive() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let handle = prepare(&mut sql, "SELECT $1").await;
    // A client that would send 100 MB: refused after the first MiB, without
    // the server waiting for the rest.
    let big = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("$1", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec!["y".repeat(100_000)]))],
    )
    .unwrap();
    let mut messages = flight_data(&big, None);
    let batch = messages[1].clone();
    messages.extend(std::iter::repeat_n(batch, 1_000));
    let e = bind_raw(&mut sql, handle, messages).await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("larger than 1048576 bytes")
            || e.message().contains("one row of parameters"),
        "{}",
        e.message()
    );
    still_serving(&s).await;
}

#[tokio::test]
async fn tiny_filters_cannot_allocate_gigabytes() {
    let s = TestServer::start().await;
    let levenshtein = format!(
        "levenshtein(repeat(city, 600), '{}') < 5",
        "x".repeat(5_000)
    );
    let mut demo = s.demo_client().await;
    for filter in [
        "length(repeat('x', 500000000)) > 0",
        "cardinality(range(0, 100000000)) > 0",
        "length(lpad('x', 1000000000)) > 0",
        "length(repeat(city, 100000000)) > 0",
        "cardinality(array_repeat(trip_id, 100000000)) > 0",
        // Wider than their input.
        "cardinality(string_to_array(repeat(',', 30000), city)) > 0",
        "cardinality(array_positions(range(0, 3000), trip_id)) > 0",
        "cardinality(arrays_zip(range(0, 3000), [trip_id])) > 0",
    ] {
        let e = download(
            &mut demo,
            serde_json::json!({"dataset": "demo.trips", "filter": filter}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e.code(), Code::ResourceExhausted | Code::InvalidArgument),
            "{filter}: {e:?}"
        );
        assert!(
            e.message().contains("--max-function-output-mb"),
            "{filter}: {}",
            e.message()
        );
    }
    // Work rather than memory: |a|·|b| per row.
    let e = download(
        &mut demo,
        serde_json::json!({"dataset": "demo.trips", "filter": levenshtein}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e.code(), Code::ResourceExhausted | Code::InvalidArgument),
        "{e:?}"
    );
    assert!(
        e.message().contains("character pairs in one row"),
        "{}",
        e.message()
    );
    let e = download(
        &mut demo,
        serde_json::json!({"dataset": "demo.trips", "filter": "length(arrow_cast(NULL, 'FixedSizeBinary(100000000)')) > 0"}),
    )
    .await
    .unwrap_err();
    assert!(e.message().contains("bytes per row"), "{}", e.message());
    // Reasonable uses still work.
    let n = download(
        &mut demo,
        serde_json::json!({"dataset": "demo.zones", "filter": "length(repeat(city, 3)) = 3 * length(city) AND cardinality(range(0, 10)) = 10"}),
    )
    .await
    .unwrap();
    assert!(n > 0);
    let mut sql = sql_client(&s, "demo", "demo").await;
    let e = query(&mut sql, "SELECT repeat('x', 500000000)")
        .await
        .unwrap_err();
    assert!(
        e.message().contains("--max-function-output-mb"),
        "{}",
        e.message()
    );
    let e = query(
        &mut sql,
        &format!("SELECT '{}' AS big FROM demo.trips", "z".repeat(200_000)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    still_serving(&s).await;
}

/// The first column of the first row, as an i64.
fn first_i64(batches: &[RecordBatch]) -> i64 {
    let column = batches[0].column(0);
    arrow::compute::cast(column, &DataType::Int64)
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

#[tokio::test]
async fn calls_the_planner_builds_and_unnest_are_guarded() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    // 30 KB values (under the 32 KiB constant limit), copied 3000 times:
    // about 90 MB, over the 64 MiB one call may produce.
    let wide = "(SELECT repeat('x', 30000) AS s)";
    let many = |item: &dyn Fn(usize) -> String| (0..3000).map(item).collect::<Vec<_>>().join(", ");
    for (what, statement) in [
        (
            "make_array",
            format!(
                "SELECT cardinality([{}]) FROM {wide}",
                many(&|_| "s".into())
            ),
        ),
        (
            "named_struct",
            format!(
                "SELECT {{{}}} IS NULL FROM {wide}",
                many(&|i| format!("'k{i}': s"))
            ),
        ),
        (
            "concat",
            format!(
                "SELECT length(concat('a', NULL, {})) FROM {wide}",
                many(&|_| "s".into())
            ),
        ),
        (
            "array_concat",
            // From a column: a constant list this long is refused as a constant.
            "SELECT cardinality(a || a) FROM \
             (SELECT range(0, 5000000 + least(trip_id, 0)) AS a FROM demo.trips LIMIT 1)"
                .to_string(),
        ),
    ] {
        let e = query(&mut sql, &statement).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{what}: {e:?}");
        assert!(
            e.message().contains(&format!("{what}()"))
                && e.message().contains("--max-function-output-mb"),
            "{what}: {}",
            e.message()
        );
    }
    let e = query(
        &mut sql,
        "SELECT s, unnest(range(0, 4000000 + least(trip_id, 0))) FROM \
         (SELECT repeat('x', 30000) AS s, trip_id FROM demo.trips LIMIT 1)",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(
        e.message().contains("UNNEST would expand") && e.message().contains("--max-batch-mb"),
        "{}",
        e.message()
    );
    // A constant larger than --max-batch-mb / --batch-size (32 KiB).
    let e = query(
        &mut sql,
        &format!("SELECT '{}' AS big FROM demo.trips", "z".repeat(40_000)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("--batch-size"), "{}", e.message());
    // Ordinary uses work and give the right values.
    for (statement, expected) in [
        ("SELECT count(*) FROM (SELECT unnest(range(0, 1000)))", 1000),
        ("SELECT cardinality([1, 2, 3] || [4])", 4),
        ("SELECT length(concat('ab', NULL, 'cd'))", 4),
        ("SELECT {'a': 1, 'b': 2}['b']", 2),
        ("SELECT cardinality(map_keys(MAP {'a': 1, 'b': 2}))", 2),
    ] {
        let batches = query(&mut sql, statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        assert_eq!(first_i64(&batches), expected, "{statement}");
    }
    still_serving(&s).await;
}

#[tokio::test]
async fn grouping_by_a_guarded_function_over_many_batches_is_not_refused() {
    // A budget of 2 KiB per row: many batches' concat() estimates, taken
    // in one poll by the aggregate, would exceed it if they were summed.
    let s = TestServer::start_with(|c| c.function_limits.max_batch_bytes = 16 << 20).await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let batches = query(
        &mut sql,
        "SELECT count(*) FROM (SELECT concat(payment_type, '-', passengers, '-', city) AS k, count(*) \
         FROM demo.trips GROUP BY k)",
    )
    .await
    .unwrap();
    assert!(first_i64(&batches) > 1);
    let batches = query(
        &mut sql,
        "SELECT count(*) FROM (SELECT row_number() OVER (PARTITION BY payment_type ORDER BY trip_id) \
         AS n FROM demo.trips)",
    )
    .await
    .unwrap();
    assert!(first_i64(&batches) > 1000);
}

/// A landing dataset `land.events` (id, region, secret), uploaded by the
/// admin; `reader` may read it only where region = 'EU', without `secret`,
/// and administers namespace `mine`.
async fn transform_setup(s: &TestServer) -> FlightClient {
    let mut admin = s.admin_client().await;
    for (kind, body) in [
        ("create_namespace", serde_json::json!({"name": "land"})),
        ("create_namespace", serde_json::json!({"name": "mine"})),
        (
            "grant",
            serde_json::json!({"user": "admin", "pattern": "land.*", "action": "write"}),
        ),
        (
            "create_user",
            serde_json::json!({"name": "reader", "password": PASSWORD}),
        ),
        (
            "grant",
            serde_json::json!({
                "user": "reader", "pattern": "land.events", "action": "read",
                "row_filter": "region = 'EU'", "column_masks": {"secret": "hide"}
            }),
        ),
        (
            "grant",
            serde_json::json!({"user": "reader", "pattern": "mine.*", "action": "admin"}),
        ),
        (
            "grant",
            serde_json::json!({"user": "reader", "pattern": "mine.*", "action": "write"}),
        ),
        (
            "grant",
            serde_json::json!({"user": "reader", "pattern": "mine.*", "action": "read"}),
        ),
    ] {
        action(&mut admin, kind, body).await.unwrap();
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("secret", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(StringArray::from(vec!["EU", "US", "EU", "US"])),
            Arc::new(StringArray::from(vec!["s1", "s2", "s3", "s4"])),
        ],
    )
    .unwrap();
    upload(&mut admin, "land.events", "create", None, vec![batch])
        .await
        .unwrap();
    admin
}

#[tokio::test]
async fn transforms_see_exactly_the_declaring_principals_view() {
    let s = TestServer::start().await;
    let mut admin = transform_setup(&s).await;
    let mut reader = s.login("reader", PASSWORD).await.unwrap();
    let location = format!("file://{}/", s.lake_dir().join("mine/copy").display());
    let declare = |sql: &str| {
        serde_json::json!({
            "name": "mine.copy", "location": location, "format": "delta",
            "options": {"transform": {"landing": "land.events", "sql": sql}},
        })
    };
    // The hidden column is not there to name.
    let e = action(
        &mut reader,
        "register_dataset",
        declare("SELECT id, secret FROM landing"),
    )
    .await
    .map_err(status)
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    action(
        &mut reader,
        "register_dataset",
        declare("SELECT * FROM landing"),
    )
    .await
    .unwrap();
    // The curated rows are the reader's rows: EU only, no secret.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let batches = loop {
        if let Ok(info) = info_for(&mut reader, &serde_json::json!({"dataset": "mine.copy"})).await
            && let Ok(batches) = fetch_all(&mut reader, &info).await
            && rows(&batches) > 0
        {
            break batches;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the transform never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "region"]);
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, [1, 3]);

    // Each run re-checks the view: with the read grant gone, the next
    // landing commit is not transformed (the curated rows stay as they were).
    action(
        &mut admin,
        "revoke",
        serde_json::json!({"user": "reader", "pattern": "land.events", "action": "read"}),
    )
    .await
    .unwrap();
    let more = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("secret", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![5])),
            Arc::new(StringArray::from(vec!["EU"])),
            Arc::new(StringArray::from(vec!["s5"])),
        ],
    )
    .unwrap();
    upload(&mut admin, "land.events", "append", None, vec![more])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let n = download(&mut reader, serde_json::json!({"dataset": "mine.copy"}))
        .await
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn locations_of_datasets_one_may_not_read_in_full_cannot_be_claimed() {
    let s = TestServer::start().await;
    let mut admin = transform_setup(&s).await;
    let mut reader = s.login("reader", PASSWORD).await.unwrap();
    let land = s.lake_dir().join("land/events");
    let land_url = format!("file://{}/", land.display());
    for location in [
        land_url.clone(),
        format!("file://{}/", s.lake_dir().join("land").display()),
        format!("file://{}//", land.display()),
        format!("file://{}/_delta_log/", land.display()),
    ] {
        let e = action(
            &mut reader,
            "register_dataset",
            serde_json::json!({"name": "mine.stolen", "location": location, "format": "delta"}),
        )
        .await
        .map_err(status)
        .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{location}: {e:?}");
        assert!(e.message().contains("overlaps"), "{}", e.message());
    }
    // An encoded separator spells the same place another way: refused outright.
    let e = action(
        &mut reader,
        "register_dataset",
        serde_json::json!({"name": "mine.stolen", "format": "delta",
            "location": format!("file://{}/events/", s.lake_dir().join("land%2F").display())}),
    )
    .await
    .map_err(status)
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("encoded path separator"),
        "{}",
        e.message()
    );
    // With a read grant that hides nothing, the same location is allowed.
    action(
        &mut admin,
        "grant",
        serde_json::json!({"user": "reader", "pattern": "land.events", "action": "read"}),
    )
    .await
    .unwrap();
    action(
        &mut reader,
        "register_dataset",
        serde_json::json!({"name": "mine.alias", "location": land_url, "format": "delta"}),
    )
    .await
    .unwrap();
    // A dataset registered where an upload would create another one.
    let taken = format!("file://{}/", s.lake_dir().join("up/next").display());
    std::fs::create_dir_all(s.lake_dir().join("up/next")).unwrap();
    let mut writer = writer(&s).await;
    action(
        &mut writer,
        "register_dataset",
        serde_json::json!({"name": "land.next", "location": taken, "format": "delta", "options": {"transform": {"landing": "land.events", "sql": "SELECT * FROM landing"}}}),
    )
    .await
    .unwrap();
    action(
        &mut admin,
        "grant",
        serde_json::json!({"user": "reader", "pattern": "up.*", "action": "write"}),
    )
    .await
    .unwrap();
    let e = upload(&mut reader, "up.next", "create", None, vec![numbers(3)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("overlaps"), "{}", e.message());
}

#[tokio::test]
async fn streams_per_user_are_capped() {
    let s = TestServer::start_with(|c| c.stream_limits.streams_per_user = 3).await;
    let mut demo = s.demo_client().await;
    let info = info_for(&mut demo, &serde_json::json!({"dataset": "demo.trips"}))
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    // Streams held open, unread.
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(demo.do_get(ticket.clone()).await.unwrap());
    }
    let e = status(demo.do_get(ticket.clone()).await.err().unwrap());
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(
        e.message().contains("--max-streams-per-user"),
        "{}",
        e.message()
    );
    // Another user is not affected.
    let mut admin = s.admin_client().await;
    let info = info_for(&mut admin, &serde_json::json!({"dataset": "demo.zones"}))
        .await
        .unwrap();
    assert!(rows(&fetch_all(&mut admin, &info).await.unwrap()) > 0);
    // A stream that ends frees its slot.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.server.state().admission.streams_held("demo") > 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was not freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    open.push(demo.do_get(ticket).await.unwrap());
}

#[tokio::test]
async fn downloads_are_admitted_within_the_memory_budget() {
    let s = TestServer::start_with(|c| {
        c.stream_limits.memory_limit = 64 << 20;
        c.stream_limits.stream_memory = 32 << 20;
        c.stream_limits.streams_per_user = 100;
        // An upload must still fit in the budget.
        c.upload_limits.target_file_bytes = 8 << 20;
        c.upload_limits.decode.max_message_bytes = 8 << 20;
        c.upload_limits.decode.max_dictionary_bytes = 8 << 20;
    })
    .await;
    let mut demo = s.demo_client().await;
    let info = info_for(&mut demo, &serde_json::json!({"dataset": "demo.trips"}))
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut open = Vec::new();
    let refused = loop {
        match demo.do_get(ticket.clone()).await {
            Ok(mut stream) => {
                // Started: reading its first batch holds its buffers.
                let _ = stream.next().await;
                open.push(stream);
            }
            Err(e) => break status(e),
        }
        assert!(open.len() < 20, "64 MiB admitted {} streams", open.len());
    };
    assert!(!open.is_empty(), "no stream was admitted");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("--memory-limit-mb"),
        "{}",
        refused.message()
    );
    assert!(s.server.state().admission.memory().reserved() <= 64 << 20);
    // Memory comes back when the streams end.
    drop(open);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.server.state().admission.memory().reserved() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "memory was not returned"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(rows(&fetch(&mut demo, ticket).await.unwrap()) > 0);
}

/// Fares of an ordered download of every trip, or the error that ended it.
async fn ordered_fares(s: &TestServer) -> Result<Vec<f64>, tonic::Status> {
    let mut demo = s.demo_client().await;
    let info = info_for(
        &mut demo,
        &serde_json::json!({"dataset": "demo.trips", "columns": ["trip_id", "fare"], "order_by": ["fare DESC", "trip_id"]}),
    )
    .await
    .map_err(status)?;
    let batches = fetch_all(&mut demo, &info).await.map_err(status)?;
    Ok(batches
        .iter()
        .flat_map(|b| {
            b.column(1)
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect())
}

#[tokio::test]
async fn ordered_downloads_sort_within_their_stream_budget() {
    // Within the default budget, the whole table sorts.
    let s = TestServer::start().await;
    let fares = ordered_fares(&s).await.unwrap();
    assert_eq!(fares.len(), laker_integration_tests::DEMO_ROWS);
    assert!(
        fares.windows(2).all(|w| w[0] >= w[1]),
        "sorted by fare descending"
    );
    // With a tiny one, the sort spills or stops with an error naming the
    // budget — never more memory.
    let s = TestServer::start_with(|c| c.stream_limits.stream_memory = 24 << 20).await;
    match ordered_fares(&s).await {
        Ok(fares) => assert_eq!(fares.len(), laker_integration_tests::DEMO_ROWS),
        Err(e) => {
            assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
            assert!(
                e.message().contains("--stream-memory-mb"),
                "{}",
                e.message()
            );
        }
    }
    still_serving(&s).await;
}

#[tokio::test]
async fn sql_reads_are_audited_with_every_dataset_they_read() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    query(
        &mut sql,
        "SELECT count(*) FROM demo.trips t JOIN demo.zones z ON t.city = z.city",
    )
    .await
    .unwrap();
    s.server.state().audit.flush().await;
    let (_, records): (Vec<i64>, Vec<_>) = s
        .catalog
        .audit_page(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .unzip();
    let reads: Vec<_> = records
        .iter()
        .filter(|r| r.principal == "demo" && r.action == "DoGet" && r.detail.contains("JOIN"))
        .collect();
    assert_eq!(reads.len(), 1, "{records:?}");
    assert_eq!(reads[0].dataset, "demo.trips,demo.zones");
    let infos: Vec<_> = records
        .iter()
        .filter(|r| r.action == "GetFlightInfo" && r.detail.contains("JOIN"))
        .collect();
    assert_eq!(infos[0].dataset, "demo.trips,demo.zones");
    let usage = s.catalog.usage().await.unwrap();
    for dataset in ["demo.trips", "demo.zones"] {
        assert!(
            usage
                .iter()
                .any(|u| u.principal == "demo" && u.dataset == dataset && u.downloads >= 1),
            "{dataset}: {usage:?}"
        );
    }
    // Calls are journaled as they start: the journal holds this one's line.
    let journal = s.dir.path().join("audit-journal");
    let text: String = std::fs::read_dir(&journal)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(text.contains("\nS ") || text.starts_with("S "), "{text}");
    assert!(text.contains("demo.zones"), "{text}");
}

#[tokio::test]
async fn lockout_holds_for_every_spelling_of_the_name() {
    let s = TestServer::start_with(|c| c.login_limits.per_user = 3).await;
    let mut admin = s.admin_client().await;
    action(
        &mut admin,
        "create_user",
        serde_json::json!({"name": "eve", "password": PASSWORD}),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let e = status(s.login("eve", "wrong").await.err().unwrap());
        assert_eq!(e.code(), Code::Unauthenticated);
    }
    for spelling in ["eve", " eve", "EVE ", "\teve"] {
        let e = status(s.login(spelling, PASSWORD).await.err().unwrap());
        assert_eq!(e.code(), Code::ResourceExhausted, "{spelling:?}: {e:?}");
    }
}

#[tokio::test]
async fn tickets_and_handles_end_at_logout() {
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    let info = info_for(&mut demo, &serde_json::json!({"dataset": "demo.zones"}))
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut sql = sql_client(&s, "demo", "demo").await;
    let statement = sql.execute("SELECT 1".into(), None).await.unwrap();
    let statement_ticket = statement.endpoint[0].ticket.clone().unwrap();
    // Cut just before the logout: tickets carry millisecond issue times.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    action(&mut demo, "logout", serde_json::json!({}))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut fresh = s.demo_client().await;
    let e = status(fetch(&mut fresh, ticket).await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("logged out"), "{}", e.message());
    let e = status(fetch(&mut fresh, statement_ticket).await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    // New tickets work.
    let info = info_for(&mut fresh, &serde_json::json!({"dataset": "demo.zones"}))
        .await
        .unwrap();
    assert!(rows(&fetch_all(&mut fresh, &info).await.unwrap()) > 0);
}

#[tokio::test]
async fn readers_do_not_see_storage_locations_and_the_catalog_file_is_private() {
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    let described = action(
        &mut demo,
        "describe_dataset",
        serde_json::json!({"name": "demo.trips"}),
    )
    .await
    .unwrap();
    assert!(described.get("location").is_none(), "{described}");
    assert!(described["schema"].is_array());
    let mut admin = s.admin_client().await;
    let described = action(
        &mut admin,
        "describe_dataset",
        serde_json::json!({"name": "demo.trips"}),
    )
    .await
    .unwrap();
    assert!(described["location"].is_string(), "{described}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.dir.path().join("catalog.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
}

#[tokio::test]
async fn now_works_in_filters() {
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    let n = download(
        &mut demo,
        serde_json::json!({"dataset": "demo.zones", "filter": "now() > TIMESTAMP '2000-01-01 00:00:00'"}),
    )
    .await
    .unwrap();
    assert!(n > 0);
}

#[tokio::test]
async fn qmark_placeholders_work_for_statements_and_prepared_statements() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let mut prepared = sql
        .prepare(
            "SELECT count(*) FROM demo.trips WHERE fare > ? AND passengers >= ?".into(),
            None,
        )
        .await
        .unwrap();
    let params = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("$1", DataType::Float64, true),
            Field::new("$2", DataType::Int64, true),
        ])),
        vec![
            Arc::new(arrow::array::Float64Array::from(vec![30.0])),
            Arc::new(Int64Array::from(vec![2])),
        ],
    )
    .unwrap();
    prepared.set_parameters(params).unwrap();
    let info = prepared.execute().await.unwrap();
    let batches = crate::flight_sql::fetch(&mut sql, info).await;
    let counted = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    let expected = query(
        &mut sql,
        "SELECT count(*) FROM demo.trips WHERE fare > 30.0 AND passengers >= 2",
    )
    .await
    .unwrap()[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(counted, expected);
    assert!(counted > 0);
    let e = sql
        .prepare("SELECT ? + $1".into(), None)
        .await
        .map_err(flight_status)
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
}

#[tokio::test]
async fn short_statements_that_plan_huge_are_refused() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    // Each CTE doubles the one before: 2^40 operators from 40 lines.
    let mut text = String::from("WITH a0 AS (SELECT 1 AS x)");
    for i in 1..40 {
        text.push_str(&format!(
            ", a{i} AS (SELECT x FROM a{p} UNION ALL SELECT x FROM a{p})",
            p = i - 1
        ));
    }
    text.push_str(" SELECT x FROM a39");
    let e = query(&mut sql, &text).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("operators"), "{}", e.message());
    // Amplifying calls share one budget per batch.
    let calls = vec!["repeat(city, 2000)"; 400].join(", ");
    let e = download(
        &mut s.demo_client().await,
        serde_json::json!({"dataset": "demo.trips", "filter": format!("cardinality(make_array({calls})) > 0")}),
    )
    .await
    .unwrap_err();
    assert!(
        e.message().contains("--max-batch-mb") || e.message().contains("--max-function-output-mb"),
        "{}",
        e.message()
    );
    // Dates far outside the timestamp range are counted, not skipped.
    let e = query(
        &mut sql,
        "SELECT cardinality(range(CAST(-95000000 AS DATE), CAST(95000000 AS DATE), INTERVAL '1' DAY))",
    )
    .await
    .unwrap_err();
    assert!(
        e.message().contains("--max-function-output-mb"),
        "{}",
        e.message()
    );
    // A union of many partitioned scans gets one endpoint, not hundreds.
    let union = vec!["SELECT trip_id FROM demo.trips"; 40].join(" UNION ALL ");
    sql.set_header("x-laker-endpoints", "partitioned");
    let info = sql.execute(union, None).await.unwrap();
    assert_eq!(info.endpoint.len(), 1);
    still_serving(&s).await;
}

#[tokio::test]
async fn refused_and_listing_calls_are_audited_with_what_they_asked() {
    let s = TestServer::start().await;
    // A forged token.
    let mut forged = s.anonymous().await;
    forged
        .add_header("authorization", "Bearer not.a.token")
        .unwrap();
    let e = status(
        info_for(&mut forged, &serde_json::json!({"dataset": "demo.trips"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut demo = s.demo_client().await;
    let _: Vec<_> = demo
        .list_actions()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    // Padding in front of a statement does not hide it.
    let mut sql = sql_client(&s, "demo", "demo").await;
    let padded = format!(
        "/* {} */ SELECT count(*) FROM demo.zones",
        " ".repeat(9_000)
    );
    query(&mut sql, &padded).await.unwrap();
    s.server.state().audit.flush().await;
    let records: Vec<_> = s
        .catalog
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert!(
        records.iter().any(|r| r.outcome == "unauthenticated"
            && r.action == "GetFlightInfo"
            && r.principal.is_empty()),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.action == "ListActions" && r.principal == "demo")
    );
    let read = records
        .iter()
        .find(|r| r.action == "DoGet" && r.dataset == "demo.zones" && r.principal == "demo")
        .unwrap();
    assert!(
        read.detail.contains("SELECT count ( * ) FROM demo . zones"),
        "{}",
        read.detail
    );
    // Bound parameters are recorded with their statement.
    let mut prepared = sql
        .prepare(
            "SELECT count(*) FROM demo.trips WHERE fare > $1".into(),
            None,
        )
        .await
        .unwrap();
    prepared
        .set_parameters(
            RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new("$1", DataType::Float64, true)])),
                vec![Arc::new(arrow::array::Float64Array::from(vec![42.5]))],
            )
            .unwrap(),
        )
        .unwrap();
    let info = prepared.execute().await.unwrap();
    crate::flight_sql::fetch(&mut sql, info).await;
    s.server.state().audit.flush().await;
    let records = s.catalog.audit_page(0, 100_000).await.unwrap();
    assert!(
        records
            .iter()
            .any(|(_, r)| r.action == "DoGet" && r.detail.contains("parameters: [42.5]")),
        "{records:?}"
    );
}

#[tokio::test]
async fn restricted_readers_get_neither_file_metadata_nor_old_versions() {
    let s = TestServer::start().await;
    let mut admin = transform_setup(&s).await;
    // An Arrow IPC dataset whose file schema says more than the reader may know.
    let dir = s.lake_dir().join("land/notes");
    std::fs::create_dir_all(&dir).unwrap();
    let schema = Arc::new(
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("secret", DataType::Utf8, false),
        ])
        .with_metadata([("origin".to_string(), "secret column has 4 rows".to_string())].into()),
    );
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["EU", "US"])),
            Arc::new(StringArray::from(vec!["s1", "s2"])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(dir.join("part-0.arrow")).unwrap();
    let mut writer = arrow::ipc::writer::FileWriter::try_new(file, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    action(
        &mut admin,
        "register_dataset",
        serde_json::json!({"name": "land.notes", "format": "arrow",
            "location": format!("file://{}/", dir.display())}),
    )
    .await
    .unwrap();
    action(
        &mut admin,
        "grant",
        serde_json::json!({"user": "reader", "pattern": "land.notes", "action": "read",
            "row_filter": "region = 'EU'", "column_masks": {"secret": "hide"}}),
    )
    .await
    .unwrap();
    let mut reader = s.login("reader", PASSWORD).await.unwrap();
    let seen = reader
        .get_schema(FlightDescriptor::new_path(vec![
            "land".into(),
            "notes".into(),
        ]))
        .await
        .unwrap();
    assert!(
        !seen.metadata().contains_key("origin"),
        "{:?}",
        seen.metadata()
    );
    let full = admin
        .get_schema(FlightDescriptor::new_path(vec![
            "land".into(),
            "notes".into(),
        ]))
        .await
        .unwrap();
    assert!(
        full.metadata().contains_key("origin"),
        "{:?}",
        full.metadata()
    );
    // The reader's rows stream under the stripped schema: its row, no secret.
    let spec = serde_json::json!({"dataset": "land.notes"});
    let info = info_for(&mut reader, &spec).await.unwrap();
    let batches = fetch_all(&mut reader, &info).await.unwrap();
    assert_eq!(rows(&batches), 1);
    let batch = &batches[0];
    assert!(batch.schema().metadata().is_empty(), "{:?}", batch.schema());
    assert!(batch.schema().column_with_name("secret").is_none());
    let region = batch
        .column_by_name("region")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(region.value(0), "EU");
    // Time travel shows history the reader's grants hide.
    let e = download(
        &mut reader,
        serde_json::json!({"dataset": "land.events", "version": 0}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("older version"), "{}", e.message());
    // A policy that cannot apply names no column.
    action(
        &mut admin,
        "grant",
        serde_json::json!({"user": "reader", "pattern": "land.*", "action": "read",
            "row_filter": "no_such_column = 1"}),
    )
    .await
    .unwrap();
    action(
        &mut admin,
        "revoke",
        serde_json::json!({"user": "reader", "pattern": "land.notes", "action": "read"}),
    )
    .await
    .unwrap();
    let e = download(&mut reader, serde_json::json!({"dataset": "land.notes"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(!e.message().contains("secret"), "{}", e.message());
    assert!(e.message().contains("reference"), "{}", e.message());
}
