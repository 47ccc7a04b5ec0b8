//! The catalog handle and its namespace and dataset records.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::db::{self, Backend, now_ms, or_already_exists};
use crate::error::{CatalogError, Result};
use crate::model::{Dataset, DatasetFormat, DatasetOptions, Namespace, NewDataset};
use crate::names::{DatasetName, validate_ident};
use crate::system::{SYSTEM_NAMESPACE, is_system, system_dataset};

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
        "namespace, name, description, tags, format, location, options, owner, created_at, updated_at, refreshed_at, revision"
    };
}

impl Catalog {
    /// Connects to `url` (`sqlite:…` or `postgres:…`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let (pool, backend) = db::connect(url).await?;
        Ok(Self { pool, backend })
    }

    /// Checks the database answers (a trivial query on a pooled connection).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the catalog's connections: every later call on it (or its
    /// clones) fails. For shutdown, and for tests of a catalog that is down.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Which database backs this catalog.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Creates a namespace; fails with `AlreadyExists` if it exists.
    pub async fn create_namespace(&self, name: &str, description: &str) -> Result<Namespace> {
        let name = validate_ident("namespace", name)?;
        if name == SYSTEM_NAMESPACE {
            return Err(CatalogError::invalid(
                "namespace 'system' is reserved for the built-in datasets",
            ));
        }
        let ns = Namespace {
            name,
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
        refuse_system(&new.name)?;
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
            owner: new.owner,
            created_at: now,
            updated_at: now,
            refreshed_at: 0,
            revision: 1,
        };
        let tags = to_json(&dataset.tags)?;
        let options = to_json(&dataset.options)?;
        sqlx::query(concat!(
            "INSERT INTO datasets (",
            dataset_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&dataset.name.namespace)
        .bind(&dataset.name.dataset)
        .bind(&dataset.description)
        .bind(tags)
        .bind(dataset.format.as_str())
        .bind(&dataset.location)
        .bind(options)
        .bind(&dataset.owner)
        .bind(dataset.created_at)
        .bind(dataset.updated_at)
        .bind(dataset.refreshed_at)
        .bind(dataset.revision)
        .execute(&self.pool)
        .await
        .map_err(or_already_exists("dataset", &dataset.name.to_string()))?;
        Ok(dataset)
    }

    /// Looks up one dataset.
    pub async fn dataset(&self, name: &DatasetName) -> Result<Dataset> {
        if is_system(name) {
            return system_dataset(name);
        }
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

    /// All registered datasets, ordered by name (the built-in `system`
    /// datasets are listed by [`crate::system::system_datasets`]).
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

    /// Stores `updated` (the result of [`DatasetUpdate::apply`]) if the
    /// dataset is still at `updated.revision`; bumps the revision. A
    /// concurrent change makes this fail with `Conflict`.
    ///
    /// [`DatasetUpdate::apply`]: crate::model::DatasetUpdate::apply
    pub async fn update_dataset(&self, updated: &Dataset) -> Result<Dataset> {
        refuse_system(&updated.name)?;
        validate_location(&updated.location)?;
        updated.options.validate(updated.format)?;
        let mut next = updated.clone();
        next.updated_at = now_ms();
        next.revision = updated.revision + 1;
        let done = sqlx::query(
            "UPDATE datasets SET description = $1, tags = $2, format = $3, location = $4, \
             options = $5, owner = $6, updated_at = $7, revision = $8 \
             WHERE namespace = $9 AND name = $10 AND revision = $11",
        )
        .bind(&next.description)
        .bind(to_json(&next.tags)?)
        .bind(next.format.as_str())
        .bind(&next.location)
        .bind(to_json(&next.options)?)
        .bind(&next.owner)
        .bind(next.updated_at)
        .bind(next.revision)
        .bind(&next.name.namespace)
        .bind(&next.name.dataset)
        .bind(updated.revision)
        .execute(&self.pool)
        .await?;
        self.changed_one(done.rows_affected(), &next.name).await?;
        Ok(next)
    }

    /// Records a refresh: bumps the revision (so every replica rebuilds its
    /// cached table) and sets `refreshed_at`.
    pub async fn touch_dataset(&self, name: &DatasetName) -> Result<Dataset> {
        refuse_system(name)?;
        let done = sqlx::query(
            "UPDATE datasets SET refreshed_at = $1, revision = revision + 1 \
             WHERE namespace = $2 AND name = $3",
        )
        .bind(now_ms())
        .bind(&name.namespace)
        .bind(&name.dataset)
        .execute(&self.pool)
        .await?;
        self.changed_one(done.rows_affected(), name).await?;
        self.dataset(name).await
    }

    /// `NotFound` or `Conflict` when an update matched no row.
    async fn changed_one(&self, rows: u64, name: &DatasetName) -> Result<()> {
        if rows > 0 {
            return Ok(());
        }
        self.dataset(name).await?;
        Err(CatalogError::Conflict(format!(
            "dataset '{name}' was changed concurrently; read it again and retry"
        )))
    }

    /// All namespaces, ordered by name.
    pub async fn namespaces(&self) -> Result<Vec<Namespace>> {
        let rows =
            sqlx::query("SELECT name, description, created_at FROM namespaces ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(Namespace {
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so concurrent writers wait their turn
    /// instead of failing when a read must turn into a write.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Runs each DELETE of `statements` with `$1` bound to `key`, in `tx`;
    /// the rows the last one removed.
    pub(crate) async fn delete_bound(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        statements: &[&'static str],
        key: &str,
    ) -> Result<u64> {
        let mut removed = 0;
        for statement in statements {
            removed = sqlx::query(*statement)
                .bind(key)
                .execute(&mut **tx)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }

    /// Deletes an empty namespace; one that still holds datasets is refused.
    pub async fn delete_namespace(&self, name: &str) -> Result<()> {
        let name = validate_ident("namespace", name)?;
        let mut tx = self.begin_write().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM datasets WHERE namespace = $1")
            .bind(&name)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if count > 0 {
            return Err(CatalogError::NotEmpty(format!(
                "namespace '{name}' still holds {count} dataset(s); delete them first"
            )));
        }
        let done = sqlx::query("DELETE FROM namespaces WHERE name = $1")
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CatalogError::not_found("namespace", name));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a dataset from the catalog (its files are left untouched).
    pub async fn delete_dataset(&self, name: &DatasetName) -> Result<()> {
        refuse_system(name)?;
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

/// URL schemes of the object stores the lake can be on.
pub const LOCATION_SCHEMES: &[&str] = &["file", "s3", "s3a", "az", "abfs", "abfss", "gs"];

/// Built-in datasets cannot be registered, changed or deleted.
fn refuse_system(name: &DatasetName) -> Result<()> {
    if is_system(name) {
        return Err(CatalogError::invalid(format!(
            "'{name}' is a built-in dataset and cannot be registered, changed or deleted"
        )));
    }
    Ok(())
}

/// Accepts absolute URLs with a scheme the lake can read and no `..` or `.`
/// path segments (which could step outside a store's allowed prefix).
pub fn validate_location(location: &str) -> Result<url::Url> {
    let url = url::Url::parse(location).map_err(|e| {
        CatalogError::invalid(format!("invalid dataset location '{location}': {e}"))
    })?;
    if !LOCATION_SCHEMES.contains(&url.scheme()) {
        return Err(CatalogError::invalid(format!(
            "unsupported dataset location scheme '{}': supported schemes are: {}",
            url.scheme(),
            LOCATION_SCHEMES.join(", ")
        )));
    }
    // `Url::parse` resolves `..`; refuse the raw text instead of silently
    // registering somewhere else than the caller wrote.
    let raw_path = location
        .split_once("://")
        .map_or(location, |(_, rest)| rest);
    let dot_segment = |seg: &str| {
        // `%2e` is a dot to URL parsers: `.%2e`, `%2e.` and `%2E%2e` too.
        let decoded = seg.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    };
    if raw_path.split(['/', '\\']).any(dot_segment) {
        return Err(CatalogError::invalid(format!(
            "dataset location '{location}' contains '.' or '..' path segments"
        )));
    }
    // An encoded separator reads as a separator to object stores but not
    // to a URL: refuse it rather than let one location spell another.
    let lower = raw_path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(CatalogError::invalid(format!(
            "dataset location '{location}' contains an encoded path separator (%2F or %5C)"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() || url.password().is_some() {
        return Err(CatalogError::invalid(format!(
            "dataset location '{location}' must not carry credentials, a query or a fragment"
        )));
    }
    Ok(url)
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
        owner: row.try_get("owner")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        refreshed_at: row.try_get("refreshed_at")?,
        revision: row.try_get("revision")?,
    })
}
