//! A real S3-compatible server (`moto_server` from PyPI `moto[server]`,
//! installed into the test virtualenv by `scripts/test.sh`) on a loopback
//! port; or moto serving one request at a time, for tests that race
//! conditional writes.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

use crate::emulator::{Binary, Emulator};

/// Access key the tests use (moto accepts any).
pub const ACCESS_KEY_ID: &str = "laker-test";
/// Secret key the tests use.
pub const SECRET_ACCESS_KEY: &str = "laker-test-secret";

/// A running `moto_server`; killed on drop.
pub struct MotoServer {
    server: Emulator,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

/// `moto_server`: `$LAKER_MOTO_SERVER`, else the test virtualenv's.
fn moto_server() -> Binary {
    Binary {
        var: "LAKER_MOTO_SERVER",
        default: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server"),
        installed_by: "moto[server]",
    }
}

/// moto_server's arguments for `port` on loopback.
fn args(port: u16) -> Vec<String> {
    vec![
        "-H".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
    ]
}

impl MotoServer {
    /// Starts moto_server and waits until it listens.
    pub async fn start() -> Self {
        Self::on(Emulator::start(moto_server(), args).await)
    }

    /// Starts moto handling one request at a time
    /// (`integration-tests/python/serial_moto.py`, run by the `python3`
    /// beside moto_server) and waits until it listens. moto checks a
    /// conditional write (`If-None-Match: *`) and stores the object without
    /// a lock between, so racing writers of one key can both win; served
    /// one request at a time, its conditional writes are atomic, as S3's
    /// are, which tests that race Delta commits need.
    pub async fn start_serial() -> Self {
        let moto = moto_server().path();
        let python = moto.with_file_name("python3");
        assert!(
            python.exists(),
            "{} not found: serial_moto.py runs with the Python of {} (set LAKER_MOTO_SERVER \
             to a moto_server installed in a virtualenv)",
            python.display(),
            moto.display()
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/serial_moto.py");
        let server = Emulator::run(&python, |port| {
            let mut all = vec![script.to_string_lossy().into_owned()];
            all.extend(args(port));
            all
        })
        .await;
        Self::on(server)
    }

    fn on(server: Emulator) -> Self {
        Self {
            endpoint: format!("http://127.0.0.1:{}", server.port),
            server,
        }
    }

    /// Creates a bucket (moto accepts unsigned bucket creation).
    pub async fn create_bucket(&self, bucket: &str) {
        let (status, text) = self
            .server
            .http("PUT", &format!("/{bucket}"), &[], &[])
            .await;
        assert_eq!(status, 200, "creating bucket {bucket}: {text:.200}");
    }

    /// A client for `bucket` with the test keys.
    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id(ACCESS_KEY_ID)
                .with_secret_access_key(SECRET_ACCESS_KEY)
                .build()
                .expect("S3 client"),
        )
    }

    /// Writes a store credentials file holding the test keys into `dir`.
    pub fn credentials_file(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join("s3-credentials.toml");
        std::fs::write(
            &path,
            format!(
                "access_key_id = \"{ACCESS_KEY_ID}\"\nsecret_access_key = \"{SECRET_ACCESS_KEY}\"\n"
            ),
        )
        .expect("write credentials");
        path
    }
}
