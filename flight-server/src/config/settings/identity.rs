//! An external identity provider whose RS256/ES256 tokens are accepted as
//! bearer tokens: `--jwt-*`/`--jwks-*` flags, `[identity_provider]` in the
//! file. Without a JWKS URL or file, the keys are found through the
//! issuer's OpenID Connect discovery document.

use std::path::PathBuf;

use clap::Args;
use laker_auth::external::{ExternalIdpConfig, JwksSource};
use laker_auth::fetch::check_url;
use serde::Deserialize;

use super::pairs::{key_value_table, role_mapping};
use crate::config::error::ConfigError;

/// The identity provider's settings (`[identity_provider]`).
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityProvider {
    /// Issuer (`iss`) of an external identity provider whose RS256/ES256 tokens are accepted as bearer tokens.
    #[arg(long = "jwt-issuer", env = "LAKER_JWT_ISSUER")]
    pub issuer: Option<String>,
    /// Audience (`aud`) the identity provider's tokens must name.
    #[arg(long = "jwt-audience", env = "LAKER_JWT_AUDIENCE")]
    pub audience: Option<String>,
    /// URL of the identity provider's JWKS (https://, or http:// on loopback) [default: the jwks_uri of the issuer's /.well-known/openid-configuration].
    #[arg(long = "jwks-url", env = "LAKER_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// File holding the identity provider's JWKS (instead of a URL).
    #[arg(long = "jwks-file", env = "LAKER_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// Claim naming the user [default: sub].
    #[arg(long = "jwt-user-claim", env = "LAKER_JWT_USER_CLAIM")]
    pub user_claim: Option<String>,
    /// Dotted path of the claim listing the user's groups or roles [default: roles].
    #[arg(long = "jwt-roles-claim", env = "LAKER_JWT_ROLES_CLAIM")]
    pub roles_claim: Option<String>,
    /// Claim value → Laker role, `value=role` (repeatable; comma-separated in the environment). Without it, claim values are role names.
    #[arg(
        long = "jwt-role-map",
        env = "LAKER_JWT_ROLE_MAP",
        value_delimiter = ',',
        value_parser = role_mapping
    )]
    #[serde(deserialize_with = "key_value_table")]
    pub role_map: Vec<(String, String)>,
    /// Claims copied into the principal's attributes for row filters (repeatable).
    #[arg(
        long = "jwt-attribute-claim",
        env = "LAKER_JWT_ATTRIBUTE_CLAIMS",
        value_delimiter = ','
    )]
    pub attribute_claims: Vec<String>,
    /// Prefix of external principals' names [default: sso:].
    #[arg(long = "jwt-name-prefix", env = "LAKER_JWT_NAME_PREFIX")]
    pub name_prefix: Option<String>,
}

impl IdentityProvider {
    /// The provider's configuration; `None` when no issuer is given.
    pub(super) fn resolve(self) -> Result<Option<ExternalIdpConfig>, ConfigError> {
        let Some(issuer) = self.issuer else {
            return Ok(None);
        };
        let audience = self.audience.ok_or_else(|| {
            ConfigError(
                "an identity provider needs --jwt-audience (the `aud` its tokens carry)".into(),
            )
        })?;
        let jwks = match (self.jwks_url, self.jwks_file) {
            (Some(url), None) => {
                check_url(&url).map_err(|e| ConfigError(format!("--jwks-url {e}")))?;
                JwksSource::Url(url)
            }
            (None, Some(path)) => JwksSource::File(path),
            (None, None) => {
                check_url(&issuer).map_err(|e| {
                    ConfigError(format!(
                        "--jwt-issuer {e}: without --jwks-url or --jwks-file the keys are \
                         found through the issuer's discovery document"
                    ))
                })?;
                JwksSource::Discover(issuer.clone())
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "an identity provider takes one of --jwks-url or --jwks-file, not both".into(),
                ));
            }
        };
        Ok(Some(ExternalIdpConfig {
            issuer,
            audience,
            jwks,
            user_claim: self.user_claim.unwrap_or_else(|| "sub".into()),
            roles_claim: self.roles_claim.unwrap_or_else(|| "roles".into()),
            role_map: self.role_map.into_iter().collect(),
            attribute_claims: self.attribute_claims,
            name_prefix: self.name_prefix.unwrap_or_else(|| "sso:".into()),
        }))
    }
}
