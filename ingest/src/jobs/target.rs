//! The dataset an ingest job lands its files in: a registered Delta
//! dataset, or — like an upload that creates one — a new dataset under the
//! upload store (`<namespace>/<dataset>/`), registered after its first
//! commit. Its rules apply to every file.

use laker_catalog::model::{DatasetFormat, DatasetOptions, NewDataset};
use laker_catalog::rules::Rule;
use laker_catalog::{CatalogError, DatasetName};

use crate::error::{IngestError, Result};
use crate::upload::ctx::UploadCtx;

/// Where a job's files land.
#[derive(Debug, Clone)]
pub struct Landing {
    /// The dataset.
    pub name: DatasetName,
    /// Its location (a folder URL).
    pub location: String,
    /// Whether the catalog holds it yet.
    pub registered: bool,
    /// Its rules.
    pub rules: Vec<Rule>,
}

impl Landing {
    /// Resolves dataset `name` in `ctx`'s catalog.
    pub async fn resolve(ctx: &UploadCtx, name: &DatasetName) -> Result<Self> {
        match ctx.catalog.dataset(name).await {
            Ok(d) if d.format != DatasetFormat::Delta => {
                Err(IngestError::FailedPrecondition(format!(
                    "dataset '{name}' is {}; ingest jobs land files in Delta datasets",
                    d.format.as_str()
                )))
            }
            Ok(d) => Ok(Self {
                name: name.clone(),
                location: d.location,
                registered: true,
                rules: d.options.rules,
            }),
            Err(CatalogError::NotFound { .. }) => {
                ctx.catalog.namespace(&name.namespace).await?;
                let lake = ctx.locations.prefix(&ctx.store).ok_or_else(|| {
                    IngestError::Internal("the upload store is not configured".into())
                })?;
                let location = lake
                    .join(&format!("{}/{}/", name.namespace, name.dataset))
                    .map_err(|e| IngestError::Internal(format!("new dataset location: {e}")))?;
                Ok(Self {
                    name: name.clone(),
                    location: location.to_string(),
                    registered: false,
                    rules: Vec::new(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Registers the dataset after its first commit (once).
    pub async fn register(&mut self, ctx: &UploadCtx) -> Result<()> {
        if self.registered {
            return Ok(());
        }
        let new = NewDataset {
            name: self.name.clone(),
            description: String::new(),
            tags: Vec::new(),
            format: DatasetFormat::Delta,
            location: self.location.clone(),
            options: DatasetOptions::default(),
            owner: String::new(),
        };
        match ctx.catalog.register_dataset(new).await {
            Ok(_) | Err(CatalogError::AlreadyExists { .. }) => {
                self.registered = true;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
