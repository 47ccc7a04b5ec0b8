//! External identity providers: bearer tokens signed by an organisation's
//! SSO (Keycloak, Entra ID, Okta …) with RS256 or ES256, verified against
//! the provider's JWKS (a file, a URL, or the URL the issuer's OpenID
//! Connect discovery document names), with `iss`, `aud` and `exp` checks.
//! A claim (e.g. `groups` or `realm_access.roles`) maps to Laker roles; the
//! principal gets only the grants of those roles.
//!
//! Keys are held in memory and refreshed in the background (and soon after a
//! token names an unknown key id), so verifying a token never waits on the
//! network.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use tokio::sync::Notify;

use crate::error::{AuthError, Result};
use crate::fetch::fetch;
use crate::principal::Principal;

/// Seconds of clock skew tolerated when checking `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
/// How often the key set is reloaded.
const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// Shortest interval between reloads triggered by unknown key ids.
const MIN_REFRESH_GAP: Duration = Duration::from_secs(10);
/// Largest accepted JWKS document.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Where the provider's public keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A JWKS JSON file.
    File(PathBuf),
    /// An `https://` (or loopback `http://`) JWKS endpoint.
    Url(String),
    /// The `jwks_uri` of the OpenID Connect discovery document of this
    /// issuer (`{issuer}/.well-known/openid-configuration`, `https://` or
    /// loopback `http://`), looked up again at every reload.
    Discover(String),
}

/// Configuration of one external identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdpConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Public keys.
    pub jwks: JwksSource,
    /// Claim naming the user (default `sub`).
    pub user_claim: String,
    /// Dotted path of the claim listing groups/roles (default `roles`).
    pub roles_claim: String,
    /// Claim value → Laker role. Empty: claim values are role names.
    pub role_map: BTreeMap<String, String>,
    /// Claims copied into the principal's attributes (string values).
    pub attribute_claims: Vec<String>,
    /// Prefix of principal names (default `sso:`), so external names never
    /// collide with catalog users.
    pub name_prefix: String,
}

/// Verifies tokens of one external identity provider.
pub struct ExternalIdp {
    config: ExternalIdpConfig,
    keys: RwLock<BTreeMap<String, (Algorithm, DecodingKey)>>,
    refresh: Arc<Notify>,
}

