//! Record batches → Flight data messages ([`Frame`]s), with accounting.
//!
//! The stream is pull-based end to end: the HTTP/2 layer polls it only when
//! the flow-control window has room, the encoder polls DataFusion only when
//! it needs the next batch, so a slow client slows the scan. Dropping the
//! stream (client gone) drops the DataFusion stream and cancels the scan.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::ipc::CompressionType;
use arrow_flight::FlightData;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use tonic::Status;
use tracing::Span;

use crate::audit::call::{AuditedCall, outcome_of};
use crate::error::{Error, datafusion_status};
use crate::metrics::{Metrics, StreamGuard};
use crate::wire::body::FrameStream;
use crate::wire::{Frame, FrameEncoder};

/// Largest Flight data message body; well under gRPC's 4 MiB default limit.
pub const MAX_FLIGHT_DATA_BYTES: usize = 2 << 20;

/// Boxed Flight data stream as returned to tonic.
pub type FlightDataStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send>>;

/// `frames` as [`FlightData`] messages (each body joined into one buffer).
pub(crate) fn into_flight_data(frames: FrameStream) -> FlightDataStream {
    Box::pin(frames.map(|frame| frame.map(Frame::into_flight_data)))
}

/// Encodes `batches` as Flight data messages (bodies compressed if asked),
/// counting rows and bytes into `metrics` and recording them on `span` —
/// and in the audit, if given — when the stream ends. `held` (the
/// stream's admission: its slot and memory) is released at the end too.
pub(crate) fn flight_data_stream(
    batches: SendableRecordBatchStream,
    schema: SchemaRef,
    compression: Option<CompressionType>,
    metrics: &Arc<Metrics>,
    span: Span,
    audit: Option<AuditedCall>,
    held: Option<Box<dyn Send>>,
) -> FrameStream {
    let rows = Arc::new(AtomicU64::new(0));
    let frames = encode_frames(batches, &schema, compression, &rows);
    observed(frames, rows, metrics, span, audit, held)
}

/// `batches` as frames, the schema's first, adding each batch's rows to
/// `rows` as it is encoded (before its frames are sent).
pub(crate) fn encode_frames(
    batches: SendableRecordBatchStream,
    schema: &SchemaRef,
    compression: Option<CompressionType>,
    rows: &Arc<AtomicU64>,
) -> FrameStream {
    match FrameEncoder::try_new(schema, compression, MAX_FLIGHT_DATA_BYTES) {
        Ok(encoder) => Box::pin(Encode {
            queued: VecDeque::from([encoder.schema_frame()]),
            encoder,
            batches,
            rows: Arc::clone(rows),
            done: false,
        }),
        Err(e) => Box::pin(futures::stream::once(
            async move { Err(encoding_failed(&e)) },
        )),
    }
}

/// `frames` (a fresh encoding or a cached result), counted as they are
/// sent: bytes from the frames, rows from `rows` (which their producer
/// keeps), into `metrics`, onto `span` and into the audit record when the
/// stream ends, as [`flight_data_stream`] describes.
pub(crate) fn observed(
    frames: FrameStream,
    rows: Arc<AtomicU64>,
    metrics: &Arc<Metrics>,
    span: Span,
    audit: Option<AuditedCall>,
    held: Option<Box<dyn Send>>,
) -> FrameStream {
    Box::pin(ObservedStream {
        inner: frames,
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
        held,
    })
}

fn encoding_failed(e: &arrow::error::ArrowError) -> Status {
    Error::Internal(format!("encoding flight data failed: {e}")).into()
}

/// Record batches → frames: the schema first, then each batch's messages.
/// A batch is pulled only once the frames of the previous one are taken.
struct Encode {
    encoder: FrameEncoder,
    batches: SendableRecordBatchStream,
    queued: VecDeque<Frame>,
    rows: Arc<AtomicU64>,
    done: bool,
}

impl Stream for Encode {
    type Item = Result<Frame, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(frame) = self.queued.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match self.batches.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => self.done = true,
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(datafusion_status(&e))));
                }
                Poll::Ready(Some(Ok(batch))) => {
                    let frames = self.encoder.encode(&batch);
                    match frames {
                        Ok(frames) => {
                            self.rows
                                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                            self.queued.extend(frames);
                        }
                        Err(e) => {
                            self.done = true;
                            return Poll::Ready(Some(Err(encoding_failed(&e))));
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Failed,
    Cancelled,
}

struct ObservedStream {
    inner: FrameStream,
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
    audit: Option<AuditedCall>,
    held: Option<Box<dyn Send>>,
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
        // The batches are done: their memory and the stream's slot are free.
        self.inner = Box::pin(futures::stream::empty());
        self.held = None;
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
        if let Some(call) = self.audit.take() {
            let (code, message) = match outcome {
                Outcome::Completed => ("ok".to_string(), String::new()),
                Outcome::Failed => self.error.clone(),
                Outcome::Cancelled => ("cancelled".to_string(), String::new()),
            };
            call.end_now(code, message, self.reported_rows, self.bytes);
        }
    }
}

impl Stream for ObservedStream {
    type Item = Result<Frame, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = (frame.body_len() + frame.header.len()) as u64;
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
