//! A tower layer that counts every gRPC call by method and status code and
//! times it (to the end of its response stream), for `/metrics`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::Body;
use tower::{Layer, Service};

use crate::metrics::Metrics;
use crate::rpc_names::rpc_name;

/// Wraps services with [`RpcMetrics`].
#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    metrics: Arc<Metrics>,
}

impl RpcMetricsLayer {
    /// Records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// Counts and times the calls `inner` answers.
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, RB> Service<http::Request<B>> for RpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: Body,
{
    type Response = http::Response<TimedBody<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = rpc_name(request.uri().path());
        let metrics = Arc::clone(&self.metrics);
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let (parts, body) = response.into_parts();
            // A trailers-only answer (an error before any message) carries
            // its status in the headers; a stream carries it in trailers.
            let mut call = Call {
                rpc,
                metrics,
                started,
                done: false,
            };
            if let Some(code) = grpc_code(&parts.headers) {
                call.finish(code);
            }
            Ok(http::Response::from_parts(parts, TimedBody { body, call }))
        })
    }
}

fn grpc_code(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .map(|v| tonic::Code::from_bytes(v.as_bytes()))
}

/// One call being timed; recorded once, when its status is known or when
/// its body is dropped (the client went away: `Cancelled`).
struct Call {
    rpc: String,
    metrics: Arc<Metrics>,
    started: Instant,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: tonic::Code) {
        if !self.done {
            self.done = true;
            self.metrics
                .record_rpc(&self.rpc, code, self.started.elapsed());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled);
    }
}

pin_project_lite::pin_project! {
    /// A response body that records its call's status when trailers pass.
    pub struct TimedBody<B> {
        #[pin]
        body: B,
        call: Call,
    }
}

impl<B: Body> Body for TimedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_code) {
                    this.call.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => this.call.finish(tonic::Code::Internal),
            Poll::Ready(None) => this.call.finish(tonic::Code::Ok),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
