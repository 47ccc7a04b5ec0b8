//! `--demo` data: deterministic, partitioned, sorted, reused.

use std::fs;
use std::path::Path;

use laker_catalog::{Catalog, DatasetName};
use laker_flight_server::demo;
use laker_integration_tests::{DEMO_ROWS, demo_lake};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::statistics::Statistics;

use crate::reference;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn demo_trips_is_big_partitioned_and_sorted() {
    assert_eq!(
        reference::count("SELECT count(*) FROM trips").await,
        DEMO_ROWS
    );
    const { assert!(DEMO_ROWS >= 2_000_000) };
    assert_eq!(
        reference::count("SELECT count(DISTINCT month) FROM trips").await,
        12
    );
    assert!(reference::count("SELECT count(*) FROM trips WHERE passengers IS NULL").await > 0);
    assert_eq!(
        reference::count("SELECT count(DISTINCT city) FROM trips").await,
        5
    );
    assert_eq!(reference::count("SELECT count(*) FROM zones").await, 60);
    let ids = reference::count("SELECT count(DISTINCT trip_id) FROM trips").await;
    assert_eq!(ids, DEMO_ROWS, "trip ids are unique");

    let trips = demo_lake().await.join("demo").join("trips");
    let parquet: Vec<_> = files(&trips)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(parquet.len(), 24);
    assert!(parquet[0].to_string_lossy().contains("month=2024-01"));
    let reader = SerializedFileReader::new(fs::File::open(&parquet[0]).unwrap()).unwrap();
    let meta = reader.metadata();
    assert!(meta.num_row_groups() >= 2, "several row groups per file");
    let pickup = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "pickup_at")
        .unwrap();
    let ranges: Vec<(i64, i64)> = meta
        .row_groups()
        .iter()
        .map(|rg| match rg.column(pickup).statistics() {
            Some(Statistics::Int64(s)) => (*s.min_opt().unwrap(), *s.max_opt().unwrap()),
            other => panic!("no int64 stats: {other:?}"),
        })
        .collect();
    assert!(
        ranges.windows(2).all(|w| w[0].1 <= w[1].0),
        "row groups are time-ordered: {ranges:?}"
    );
}

#[tokio::test]
async fn generation_is_deterministic_and_reused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    demo::generate(a.path(), 5_000).await.unwrap();
    demo::generate(b.path(), 5_000).await.unwrap();
    let fa = files(a.path());
    let fb = files(b.path());
    assert_eq!(fa.len(), fb.len());
    assert_eq!(
        fa.len(),
        24 + 1 + 1 + 1,
        "24 trip files, zones, two manifests"
    );
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(
            fs::read(x).unwrap(),
            fs::read(y).unwrap(),
            "{} differs",
            x.display()
        );
    }

    // A second install into the same lake and catalog reuses files and records.
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("c.db").display()
    ))
    .await
    .unwrap();
    demo::install(&catalog, a.path(), 5_000).await.unwrap();
    let first = &fa[0];
    let modified = fs::metadata(first).unwrap().modified().unwrap();
    let dataset = catalog
        .dataset(&DatasetName::parse("demo.trips").unwrap())
        .await
        .unwrap();
    demo::install(&catalog, a.path(), 5_000).await.unwrap();
    assert_eq!(fs::metadata(first).unwrap().modified().unwrap(), modified);
    assert_eq!(catalog.dataset(&dataset.name).await.unwrap(), dataset);
    assert!(catalog.user("demo").await.unwrap().is_some());
    assert_eq!(catalog.grants_of("demo").await.unwrap().len(), 1);

    // A different size regenerates.
    demo::generate(a.path(), 6_000).await.unwrap();
    assert_ne!(fs::read(first).unwrap(), fs::read(&fb[0]).unwrap());
}
