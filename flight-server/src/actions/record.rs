//! A dataset as the actions answer it: its catalog record and schema as
//! JSON, and the body of the actions that name one dataset.

use arrow::datatypes::SchemaRef;
use laker_catalog::{Dataset, DatasetName};

use crate::error::{Error, Result};

/// Body of actions that name one dataset.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameOnly {
    pub(crate) name: String,
}

impl NameOnly {
    pub(crate) fn dataset(&self) -> Result<DatasetName> {
        DatasetName::parse(&self.name).map_err(Error::from)
    }
}

/// The catalog record of a dataset as JSON.
pub(crate) fn dataset_json(d: &Dataset) -> serde_json::Value {
    serde_json::json!({
        "name": d.name.to_string(),
        "description": d.description,
        "tags": d.tags,
        "owner": d.owner,
        "format": d.format.as_str(),
        "location": d.location,
        "options": d.options,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "refreshed_at": d.refreshed_at,
        "revision": d.revision,
    })
}

/// The schema as a list of `{name, type, nullable, masked}`.
pub(crate) fn schema_json(schema: &SchemaRef) -> serde_json::Value {
    schema
        .fields()
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name(),
                "type": f.data_type().to_string(),
                "nullable": f.is_nullable(),
                "masked": false,
            })
        })
        .collect::<Vec<_>>()
        .into()
}
