//! The Rust side of the benchmark: the arrow-flight client downloading
//! from a server (Laker or the pyarrow baseline) — whole results with the
//! endpoints in parallel, time to first batch, many clients at once, and
//! many small downloads each with its own handshake.

use std::time::{Duration, Instant};

use arrow_flight::{FlightClient, FlightDescriptor, FlightInfo, Ticket};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::TryStreamExt;
use tonic::transport::Channel;

use crate::result::Result;

/// Where to download from, and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// Bearer token (Laker) or none (the baseline).
    pub token: Option<String>,
    /// Extra headers sent with every call (`--laker-header`).
    pub headers: Vec<(String, String)>,
}

/// Rows and Arrow bytes received.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    /// Rows.
    pub rows: u64,
    /// Arrow bytes (in-memory size of the batches).
    pub bytes: u64,
}

impl std::ops::AddAssign for Received {
    fn add_assign(&mut self, other: Self) {
        self.rows += other.rows;
        self.bytes += other.bytes;
    }
}

async fn channel(addr: &str) -> Result<Channel> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .initial_stream_window_size(Some(8 << 20))
        .initial_connection_window_size(Some(32 << 20))
        .connect()
        .await?)
}

/// A client of the target, with its token and headers.
pub async fn client(target: &Target) -> Result<FlightClient> {
    // The baseline sends whole row groups as single messages.
    let inner =
        arrow_flight::flight_service_client::FlightServiceClient::new(channel(&target.addr).await?)
            .max_decoding_message_size(1 << 30);
    let mut client = FlightClient::new_from_inner(inner);
    if let Some(token) = &target.token {
        client.add_header("authorization", &format!("Bearer {token}"))?;
    }
    for (name, value) in &target.headers {
        client.add_header(name, value)?;
    }
    Ok(client)
}

/// Logs in with Basic credentials; returns the bearer token.
pub async fn login(addr: &str, user: &str, password: &str) -> Result<String> {
    let mut client = FlightClient::new(channel(addr).await?);
    client.add_header(
        "authorization",
        &format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
    )?;
    let token = client.handshake(Vec::<u8>::new()).await?;
    Ok(String::from_utf8(token.to_vec())?)
}

/// Runs a Laker action as the target's principal.
pub async fn action(target: &Target, kind: &str, body: serde_json::Value) -> Result<()> {
    let mut client = client(target).await?;
    let _: Vec<_> = client
        .do_action(arrow_flight::Action::new(kind, body.to_string()))
        .await?
        .try_collect()
        .await?;
    Ok(())
}

/// The ticket with `extra` merged into its JSON (for the baseline's
/// projection and filter).
fn ticket(ticket: &Ticket, extra: Option<&serde_json::Value>) -> Ticket {
    match extra {
        None => ticket.clone(),
        Some(extra) => {
            let mut json: serde_json::Value =
                serde_json::from_slice(&ticket.ticket).unwrap_or_default();
            if let (Some(obj), Some(more)) = (json.as_object_mut(), extra.as_object()) {
                obj.extend(more.clone());
            }
            Ticket::new(json.to_string())
        }
    }
}

async fn drain(target: &Target, ticket: Ticket) -> Result<Received> {
    let mut client = client(target).await?;
    let mut stream = client.do_get(ticket).await?;
    let mut got = Received::default();
    while let Some(batch) = stream.try_next().await? {
        got.rows += batch.num_rows() as u64;
        // The bytes of the batch's own slices (its buffers may be shared).
        got.bytes += batch
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64)
            .sum::<u64>();
    }
    Ok(got)
}

async fn info(target: &Target, descriptor: &FlightDescriptor) -> Result<FlightInfo> {
    Ok(client(target)
        .await?
        .get_flight_info(descriptor.clone())
        .await?)
}

/// Downloads the whole result, every endpoint at once on its own connection.
pub async fn download(
    target: &Target,
    descriptor: &FlightDescriptor,
    extra: Option<&serde_json::Value>,
) -> Result<(Received, Duration)> {
    let started = Instant::now();
    let info = info(target, descriptor).await?;
    let fetches = info
        .endpoint
        .iter()
        .filter_map(|e| e.ticket.as_ref())
        .map(|t| {
            let target = target.clone();
            let t = ticket(t, extra);
            tokio::spawn(async move { drain(&target, t).await.map_err(|e| e.to_string()) })
        });
    let mut total = Received::default();
    for fetch in futures::future::join_all(fetches).await {
        total += fetch??;
    }
    Ok((total, started.elapsed()))
}

