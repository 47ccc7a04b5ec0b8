//! Errors as problem documents (RFC 9457): the HTTP status mirrors the
//! gRPC code the same failure gets over Flight, and the detail is the same
//! message — never a path or an internal.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tonic::{Code, Status};

use crate::error::Error;

/// A failed API call.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after: Option<HeaderValue>,
    /// The call's audit record holds this failure already.
    audited: bool,
}

/// Marks a response whose failure the call's audit record holds (the API
/// records every other failure as a refusal).
#[derive(Debug, Clone, Copy)]
pub struct Audited;

impl Problem {
    /// A problem with an explicit status and code (`CSRF`, unknown routes).
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
            audited: false,
        }
    }

    /// The problem, as its call's audit record holds it.
    pub fn audited(mut self) -> Self {
        self.audited = true;
        self
    }

    /// The gRPC-style code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What went wrong.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// 400 INVALID_ARGUMENT.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", detail)
    }

    /// 401 UNAUTHENTICATED.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", detail)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The HTTP status and code name of a gRPC code (grpc-gateway's mapping).
pub fn http_status(code: Code) -> (StatusCode, &'static str) {
    match code {
        Code::Ok => (StatusCode::OK, "OK"),
        Code::InvalidArgument => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        Code::FailedPrecondition => (StatusCode::BAD_REQUEST, "FAILED_PRECONDITION"),
        Code::OutOfRange => (StatusCode::BAD_REQUEST, "OUT_OF_RANGE"),
        Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        Code::PermissionDenied => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        Code::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        Code::AlreadyExists => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
        Code::Aborted => (StatusCode::CONFLICT, "ABORTED"),
        Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED"),
        Code::Cancelled => (
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "CANCELLED",
        ),
        Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "UNIMPLEMENTED"),
        Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
        Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED"),
        Code::Unknown => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN"),
        Code::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        Code::DataLoss => (StatusCode::INTERNAL_SERVER_ERROR, "DATA_LOSS"),
    }
}

impl From<Status> for Problem {
    fn from(status: Status) -> Self {
        let (http, code) = http_status(status.code());
        let retry_after = status
            .metadata()
            .get("retry-after")
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
        Self {
            status: http,
            code,
            detail: status.message().to_string(),
            retry_after,
            audited: false,
        }
    }
}

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        Status::from(err).into()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Client Closed Request"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        if let Some(retry) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, retry);
        }
        if self.audited {
            response.extensions_mut().insert(Audited);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_mirror_grpc_codes() {
        for (code, http) in [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::ResourceExhausted, 429),
            (Code::Cancelled, 499),
            (Code::Unimplemented, 501),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Internal, 500),
        ] {
            assert_eq!(http_status(code).0.as_u16(), http, "{code:?}");
        }
    }

    #[test]
    fn retry_after_is_carried() {
        let mut status = Status::resource_exhausted("too many failed logins");
        status.metadata_mut().insert("retry-after", 30u64.into());
        let response = Problem::from(status).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "30");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
