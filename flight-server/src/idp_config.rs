//! The external identity provider's settings: `--jwt-*`/`--jwks-*` flags
//! merged over the TOML file's `[identity_provider]` section.

use std::collections::BTreeMap;
use std::path::PathBuf;

use laker_auth::external::{ExternalIdpConfig, JwksSource};
use serde::Deserialize;

use crate::config::{Cli, ConfigError};

/// `[identity_provider]` in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpFile {
    issuer: Option<String>,
    audience: Option<String>,
    jwks_url: Option<String>,
    jwks_file: Option<PathBuf>,
    user_claim: Option<String>,
    roles_claim: Option<String>,
    #[serde(default)]
    role_map: BTreeMap<String, String>,
    #[serde(default)]
    attribute_claims: Vec<String>,
    name_prefix: Option<String>,
}

/// The identity-provider flags, as a file section (flags win).
pub fn cli_idp(cli: &Cli) -> IdpFile {
    IdpFile {
        issuer: cli.jwt_issuer.clone(),
        audience: cli.jwt_audience.clone(),
        jwks_url: cli.jwks_url.clone(),
        jwks_file: cli.jwks_file.clone(),
        user_claim: cli.jwt_user_claim.clone(),
        roles_claim: cli.jwt_roles_claim.clone(),
        role_map: cli
            .jwt_role_map
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_ascii_lowercase()))
            .collect(),
        attribute_claims: cli.jwt_attribute_claims.clone(),
        name_prefix: cli.jwt_name_prefix.clone(),
    }
}

/// Merges flags over the file's `[identity_provider]`; `None` when neither
/// names an issuer.
pub fn idp_config(
    flags: &IdpFile,
    file: IdpFile,
) -> Result<Option<ExternalIdpConfig>, ConfigError> {
    let Some(issuer) = flags.issuer.clone().or(file.issuer) else {
        return Ok(None);
    };
    let audience = flags.audience.clone().or(file.audience).ok_or_else(|| {
        ConfigError("an identity provider needs --jwt-audience (the `aud` its tokens carry)".into())
    })?;
    let jwks = match (
        flags.jwks_url.clone().or(file.jwks_url),
        flags.jwks_file.clone().or(file.jwks_file),
    ) {
        (Some(url), None) => JwksSource::Url(url),
        (None, Some(path)) => JwksSource::File(path),
        _ => {
            return Err(ConfigError(
                "an identity provider needs exactly one of --jwks-url or --jwks-file".into(),
            ));
        }
    };
    Ok(Some(ExternalIdpConfig {
        issuer,
        audience,
        jwks,
        user_claim: flags
            .user_claim
            .clone()
            .or(file.user_claim)
            .unwrap_or_else(|| "sub".into()),
        roles_claim: flags
            .roles_claim
            .clone()
            .or(file.roles_claim)
            .unwrap_or_else(|| "roles".into()),
        role_map: if flags.role_map.is_empty() {
            file.role_map
        } else {
            flags.role_map.clone()
        },
        attribute_claims: if flags.attribute_claims.is_empty() {
            file.attribute_claims
        } else {
            flags.attribute_claims.clone()
        },
        name_prefix: flags
            .name_prefix
            .clone()
            .or(file.name_prefix)
            .unwrap_or_else(|| "sso:".into()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml_text: &str) -> IdpFile {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn flags_win_over_the_file_and_problems_are_named() {
        assert_eq!(
            idp_config(&IdpFile::default(), IdpFile::default()).unwrap(),
            None
        );
        let from_file = file(
            r#"issuer = "https://sso"
               audience = "laker"
               jwks_file = "/etc/jwks.json"
               [role_map]
               admins = "platform_admin""#,
        );
        let flags = IdpFile {
            audience: Some("other".into()),
            ..IdpFile::default()
        };
        let c = idp_config(&flags, from_file).unwrap().unwrap();
        assert_eq!(
            (c.issuer.as_str(), c.audience.as_str()),
            ("https://sso", "other")
        );
        assert_eq!(c.jwks, JwksSource::File("/etc/jwks.json".into()));
        assert_eq!(c.role_map["admins"], "platform_admin");
        assert_eq!(
            (c.user_claim.as_str(), c.name_prefix.as_str()),
            ("sub", "sso:")
        );
        let no_audience = idp_config(&IdpFile::default(), file(r#"issuer = "x""#)).unwrap_err();
        assert!(no_audience.0.contains("--jwt-audience"), "{no_audience}");
        let both = file(
            r#"issuer = "x"
               audience = "y"
               jwks_url = "https://k"
               jwks_file = "/k""#,
        );
        let err = idp_config(&IdpFile::default(), both).unwrap_err();
        assert!(
            err.0.contains("exactly one of --jwks-url or --jwks-file"),
            "{err}"
        );
        assert!(
            toml::from_str::<IdpFile>(r#"issuer_url = "x""#).is_err(),
            "unknown keys refused"
        );
    }
}
