//! Flight SQL through the arrow-flight crate's `FlightSqlServiceClient`, on
//! the same port as plain Flight: queries, metadata, the sandbox, errors and
//! the caller's grants.

use arrow::array::{Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_flight::FlightInfo;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, SqlInfo};
use futures::TryStreamExt;
use laker_integration_tests::{TestServer, info_for, status};
use tonic::Code;
use tonic::transport::Channel;

pub(crate) async fn sql_client(
    s: &TestServer,
    user: &str,
    password: &str,
) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(s.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(channel);
    client.handshake(user, password).await.unwrap();
    client
}

pub(crate) async fn fetch(
    client: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let stream = client.do_get(endpoint.ticket.unwrap()).await.unwrap();
        batches.extend(stream.try_collect::<Vec<_>>().await.unwrap());
    }
    batches
}

pub(crate) async fn query(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(flight_status)?;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let stream = client
            .do_get(endpoint.ticket.unwrap())
            .await
            .map_err(flight_status)?;
        batches.extend(
            stream
                .try_collect::<Vec<_>>()
                .await
                .map_err(flight_status)?,
        );
    }
    Ok(batches)
}

pub(crate) fn flight_status(e: FlightError) -> tonic::Status {
    match e {
        FlightError::Tonic(s) => *s,
        FlightError::Arrow(a) => tonic::Status::unknown(a.to_string()),
        other => tonic::Status::unknown(other.to_string()),
    }
}

pub(crate) fn strings(batches: &[RecordBatch], column: usize) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column(column)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            (0..a.len())
                .map(|i| a.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn queries_stream_results_and_plain_flight_still_works() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let batches = query(
        &mut sql,
        "SELECT zone_id, city FROM demo.zones WHERE city = 'Oslo' ORDER BY zone_id",
    )
    .await
    .unwrap();
    let ids: Vec<i32> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(ids.len(), 12);
    assert_eq!(&ids[..3], &[1, 6, 11]);
    assert!(strings(&batches, 1).iter().all(|c| c == "Oslo"));

    // A join and an aggregate over the 2,000-row trips sample.
    let batches = query(
        &mut sql,
        "SELECT z.city, count(*) AS n FROM demo.trips t JOIN demo.zones z ON t.pickup_zone = z.zone_id \
         GROUP BY z.city ORDER BY z.city",
    )
    .await
    .unwrap();
    let total: i64 = batches
        .iter()
        .map(|b| {
            b.column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .iter()
                .sum::<i64>()
        })
        .sum();
    assert_eq!(total, laker_integration_tests::DEMO_ROWS as i64);
    assert_eq!(strings(&batches, 0).len(), 5);

    // Plain Flight on the same port, same token kind.
    let mut plain = s.demo_client().await;
    let info = info_for(
        &mut plain,
        &serde_json::json!({"dataset": "demo.zones", "limit": 3}),
    )
    .await
    .unwrap();
    let rows = laker_integration_tests::fetch_all(&mut plain, &info)
        .await
        .unwrap();
    assert_eq!(laker_integration_tests::rows(&rows), 3);
}

#[tokio::test]
async fn metadata_shows_only_what_the_caller_may_read() {
    let s = TestServer::start().await;
    let hash = laker_auth::password::hash_password("pw-of-carol").unwrap();
    s.catalog.create_user("carol", &hash).await.unwrap();
    s.catalog
        .grant("carol", "demo.zones", "read")
        .await
        .unwrap();
    let mut carol = sql_client(&s, "carol", "pw-of-carol").await;

    let info = carol.get_catalogs().await.unwrap();
    assert_eq!(strings(&fetch(&mut carol, info).await, 0), ["laker"]);
    let info = carol
        .get_db_schemas(CommandGetDbSchemas::default())
        .await
        .unwrap();
    assert_eq!(strings(&fetch(&mut carol, info).await, 1), ["demo"]);
    let info = carol
        .get_tables(CommandGetTables {
            include_schema: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let tables = fetch(&mut carol, info).await;
    assert_eq!(strings(&tables, 2), ["zones"], "only readable datasets");
    assert_eq!(tables[0].num_columns(), 5, "table_schema included");
    let info = carol.get_table_types().await.unwrap();
    assert_eq!(strings(&fetch(&mut carol, info).await, 0), ["TABLE"]);
    let info = carol
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerName,
            SqlInfo::FlightSqlServerReadOnly,
        ])
        .await
        .unwrap();
    let info_batches = fetch(&mut carol, info).await;
    assert_eq!(info_batches[0].num_rows(), 2);

    // Tables carol cannot read do not exist for her SQL.
    let e = query(&mut carol, "SELECT count(*) FROM demo.trips")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("demo.trips"), "{}", e.message());
    let e = query(
        &mut carol,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'demo'",
    )
    .await
    .unwrap();
    assert_eq!(strings(&e, 0), ["zones"]);
}

