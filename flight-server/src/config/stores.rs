//! Named object stores from the `[stores.<name>]` tables of the config file:
//! local directories (`file://`), S3 and S3-compatible services (`s3://`),
//! Azure Blob Storage / ADLS Gen2 (`az://`, `abfss://`) and Google Cloud
//! Storage (`gs://`). A store's URL is also its allowed prefix: datasets can
//! only be registered under it. Credentials come from environment variables
//! or a credentials file, never from the catalog, and are never logged.
//! Remote stores retry what object_store leaves to its caller
//! ([`super::retried`]); Azure's connections are not kept idle long enough
//! for the service to close them under a request ([`AZURE_POOL_IDLE`]).

use std::path::PathBuf;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::{ClientConfigKey, ObjectStore};
use serde::Deserialize;
use url::Url;

use super::retried::RetriedStore;
use crate::config::error::ConfigError;

/// How long an idle connection to Azure Blob Storage is kept for reuse,
/// unless `AZURE_POOL_IDLE_TIMEOUT` says otherwise: less than the 5 s after
/// which Azurite (Node.js) closes an idle connection. A connection the
/// service closed is otherwise picked from the pool (reqwest keeps them
/// 90 s) and reset under the next request, which object_store does not
/// retry for a Delta commit. Azure itself keeps connections longer; a new
/// connection after a few idle seconds costs little.
pub const AZURE_POOL_IDLE: &str = "3s";

/// One `[stores.<name>]` table.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Root URL of the store and the prefix datasets must be under, e.g.
    /// `s3://bucket/lake/`, `az://container/`, `gs://bucket/`, `file:///srv/lake/`.
    pub url: String,
    /// Endpoint of an S3-compatible service (default: AWS), or of an Azure
    /// blob service (default: `https://<account>.blob.core.windows.net`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Azure storage account name.
    #[serde(default)]
    pub account: Option<String>,
    /// Environment variable holding the Azure storage account key.
    #[serde(default)]
    pub account_key_env: Option<String>,
    /// GCS: path of a service-account JSON key file (default: the
    /// `GOOGLE_APPLICATION_CREDENTIALS` / metadata-server chain).
    #[serde(default)]
    pub service_account_file: Option<PathBuf>,
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
            .field("account", &self.account)
            .field("account_key_env", &self.account_key_env)
            .field("service_account_file", &self.service_account_file)
            .field("credentials_file", &self.credentials_file)
            .finish_non_exhaustive()
    }
}

/// A credentials file: S3 keys, or an Azure account key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    account_key: Option<String>,
}

