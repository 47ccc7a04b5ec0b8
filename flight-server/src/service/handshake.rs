//! Handshake: Basic credentials in, `authorization: Bearer <JWT>` out.
//!
//! Accepts what `pyarrow`'s `authenticate_basic_token` and the ADBC Flight SQL
//! driver send (an `authorization: Basic …` header), and the older protocol
//! of a `BasicAuth` protobuf in the first handshake message.

use std::sync::Arc;

use arrow_flight::{BasicAuth, HandshakeRequest, HandshakeResponse};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use laker_auth::BasicCredentials;
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::call::{Call, observe};
use crate::error::{Error, Result};
use crate::state::AppState;

/// The Handshake response stream.
pub type HandshakeStream = BoxStream<'static, Result<HandshakeResponse, Status>>;

/// Handshake, audited in the name of the user it tried. Not journaled:
/// nothing is known of the caller before its credentials are read (a
/// client that leaves is not recorded).
pub(super) async fn serve(
    state: &Arc<AppState>,
    request: Request<Streaming<HandshakeRequest>>,
) -> Result<Response<HandshakeStream>, Status> {
    let call = Call::unverified(state, &request, "Handshake");
    let mut user = String::new();
    let result = observe(call.span(), handshake(state, request, &mut user)).await;
    call.named(&user).answer(result).await
}

/// Authenticates the caller and returns a bearer token in the response
/// headers (and as the payload of the single response message). `user` is
/// set to the user name tried, for the audit.
async fn handshake(
    state: &Arc<AppState>,
    request: Request<Streaming<HandshakeRequest>>,
    user: &mut String,
) -> Result<Response<HandshakeStream>> {
    let source = crate::proxies::client_addr(request.extensions());
    let creds = credentials(request).await?;
    *user = creds.username.chars().take(128).collect();
    tracing::Span::current().record("principal", creds.username.as_str());
    let (principal, token) = match state.authenticator.login(&creds, source).await {
        Ok(ok) => ok,
        Err(e) => {
            let source = source.map(|a| a.to_string()).unwrap_or_default();
            match &e {
                laker_auth::AuthError::RateLimited {
                    retry_after_secs, ..
                } => tracing::warn!(
                    user = %creds.username, source, retry_after_secs, "handshake rate-limited"
                ),
                _ => tracing::warn!(user = %creds.username, source, "handshake refused"),
            }
            return Err(e.into());
        }
    };
    tracing::info!(principal = %principal, expires_at = token.expires_at, "handshake accepted");
    user.clone_from(&principal.name);
    let bearer = MetadataValue::try_from(format!("Bearer {}", token.token))
        .map_err(|e| Error::Internal(format!("token is not a valid header: {e}")))?;
    let message = HandshakeResponse {
        protocol_version: 0,
        payload: token.token.into_bytes().into(),
    };
    let mut response = Response::new(stream::iter([Ok(message)]).boxed());
    response.metadata_mut().insert("authorization", bearer);
    Ok(response)
}

/// How long a request's first message may take to arrive.
pub(crate) const REQUEST_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn credentials(request: Request<Streaming<HandshakeRequest>>) -> Result<BasicCredentials> {
    if let Some(value) = request.metadata().get("authorization") {
        let value = value
            .to_str()
            .map_err(|_| Error::InvalidArgument("authorization header is not ASCII".into()))?;
        return Ok(BasicCredentials::from_header(value)?);
    }
    let missing = || {
        Error::Auth(laker_auth::AuthError::Unauthenticated(
            "Handshake needs credentials: send 'authorization: Basic base64(user:password)'".into(),
        ))
    };
    let mut messages = request.into_inner();
    // A client that opens a handshake and sends nothing does not hold it.
    let first = tokio::time::timeout(REQUEST_WAIT, messages.message())
        .await
        .map_err(|_| {
            Error::InvalidArgument(format!(
                "Handshake sent no credentials within {} s",
                REQUEST_WAIT.as_secs()
            ))
        })?
        .map_err(|s| Error::InvalidArgument(s.message().to_string()))?;
    let first = first.ok_or_else(missing)?;
    let auth = BasicAuth::decode(first.payload).map_err(|_| missing())?;
    if auth.username.is_empty() {
        return Err(missing());
    }
    Ok(BasicCredentials {
        username: auth.username,
        password: auth.password,
    })
}
