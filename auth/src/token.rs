//! Bearer tokens: HS256 JWTs issued at handshake and verified on every call.
//!
//! Signing keys rotate: tokens are signed with the current secret and carry
//! its key id (`kid`); tokens signed with a previous secret are still
//! accepted until they expire, as long as that secret stays configured.
//!
//! Every token has an id of its own (`jti`, random), which it can be
//! revoked by (see [`crate::Authenticator::revoke_token`]).

use std::collections::BTreeMap;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{AuthError, Result};
use crate::principal::Principal;

/// The `iss` claim of tokens this server issues.
pub const ISSUER: &str = "laker";

/// Seconds of clock skew tolerated when checking `exp`.
const LEEWAY_SECS: u64 = 5;

/// The claims of a Laker bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Principal name.
    pub sub: String,
    /// Issuer, always [`ISSUER`].
    pub iss: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Issued at, Unix epoch milliseconds (token revocation is that precise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// The API key the session was opened with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The roles the principal held when the token was issued. For catalog
    /// users, for information only: grants are always read from the
    /// catalog, so taking a role away takes effect at the next call. For
    /// directory users, the roles their groups mapped to at `iat` (looked
    /// up again once older than the directory cache's lifetime).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Who vouched for the principal besides this server's catalog: `ldap`
    /// for directory users; absent for catalog users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// A directory user's attributes at `iat` (for row filters).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
    /// The token's own id (random hex), by which it can be revoked.
    /// Absent in tokens issued before ids were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The encoded JWT.
    pub token: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// The token's id (`jti`), by which it can be revoked.
    pub token_id: String,
}

/// Issues and verifies bearer tokens: HS256 with the current secret,
/// verification also with previous secrets (key rotation).
pub struct TokenService {
    kid: String,
    encoding: EncodingKey,
    /// Key id → verification key; the current key first.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
    ttl: Duration,
}

/// A short, public identifier of a secret: the first 8 bytes of its
/// SHA-256, hex.
pub fn key_id(secret: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(secret);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service signing with `secret`; tokens live for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        // Only HS256 is accepted: `alg: none` and algorithm confusion are refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let kid = key_id(secret);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: vec![(kid.clone(), DecodingKey::from_secret(secret))],
            kid,
            validation,
            ttl,
        }
    }

    /// Also accepts tokens signed with `previous` secrets (rotated out).
    pub fn with_previous_secrets<'a>(
        mut self,
        previous: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        for secret in previous {
            self.decoding
                .push((key_id(secret), DecodingKey::from_secret(secret)));
        }
        self
    }

    /// How long issued tokens live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `principal`.
    pub fn issue(&self, principal: &Principal) -> Result<IssuedToken> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let iat = u64::try_from(now_ms / 1000).unwrap_or(0);
        let token_id = new_token_id();
        let claims = Claims {
            sub: principal.name.clone(),
            iss: ISSUER.to_string(),
            iat,
            iat_ms: Some(now_ms),
            exp: iat.saturating_add(self.ttl.as_secs()),
            key: principal.key_id.clone(),
            roles: principal.roles.clone(),
            idp: principal.issuer.clone(),
            attrs: if principal.is_local() {
                BTreeMap::new()
            } else {
                principal.attributes.clone()
            },
            jti: Some(token_id.clone()),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("cannot sign token: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_at: claims.exp,
            token_id,
        })
    }

    /// Verifies a token's signature, algorithm, issuer and expiry. A
    /// catalog user's principal comes back without roles or attributes
    /// (the catalog has them); a directory user's with those the token
    /// carries (see [`crate::Authenticator::require_active`]).
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Unauthenticated("bearer token is invalid".into()))?
            .kid;
        // Tokens without a kid predate rotation: try the current key.
        let key = match kid {
            None => Some(&self.decoding[0].1),
            Some(kid) => self.decoding.iter().find(|(k, _)| *k == kid).map(|(_, d)| d),
        }
        .ok_or_else(|| {
            AuthError::Unauthenticated(
                "bearer token was signed with a key this server no longer accepts; authenticate again"
                    .into(),
            )
        })?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
            AuthError::Unauthenticated(match e.kind() {
                ErrorKind::ExpiredSignature => {
                    "bearer token has expired; authenticate again".to_string()
                }
                ErrorKind::InvalidAlgorithm => {
                    "bearer token uses an unaccepted algorithm".to_string()
                }
                _ => "bearer token is invalid".to_string(),
            })
        })?;
        let claims = data.claims;
        let issued_at_ms = claims
            .iat_ms
            .unwrap_or_else(|| i64::try_from(claims.iat).unwrap_or(0) * 1000);
        let (roles, attributes) = match &claims.idp {
            Some(_) => (claims.roles, claims.attrs),
            None => (Vec::new(), BTreeMap::new()),
        };
        Ok(Principal {
            name: claims.sub,
            key_id: claims.key,
            issuer: claims.idp,
            roles,
            attributes,
            issued_at_ms: Some(issued_at_ms),
            token_id: claims.jti,
        })
    }
}

