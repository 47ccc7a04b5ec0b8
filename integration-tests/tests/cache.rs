//! The result cache (`--result-cache-mb`): a popular download is sent from
//! the cache from its third time on, with the same bytes, counted and
//! audited; a data change, a grant change and a mask change never serve
//! stale or unauthorised rows; the cache never holds more than its bound.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::array_value_to_string;
use arrow_flight::FlightClient;
use laker_integration_tests::{TestServer, action, fetch_all, info_for, status, upload};
use serde_json::{Value, json};
use tonic::Code;

const PASSWORD: &str = "cache-password-1";

const REGIONS: [&str; 3] = ["EU", "US", "APAC"];

fn region_of(id: i64) -> &'static str {
    REGIONS[(id % 3) as usize]
}

fn email_of(id: i64) -> String {
    format!("person{id}@example.com")
}

/// Rows `ids` of `cache.people`: an id, a region and an email.
fn people(ids: Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())) as ArrayRef,
            Arc::new(StringArray::from_iter_values(ids.clone().map(region_of))),
            Arc::new(StringArray::from_iter_values(ids.map(email_of))),
        ],
    )
    .unwrap()
}

/// A server whose result cache holds `cache_bytes`, serving metrics on its
/// HTTP port, with namespace `cache`, a `writer` who may read and write it
/// and the Delta dataset `cache.people` of ids `0..rows`; the writer's and
/// an admin's clients.
async fn server(cache_bytes: usize, rows: i64) -> (TestServer, FlightClient, FlightClient) {
    let s = TestServer::start_with(|c| {
        c.result_cache_bytes = cache_bytes;
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let mut admin = s.admin_client().await;
    for (kind, body) in [
        ("create_namespace", json!({"name": "cache"})),
        (
            "create_user",
            json!({"name": "writer", "password": PASSWORD}),
        ),
        (
            "grant",
            json!({"user": "writer", "pattern": "cache.*", "action": "write"}),
        ),
        (
            "grant",
            json!({"user": "writer", "pattern": "cache.*", "action": "read"}),
        ),
    ] {
        action(&mut admin, kind, body).await.unwrap();
    }
    let mut writer = s.login("writer", PASSWORD).await.unwrap();
    upload(
        &mut writer,
        "cache.people",
        "create",
        None,
        vec![people(0..rows)],
    )
    .await
    .unwrap();
    (s, writer, admin)
}

/// Creates `name` with one grant on `cache.people` (its `policy` added to
/// the grant: a row filter, column masks); returns their client.
async fn reader(
    s: &TestServer,
    admin: &mut FlightClient,
    name: &str,
    policy: Value,
) -> FlightClient {
    action(
        admin,
        "create_user",
        json!({"name": name, "password": PASSWORD}),
    )
    .await
    .unwrap();
    grant(admin, name, policy).await;
    s.login(name, PASSWORD).await.unwrap()
}

/// Grants (or re-grants, replacing the policy) `name` read on `cache.people`.
async fn grant(admin: &mut FlightClient, name: &str, policy: Value) {
    let mut body = json!({"user": name, "pattern": "cache.people", "action": "read"});
    for (key, value) in policy.as_object().unwrap() {
        body[key] = value.clone();
    }
    action(admin, "grant", body).await.unwrap();
}

/// GetFlightInfo for `spec`, then every endpoint.
async fn download(client: &mut FlightClient, spec: &Value) -> Vec<RecordBatch> {
    let info = info_for(client, spec).await.unwrap();
    fetch_all(client, &info).await.unwrap()
}

/// Every row as (id, region, email), by id.
fn rows_of(batches: &[RecordBatch]) -> Vec<(i64, String, String)> {
    let mut rows = Vec::new();
    for batch in batches {
        let text = |name: &str, i: usize| {
            array_value_to_string(batch.column_by_name(name).unwrap(), i).unwrap()
        };
        for i in 0..batch.num_rows() {
            let id: i64 = text("id", i).parse().unwrap();
            rows.push((id, text("region", i), text("email", i)));
        }
    }
    rows.sort();
    rows
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    rows_of(batches).into_iter().map(|(id, _, _)| id).collect()
}

/// The clear rows of ids `range`.
fn clear(range: Range<i64>) -> Vec<(i64, String, String)> {
    range
        .map(|id| (id, region_of(id).to_string(), email_of(id)))
        .collect()
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The result cache's metrics, as `/metrics` shows them.
#[derive(Debug, Clone, Copy)]
struct Counts {
    hits: u64,
    misses: u64,
    insertions: u64,
    evictions: u64,
    bytes: u64,
}

async fn counts(s: &TestServer) -> Counts {
    let url = format!("http://{}/metrics", s.server.http_addr().unwrap());
    let page = reqwest::get(url).await.unwrap().text().await.unwrap();
    let sample = |name: &str| {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{page}")) as u64
    };
    Counts {
        hits: sample("laker_result_cache_hits_total"),
        misses: sample("laker_result_cache_misses_total"),
        insertions: sample("laker_result_cache_insertions_total"),
        evictions: sample("laker_result_cache_evictions_total"),
        bytes: sample("laker_result_cache_bytes"),
    }
}

/// (detail, rows, bytes, outcome) of the DoGet records of `cache.people`.
async fn download_records(admin: &mut FlightClient) -> Vec<(String, i64, i64, String)> {
    let spec = json!({
        "dataset": "system.audit",
        "columns": ["detail", "rows", "bytes", "outcome"],
        "filter": "action = 'DoGet' AND dataset = 'cache.people'",
    });
    let batches = download(admin, &spec).await;
    let mut records = Vec::new();
    for batch in &batches {
        let text = |c: usize, i: usize| array_value_to_string(batch.column(c), i).unwrap();
        for i in 0..batch.num_rows() {
            records.push((
                text(0, i),
                text(1, i).parse().unwrap(),
                text(2, i).parse().unwrap(),
                text(3, i),
            ));
        }
    }
    records
}

#[tokio::test]
async fn a_popular_download_is_sent_from_the_cache_from_its_third_time() {
    let (s, mut writer, mut admin) = server(8 << 20, 1_000).await;
    let spec = json!({"dataset": "cache.people"});
    let endpoints = info_for(&mut writer, &spec).await.unwrap().endpoint.len() as u64;
    assert!(endpoints >= 1);

    let first = download(&mut writer, &spec).await;
    let c = counts(&s).await;
    assert_eq!(
        (c.hits, c.misses, c.insertions, c.bytes),
        (0, endpoints, 0, 0),
        "seen once: nothing kept"
    );
    let second = download(&mut writer, &spec).await;
    let c = counts(&s).await;
    assert_eq!(
        (c.hits, c.misses, c.insertions),
        (0, 2 * endpoints, endpoints),
        "seen twice: kept"
    );
    assert!(c.bytes > 0 && c.bytes <= 8 << 20, "{c:?}");

    let rows_sent = s.server.metrics().rows_sent();
    let third = download(&mut writer, &spec).await;
    let c = counts(&s).await;
    assert_eq!((c.hits, c.misses), (endpoints, 2 * endpoints), "{c:?}");
    // The second download's messages, batch for batch; the same rows as a scan.
    assert_eq!(third, second);
    assert_eq!(rows_of(&first), clear(0..1_000));
    assert_eq!(rows_of(&third), clear(0..1_000));
    // Counted as they were sent.
    assert_eq!(s.server.metrics().rows_sent() - rows_sent, 1_000);

    // Audited with rows, bytes and outcome, and marked as cached.
    let records = download_records(&mut admin).await;
    assert_eq!(records.len() as u64, 3 * endpoints, "{records:?}");
    let hits: Vec<_> = records
        .iter()
        .filter(|(detail, ..)| detail.contains("\"result_cache\":\"hit\""))
        .collect();
    assert_eq!(hits.len() as u64, endpoints, "{records:?}");
    assert_eq!(hits.iter().map(|(_, rows, ..)| rows).sum::<i64>(), 1_000);
    for (_, _, bytes, outcome) in &hits {
        assert!(*bytes > 0);
        assert_eq!(outcome, "ok");
    }
}

#[tokio::test]
async fn a_data_change_is_never_served_stale() {
    let (s, mut writer, _admin) = server(8 << 20, 100).await;
    let spec = json!({"dataset": "cache.people"});
    for _ in 0..3 {
        assert_eq!(rows_of(&download(&mut writer, &spec).await), clear(0..100));
    }
    let cached = counts(&s).await;
    assert!(cached.hits >= 1, "{cached:?}");

    // A new Delta version: a new key, the new rows at once.
    upload(
        &mut writer,
        "cache.people",
        "append",
        None,
        vec![people(100..150)],
    )
    .await
    .unwrap();
    assert_eq!(rows_of(&download(&mut writer, &spec).await), clear(0..150));
    assert_eq!(
        counts(&s).await.hits,
        cached.hits,
        "nothing served from the cache"
    );
    // The new version is cached in its turn, with its own rows.
    for _ in 0..2 {
        assert_eq!(rows_of(&download(&mut writer, &spec).await), clear(0..150));
    }
    let c = counts(&s).await;
    assert!(c.hits > cached.hits, "{c:?}");

    // Replaced outright: the same again.
    upload(
        &mut writer,
        "cache.people",
        "replace",
        None,
        vec![people(500..510)],
    )
    .await
    .unwrap();
    assert_eq!(
        rows_of(&download(&mut writer, &spec).await),
        clear(500..510)
    );
    assert_eq!(counts(&s).await.hits, c.hits);
}

#[tokio::test]
async fn a_grant_change_is_never_served_stale_or_unauthorised() {
    let (s, mut writer, mut admin) = server(8 << 20, 300).await;
    let mut analyst = reader(
        &s,
        &mut admin,
        "analyst",
        json!({"row_filter": "region = 'EU'"}),
    )
    .await;
    let spec = json!({"dataset": "cache.people"});
    let of_region = |r: &str| -> Vec<i64> { (0..300).filter(|i| region_of(*i) == r).collect() };
    for _ in 0..3 {
        assert_eq!(ids(&download(&mut analyst, &spec).await), of_region("EU"));
    }
    let cached = counts(&s).await;
    assert!(
        cached.hits >= 1,
        "the EU rows were sent from the cache: {cached:?}"
    );

    // The row filter changes: exactly the new rows, at once.
    grant(
        &mut admin,
        "analyst",
        json!({"row_filter": "region = 'US'"}),
    )
    .await;
    assert_eq!(ids(&download(&mut analyst, &spec).await), of_region("US"));
    assert_eq!(counts(&s).await.hits, cached.hits);
    for _ in 0..2 {
        assert_eq!(ids(&download(&mut analyst, &spec).await), of_region("US"));
    }
    let c = counts(&s).await;
    assert!(
        c.hits > cached.hits,
        "the US rows are cached in their turn: {c:?}"
    );

    // Revoked: refused before the cache is asked, with a ticket issued
    // before and a result cached.
    let info = info_for(&mut analyst, &spec).await.unwrap();
    action(
        &mut admin,
        "revoke",
        json!({"user": "analyst", "pattern": "cache.people", "action": "read"}),
    )
    .await
    .unwrap();
    let e = status(fetch_all(&mut analyst, &info).await.unwrap_err());
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = status(info_for(&mut analyst, &spec).await.unwrap_err());
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert_eq!(counts(&s).await.hits, c.hits);

    // The unrestricted writer still reads every row.
    assert_eq!(rows_of(&download(&mut writer, &spec).await), clear(0..300));
}

#[tokio::test]
async fn masked_values_never_leak_from_an_unmasked_readers_entry() {
    let (s, mut writer, mut admin) = server(8 << 20, 200).await;
    let spec = json!({"dataset": "cache.people"});
    // The writer's clear rows are cached first.
    for _ in 0..3 {
        assert_eq!(rows_of(&download(&mut writer, &spec).await), clear(0..200));
    }
    let cached = counts(&s).await;
    assert!(cached.hits >= 1, "{cached:?}");

    let mut masked = reader(
        &s,
        &mut admin,
        "masked",
        json!({"column_masks": {"email": "hash"}}),
    )
    .await;
    let mut digests: Option<Vec<String>> = None;
    for round in 0..3 {
        let rows = rows_of(&download(&mut masked, &spec).await);
        assert_eq!(rows.len(), 200, "round {round}");
        for (id, region, email) in &rows {
            assert_eq!(region, region_of(*id));
            assert!(is_digest(email), "round {round}: {email}");
            assert_ne!(email, &email_of(*id));
        }
        let emails: Vec<String> = rows.into_iter().map(|(_, _, e)| e).collect();
        match &digests {
            Some(first) => assert_eq!(&emails, first, "round {round}"),
            None => digests = Some(emails),
        }
    }
    let c = counts(&s).await;
    assert!(
        c.hits > cached.hits,
        "the masked reader's own result was cached: {c:?}"
    );

    // A mask change: clear values again (the grant without masks), then
    // another mask, never a value of the previous one.
    grant(&mut admin, "masked", json!({})).await;
    assert_eq!(rows_of(&download(&mut masked, &spec).await), clear(0..200));
    grant(
        &mut admin,
        "masked",
        json!({"column_masks": {"email": {"expr": "upper(substr(email, 1, 3))"}}}),
    )
    .await;
    let rows = rows_of(&download(&mut masked, &spec).await);
    for (id, _, email) in &rows {
        assert_eq!(email, &email_of(*id)[..3].to_uppercase());
    }
    assert_eq!(rows.len(), 200);

    // The writer still gets the clear rows.
    assert_eq!(rows_of(&download(&mut writer, &spec).await), clear(0..200));
}

#[tokio::test]
async fn the_cache_never_holds_more_than_its_bound() {
    const BOUND: u64 = 64 << 10;
    let (s, mut writer, _admin) = server(BOUND as usize, 1_000).await;
    let spec = |n: i64| json!({"dataset": "cache.people", "filter": format!("id < {n}")});
    // Thirty results, each asked for twice (so kept), of 10 to 300 rows:
    // together several times the bound.
    for n in (1..=30).map(|k| k * 10) {
        for _ in 0..2 {
            assert_eq!(
                ids(&download(&mut writer, &spec(n)).await),
                (0..n).collect::<Vec<_>>()
            );
            let c = counts(&s).await;
            assert!(c.bytes <= BOUND, "{c:?}");
        }
    }
    let c = counts(&s).await;
    assert!(c.insertions >= 10, "{c:?}");
    assert!(c.evictions >= 1, "{c:?}");
    assert!(c.bytes > 0, "{c:?}");
    // A result asked for again is cached again (if it was evicted) and sent
    // from the cache.
    for _ in 0..2 {
        assert_eq!(
            ids(&download(&mut writer, &spec(60)).await),
            (0..60).collect::<Vec<_>>()
        );
    }
    let last = counts(&s).await;
    assert!(last.hits > c.hits, "{last:?}");
    assert!(last.bytes <= BOUND, "{last:?}");
}
