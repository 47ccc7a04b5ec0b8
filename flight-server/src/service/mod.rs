//! The Flight service: a thin dispatcher over one module per RPC family.
//! Every handler receives the [`Principal`] the auth layer verified; spans
//! record who called what and how it ended.

mod actions;
pub(crate) mod audited;
mod descriptor;
pub(crate) mod do_get;
mod flight_info;
mod handshake;
mod list_flights;
pub mod metadata;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use laker_auth::Principal;
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, Span, field::Empty as EmptyField};

pub use descriptor::descriptor_spec;
pub use flight_info::schema_result;

use crate::error::{Error, Result};
use crate::service::audited::AuditedCall;
use crate::sql;
use crate::state::AppState;
use crate::stream::FlightDataStream;
use crate::wire::body::FrameStream;

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

    /// The caller, whose token the auth layer verified, once the catalog
    /// confirms the account is still enabled. A refused call is audited as
    /// `rpc`.
    async fn caller<T>(&self, request: &Request<T>, rpc: &str) -> Result<Principal, Status> {
        let principal = principal(request)?;
        let active = self
            .state
            .authenticator
            .require_active(&principal)
            .await
            .map_err(|e| Status::from(Error::from(e)));
        if let Err(status) = &active {
            let call = AuditedCall::start(request, &principal.name, rpc);
            let record = call.finish::<()>(&Err(status.clone()));
            self.state.audit.record(record).await;
        }
        active
    }
}

impl LakerFlightService {
    /// GetFlightInfo (or PollFlightInfo, as `rpc`) for a Flight SQL command
    /// or a download descriptor, audited.
    async fn audited_flight_info(
        &self,
        request: Request<FlightDescriptor>,
        rpc: &'static str,
    ) -> Result<FlightInfo, Status> {
        let principal = self.caller(&request, rpc).await?;
        let span = rpc_span(rpc, Some(&principal.name));
        let call = AuditedCall::start(&request, &principal.name, rpc);
        let partitioned = sql::wants_partitions(request.metadata());
        let descriptor = request.into_inner();
        let (call, result) = match sql::decode_command(&descriptor.cmd) {
            Some(command) => (
                call.with_detail(&sql::describe_command(&command)),
                observe(
                    span,
                    sql::get_flight_info(&self.state, &principal, command, descriptor, partitioned),
                )
                .await,
            ),
            None => (
                call.with_descriptor(&descriptor),
                observe(
                    span,
                    flight_info::get_flight_info(&self.state, &principal, descriptor),
                )
                .await,
            ),
        };
        let record = call.finish(&result);
        self.state.audit.record(record).await;
        result
    }
}

impl LakerFlightService {
    /// DoGet as encoded messages, for [`crate::wire::route::DoGetRoute`] to
    /// write without copying (and for [`FlightService::do_get`]).
    pub(crate) async fn do_get_frames(
        &self,
        request: Request<Ticket>,
    ) -> Result<FrameStream, Status> {
        let principal = self.caller(&request, "DoGet").await?;
        let span = rpc_span("DoGet", Some(&principal.name));
        let stream_span = span.clone();
        let call = AuditedCall::start(&request, &principal.name, "DoGet");
        // Room for the record of how the download ends is reserved now, so
        // a full audit queue slows new downloads rather than losing records.
        let permit = self.state.audit.reserve().await;
        let headers = request.metadata();
        let options =
            do_get::skip_rows(headers).and_then(|skip| Ok((skip, do_get::compression(headers)?)));
        let (skip, compression) = match options {
            Ok(options) => options,
            Err(e) => return Err(do_get::refused(call, permit, e).into()),
        };
        if let Some(command) = sql::decode_command(&request.get_ref().ticket) {
            let call = call.with_detail(&sql::describe_command(&command));
            if skip > 0 {
                // A query run again need not return its rows in the same order.
                let e = Error::InvalidArgument(format!(
                    "{} resumes downloads only; run the SQL query again",
                    do_get::SKIP_ROWS_HEADER
                ));
                return Err(do_get::refused(call, permit, e).into());
            }
            return observe(
                span,
                sql::do_get(
                    &self.state,
                    &principal,
                    (command, compression),
                    stream_span,
                    call,
                    permit,
                ),
            )
            .await;
        }
        observe(
            span,
            do_get::do_get(
                &self.state,
                &principal,
                (request.into_inner(), skip, compression),
                stream_span,
                call,
                permit,
            ),
        )
        .await
    }
}

/// The principal the auth layer put into the request.
fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token; call Handshake first"))
}

/// The span of one RPC; `principal` is filled in once known.
fn rpc_span(rpc: &'static str, principal: Option<&str>) -> Span {
    let span = tracing::info_span!(
        "rpc",
        rpc,
        principal = EmptyField,
        dataset = EmptyField,
        action = EmptyField,
        rows = EmptyField,
        bytes = EmptyField,
        ms = EmptyField
    );
    if let Some(principal) = principal {
        span.record("principal", principal);
    }
    span
}

/// Runs a unary handler inside `span`, logs its outcome and duration, and
/// maps its error to a status.
async fn observe<T>(span: Span, fut: impl Future<Output = Result<T>>) -> Result<T, Status> {
    let started = Instant::now();
    let result = fut.instrument(span.clone()).await.map_err(Status::from);
    let ms = started.elapsed().as_millis() as u64;
    span.record("ms", ms);
    let _enter = span.enter();
    match &result {
        Ok(_) => tracing::info!(code = "ok", "rpc finished"),
        Err(status) => {
            tracing::info!(code = ?status.code(), message = status.message(), "rpc failed")
        }
    }
    result
}

