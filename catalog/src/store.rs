//! The catalog handle and its namespace and dataset records.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::db::{self, Backend, now_ms, or_already_exists};
use crate::error::{CatalogError, Result};
use crate::model::{Dataset, DatasetFormat, DatasetOptions, Namespace, NewDataset};
use crate::names::{DatasetName, validate_ident};

/// The catalog: namespaces, datasets, users and grants in SQLite or PostgreSQL.
/// Cheap to clone (a connection pool).
#[derive(Clone)]
pub struct Catalog {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("backend", &self.backend)
            .finish()
    }
}

/// The columns of `datasets`, in the order [`dataset_from_row`] reads them.
macro_rules! dataset_columns {
    () => {
        "namespace, name, description, tags, format, location, options, created_at, updated_at, revision"
    };
}

impl Catalog {
    /// Connects to `url` (`sqlite:…` or `postgres:…`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let (pool, backend) = db::connect(url).await?;
        Ok(Self { pool, backend })
    }

    /// Which database backs this catalog.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Creates a namespace; fails with `AlreadyExists` if it exists.
    pub async fn create_namespace(&self, name: &str, description: &str) -> Result<Namespace> {
        let ns = Namespace {
            name: validate_ident("namespace", name)?,
            description: description.to_string(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO namespaces (name, description, created_at) VALUES ($1, $2, $3)")
            .bind(&ns.name)
            .bind(&ns.description)
            .bind(ns.created_at)
            .execute(&self.pool)
            .await
            .map_err(or_already_exists("namespace", &ns.name))?;
        Ok(ns)
    }

    /// Returns the namespace, creating it if missing.
    pub async fn ensure_namespace(&self, name: &str, description: &str) -> Result<Namespace> {
        match self.create_namespace(name, description).await {
            Err(CatalogError::AlreadyExists { .. }) => self.namespace(name).await,
            other => other,
        }
    }

    /// Looks up one namespace.
    pub async fn namespace(&self, name: &str) -> Result<Namespace> {
        let name = validate_ident("namespace", name)?;
        let row =
            sqlx::query("SELECT name, description, created_at FROM namespaces WHERE name = $1")
                .bind(&name)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| CatalogError::not_found("namespace", &name))?;
        Ok(Namespace {
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            created_at: row.try_get("created_at")?,
        })
    }

    /// Registers a dataset in an existing namespace.
    pub async fn register_dataset(&self, new: NewDataset) -> Result<Dataset> {
        validate_location(&new.location)?;
        new.options.validate(new.format)?;
        self.namespace(&new.name.namespace).await?;
        let now = now_ms();
        let dataset = Dataset {
            name: new.name,
            description: new.description,
            tags: new.tags,
            format: new.format,
            location: new.location,
            options: new.options,
            created_at: now,
            updated_at: now,
            revision: 1,
        };
        let tags = to_json(&dataset.tags)?;
        let options = to_json(&dataset.options)?;
        sqlx::query(concat!(
            "INSERT INTO datasets (",
            dataset_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&dataset.name.namespace)
        .bind(&dataset.name.dataset)
        .bind(&dataset.description)
        .bind(tags)
        .bind(dataset.format.as_str())
        .bind(&dataset.location)
        .bind(options)
        .bind(dataset.created_at)
        .bind(dataset.updated_at)
        .bind(dataset.revision)
        .execute(&self.pool)
        .await
        .map_err(or_already_exists("dataset", &dataset.name.to_string()))?;
        Ok(dataset)
    }

    /// Looks up one dataset.
    pub async fn dataset(&self, name: &DatasetName) -> Result<Dataset> {
        let row = sqlx::query(concat!(
            "SELECT ",
            dataset_columns!(),
            " FROM datasets WHERE namespace = $1 AND name = $2"
        ))
        .bind(&name.namespace)
        .bind(&name.dataset)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CatalogError::not_found("dataset", name.to_string()))?;
        dataset_from_row(&row)
    }

    /// All datasets, ordered by name.
    pub async fn datasets(&self) -> Result<Vec<Dataset>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            dataset_columns!(),
            " FROM datasets ORDER BY namespace, name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dataset_from_row).collect()
    }

    /// Removes a dataset from the catalog (its files are left untouched).
    pub async fn delete_dataset(&self, name: &DatasetName) -> Result<()> {
        let done = sqlx::query("DELETE FROM datasets WHERE namespace = $1 AND name = $2")
            .bind(&name.namespace)
            .bind(&name.dataset)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CatalogError::not_found("dataset", name.to_string()));
        }
        Ok(())
    }
}

/// Accepts absolute URLs with a scheme the lake can read.
fn validate_location(location: &str) -> Result<()> {
    let url = url::Url::parse(location)
        .map_err(|e| CatalogError::invalid(format!("invalid dataset location: {e}")))?;
    match url.scheme() {
        "file" | "s3" | "s3a" => Ok(()),
        other => Err(CatalogError::invalid(format!(
            "unsupported dataset location scheme '{other}': supported schemes are: file, s3"
        ))),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| CatalogError::Corrupt(e.to_string()))
}

fn dataset_from_row(row: &AnyRow) -> Result<Dataset> {
    let namespace: String = row.try_get("namespace")?;
    let name: String = row.try_get("name")?;
    let tags: String = row.try_get("tags")?;
    let format: String = row.try_get("format")?;
    let options: String = row.try_get("options")?;
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        CatalogError::Corrupt(format!("dataset {namespace}.{name}: {what}: {e}"))
    };
    Ok(Dataset {
        name: DatasetName::new(&namespace, &name).map_err(|e| corrupt("name", &e))?,
        description: row.try_get("description")?,
        tags: serde_json::from_str(&tags).map_err(|e| corrupt("tags", &e))?,
        format: DatasetFormat::parse(&format).map_err(|e| corrupt("format", &e))?,
        location: row.try_get("location")?,
        options: DatasetOptions::from_json(&options).map_err(|e| corrupt("options", &e))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        revision: row.try_get("revision")?,
    })
}
