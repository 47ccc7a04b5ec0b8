//! The Flight service: a thin dispatcher. Every RPC starts one audited
//! [`Call`] (account check, span, audit record) and hands it, with its
//! request, to the module of its family.

mod call;
mod do_action;
mod do_get;
mod do_put;
mod flight_info;
mod handshake;
mod list_flights;
pub mod metadata;

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tonic::{Request, Response, Status, Streaming};

use crate::actions;
use crate::state::AppState;
use crate::stream::FlightDataStream;
use crate::wire::body::FrameStream;
use call::Call;

/// gRPC path of the Handshake RPC (the only Flight RPC callable without a token).
pub const HANDSHAKE_PATH: &str = "/arrow.flight.protocol.FlightService/Handshake";

/// gRPC name of the Flight service (as reported by gRPC health).
pub const FLIGHT_SERVICE: &str = "arrow.flight.protocol.FlightService";

/// gRPC paths of the health service, callable without a token.
pub const HEALTH_PATHS: [&str; 2] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// Laker's Arrow Flight service.
#[derive(Debug, Clone)]
pub struct LakerFlightService {
    state: Arc<AppState>,
}

impl LakerFlightService {
    /// A service over `state`.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Audits a call refused before its handler ran (a malformed request).
    pub(crate) async fn audit_refusal(
        &self,
        request: &Request<()>,
        rpc: &'static str,
        status: &Status,
    ) {
        let refused = Err::<(), _>(status.clone());
        let _ = Call::unverified(&self.state, request, rpc)
            .answer(refused)
            .await;
    }

    /// DoGet as encoded messages, for [`crate::do_get_route::DoGetRoute`] to
    /// write without copying (and for [`FlightService::do_get`]).
    pub(crate) async fn do_get_frames(
        &self,
        request: Request<Ticket>,
    ) -> Result<FrameStream, Status> {
        let call = Call::verified(&self.state, &request, "DoGet").await?;
        call.stream(|principal, record, span| {
            do_get::do_get(&self.state, principal, request, record, span)
        })
        .await
    }
}

/// `items` as a response stream.
fn streamed<T: Send + 'static>(items: Vec<T>) -> Response<BoxStream<'static, Result<T, Status>>> {
    Response::new(stream::iter(items.into_iter().map(Ok)).boxed())
}

#[tonic::async_trait]
impl FlightService for LakerFlightService {
    type HandshakeStream = handshake::HandshakeStream;
    type ListFlightsStream = BoxStream<'static, Result<FlightInfo, Status>>;
    type DoGetStream = FlightDataStream;
    type DoPutStream = BoxStream<'static, Result<PutResult, Status>>;
    type DoExchangeStream = BoxStream<'static, Result<FlightData, Status>>;
    type DoActionStream = BoxStream<'static, Result<arrow_flight::Result, Status>>;
    type ListActionsStream = BoxStream<'static, Result<ActionType, Status>>;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        handshake::serve(&self.state, request).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        let call = Call::verified(&self.state, &request, "ListFlights").await?;
        list_flights::serve(&self.state, call, request.into_inner())
            .await
            .map(streamed)
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let call = Call::verified(&self.state, &request, "GetFlightInfo").await?;
        flight_info::flight_info(&self.state, call, request)
            .await
            .map(Response::new)
    }

    /// Queries finish within one call, so the first poll answers with the
    /// complete FlightInfo (progress 1, nothing left to poll).
    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        let call = Call::verified(&self.state, &request, "PollFlightInfo").await?;
        let info = flight_info::flight_info(&self.state, call, request).await?;
        Ok(Response::new(PollInfo {
            info: Some(info),
            flight_descriptor: None,
            progress: Some(1.0),
            expiration_time: None,
        }))
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let call = Call::verified(&self.state, &request, "GetSchema").await?;
        flight_info::schema(&self.state, call, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let frames = self.do_get_frames(request).await?;
        Ok(Response::new(crate::stream::into_flight_data(frames)))
    }

    /// The account is checked by the upload's own task, which also records
    /// the upload (see `do_put.rs`).
    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let call = Call::start(&self.state, &request, "DoPut")?;
        let result = do_put::do_put(&self.state, call, request).await?;
        Ok(Response::new(stream::once(async { Ok(result) }).boxed()))
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        let call = Call::start(&self.state, &request, "DoExchange")?;
        drop(request);
        call.answer(Err(Status::unimplemented(
            "DoExchange is not supported by this server",
        )))
        .await
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        let call = Call::verified(&self.state, &request, "ListActions").await?;
        call.answer(Ok(actions::action_types())).await.map(streamed)
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let call = Call::verified(&self.state, &request, "DoAction").await?;
        do_action::do_action(&self.state, call, request.into_inner())
            .await
            .map(streamed)
    }
}