/// Time from GetFlightInfo to the first batch of the first endpoint.
pub async fn first_batch(target: &Target, descriptor: &FlightDescriptor) -> Result<Duration> {
    let started = Instant::now();
    let info = info(target, descriptor).await?;
    let first = info
        .endpoint
        .first()
        .and_then(|e| e.ticket.clone())
        .ok_or("no endpoint")?;
    let mut client = client(target).await?;
    let mut stream = client.do_get(first).await?;
    stream.try_next().await?.ok_or("no batch")?;
    Ok(started.elapsed())
}

/// `clients` downloads at once; the bytes of all and the time until the last ends.
pub async fn concurrent(
    target: &Target,
    clients: usize,
    descriptor: &FlightDescriptor,
    extra: Option<&serde_json::Value>,
) -> Result<(Received, Duration)> {
    let started = Instant::now();
    let runs = (0..clients).map(|_| {
        let (target, descriptor, extra) = (target.clone(), descriptor.clone(), extra.cloned());
        tokio::spawn(async move {
            download(&target, &descriptor, extra.as_ref())
                .await
                .map_err(|e| e.to_string())
        })
    });
    let mut total = Received::default();
    for run in futures::future::join_all(runs).await {
        total += run??.0;
    }
    Ok((total, started.elapsed()))
}

/// `n` small downloads at once, each: connect, handshake, GetFlightInfo,
/// DoGet. Returns the latency of each that succeeded and the errors.
pub async fn small_downloads(
    addr: &str,
    (user, password): (&str, &str),
    (n, at_once): (usize, usize),
    spec: &serde_json::Value,
    shared_token: Option<&str>,
) -> (Vec<Duration>, Vec<String>) {
    let turns = std::sync::Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
    let runs = (0..n).map(|_| {
        let (addr, user, password, spec) = (
            addr.to_string(),
            user.to_string(),
            password.to_string(),
            spec.to_string(),
        );
        let shared = shared_token.map(str::to_string);
        let turns = std::sync::Arc::clone(&turns);
        tokio::spawn(async move {
            let _turn = turns.acquire_owned().await.map_err(|e| e.to_string())?;
            let started = Instant::now();
            let token = match shared {
                Some(token) => token,
                None => login(&addr, &user, &password)
                    .await
                    .map_err(|e| e.to_string())?,
            };
            let target = Target {
                addr,
                token: Some(token),
                headers: Vec::new(),
            };
            let got = download(&target, &FlightDescriptor::new_cmd(spec), None)
                .await
                .map_err(|e| e.to_string())?;
            if got.0.rows == 0 {
                return Err("no rows".to_string());
            }
            Ok::<_, String>(started.elapsed())
        })
    });
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for run in futures::future::join_all(runs).await {
        match run {
            Ok(Ok(d)) => latencies.push(d),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (latencies, errors)
}

/// Streams opened and left unread, and how many were refused.
pub struct Stalled {
    /// The open streams (dropping them disconnects).
    pub streams: Vec<arrow_flight::decode::FlightRecordBatchStream>,
    /// Downloads the server refused (RESOURCE_EXHAUSTED).
    pub refused: usize,
}

/// Opens `n` downloads of `spec` (a JSON spec ticket: the whole result in
/// one stream), each from its own client as stalled clients are, reads each
/// one's first batch and stops reading. (On one shared connection the unread
/// data of the first streams would fill the connection's HTTP/2 window and
/// hold back the later streams' first batches.)
pub async fn stalled(target: &Target, n: usize, spec: &serde_json::Value) -> Result<Stalled> {
    let mut stalled = Stalled {
        streams: Vec::new(),
        refused: 0,
    };
    for _ in 0..n {
        let mut client = client(target).await?;
        match client.do_get(Ticket::new(spec.to_string())).await {
            Ok(mut stream) => {
                stream.try_next().await?;
                stalled.streams.push(stream);
            }
            Err(arrow_flight::error::FlightError::Tonic(status))
                if status.code() == tonic::Code::ResourceExhausted =>
            {
                stalled.refused += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(stalled)
}
