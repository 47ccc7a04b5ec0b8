//! The HTTP side of the benchmark: signing in to Laker's HTTP API and whole
//! downloads from `GET /api/v1/datasets/{name}/download`, the body streamed
//! and counted as it arrives (never held whole): bytes, and rows — an Arrow
//! stream decoded chunk by chunk, a Parquet file's from its footer.

use std::time::{Duration, Instant};

use arrow::buffer::Buffer;
use arrow::ipc::reader::StreamDecoder;
use futures::StreamExt;

use crate::footer::Tail;
use crate::result::Result;

/// A signed-in HTTP API session.
pub struct Session {
    client: reqwest::Client,
    /// `http://host:port/api/v1`.
    base: String,
    token: String,
}

/// A download's file format.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    /// Arrow IPC stream.
    Arrow,
    /// Apache Parquet (Snappy, the default).
    Parquet,
    /// Apache Parquet, not compressed (`compression=none`).
    ParquetUncompressed,
}

impl Format {
    /// How the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Arrow => "arrow",
            Self::Parquet => "parquet",
            Self::ParquetUncompressed => "parquet&compression=none",
        }
    }

    /// The query parameters asking for it.
    fn query(self) -> &'static str {
        match self {
            Self::Arrow => "format=arrow",
            Self::Parquet => "format=parquet",
            Self::ParquetUncompressed => "format=parquet&compression=none",
        }
    }
}

/// What one download received.
#[derive(Debug, Clone, Copy, Default)]
pub struct Got {
    /// Bytes of the body, as sent.
    pub bytes: u64,
    /// Rows, when known (a Parquet footer larger than the bytes kept is not read).
    pub rows: Option<u64>,
}

/// Signs in with `POST /api/v1/login` on the HTTP API at `addr`.
pub async fn login(addr: &str, user: &str, password: &str) -> Result<Session> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let base = format!("http://{addr}/api/v1");
    let response = client
        .post(format!("{base}/login"))
        .json(&serde_json::json!({"user": user, "password": password}))
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let problem = response.text().await.unwrap_or_default();
        return Err(format!("HTTP login as {user} failed ({status}): {problem}").into());
    }
    let body: serde_json::Value = response.json().await?;
    let token = body["token"]
        .as_str()
        .ok_or("the HTTP login answer has no token")?
        .to_string();
    Ok(Session {
        client,
        base,
        token,
    })
}

/// Counts a body as it arrives.
enum Counter {
    Arrow { decoder: StreamDecoder, rows: u64 },
    Parquet(Tail),
}

impl Counter {
    fn new(format: Format) -> Self {
        match format {
            Format::Arrow => Self::Arrow {
                decoder: StreamDecoder::new(),
                rows: 0,
            },
            Format::Parquet | Format::ParquetUncompressed => Self::Parquet(Tail::default()),
        }
    }

    fn add(&mut self, chunk: bytes::Bytes) -> Result<()> {
        match self {
            Self::Arrow { decoder, rows } => {
                let mut buffer = Buffer::from(chunk);
                while let Some(batch) = decoder.decode(&mut buffer)? {
                    *rows += batch.num_rows() as u64;
                }
            }
            Self::Parquet(tail) => tail.push(chunk),
        }
        Ok(())
    }

    /// The rows; an error when the body ended before its format's end.
    fn rows(self) -> Result<Option<u64>> {
        match self {
            Self::Arrow { mut decoder, rows } => {
                decoder.finish()?;
                Ok(Some(rows))
            }
            Self::Parquet(tail) => tail.rows(),
        }
    }
}

/// Downloads all of `dataset` as `format`; what arrived and the time until
/// the last byte (reading a Parquet footer comes after).
pub async fn download(session: &Session, dataset: &str, format: Format) -> Result<(Got, Duration)> {
    let started = Instant::now();
    let response = session
        .client
        .get(format!(
            "{}/datasets/{dataset}/download?{}",
            session.base,
            format.query()
        ))
        .bearer_auth(&session.token)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let problem = response.text().await.unwrap_or_default();
        return Err(format!(
            "HTTP download of {dataset} as {} failed ({status}): {problem}",
            format.name()
        )
        .into());
    }
    let mut counter = Counter::new(format);
    let mut bytes = 0;
    let mut body = std::pin::pin!(response.bytes_stream());
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        counter.add(chunk)?;
    }
    let elapsed = started.elapsed();
    let rows = counter.rows()?;
    Ok((Got { bytes, rows }, elapsed))
}
