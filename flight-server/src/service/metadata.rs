//! Discovery metadata attached to listings, FlightInfo and GetSchema results:
//! the dataset's name, description, tags, format and (for Delta) version, as
//! schema metadata (`laker:*` keys) and as JSON `app_metadata`, which also
//! carries the catalog revision (it changes when the dataset is changed or
//! refreshed).

use std::collections::HashMap;

use arrow::datatypes::Schema;
use laker_catalog::Dataset;

/// Schema metadata key of the dataset name.
pub const META_DATASET: &str = "laker:dataset";
/// Schema metadata key of the description.
pub const META_DESCRIPTION: &str = "laker:description";
/// Schema metadata key of the tags (a JSON array).
pub const META_TAGS: &str = "laker:tags";
/// Schema metadata key of the format.
pub const META_FORMAT: &str = "laker:format";
/// Schema metadata key of the Delta version read.
pub const META_VERSION: &str = "laker:version";

/// The dataset's metadata as JSON (the `app_metadata` of FlightInfo).
pub fn dataset_json(dataset: &Dataset, version: Option<u64>) -> serde_json::Value {
    let mut json = serde_json::json!({
        "name": dataset.name.to_string(),
        "description": dataset.description,
        "tags": dataset.tags,
        "format": dataset.format.as_str(),
        "revision": dataset.revision,
    });
    if let Some(v) = version {
        json["version"] = v.into();
    }
    json
}

/// `schema` with the dataset's metadata added.
pub fn with_dataset_metadata(schema: &Schema, dataset: &Dataset, version: Option<u64>) -> Schema {
    let mut metadata: HashMap<String, String> = schema.metadata().clone();
    metadata.insert(META_DATASET.into(), dataset.name.to_string());
    metadata.insert(META_DESCRIPTION.into(), dataset.description.clone());
    metadata.insert(
        META_TAGS.into(),
        serde_json::Value::from(dataset.tags.clone()).to_string(),
    );
    metadata.insert(META_FORMAT.into(), dataset.format.as_str().into());
    if let Some(v) = version {
        metadata.insert(META_VERSION.into(), v.to_string());
    }
    Schema::new_with_metadata(schema.fields().clone(), metadata)
}
