//! OpenID Connect discovery: an issuer URL alone finds the provider's keys.
//! The document at `{issuer}/.well-known/openid-configuration` must name
//! the issuer exactly as configured (OpenID Connect Discovery 1.0, §4.3: a
//! document cannot vouch for another issuer), and its `jwks_uri` must be
//! `https://` (or loopback `http://`), like every URL keys are fetched from.

use serde::Deserialize;

use crate::error::{AuthError, Result};
use crate::fetch::{check_url, fetch};

/// Largest accepted discovery document.
pub const MAX_DISCOVERY_BYTES: usize = 64 << 10;

/// The fields of a discovery document Laker reads (it has many more).
#[derive(Deserialize)]
struct Document {
    issuer: String,
    jwks_uri: String,
}

/// Where `issuer`'s discovery document is.
pub fn document_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The JWKS URL `issuer`'s discovery document names, checked.
pub async fn jwks_uri(issuer: &str) -> Result<String> {
    let document = fetch(
        &document_url(issuer),
        "discovery document",
        MAX_DISCOVERY_BYTES,
    )
    .await?;
    jwks_uri_of(issuer, &document)
}

/// Checks a discovery document of `issuer`; returns its `jwks_uri`.
fn jwks_uri_of(issuer: &str, document: &[u8]) -> Result<String> {
    let invalid =
        |what: String| AuthError::Internal(format!("the discovery document of {issuer} {what}"));
    let document: Document = serde_json::from_slice(document)
        .map_err(|e| invalid(format!("is invalid (it needs issuer and jwks_uri): {e}")))?;
    if document.issuer != issuer {
        let named: String = document.issuer.chars().take(200).collect();
        return Err(invalid(format!(
            "names another issuer, '{named}'; it must name the configured one exactly"
        )));
    }
    check_url(&document.jwks_uri)
        .map_err(|e| invalid(format!("names an unusable jwks_uri: {e}")))?;
    Ok(document.jwks_uri)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::external::{ExternalIdp, ExternalIdpConfig, JwksSource};

    /// A P-256 public key (its private half was thrown away).
    const EC_JWK: &str = r#"{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
        "x": "ubWfiT3nYpwKTpneMmbzWDeZp1vZJXYo-8wdz7RI5XM",
        "y": "2qwcxfR0T9tSj6h3vTwvM3zR-_ppdRhi_u6iQPxtOV8"}"#;

    #[test]
    fn documents_must_name_their_issuer_and_a_usable_jwks_uri() {
        let issuer = "https://sso.example.org/realms/x";
        assert_eq!(
            document_url("https://sso.example.org/realms/x/"),
            "https://sso.example.org/realms/x/.well-known/openid-configuration"
        );
        let doc = |iss: &str, jwks: &str| {
            serde_json::json!({"issuer": iss, "jwks_uri": jwks, "token_endpoint": "https://t"})
                .to_string()
        };
        let keys = "https://sso.example.org/realms/x/certs";
        assert_eq!(
            jwks_uri_of(issuer, doc(issuer, keys).as_bytes()).unwrap(),
            keys
        );
        for (document, expected) in [
            (
                doc("https://evil.example.org", keys),
                "names another issuer",
            ),
            (doc(&format!("{issuer}/"), keys), "names another issuer"),
            (
                doc(issuer, "http://sso.example.org/certs"),
                "unusable jwks_uri",
            ),
            (r#"{"issuer": "x"}"#.to_string(), "is invalid"),
            ("[]".to_string(), "is invalid"),
        ] {
            let err = jwks_uri_of(issuer, document.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{document}: {err}");
        }
    }

    /// Serves `routes` (path → JSON body) on `listener`; 404 elsewhere.
    fn serve(listener: TcpListener, routes: Vec<(String, String)>) {
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                        Some((_, body)) => ("200 OK", body.clone()),
                        None => ("404 Not Found", String::new()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(response.as_bytes()).await;
                });
            }
        });
    }

    fn config(issuer: &str) -> ExternalIdpConfig {
        ExternalIdpConfig {
            issuer: issuer.into(),
            audience: "laker".into(),
            jwks: JwksSource::Discover(issuer.into()),
            user_claim: "sub".into(),
            roles_claim: "roles".into(),
            role_map: BTreeMap::new(),
            attribute_claims: Vec::new(),
            name_prefix: "sso:".into(),
        }
    }

    #[tokio::test]
    async fn an_issuer_finds_its_keys_through_its_discovery_document() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let document = |path: &str, issuer: &str| {
            let body = serde_json::json!({"issuer": issuer, "jwks_uri": format!("{base}/keys")});
            (
                format!("{path}/.well-known/openid-configuration"),
                body.to_string(),
            )
        };
        let good = format!("{base}/realms/good");
        let padding = "x".repeat(MAX_DISCOVERY_BYTES);
        serve(
            listener,
            vec![
                document("/realms/good", &good),
                document("/realms/liar", &good),
                (
                    "/realms/big/.well-known/openid-configuration".into(),
                    serde_json::json!({"issuer": padding}).to_string(),
                ),
                ("/keys".into(), format!(r#"{{"keys": [{EC_JWK}]}}"#)),
            ],
        );
        let idp = ExternalIdp::start(config(&good)).await.unwrap();
        assert_eq!(idp.key_ids(), ["ec-1"]);
        for (realm, expected) in [
            ("liar", "names another issuer"),
            ("big", "larger than"),
            ("missing", "404"),
        ] {
            let err = ExternalIdp::start(config(&format!("{base}/realms/{realm}")))
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{realm}: {err}");
        }
    }
}
