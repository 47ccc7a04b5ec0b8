//! Who calls: a bearer token (`Authorization: Bearer …`) or the session
//! cookie, verified exactly as Flight verifies tokens. A call authenticated
//! by the cookie that changes state must carry the session's CSRF token.

use std::convert::Infallible;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use laker_auth::Principal;
use sha2::{Digest, Sha256};

use super::context::Api;
use super::problem::Problem;
use crate::error::Error;

/// Cookie holding the session's bearer token (HttpOnly).
pub const SESSION_COOKIE: &str = "laker_session";
/// Cookie holding the session's CSRF token (readable by the page).
pub const CSRF_COOKIE: &str = "laker_csrf";
/// Header a cookie-authenticated call that changes state sends.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who calls, with its current attributes.
    pub principal: Principal,
    /// The bearer token it presented.
    pub token: String,
    /// The client's address (see [`crate::proxies`]).
    pub source: Option<IpAddr>,
}

/// The client's address of a request (see [`crate::proxies`]), for
/// handlers that take no [`Caller`].
#[derive(Debug, Clone, Copy)]
pub struct Source(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(source(parts)))
    }
}

/// The CSRF token of a session: derived from its (secret, HttpOnly) bearer
/// token, so a page of another site can neither read nor forge it.
pub fn csrf_token(token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"laker-csrf\0")
        .chain_update(token.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The client's address of a request.
pub fn source(parts: &Parts) -> Option<IpAddr> {
    crate::proxies::client_addr(&parts.extensions)
}

/// The value of cookie `name`, if the request sends it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The bearer token of the `Authorization` header, if any.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Problem> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthenticated("the Authorization header is not ASCII"))?;
    laker_auth::authenticate::strip_scheme(value, "Bearer")
        .map(|t| Some(t.trim()))
        .ok_or_else(|| {
            Problem::unauthenticated("the Authorization header must be 'Bearer <token>'")
        })
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Constant-time equality of two short strings.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FromRequestParts<Api> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Problem> {
        let (token, by_cookie) = match bearer(&parts.headers)? {
            Some(token) => (token.to_string(), false),
            None => match cookie(&parts.headers, SESSION_COOKIE) {
                Some(token) => (token.to_string(), true),
                None => {
                    return Err(Problem::unauthenticated(
                        "sign in first: POST /api/v1/login, then send the session cookie \
                         or 'Authorization: Bearer <token>'",
                    ));
                }
            },
        };
        let principal = api.auth.verify(&token).map_err(Error::from)?;
        let principal = api
            .state
            .authenticator
            .require_active(&principal)
            .await
            .map_err(Error::from)?;
        if by_cookie && changes_state(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !same(sent, &csrf_token(&token)) {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "CSRF",
                    "this call changes state: send the X-CSRF-Token header with the \
                     laker_csrf cookie's value",
                ));
            }
        }
        Ok(Self {
            principal,
            token,
            source: source(parts),
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; laker_csrf=xyz"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("laker_session=tok"),
        );
        assert_eq!(cookie(&headers, "laker_session"), Some("tok"));
        assert_eq!(cookie(&headers, "laker_csrf"), Some("xyz"));
        assert_eq!(cookie(&headers, "laker"), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a").len(), 32);
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
