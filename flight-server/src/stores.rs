//! Named object stores from the `[stores.<name>]` tables of the config file.
//! Dataset locations on these stores (e.g. `s3://bucket/path/`) become
//! readable; credentials come from environment variables or a credentials
//! file, never from the catalog, and are never logged.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use serde::Deserialize;
use url::Url;

use crate::config::ConfigError;

/// One `[stores.<name>]` table.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Root URL of the store, e.g. `s3://bucket`.
    pub url: String,
    /// Endpoint of an S3-compatible service (default: AWS).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region (default: `us-east-1`, or `AWS_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// Allow plain-HTTP endpoints (for local S3-compatible servers).
    #[serde(default)]
    pub allow_http: bool,
    /// Environment variable holding the access key id.
    #[serde(default)]
    pub access_key_id_env: Option<String>,
    /// Environment variable holding the secret access key.
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    /// TOML file with `access_key_id` and `secret_access_key`.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names of variables and files only; never their contents.
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("access_key_id_env", &self.access_key_id_env)
            .field("credentials_file", &self.credentials_file)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    access_key_id: String,
    secret_access_key: String,
}

impl StoreConfig {
    /// Builds the store; returns the URL it serves and the store.
    pub fn build(&self, name: &str) -> Result<(Url, Arc<dyn ObjectStore>), ConfigError> {
        let err = |m: String| ConfigError(format!("store '{name}': {m}"));
        let url = Url::parse(&self.url).map_err(|e| err(format!("invalid url: {e}")))?;
        match url.scheme() {
            "s3" | "s3a" => {
                let bucket = url
                    .host_str()
                    .ok_or_else(|| err("url must name a bucket: s3://bucket".into()))?;
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_allow_http(self.allow_http);
                if let Some(region) = &self.region {
                    builder = builder.with_region(region);
                }
                if let Some(endpoint) = &self.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some((key, secret)) = self.credentials(name)? {
                    builder = builder
                        .with_access_key_id(key)
                        .with_secret_access_key(secret);
                }
                let store = builder.build().map_err(|e| err(e.to_string()))?;
                let root = Url::parse(&format!("{}://{bucket}", url.scheme()))
                    .map_err(|e| err(e.to_string()))?;
                Ok((root, Arc::new(store)))
            }
            other => Err(err(format!(
                "unsupported store scheme '{other}': supported schemes are: s3"
            ))),
        }
    }

    fn credentials(&self, name: &str) -> Result<Option<(String, String)>, ConfigError> {
        let err = |m: String| ConfigError(format!("store '{name}': {m}"));
        if let Some(path) = &self.credentials_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                err(format!(
                    "cannot read credentials file {}: {e}",
                    path.display()
                ))
            })?;
            let creds: CredentialsFile = toml::from_str(&text)
                .map_err(|e| err(format!("invalid credentials file {}: {e}", path.display())))?;
            return Ok(Some((creds.access_key_id, creds.secret_access_key)));
        }
        match (&self.access_key_id_env, &self.secret_access_key_env) {
            (Some(k), Some(s)) => {
                let var = |v: &str| {
                    std::env::var(v)
                        .map_err(|_| err(format!("environment variable {v} is not set")))
                };
                Ok(Some((var(k)?, var(s)?)))
            }
            (None, None) => Ok(None),
            _ => Err(err(
                "set both access_key_id_env and secret_access_key_env, or neither".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> StoreConfig {
        StoreConfig {
            url: url.into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("eu-north-1".into()),
            allow_http: true,
            access_key_id_env: None,
            secret_access_key_env: None,
            credentials_file: None,
        }
    }

    #[test]
    fn builds_s3_and_refuses_others() {
        let (root, _) = cfg("s3://lake/some/prefix").build("lake").unwrap();
        assert_eq!(root.as_str(), "s3://lake");
        let err = cfg("ftp://x").build("odd").unwrap_err().0;
        assert_eq!(
            err,
            "store 'odd': unsupported store scheme 'ftp': supported schemes are: s3"
        );
        let mut half = cfg("s3://lake");
        half.access_key_id_env = Some("X".into());
        assert!(half.build("lake").unwrap_err().0.contains("set both"));
        let mut missing = cfg("s3://lake");
        missing.access_key_id_env = Some("LAKER_TEST_SURELY_UNSET_1".into());
        missing.secret_access_key_env = Some("LAKER_TEST_SURELY_UNSET_2".into());
        assert!(
            missing
                .build("lake")
                .unwrap_err()
                .0
                .contains("LAKER_TEST_SURELY_UNSET_1 is not set")
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds.toml");
        std::fs::write(
            &file,
            "access_key_id = \"AKIA\"\nsecret_access_key = \"TOPSECRET\"\n",
        )
        .unwrap();
        let mut c = cfg("s3://lake");
        c.credentials_file = Some(file);
        assert!(c.build("lake").is_ok());
        assert!(!format!("{c:?}").contains("TOPSECRET"));
    }
}