#[tokio::test]
async fn the_sandbox_refuses_every_escape() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let refused = [
        ("CREATE TABLE x AS SELECT 1", Code::PermissionDenied),
        (
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            Code::PermissionDenied,
        ),
        (
            "INSERT INTO demo.zones VALUES (1, 'a', 'b')",
            Code::PermissionDenied,
        ),
        ("DELETE FROM demo.zones", Code::PermissionDenied),
        (
            "COPY (SELECT 1) TO '/tmp/laker-escape.csv'",
            Code::PermissionDenied,
        ),
        (
            "SET datafusion.execution.batch_size = 1",
            Code::PermissionDenied,
        ),
        ("DROP TABLE demo.zones", Code::PermissionDenied),
        ("CREATE VIEW v AS SELECT 1", Code::PermissionDenied),
        ("SELECT * FROM 'file:///etc/passwd'", Code::NotFound),
        ("SELECT * FROM 's3://bucket/key.parquet'", Code::NotFound),
        ("SELECT * FROM datafusion.public.x", Code::NotFound),
    ];
    for (statement, code) in refused {
        let e = query(&mut sql, statement).await.unwrap_err();
        assert_eq!(e.code(), code, "{statement}: {e:?}");
        if code == Code::PermissionDenied {
            assert!(
                e.message().contains("read-only"),
                "{statement}: {}",
                e.message()
            );
        }
    }
    assert!(!std::path::Path::new("/tmp/laker-escape.csv").exists());
    let e = query(&mut sql, "SELEC 1").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("Line: 1, Column"), "{}", e.message());
    let e = query(&mut sql, "SELECT no_such_column FROM demo.zones")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("no_such_column"), "{}", e.message());
}

