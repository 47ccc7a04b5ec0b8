//! Record batches → Flight data, with accounting.
//!
//! The stream is pull-based end to end: tonic polls it only when the HTTP/2
//! flow-control window has room, the encoder polls DataFusion only when it
//! needs the next batch, so a slow client slows the scan. Dropping the stream
//! (client gone) drops the DataFusion stream and cancels the scan.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow_flight::FlightData;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use tonic::Status;
use tracing::Span;

use crate::audit::AuditPermit;
use crate::error::{Error, datafusion_status};
use crate::metrics::{Metrics, StreamGuard};
use crate::service::audited::{AuditedCall, outcome_of};

/// Largest Flight data message body; well under gRPC's 4 MiB default limit.
pub const MAX_FLIGHT_DATA_BYTES: usize = 2 << 20;

/// Boxed Flight data stream as returned to tonic.
pub type FlightDataStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send>>;

/// Encodes `batches` as Flight data, counting rows and bytes into `metrics`
/// and recording them on `span` — and in the audit, if given — when the
/// stream ends.
pub(crate) fn flight_data_stream(
    batches: SendableRecordBatchStream,
    schema: SchemaRef,
    metrics: &Arc<Metrics>,
    span: Span,
    audit: Option<(AuditedCall, Option<AuditPermit>)>,
) -> FlightDataStream {
    let rows = Arc::new(AtomicU64::new(0));
    let counted_rows = Arc::clone(&rows);
    let input = batches.map(move |batch| match batch {
        Ok(batch) => {
            counted_rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            Ok(batch)
        }
        Err(e) => Err(FlightError::Tonic(Box::new(datafusion_status(&e)))),
    });
    let encoded = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .with_max_flight_data_size(MAX_FLIGHT_DATA_BYTES)
        .build(input)
        .map(|r| r.map_err(flight_error_status));
    Box::pin(ObservedStream {
        inner: Box::pin(encoded),
        guard: Some(metrics.open_stream()),
        metrics: Arc::clone(metrics),
        rows,
        reported_rows: 0,
        bytes: 0,
        started: Instant::now(),
        outcome: Outcome::Cancelled,
        error: (String::new(), String::new()),
        span,
        audit,
    })
}

fn flight_error_status(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(status) => *status,
        other => Error::Internal(format!("encoding flight data failed: {other}")).into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Failed,
    Cancelled,
}

struct ObservedStream {
    inner: FlightDataStream,
    guard: Option<StreamGuard>,
    metrics: Arc<Metrics>,
    rows: Arc<AtomicU64>,
    reported_rows: u64,
    bytes: u64,
    started: Instant,
    outcome: Outcome,
    /// Outcome code and message of the error that ended the stream.
    error: (String, String),
    span: Span,
    audit: Option<(AuditedCall, Option<AuditPermit>)>,
}

impl ObservedStream {
    fn flush_rows(&mut self) {
        let rows = self.rows.load(Ordering::Relaxed);
        self.metrics.add_rows(rows - self.reported_rows);
        self.reported_rows = rows;
    }

    fn finish(&mut self, outcome: Outcome) {
        if self.guard.is_none() {
            return;
        }
        self.outcome = outcome;
        self.flush_rows();
        self.guard = None;
        let ms = self.started.elapsed().as_millis() as u64;
        self.span.record("rows", self.reported_rows);
        self.span.record("bytes", self.bytes);
        self.span.record("ms", ms);
        {
            let _enter = self.span.enter();
            match outcome {
                Outcome::Completed => tracing::info!(outcome = "ok", "download finished"),
                Outcome::Failed => tracing::warn!(outcome = "error", "download failed"),
                Outcome::Cancelled => {
                    tracing::info!(outcome = "cancelled", "download cancelled by client")
                }
            }
        }
        if let Some((call, Some(permit))) = self.audit.take() {
            let (code, message) = match outcome {
                Outcome::Completed => ("ok".to_string(), String::new()),
                Outcome::Failed => self.error.clone(),
                Outcome::Cancelled => ("cancelled".to_string(), String::new()),
            };
            permit.send(call.finish_with(code, message, self.reported_rows, self.bytes));
        }
    }
}

impl Stream for ObservedStream {
    type Item = Result<FlightData, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(Some(Ok(data))) => {
                let n = (data.data_body.len() + data.data_header.len()) as u64;
                self.bytes += n;
                self.metrics.add_bytes(n);
                self.flush_rows();
            }
            Poll::Ready(Some(Err(status))) => {
                self.error = (outcome_of(status), status.message().to_string());
                self.finish(Outcome::Failed)
            }
            Poll::Ready(None) => self.finish(Outcome::Completed),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for ObservedStream {
    fn drop(&mut self) {
        let outcome = self.outcome;
        self.finish(outcome);
    }
}