impl StoreConfig {
    /// Builds the store; returns the root URL it is registered for
    /// (`scheme://bucket`) and the store.
    pub fn build(&self, name: &str) -> Result<(Url, Arc<dyn ObjectStore>), ConfigError> {
        let err = |m: String| ConfigError(format!("store '{name}': {m}"));
        let url = self.prefix(name)?;
        let root = store_root(&url).map_err(err)?;
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => Arc::new(LocalFileSystem::new()),
            "s3" | "s3a" => {
                let bucket = url.host_str().unwrap_or_default();
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_allow_http(self.allow_http);
                if let Some(region) = &self.region {
                    builder = builder.with_region(region);
                }
                if let Some(endpoint) = &self.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some((key, secret)) = self.s3_credentials(name)? {
                    builder = builder
                        .with_access_key_id(key)
                        .with_secret_access_key(secret);
                }
                remote(builder.build().map_err(|e| err(e.to_string()))?)
            }
            "az" | "abfs" | "abfss" => {
                let mut builder = MicrosoftAzureBuilder::from_env()
                    .with_url(root.as_str())
                    .with_allow_http(self.allow_http);
                let idle = AzureConfigKey::Client(ClientConfigKey::PoolIdleTimeout);
                if builder.get_config_value(&idle).is_none() {
                    builder = builder.with_config(idle, AZURE_POOL_IDLE);
                }
                if let Some(account) = &self.account {
                    builder = builder.with_account(account);
                }
                if let Some(endpoint) = &self.endpoint {
                    builder = builder.with_endpoint(endpoint.clone());
                }
                if let Some(key) = self.azure_key(name)? {
                    builder = builder.with_access_key(key);
                }
                remote(builder.build().map_err(|e| err(e.to_string()))?)
            }
            "gs" => {
                let mut builder = GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(url.host_str().unwrap_or_default());
                if let Some(path) = &self.service_account_file {
                    builder = builder.with_service_account_path(path.to_string_lossy());
                }
                remote(builder.build().map_err(|e| err(e.to_string()))?)
            }
            other => {
                return Err(err(format!(
                    "unsupported store scheme '{other}': supported schemes are: {}",
                    STORE_SCHEMES.join(", ")
                )));
            }
        };
        Ok((root, store))
    }

    /// The store's URL as the prefix dataset locations must start with
    /// (always ending in `/`).
    pub fn prefix(&self, name: &str) -> Result<Url, ConfigError> {
        let err = |m: String| ConfigError(format!("store '{name}': {m}"));
        let mut text = self.url.trim().to_string();
        if !text.ends_with('/') {
            text.push('/');
        }
        laker_catalog::store::validate_location(&text).map_err(|e| err(e.to_string()))?;
        let url = Url::parse(&text).map_err(|e| err(format!("invalid url: {e}")))?;
        if !STORE_SCHEMES.contains(&url.scheme()) {
            return Err(err(format!(
                "unsupported store scheme '{}': supported schemes are: {}",
                url.scheme(),
                STORE_SCHEMES.join(", ")
            )));
        }
        if url.scheme() != "file" && url.host_str().is_none_or(str::is_empty) {
            return Err(err(format!(
                "url must name a bucket or container: {}://<bucket>/",
                url.scheme()
            )));
        }
        Ok(url)
    }

    fn credentials_file(&self, name: &str) -> Result<Option<CredentialsFile>, ConfigError> {
        let err = |m: String| ConfigError(format!("store '{name}': {m}"));
        let Some(path) = &self.credentials_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(format!(
                "cannot read credentials file {}: {e}",
                path.display()
            ))
        })?;
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| err(format!("invalid credentials file {}: {e}", path.display())))
    }

    fn azure_key(&self, name: &str) -> Result<Option<String>, ConfigError> {
        if let Some(creds) = self.credentials_file(name)? {
            return creds.account_key.map(Some).ok_or_else(|| {
                ConfigError(format!(
                    "store '{name}': credentials file must hold account_key"
                ))
            });
        }
        self.account_key_env
            .as_deref()
            .map(|v| {
                std::env::var(v).map_err(|_| {
                    ConfigError(format!(
                        "store '{name}': environment variable {v} is not set"
                    ))
                })
            })
            .transpose()
    }

    fn s3_credentials(&self, name: &str) -> Result<Option<(String, String)>, ConfigError> {
        let err = |m: String| ConfigError(format!("store '{name}': {m}"));
        if let Some(creds) = self.credentials_file(name)? {
            return match (creds.access_key_id, creds.secret_access_key) {
                (Some(k), Some(s)) => Ok(Some((k, s))),
                _ => Err(err(
                    "credentials file must hold access_key_id and secret_access_key".into(),
                )),
            };
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

/// A remote store, with the retries object_store leaves to its caller.
fn remote(store: impl ObjectStore) -> Arc<dyn ObjectStore> {
    Arc::new(RetriedStore::new(Arc::new(store)))
}

/// URL schemes a store can have.
pub const STORE_SCHEMES: &[&str] = &["file", "s3", "s3a", "az", "abfs", "abfss", "gs"];

/// The URL an object store is registered under: `scheme://authority`
/// (`file:///` for local directories).
fn store_root(url: &Url) -> Result<Url, String> {
    let text = match url.scheme() {
        "file" => "file:///".to_string(),
        scheme => format!("{scheme}://{}", url.authority()),
    };
    Url::parse(&text).map_err(|e| format!("invalid url: {e}"))
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
            account: None,
            account_key_env: None,
            service_account_file: None,
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
        assert!(
            err.starts_with("store 'odd': unsupported dataset location scheme 'ftp'"),
            "{err}"
        );
        let err = cfg("s3://lake/../other").build("dots").unwrap_err().0;
        assert!(err.contains("'..'"), "{err}");
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
    fn builds_azure_gcs_and_local() {
        let mut az = cfg("az://container/lake");
        az.account = Some("acct".into());
        az.endpoint = Some("http://127.0.0.1:9/acct".into());
        let (root, _) = az.build("az").unwrap();
        assert_eq!(root.as_str(), "az://container");
        assert_eq!(az.prefix("az").unwrap().as_str(), "az://container/lake/");
        let (root, _) = cfg("gs://bucket/x/").build("g").unwrap();
        assert_eq!(root.as_str(), "gs://bucket");
        let (root, _) = cfg("file:///srv/lake").build("l").unwrap();
        assert_eq!(root.as_str(), "file:///");
        let err = cfg("s3:///nobucket/").build("s").unwrap_err().0;
        assert!(err.contains("must name a bucket"), "{err}");
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
        // The same file holds no Azure key: named, not silently ignored.
        let mut az = cfg("az://container/");
        az.account = Some("acct".into());
        az.credentials_file = c.credentials_file.clone();
        let err = az.build("az").unwrap_err().0;
        assert_eq!(err, "store 'az': credentials file must hold account_key");
    }
}
