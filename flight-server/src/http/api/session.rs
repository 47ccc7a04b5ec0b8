//! Sign-in and sign-out: `POST /api/v1/login` checks credentials exactly as
//! a Flight handshake does (same rate limits, same tokens) and sets the
//! session cookies; `POST /api/v1/logout` ends every token of the caller.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use laker_auth::{Action, BasicCredentials, Principal};
use serde::Deserialize;
use tonic::Status;

use super::caller::{CSRF_COOKIE, Caller, SESSION_COOKIE, Source, csrf_token};
use super::context::{Api, json_body};
use super::problem::Problem;
use crate::audit::call::AuditedCall;
use crate::error::Error;

/// Body of `POST /api/v1/login`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user: String,
    password: String,
}

/// `POST /api/v1/login`: a token, and the session cookies.
pub async fn login(
    State(api): State<Api>,
    Source(source): Source,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    // A form on another site can post text/plain, not JSON: this stops it
    // signing a visitor in to the sender's account.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_ARGUMENT",
            "login: send the credentials as JSON (Content-Type: application/json)",
        ));
    }
    let body: Login = json_body("login", &body)?;
    let user: String = body.user.chars().take(128).collect();
    let call = AuditedCall::from_source(source, &user, "HTTP:login").begin(&api.state.audit);
    let creds = BasicCredentials {
        username: body.user,
        password: body.password,
    };
    let result = api.state.authenticator.login(&creds, source).await;
    let result = result.map_err(|e| Status::from(Error::from(e)));
    let call = match &result {
        Ok((principal, _)) => call.named(&principal.name),
        Err(_) => call,
    };
    call.end(&api.state.audit, &result).await;
    let (principal, token) = result.map_err(|status| {
        tracing::warn!(user = %user, source = ?source, "console login refused");
        Problem::from(status).audited()
    })?;
    let admin = is_admin(&api, &principal).await;
    let csrf = csrf_token(&token.token);
    let cookies = [
        session_cookie(
            &api,
            SESSION_COOKIE,
            &token.token,
            true,
            Some(token.expires_at),
        ),
        session_cookie(&api, CSRF_COOKIE, &csrf, false, Some(token.expires_at)),
    ];
    let mut response = Json(serde_json::json!({
        "token": token.token,
        "token_id": token.token_id,
        "expires_at": token.expires_at,
        "user": principal.name,
        "admin": admin,
        "csrf_token": csrf,
    }))
    .into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie?);
    }
    Ok(response)
}

/// `GET /api/v1/session`: who the caller is, for a page being reloaded.
pub async fn session(State(api): State<Api>, caller: Caller) -> Json<serde_json::Value> {
    let admin = is_admin(&api, &caller.principal).await;
    let expires_at = token_expiry(&caller.token);
    Json(serde_json::json!({
        "user": caller.principal.name,
        "token_id": caller.principal.token_id,
        "admin": admin,
        "expires_at": expires_at,
        "csrf_token": csrf_token(&caller.token),
        "flight_url": api.flight_url,
    }))
}

/// `POST /api/v1/logout`: ends every token the caller holds (as Flight's
/// `logout` action does) and clears the cookies.
pub async fn logout(State(api): State<Api>, caller: Caller) -> Result<Response, Problem> {
    let action = arrow_flight::Action::new("logout", "{}");
    let asked = super::audited::Asked {
        operation: "logout",
        ..Default::default()
    };
    super::audited::audited(&api, &caller, asked, async {
        crate::actions::do_action(&api.state, &caller.principal, action).await
    })
    .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let cleared = session_cookie(&api, name, "", name == SESSION_COOKIE, None)?;
        response.headers_mut().append(header::SET_COOKIE, cleared);
    }
    Ok(response)
}

/// Whether `principal` administers everything (sees the admin pages).
pub async fn is_admin(api: &Api, principal: &Principal) -> bool {
    api.state
        .authorizer
        .require_global(principal, Action::Admin)
        .await
        .is_ok()
}

/// A `Set-Cookie` value: SameSite=Strict, Secure under TLS; `expires_at`
/// (unix seconds) `None` clears the cookie.
fn session_cookie(
    api: &Api,
    name: &str,
    value: &str,
    http_only: bool,
    expires_at: Option<u64>,
) -> Result<HeaderValue, Problem> {
    let mut cookie = format!("{name}={value}; Path=/; SameSite=Strict");
    match expires_at {
        Some(at) => {
            let left = at.saturating_sub(laker_auth::token::unix_now());
            cookie.push_str(&format!("; Max-Age={left}"));
        }
        None => cookie.push_str("; Max-Age=0"),
    }
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if api.secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).map_err(|_| {
        Problem::from(Error::Internal(
            "session cookie is not a valid header".into(),
        ))
    })
}

/// The expiry (`exp`, unix seconds) of a token already verified.
fn token_expiry(token: &str) -> Option<u64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_u64()
}