/// A new token id: 16 random bytes, hex.
fn new_token_id() -> String {
    use rand::RngCore;
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The current time in Unix epoch milliseconds.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The current time in Unix epoch seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn service() -> TokenService {
        TokenService::new(&[42u8; 32], Duration::from_secs(3600))
    }

    #[test]
    fn round_trip() {
        let s = service();
        let t = s.issue(&Principal::new("alice")).unwrap();
        assert_eq!(s.verify(&t.token).unwrap().name, "alice");
        assert!(t.expires_at >= unix_now() + 3590);
    }

    #[test]
    fn every_token_has_its_own_id() {
        let s = service();
        let (a, b) = (
            s.issue(&Principal::new("alice")).unwrap(),
            s.issue(&Principal::new("alice")).unwrap(),
        );
        assert_eq!(a.token_id.len(), 32);
        assert_ne!(a.token_id, b.token_id);
        let verified = s.verify(&a.token).unwrap();
        assert_eq!(verified.token_id.as_deref(), Some(a.token_id.as_str()));
    }

    #[test]
    fn other_secret_refused() {
        let t = service().issue(&Principal::new("alice")).unwrap();
        let other = TokenService::new(&[1u8; 32], Duration::from_secs(60));
        assert!(matches!(
            other.verify(&t.token),
            Err(AuthError::Unauthenticated(_))
        ));
    }

    #[test]
    fn expired_refused() {
        let s = service();
        let claims = Claims {
            sub: "alice".into(),
            iss: ISSUER.into(),
            iat: unix_now() - 7200,
            exp: unix_now() - 60,
            iat_ms: None,
            key: None,
            roles: vec![],
            idp: None,
            attrs: BTreeMap::new(),
            jti: None,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[42u8; 32]),
        )
        .unwrap();
        let err = s.verify(&token).unwrap_err().to_string();
        assert!(err.contains("expired"), "{err}");
    }

    #[test]
    fn alg_none_refused() {
        let s = service();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"admin","iss":"laker","iat":{},"exp":{}}}"#,
            unix_now(),
            unix_now() + 3600
        ));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert!(matches!(
                s.verify(&token),
                Err(AuthError::Unauthenticated(_))
            ));
        }
    }

    #[test]
    fn tampered_payload_refused() {
        let s = service();
        let t = s.issue(&Principal::new("alice")).unwrap().token;
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"admin","iss":"laker","iat":{},"exp":{}}}"#,
            unix_now(),
            unix_now() + 3600
        ));
        assert!(s.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn rotated_keys_verify_until_removed() {
        let old = TokenService::new(&[1u8; 32], Duration::from_secs(3600));
        let token = old.issue(&Principal::new("alice")).unwrap().token;
        let rotated = TokenService::new(&[2u8; 32], Duration::from_secs(3600))
            .with_previous_secrets([[1u8; 32].as_slice()]);
        assert_eq!(rotated.verify(&token).unwrap().name, "alice");
        let fresh = rotated.issue(&Principal::new("bob")).unwrap().token;
        assert_eq!(rotated.verify(&fresh).unwrap().name, "bob");
        assert!(
            old.verify(&fresh).is_err(),
            "old servers do not know the new key"
        );
        let dropped = TokenService::new(&[2u8; 32], Duration::from_secs(3600));
        let err = dropped.verify(&token).unwrap_err().to_string();
        assert!(err.contains("no longer accepts"), "{err}");
    }

    #[test]
    fn roles_are_carried_but_not_trusted() {
        let s = service();
        let mut p = Principal::new("alice");
        p.roles = vec!["analyst".into()];
        let token = s.issue(&p).unwrap().token;
        let payload = token.split('.').nth(1).unwrap();
        let claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims.roles, vec!["analyst".to_string()]);
        assert!(s.verify(&token).unwrap().roles.is_empty());
    }

    #[test]
    fn directory_principals_keep_their_roles_and_attributes() {
        let s = service();
        let mut p = Principal::new("ldap:alice");
        p.issuer = Some(crate::ldap::ISSUER.into());
        p.roles = vec!["analyst".into()];
        p.attributes = BTreeMap::from([("department".into(), "sales".into())]);
        let verified = s.verify(&s.issue(&p).unwrap().token).unwrap();
        assert!(verified.is_directory());
        assert_eq!(verified.roles, p.roles);
        assert_eq!(verified.attributes, p.attributes);
        assert!(verified.issued_at_ms.is_some());
        let mut local = Principal::new("alice");
        local.attributes = p.attributes.clone();
        let token = s.issue(&local).unwrap().token;
        let payload = token.split('.').nth(1).unwrap();
        let claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(claims.idp.is_none() && claims.attrs.is_empty());
        assert!(s.verify(&token).unwrap().is_local());
    }
}
