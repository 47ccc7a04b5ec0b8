//! One audited call, the way every RPC runs: the caller's account checked,
//! a span that says who called what and how it ended, and the audit record
//! begun before the work and finished with its outcome — all done here,
//! once, for every handler.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use laker_auth::Principal;
use tonic::{Request, Status};
use tracing::{Instrument, Span, field::Empty as EmptyField};

use crate::audit::call::{AuditedCall, Notes};
use crate::error::{Error, Result};
use crate::state::AppState;

/// An RPC as it runs: its caller, its span and its audit record.
#[derive(Debug)]
pub(crate) struct Call {
    state: Arc<AppState>,
    rpc: &'static str,
    principal: Principal,
    span: Span,
    record: AuditedCall,
}

/// What a successful call counts in its record (an upload: the dataset it
/// wrote, its answer, rows and bytes).
#[derive(Debug)]
pub(crate) struct Tally {
    /// The dataset concerned.
    pub dataset: String,
    /// What the call answered.
    pub detail: String,
    /// Rows moved.
    pub rows: u64,
    /// Bytes moved.
    pub bytes: u64,
}

impl Call {
    /// Starts `rpc` for the caller whose token the auth layer verified.
    pub fn start<R>(
        state: &Arc<AppState>,
        request: &Request<R>,
        rpc: &'static str,
    ) -> Result<Self, Status> {
        let principal = principal(request)?;
        let span = rpc_span(rpc, Some(&principal.name));
        Ok(Self::new(state, request, rpc, principal, span))
    }

    /// [`Self::start`], once the catalog confirms the caller's account is
    /// still enabled (a refused call is recorded as `rpc`).
    pub async fn verified<R>(
        state: &Arc<AppState>,
        request: &Request<R>,
        rpc: &'static str,
    ) -> Result<Self, Status> {
        Self::start(state, request, rpc)?.checked().await
    }

    /// Starts `rpc` for whoever the request names, if anyone: a login, or
    /// a call refused before its handler ran.
    pub fn unverified<R>(state: &Arc<AppState>, request: &Request<R>, rpc: &'static str) -> Self {
        let principal = request
            .extensions()
            .get::<Principal>()
            .cloned()
            .unwrap_or_default();
        Self::new(state, request, rpc, principal, rpc_span(rpc, None))
    }

    fn new<R>(
        state: &Arc<AppState>,
        request: &Request<R>,
        rpc: &'static str,
        principal: Principal,
        span: Span,
    ) -> Self {
        let record = AuditedCall::start(request, &principal.name, rpc);
        Self {
            state: Arc::clone(state),
            rpc,
            principal,
            span,
            record,
        }
    }

    /// The call, once the catalog confirms the caller's account is still
    /// enabled; refused, it is recorded.
    pub async fn checked(mut self) -> Result<Self, Status> {
        let active = self.state.authenticator.require_active(&self.principal);
        match active.await {
            Ok(principal) => {
                self.principal = principal;
                Ok(self)
            }
            Err(e) => {
                let status = Status::from(Error::from(e));
                self.record
                    .end::<()>(&self.state.audit, &Err(status.clone()))
                    .await;
                Err(status)
            }
        }
    }

    /// The call as `rpc:kind` (an action's type, at most 64 characters).
    pub fn acting(mut self, kind: &str) -> Self {
        let kind: String = kind.chars().take(64).collect();
        self.span.record("action", kind.as_str());
        self.record = self.record.with_action(format!("{}:{kind}", self.rpc));
        self
    }

    /// The record, described further (what the call asks).
    pub fn describe(mut self, describe: impl FnOnce(AuditedCall) -> AuditedCall) -> Self {
        self.record = describe(self.record);
        self
    }

    /// The record in the name of `user` (a login's, once its credentials
    /// are read).
    pub fn named(mut self, user: &str) -> Self {
        self.record = self.record.named(user);
        self
    }

    /// The span the call runs in.
    pub fn span(&self) -> Span {
        self.span.clone()
    }

    /// The call journaled as started (see [`AuditedCall::begin`]).
    pub fn begin(mut self) -> Self {
        self.record = self.record.begin(&self.state.audit);
        self
    }

    /// Runs `work` in the call's span, journaled before it starts and
    /// recorded with its outcome.
    pub async fn run<T, Fut>(self, work: impl FnOnce(Principal, Notes) -> Fut) -> Result<T, Status>
    where
        Fut: Future<Output = Result<T>>,
    {
        let record = self.record.begin(&self.state.audit);
        let result = observe(self.span, work(self.principal, record.notes())).await;
        record.end(&self.state.audit, &outcome(&result)).await;
        result
    }

    /// Runs `work` journaled and recorded like [`Self::run`], in whatever
    /// span runs this (a task of its own); a success is recorded with what
    /// `tally` counts of it, if anything.
    pub async fn perform<T, Fut>(
        self,
        work: impl FnOnce(Principal, Notes) -> Fut,
        tally: impl FnOnce(&T) -> Option<Tally>,
    ) -> Result<T, Status>
    where
        Fut: Future<Output = Result<T>>,
    {
        let state = self.state;
        let record = self.record.begin(&state.audit);
        let result = work(self.principal, record.notes())
            .await
            .map_err(Status::from);
        let counted = result.as_ref().ok().and_then(tally);
        match counted {
            Some(tally) => {
                record
                    .with_dataset(tally.dataset)
                    .with_detail(&tally.detail)
                    .end_with(
                        &state.audit,
                        "ok".into(),
                        String::new(),
                        tally.rows,
                        tally.bytes,
                    )
                    .await
            }
            None => record.end(&state.audit, &outcome(&result)).await,
        }
        result
    }

    /// Runs a download's `work` in the call's span. The work takes the
    /// record, for the stream that ends the download to finish; room for
    /// it is reserved now, so a full audit queue slows new downloads
    /// rather than losing records.
    pub async fn stream<T, Fut>(
        self,
        work: impl FnOnce(Principal, AuditedCall, Span) -> Fut,
    ) -> Result<T, Status>
    where
        Fut: Future<Output = Result<T>>,
    {
        let record = self.record.reserve(&self.state.audit).await;
        observe(self.span.clone(), work(self.principal, record, self.span)).await
    }

    /// Records the call as answered with `result`, without journaling it:
    /// no work ran that a crash could cut short.
    pub async fn answer<T>(self, result: Result<T, Status>) -> Result<T, Status> {
        self.record.end(&self.state.audit, &outcome(&result)).await;
        result
    }
}

/// How `result` ended, for its record (without the answer, which need not
/// be shared across threads while the record is queued).
fn outcome<T>(result: &Result<T, Status>) -> Result<(), Status> {
    result.as_ref().map(|_| ()).map_err(Status::clone)
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

/// Runs `fut` inside `span`, logs its outcome and duration, and maps its
/// error to a status.
pub(super) async fn observe<T>(
    span: Span,
    fut: impl Future<Output = Result<T>>,
) -> Result<T, Status> {
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
