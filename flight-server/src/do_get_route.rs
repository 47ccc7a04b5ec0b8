//! Routes DoGet to the copy-free body; every other RPC to tonic's service.

use std::convert::Infallible;
use std::task::{Context, Poll};

use arrow_flight::Ticket;
use arrow_flight::flight_service_server::FlightServiceServer;
use bytes::{Buf, BytesMut};
use futures::future::BoxFuture;
use http_body::Body as _;
use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;
use tower::Service;

use crate::service::LakerFlightService;
use crate::wire::body::FrameBody;

/// gRPC path of DoGet.
const DO_GET_PATH: &str = "/arrow.flight.protocol.FlightService/DoGet";

/// Largest DoGet request (a ticket) accepted.
const MAX_TICKET_BYTES: usize = 1 << 20;

/// The Flight service, with DoGet answered by [`FrameBody`].
#[derive(Debug, Clone)]
pub struct DoGetRoute {
    service: LakerFlightService,
    tonic: FlightServiceServer<LakerFlightService>,
}

impl DoGetRoute {
    /// Serves `service`: DoGet here, the rest through `tonic`.
    pub fn new(
        service: LakerFlightService,
        tonic: FlightServiceServer<LakerFlightService>,
    ) -> Self {
        Self { service, tonic }
    }
}

impl NamedService for DoGetRoute {
    const NAME: &'static str = <FlightServiceServer<LakerFlightService> as NamedService>::NAME;
}

impl Service<http::Request<Body>> for DoGetRoute {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<http::Request<Body>>::poll_ready(&mut self.tonic, cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() == DO_GET_PATH {
            let service = self.service.clone();
            Box::pin(async move { Ok(do_get(service, request).await) })
        } else {
            Box::pin(self.tonic.call(request))
        }
    }
}

async fn do_get(service: LakerFlightService, request: http::Request<Body>) -> http::Response<Body> {
    let (parts, body) = request.into_parts();
    // A body that never completes does not hold the call.
    let read = match tokio::time::timeout(TICKET_WAIT, read_message::<Ticket>(body)).await {
        Ok(read) => read,
        Err(_) => Err(Status::invalid_argument(format!(
            "the DoGet ticket did not arrive within {} s",
            TICKET_WAIT.as_secs()
        ))),
    };
    let ticket = match read {
        Ok(ticket) => ticket,
        Err(status) => {
            let refused = tonic::Request::from_parts(MetadataMap::new(), parts.extensions, ());
            service.audit_refusal(&refused, "DoGet", &status).await;
            return status.into_http();
        }
    };
    let request = tonic::Request::from_parts(
        MetadataMap::from_headers(parts.headers),
        parts.extensions,
        ticket,
    );
    match service.do_get_frames(request).await {
        Ok(frames) => {
            let mut response = http::Response::new(Body::new(FrameBody::new(frames)));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/grpc"),
            );
            response
        }
        Err(status) => status.into_http(),
    }
}

/// How long a DoGet request's ticket may take to arrive.
const TICKET_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the single length-prefixed message of a unary-request gRPC body.
async fn read_message<M: Message + Default>(mut body: Body) -> Result<M, Status> {
    let mut buf = BytesMut::new();
    while let Some(frame) =
        futures::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > MAX_TICKET_BYTES + 5 {
                return Err(Status::resource_exhausted(format!(
                    "ticket larger than {MAX_TICKET_BYTES} bytes"
                )));
            }
        }
    }
    if buf.len() < 5 {
        return Err(Status::invalid_argument(
            "DoGet request has no ticket message",
        ));
    }
    let compressed = buf.get_u8();
    let len = buf.get_u32() as usize;
    if compressed != 0 {
        return Err(Status::unimplemented(
            "compressed requests are not supported; send the ticket uncompressed",
        ));
    }
    if buf.len() != len {
        return Err(Status::invalid_argument(
            "DoGet request must hold exactly one ticket message",
        ));
    }
    M::decode(buf.freeze())
        .map_err(|e| Status::invalid_argument(format!("invalid ticket message: {e}")))
}
