//! `laker-server catalog seed` puts the sample datasets on a configured
//! store (a real S3-compatible server here) and registers them there.

use laker_flight_server::config::SeedArgs;
use laker_flight_server::config::stores::StoreConfig;
use laker_flight_server::seed::seed;
use laker_flight_server::{ServerConfig, ServerOptions};
use laker_integration_tests::moto::MotoServer;
use laker_integration_tests::{fetch_all, info_for, rows};

#[tokio::test]
async fn seed_registers_demo_data_on_s3() {
    let moto = MotoServer::start().await;
    moto.create_bucket("seeded").await;
    let dir = tempfile::tempdir().unwrap();
    let creds = moto.credentials_file(dir.path());
    let mut config = ServerConfig::with_data_dir(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.demo_rows = 5_000;
    config.stores.insert(
        "lake".into(),
        StoreConfig {
            url: "s3://seeded/lake/".into(),
            endpoint: Some(moto.endpoint.clone()),
            region: Some("us-east-1".into()),
            allow_http: true,
            credentials_file: Some(creds),
            ..Default::default()
        },
    );
    let args = SeedArgs {
        store: "lake".into(),
        prefix: "samples".into(),
        with_demo_user: true,
    };
    let first = seed(&config, &args).await.unwrap();
    assert_eq!(first.location, "s3://seeded/lake/samples/");
    assert_eq!(first.uploaded, 25, "24 trips files and one zones file");
    let again = seed(&config, &args).await.unwrap();
    assert_eq!((again.uploaded, again.skipped), (0, 25), "idempotent");

    let bad = SeedArgs {
        store: "nowhere".into(),
        ..args.clone()
    };
    let err = seed(&config, &bad).await.unwrap_err().to_string();
    assert!(
        err.contains("no store named 'nowhere'; configured stores: data-dir, lake"),
        "{err}"
    );
    let bad = SeedArgs {
        prefix: "../up".into(),
        ..args
    };
    let err = seed(&config, &bad).await.unwrap_err().to_string();
    assert!(err.contains("without '.' or '..'"), "{err}");

    let server = laker_flight_server::start(&config, ServerOptions::default())
        .await
        .unwrap();
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = arrow_flight::FlightClient::new(channel);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("demo:demo");
    client
        .add_header("authorization", &format!("Basic {basic}"))
        .unwrap();
    let token = client.handshake(Vec::<u8>::new()).await.unwrap();
    client
        .add_header(
            "authorization",
            &format!("Bearer {}", String::from_utf8(token.to_vec()).unwrap()),
        )
        .unwrap();
    let info = info_for(&mut client, &serde_json::json!({"dataset": "demo.trips"}))
        .await
        .unwrap();
    assert_eq!(rows(&fetch_all(&mut client, &info).await.unwrap()), 5_000);
    let catalog = laker_catalog::Catalog::connect(&config.catalog_url)
        .await
        .unwrap();
    let trips = catalog
        .dataset(&laker_catalog::DatasetName::parse("demo.trips").unwrap())
        .await
        .unwrap();
    assert_eq!(trips.location, "s3://seeded/lake/samples/trips/");
}
