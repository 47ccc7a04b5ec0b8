//! The shape of one endpoint: its operations as the OpenAPI document
//! describes them, and their handlers.

use axum::routing::MethodRouter;

use super::context::Api;

/// One operation of an endpoint, as the OpenAPI document describes it.
#[derive(Debug)]
pub struct Operation {
    /// `get` or `post`.
    pub method: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Its query parameters.
    pub query: &'static [&'static str],
    /// What its JSON body holds, if it takes one.
    pub body: Option<&'static str>,
    /// The status of success.
    pub ok: u16,
    /// The media type of success.
    pub media: &'static str,
}

/// One path: its operations and their handlers.
pub struct Endpoint {
    /// Path under the server root (`{name}` marks a path parameter).
    pub path: &'static str,
    /// Its operations.
    pub operations: Vec<Operation>,
    /// Their handlers.
    pub handlers: MethodRouter<Api>,
}

pub const JSON: &str = "application/json";

pub const fn op(
    method: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
) -> Operation {
    Operation {
        method,
        summary,
        query,
        body: None,
        ok: 200,
        media: JSON,
    }
}

pub const fn with_body(mut o: Operation, body: &'static str) -> Operation {
    o.body = Some(body);
    o
}