impl std::fmt::Debug for ExternalIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIdp")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl ExternalIdp {
    /// Loads the provider's keys once (failing if they cannot be read) and
    /// keeps them fresh in a background task.
    pub async fn start(config: ExternalIdpConfig) -> Result<Arc<Self>> {
        let idp = Arc::new(Self {
            config,
            keys: RwLock::new(BTreeMap::new()),
            refresh: Arc::new(Notify::new()),
        });
        idp.reload().await?;
        let weak = Arc::downgrade(&idp);
        let refresh = Arc::clone(&idp.refresh);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = refresh.notified() => {}
                    _ = tokio::time::sleep(REFRESH_EVERY) => {}
                }
                let Some(idp) = weak.upgrade() else { break };
                if let Err(e) = idp.reload().await {
                    tracing::warn!(issuer = %idp.config.issuer, error = %e, "reloading JWKS failed; keeping the previous keys");
                }
                drop(idp);
                tokio::time::sleep(MIN_REFRESH_GAP).await;
            }
        });
        Ok(idp)
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The ids of the keys held now, in order.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys
            .read()
            .map(|keys| keys.keys().cloned().collect())
            .unwrap_or_default()
    }

    async fn reload(&self) -> Result<()> {
        let bytes = match &self.config.jwks {
            JwksSource::File(path) => tokio::fs::read(path).await.map_err(|e| {
                AuthError::Internal(format!("cannot read JWKS file {}: {e}", path.display()))
            })?,
            JwksSource::Url(url) => fetch(url, "JWKS", MAX_JWKS_BYTES).await?,
            JwksSource::Discover(issuer) => {
                let url = crate::discovery::jwks_uri(issuer).await?;
                fetch(&url, "JWKS", MAX_JWKS_BYTES).await?
            }
        };
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(AuthError::Internal("JWKS document is too large".into()));
        }
        let set: JwkSet = serde_json::from_slice(&bytes)
            .map_err(|e| AuthError::Internal(format!("invalid JWKS document: {e}")))?;
        let mut keys = BTreeMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithm = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (algorithm, key));
                }
                Err(e) => tracing::warn!(kid, error = %e, "skipping unusable JWKS key"),
            }
        }
        if keys.is_empty() {
            return Err(AuthError::Internal(
                "JWKS holds no RSA or EC keys with a key id".into(),
            ));
        }
        tracing::info!(issuer = %self.config.issuer, keys = keys.len(), "identity provider keys loaded");
        if let Ok(mut held) = self.keys.write() {
            *held = keys;
        }
        Ok(())
    }

    /// Whether `alg` is one this provider's tokens may use.
    pub fn accepts_algorithm(alg: Algorithm) -> bool {
        matches!(alg, Algorithm::RS256 | Algorithm::ES256)
    }

    /// Verifies a token of this provider and maps it to a principal.
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let invalid = |m: &str| AuthError::Unauthenticated(m.to_string());
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("bearer token is invalid"))?;
        let kid = header
            .kid
            .ok_or_else(|| invalid("bearer token names no signing key (kid)"))?;
        let (algorithm, key) = {
            let keys = self
                .keys
                .read()
                .map_err(|_| AuthError::Internal("key cache poisoned".into()))?;
            match keys.get(&kid) {
                Some((alg, key)) => (*alg, key.clone()),
                None => {
                    self.refresh.notify_one();
                    return Err(invalid(
                        "bearer token is signed with a key the identity provider does not publish",
                    ));
                }
            }
        };
        if header.alg != algorithm {
            return Err(invalid("bearer token uses an unaccepted algorithm"));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY_SECS;
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(|e| {
                invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "bearer token has expired",
                    ErrorKind::InvalidIssuer => "bearer token is from an unaccepted issuer",
                    ErrorKind::InvalidAudience => "bearer token is not meant for this server",
                    ErrorKind::InvalidAlgorithm => "bearer token uses an unaccepted algorithm",
                    _ => "bearer token is invalid",
                })
            })?;
        self.principal(&data.claims)
    }

    fn principal(&self, claims: &serde_json::Value) -> Result<Principal> {
        let user = claims
            .get(&self.config.user_claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| {
                AuthError::Unauthenticated(format!(
                    "bearer token has no '{}' claim naming the user",
                    self.config.user_claim
                ))
            })?;
        let mut roles: Vec<String> = claim_path(claims, &self.config.roles_claim)
            .map(strings)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|value| {
                if self.config.role_map.is_empty() {
                    Some(value.to_ascii_lowercase())
                } else {
                    self.config.role_map.get(&value).cloned()
                }
            })
            .collect();
        roles.sort();
        roles.dedup();
        let attributes = self
            .config
            .attribute_claims
            .iter()
            .filter_map(|name| {
                let value = claims.get(name)?;
                let text = value
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string());
                Some((name.clone(), text))
            })
            .collect();
        Ok(Principal {
            name: format!("{}{user}", self.config.name_prefix),
            key_id: None,
            issuer: Some(self.config.issuer.clone()),
            roles,
            attributes,
            issued_at_ms: None,
            token_id: None,
        })
    }
}

/// The value at a dotted claim path (`realm_access.roles`).
fn claim_path<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(claims, |v, part| v.get(part))
}

/// A claim as a list of strings (an array of strings, or one string,
/// space-separated like OAuth `scope`).
fn strings(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_claims() {
        let claims =
            serde_json::json!({"realm_access": {"roles": ["Analyst", "x"]}, "scope": "a b"});
        assert_eq!(
            claim_path(&claims, "realm_access.roles")
                .map(strings)
                .unwrap(),
            vec!["Analyst".to_string(), "x".to_string()]
        );
        assert_eq!(
            claim_path(&claims, "scope").map(strings).unwrap(),
            vec!["a".to_string(), "b".to_string()]
        );
        assert!(claim_path(&claims, "missing.path").is_none());
    }
}
