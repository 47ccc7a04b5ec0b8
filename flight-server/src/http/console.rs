//! The web console: static files embedded in the binary (`clients/console/`, no
//! build step, no third-party code), served with a strict
//! Content-Security-Policy — no inline script, nothing from elsewhere.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// The policy every console response carries.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'; object-src 'none'";

/// The console's routes: the page at `/`, its files under `/console/`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
}

/// One embedded file, or 404.
fn asset(name: &str) -> Response {
    let Some((_, bytes)) = ASSETS.iter().find(|(n, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such console file\n").into_response();
    };
    let mut response = (*bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media_type(name)),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn media_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str) -> &'static str {
        let (_, bytes) = ASSETS.iter().find(|(n, _)| *n == name).unwrap();
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_page_runs_no_inline_script() {
        let page = text("index.html");
        for tag in page.split("<script").skip(1) {
            let open = &tag[..tag.find('>').unwrap()];
            assert!(open.contains("src=\"/console/"), "inline script: {open}");
        }
        let handler = page.match_indices(" on").any(|(i, _)| {
            let rest = &page[i + 3..];
            let name_len = rest.find(|c: char| !c.is_ascii_lowercase()).unwrap_or(0);
            name_len > 0 && rest[name_len..].starts_with('=')
        });
        assert!(!handler, "inline event handler in index.html");
    }

    #[test]
    fn every_module_imported_is_embedded() {
        for (name, bytes) in ASSETS.iter().filter(|(n, _)| n.ends_with(".js")) {
            let source = std::str::from_utf8(bytes).unwrap();
            for line in source
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(start) = line.find("'./").or_else(|| line.find("\"./")) else {
                    continue;
                };
                let rest = &line[start + 3..];
                let file = &rest[..rest.find(['\'', '"']).unwrap()];
                assert!(
                    ASSETS.iter().any(|(n, _)| *n == file),
                    "{name} imports {file}, which is not embedded"
                );
            }
            assert!(!source.contains("innerHTML"), "{name} writes innerHTML");
            assert!(!source.contains("eval("), "{name} calls eval");
        }
        assert_eq!(media_type("app.js"), "text/javascript; charset=utf-8");
    }
}
