//! Bounded fetches of an identity provider's documents (JWKS, OpenID
//! discovery): `https://`, or `http://` on a loopback host only, redirects
//! checked the same way, a time limit, and a size limit enforced as the
//! body arrives.

use std::time::Duration;

use crate::error::{AuthError, Result};

/// Longest a fetch of a JWKS or discovery document may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Most redirects followed by one fetch.
const MAX_REDIRECTS: usize = 5;

/// Whether keys may be fetched from `url`: `https://`, or `http://` on
/// a loopback host (a provider on the same machine, or a test).
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("'{url}' is not a valid URL: {e}"))?;
    if allowed(&parsed) {
        Ok(())
    } else {
        Err(format!(
            "'{url}' must be an https:// URL (http:// only on a loopback address)"
        ))
    }
}

fn allowed(url: &reqwest::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => url.host_str().is_some_and(is_loopback),
        _ => false,
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The body of `url` (`what` it is, for messages), at most `limit` bytes
/// read: a larger one is refused as it arrives. Redirects are followed
/// only to URLs [`check_url`] accepts.
pub(crate) async fn fetch(url: &str, what: &str, limit: usize) -> Result<Vec<u8>> {
    let failed =
        |e: String| AuthError::Internal(format!("cannot fetch the {what} from {url}: {e}"));
    check_url(url).map_err(failed)?;
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if allowed(attempt.url()) {
            attempt.follow()
        } else {
            attempt.error("redirected to a URL that is neither https:// nor loopback http://")
        }
    });
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(redirects)
        .build()
        .map_err(|e| AuthError::Internal(format!("cannot build HTTP client: {e}")))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| failed(e.to_string()))?;
    let too_large =
        || AuthError::Internal(format!("the {what} at {url} is larger than {limit} bytes"));
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_https_or_loopback_http_only() {
        for ok in [
            "https://sso.example.org/realms/x",
            "http://127.0.0.1:8080/jwks.json",
            "http://localhost/jwks",
            "http://[::1]:9000/",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://sso.example.org/jwks",
            "http://10.0.0.1/jwks",
            "ftp://127.0.0.1/jwks",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
