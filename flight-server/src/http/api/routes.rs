//! Every endpoint of the API, declared once: the router and the OpenAPI
//! document are both built from this table.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};

use super::context::Api;
use super::endpoint::{Endpoint, Operation, op, with_body};
use super::problem::{Audited, Problem};
use super::{access_requests, admin, datasets, download, openapi, params, session, usage};

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Every endpoint of the API.
pub fn endpoints() -> Vec<Endpoint> {
    use params::SLICE;
    vec![
        Endpoint {
            path: "/api/v1/login",
            operations: vec![with_body(
                op(
                    "post",
                    "Sign in: a bearer token and the session cookies",
                    &[],
                ),
                "{\"user\": \"…\", \"password\": \"… (or an API key)\"}",
            )],
            handlers: post(session::login),
        },
        Endpoint {
            path: "/api/v1/logout",
            operations: vec![Operation {
                ok: 204,
                ..op(
                    "post",
                    "End every token of the caller and clear the cookies",
                    &[],
                )
            }],
            handlers: post(session::logout),
        },
        Endpoint {
            path: "/api/v1/session",
            operations: vec![op(
                "get",
                "Who the caller is, its CSRF token and the Flight address",
                &[],
            )],
            handlers: get(session::session),
        },
        Endpoint {
            path: "/api/v1/datasets",
            operations: vec![op(
                "get",
                "The datasets the caller may discover",
                &["search"],
            )],
            handlers: get(datasets::list),
        },
        Endpoint {
            path: "/api/v1/datasets/{name}",
            operations: vec![op("get", "What the caller may see of a dataset", &[])],
            handlers: get(datasets::detail),
        },
        Endpoint {
            path: "/api/v1/datasets/{name}/preview",
            operations: vec![op(
                "get",
                "The first rows as JSON, through the caller's grants",
                SLICE,
            )],
            handlers: get(datasets::preview),
        },
        Endpoint {
            path: "/api/v1/datasets/{name}/check",
            operations: vec![op(
                "get",
                "A slice planned but not read: columns, version, estimates",
                SLICE,
            )],
            handlers: get(download::check),
        },
        Endpoint {
            path: "/api/v1/datasets/{name}/download",
            operations: vec![Operation {
                media: "application/octet-stream",
                ..op(
                    "get",
                    "A slice as a file (csv, parquet, jsonl or arrow), streamed",
                    &[
                        "columns",
                        "filter",
                        "limit",
                        "order_by",
                        "version",
                        "as_of",
                        "format",
                        "compression",
                    ],
                )
            }],
            handlers: get(download::download),
        },
        Endpoint {
            path: "/api/v1/access-requests",
            operations: vec![
                op(
                    "get",
                    "The caller's access requests (admins: all=true)",
                    &["all", "status"],
                ),
                Operation {
                    ok: 201,
                    ..with_body(
                        op(
                            "post",
                            "Ask for read access to a dataset, or describe a need",
                            &[],
                        ),
                        "{\"dataset\"?: \"ns.name\", \"need\"?: \"…\", \"reason\": \"…\"}",
                    )
                },
            ],
            handlers: get(access_requests::list).post(access_requests::create),
        },
        Endpoint {
            path: "/api/v1/access-requests/{id}/approve",
            operations: vec![with_body(
                op(
                    "post",
                    "Approve a request (admins): the read grant is created",
                    &[],
                ),
                "{\"row_filter\"?: \"SQL\", \"column_masks\"?: {\"col\": \"hide\"}, \"note\"?: \"…\"}",
            )],
            handlers: post(access_requests::approve),
        },
        Endpoint {
            path: "/api/v1/access-requests/{id}/reject",
            operations: vec![with_body(
                op("post", "Reject a request (admins)", &[]),
                "{\"note\"?: \"…\"}",
            )],
            handlers: post(access_requests::reject),
        },
        Endpoint {
            path: "/api/v1/admin/actions",
            operations: vec![op(
                "get",
                "The administration actions and their bodies",
                &[],
            )],
            handlers: get(admin::list),
        },
        Endpoint {
            path: "/api/v1/admin/actions/{action}",
            operations: vec![with_body(
                op(
                    "post",
                    "Run an administration action (as Flight DoAction)",
                    &[],
                ),
                "the action's JSON body (GET /api/v1/admin/actions describes each)",
            )],
            handlers: post(admin::run),
        },
        Endpoint {
            path: "/api/v1/usage",
            operations: vec![op(
                "get",
                "Downloads per day, top datasets and users, failed logins",
                &["from", "to", "dataset", "user"],
            )],
            handlers: get(usage::usage),
        },
        Endpoint {
            path: "/api/v1/audit",
            operations: vec![op(
                "get",
                "The newest audit records (admins)",
                &["limit", "user", "dataset"],
            )],
            handlers: get(usage::audit),
        },
        Endpoint {
            path: "/api/v1/openapi.json",
            operations: vec![op("get", "This document", &[])],
            handlers: get(|| async { axum::Json(openapi::build(&endpoints())) }),
        },
    ]
}

/// The API's routes.
pub fn router(api: Api) -> Router {
    let mut router = Router::new();
    for endpoint in endpoints() {
        router = router.route(endpoint.path, endpoint.handlers);
    }
    router
        .route("/api/{*rest}", axum::routing::any(unknown))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(api.clone(), guard))
        .with_state(api)
}

/// Every API response: not cached, not sniffed; a failure its call did
/// not audit (credentials, CSRF, parameters, body) recorded as a refusal.
async fn guard(State(api): State<Api>, request: Request, next: Next) -> Response {
    let source = crate::proxies::client_addr(request.extensions());
    let action = format!("HTTP:{} {}", request.method(), request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<Audited>().is_none()
    {
        let outcome = match status.as_u16() {
            401 => "unauthenticated",
            403 => "permission_denied",
            404 => "not_found",
            413 => "payload_too_large",
            429 => "resource_exhausted",
            500..=599 => "internal",
            _ => "invalid_argument",
        };
        let reason = status.canonical_reason().unwrap_or_default();
        api.refusals.refused_http(source, action, outcome, reason);
    }
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if api.secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Any other path under `/api`.
async fn unknown() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such API endpoint; GET /api/v1/openapi.json lists them",
    )
}
