//! Bearer tokens: HS256 JWTs issued at handshake and verified on every call.

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
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// The API key the session was opened with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The encoded JWT.
    pub token: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

/// Issues and verifies bearer tokens with one HS256 secret.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
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
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// How long issued tokens live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `principal`.
    pub fn issue(&self, principal: &Principal) -> Result<IssuedToken> {
        let iat = unix_now();
        let claims = Claims {
            sub: principal.name.clone(),
            iss: ISSUER.to_string(),
            iat,
            exp: iat.saturating_add(self.ttl.as_secs()),
            key: principal.key_id.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("cannot sign token: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_at: claims.exp,
        })
    }

    /// Verifies a token's signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
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
        Ok(Principal {
            name: data.claims.sub,
            key_id: data.claims.key,
        })
    }
}

/// Current Unix time in seconds.
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
            key: None,
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
}