fn unimplemented<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{what} is not supported by this server"
    )))
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
        let span = rpc_span("Handshake", None);
        let call = AuditedCall::start(&request, "", "Handshake");
        let mut user = String::new();
        let result = observe(span, handshake::handshake(&self.state, request, &mut user)).await;
        let record = call.named(&user).finish(&result);
        self.state.audit.record(record).await;
        result
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        let principal = self.caller(&request, "ListFlights").await?;
        let span = rpc_span("ListFlights", Some(&principal.name));
        let criteria = request.get_ref().expression.clone();
        let call = AuditedCall::start(&request, &principal.name, "ListFlights")
            .with_detail(&String::from_utf8_lossy(&criteria));
        let result = observe(
            span,
            list_flights::list_flights(&self.state, &principal, request.into_inner()),
        )
        .await;
        let record = call.finish(&result);
        self.state.audit.record(record).await;
        let infos = result?;
        Ok(Response::new(
            stream::iter(infos.into_iter().map(Ok)).boxed(),
        ))
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.audited_flight_info(request, "GetFlightInfo")
            .await
            .map(Response::new)
    }

    /// Queries finish within one call, so the first poll answers with the
    /// complete FlightInfo (progress 1, nothing left to poll).
    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        let info = self.audited_flight_info(request, "PollFlightInfo").await?;
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
        let principal = self.caller(&request, "GetSchema").await?;
        let span = rpc_span("GetSchema", Some(&principal.name));
        let call = AuditedCall::start(&request, &principal.name, "GetSchema");
        let call = match sql::decode_command(&request.get_ref().cmd) {
            Some(command) => call.with_detail(&sql::describe_command(&command)),
            None => call.with_descriptor(request.get_ref()),
        };
        let result = observe(
            span,
            flight_info::get_schema(&self.state, &principal, request.into_inner()),
        )
        .await;
        let record = call.finish(&result);
        self.state.audit.record(record).await;
        result.map(Response::new)
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let frames = self.do_get_frames(request).await?;
        Ok(Response::new(crate::stream::into_flight_data(frames)))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let principal = principal(&request)?;
        let call = AuditedCall::start(&request, &principal.name, "DoPut");
        let headers = request.metadata().clone();
        let data = request.into_inner();
        let span = rpc_span("DoPut", Some(&principal.name));
        // Its own task: a client that goes away must not cut the upload
        // short before it has cleaned up what it wrote.
        let state = Arc::clone(&self.state);
        // The dataset, once known: failed uploads are audited with it too.
        let dataset = Arc::new(std::sync::OnceLock::new());
        let named = Arc::clone(&dataset);
        let upload = tokio::spawn(
            async move { sql::do_put(&state, principal, headers, data, &named).await }
                .instrument(span.clone()),
        );
        let result = observe(span, async {
            upload
                .await
                .unwrap_or_else(|e| Err(Error::Internal(format!("upload task: {e}"))))
        })
        .await;
        let record = match &result {
            Ok(done) if !done.dataset.is_empty() => call
                .with_dataset(done.dataset.clone())
                // The answer: version, upload id, duplicate.
                .with_detail(&done.detail)
                .finish_with("ok".into(), String::new(), done.rows, done.bytes),
            _ => match dataset.get() {
                Some(name) => call.with_dataset(name.clone()).finish(&result),
                None => call.finish(&result),
            },
        };
        self.state.audit.record(record).await;
        let body = result?.result;
        Ok(Response::new(stream::once(async { Ok(body) }).boxed()))
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        let call = AuditedCall::start(&request, &principal(&request)?.name, "DoExchange");
        drop(request);
        let result = unimplemented("DoExchange");
        let record = call.finish(&result);
        self.state.audit.record(record).await;
        result
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let principal = self.caller(&request, "DoAction").await?;
        let action_type: String = request.get_ref().r#type.chars().take(64).collect();
        if let Some(result) = sql::do_action(&self.state, &principal, request.get_ref()).await {
            let call =
                AuditedCall::start(&request, &principal.name, format!("DoAction:{action_type}"));
            let result = result.map_err(Status::from);
            let record = call.finish(&result);
            self.state.audit.record(record).await;
            return result
                .map(|results| Response::new(stream::iter(results.into_iter().map(Ok)).boxed()));
        }
        let call = AuditedCall::start(&request, &principal.name, format!("DoAction:{action_type}"))
            .with_detail(&crate::audit::redact(&request.get_ref().body))
            .with_dataset(actions::dataset_of(&request.get_ref().body));
        let action = request.into_inner();
        let span = rpc_span("DoAction", Some(&principal.name));
        span.record("action", action_type.as_str());
        let result = observe(span, actions::do_action(&self.state, &principal, action)).await;
        let record = call.finish(&result);
        self.state.audit.record(record).await;
        let json = result?;
        let result = arrow_flight::Result {
            body: json.to_string().into_bytes().into(),
        };
        Ok(Response::new(stream::once(async { Ok(result) }).boxed()))
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.caller(&request, "ListActions").await?;
        let types = actions::action_types();
        Ok(Response::new(
            stream::iter(types.into_iter().map(Ok)).boxed(),
        ))
    }
}