#[tokio::test]
async fn sql_sees_rows_and_values_through_the_callers_policies() {
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    laker_integration_tests::action(
        &mut admin,
        "create_user",
        serde_json::json!({"name": "bergen", "password": "pw-of-bergen-1", "attributes": {"city": "Bergen"}}),
    )
    .await
    .unwrap();
    laker_integration_tests::action(
        &mut admin,
        "grant",
        serde_json::json!({"user": "bergen", "pattern": "demo.zones", "action": "read",
            "row_filter": "city = principal_attribute('city')", "column_masks": {"name": "hash"}}),
    )
    .await
    .unwrap();
    let mut sql = sql_client(&s, "bergen", "pw-of-bergen-1").await;
    let batches = query(&mut sql, "SELECT city, name FROM demo.zones")
        .await
        .unwrap();
    let cities = strings(&batches, 0);
    assert_eq!(cities.len(), 12);
    assert!(cities.iter().all(|c| c == "Bergen"));
    assert!(
        strings(&batches, 1).iter().all(|n| n.len() == 64),
        "names hashed"
    );
    // Neither filters nor aggregates reach hidden rows.
    let batches = query(
        &mut sql,
        "SELECT count(*) FROM demo.zones WHERE city = 'Oslo'",
    )
    .await
    .unwrap();
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn statement_tickets_are_bound_to_their_principal() {
    let s = TestServer::start().await;
    let mut demo = sql_client(&s, "demo", "demo").await;
    let info = demo
        .execute("SELECT 1 AS one".to_string(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut admin_raw = s.admin_client().await;
    let e = status(admin_raw.do_get(ticket).await.unwrap_err());
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("another principal"), "{}", e.message());
}

#[tokio::test]
async fn sql_results_cannot_be_resumed_by_skipping_rows() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let info = sql
        .execute("SELECT trip_id FROM demo.trips LIMIT 10".to_string(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    sql.set_header("x-laker-skip-rows", "5");
    let e = status(sql.do_get(ticket.clone()).await.unwrap_err());
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(
        e.message(),
        "x-laker-skip-rows resumes downloads only; run the SQL query again"
    );
    sql.set_header("x-laker-skip-rows", "0");
    let rows: usize = fetch(&mut sql, info)
        .await
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 10);
}

#[tokio::test]
async fn key_commands_type_info_schema_and_poll() {
    use arrow::datatypes::DataType;
    use arrow_flight::FlightDescriptor;
    use arrow_flight::sql::{
        CommandGetCrossReference, CommandGetExportedKeys, CommandGetImportedKeys,
        CommandGetPrimaryKeys, CommandGetXdbcTypeInfo, CommandStatementQuery, ProstMessageExt,
    };
    use prost::Message;

    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let table = |t: &str| {
        (
            Some("laker".to_string()),
            Some("demo".to_string()),
            t.to_string(),
        )
    };

    let (catalog, db_schema, name) = table("zones");
    let info = sql
        .get_primary_keys(CommandGetPrimaryKeys {
            catalog,
            db_schema,
            table: name,
        })
        .await
        .unwrap();
    let schema = info.clone().try_decode_schema().unwrap();
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "catalog_name",
            "db_schema_name",
            "table_name",
            "column_name",
            "key_name",
            "key_sequence"
        ]
    );
    assert_eq!(
        laker_integration_tests::rows(&fetch(&mut sql, info).await),
        0
    );

    let (catalog, db_schema, name) = table("zones");
    let exported = sql
        .get_exported_keys(CommandGetExportedKeys {
            catalog,
            db_schema,
            table: name,
        })
        .await
        .unwrap();
    let (catalog, db_schema, name) = table("trips");
    let imported = sql
        .get_imported_keys(CommandGetImportedKeys {
            catalog,
            db_schema,
            table: name,
        })
        .await
        .unwrap();
    let cross = sql
        .get_cross_reference(CommandGetCrossReference {
            pk_catalog: None,
            pk_db_schema: Some("demo".into()),
            pk_table: "zones".into(),
            fk_catalog: None,
            fk_db_schema: Some("demo".into()),
            fk_table: "trips".into(),
        })
        .await
        .unwrap();
    for info in [exported, imported, cross] {
        let schema = info.clone().try_decode_schema().unwrap();
        assert_eq!(schema.fields().len(), 13);
        assert_eq!(schema.field(11).name(), "update_rule");
        assert_eq!(schema.field(11).data_type(), &DataType::UInt8);
        let batches = fetch(&mut sql, info).await;
        assert_eq!(laker_integration_tests::rows(&batches), 0);
    }

    let info = sql
        .get_xdbc_type_info(CommandGetXdbcTypeInfo { data_type: None })
        .await
        .unwrap();
    let types = fetch(&mut sql, info).await;
    let names = strings(&types, 0);
    for expected in [
        "BIGINT",
        "VARCHAR",
        "DOUBLE",
        "DECIMAL",
        "DATE",
        "TIMESTAMP",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let info = sql
        .get_xdbc_type_info(CommandGetXdbcTypeInfo {
            data_type: Some(arrow_flight::sql::XdbcDataType::XdbcBigint as i32),
        })
        .await
        .unwrap();
    assert_eq!(strings(&fetch(&mut sql, info).await, 0), ["BIGINT"]);

    // GetSchema and PollFlightInfo for a statement, on the plain Flight client.
    let mut plain = s.demo_client().await;
    let cmd = CommandStatementQuery {
        query: "SELECT zone_id, upper(city) AS city FROM demo.zones".into(),
        transaction_id: None,
    };
    let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
    let schema = plain.get_schema(descriptor.clone()).await.unwrap();
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["zone_id", "city"]);
    let poll = plain.poll_flight_info(descriptor).await.unwrap();
    assert_eq!(poll.progress, Some(1.0));
    assert!(poll.flight_descriptor.is_none(), "nothing left to poll");
    let info = poll.info.unwrap();
    assert_eq!(info.endpoint.len(), 1);
    let rows = laker_integration_tests::fetch_all(&mut plain, &info)
        .await
        .unwrap();
    assert_eq!(laker_integration_tests::rows(&rows), 60);
}

#[tokio::test]
async fn one_endpoint_by_default_and_partitions_on_request() {
    let s = TestServer::start().await;
    let mut sql = sql_client(&s, "demo", "demo").await;
    let statement = "SELECT trip_id FROM demo.trips";
    let info = sql.execute(statement.to_string(), None).await.unwrap();
    assert_eq!(
        info.endpoint.len(),
        1,
        "every client reads one endpoint right"
    );
    let single = fetch(&mut sql, info).await;
    assert_eq!(
        laker_integration_tests::rows(&single),
        laker_integration_tests::DEMO_ROWS
    );

    sql.set_header(laker_flight_server::sql::ENDPOINTS_HEADER, "partitioned");
    let info = sql.execute(statement.to_string(), None).await.unwrap();
    assert!(info.endpoint.len() > 1, "{} endpoints", info.endpoint.len());
    let parts = fetch(&mut sql, info).await;
    assert_eq!(
        laker_integration_tests::rows(&parts),
        laker_integration_tests::DEMO_ROWS
    );
}
