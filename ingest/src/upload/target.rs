//! What an upload names: the dataset, the mode and the client's upload id,
//! from a path descriptor `["namespace", "dataset"]` plus request headers,
//! or from a JSON command descriptor.

use arrow_flight::FlightDescriptor;
use arrow_flight::flight_descriptor::DescriptorType;
use http::HeaderMap;
use laker_catalog::names::DatasetName;
use serde::Deserialize;

use crate::error::{IngestError, Result};

/// Request header carrying the upload mode.
pub const MODE_HEADER: &str = "x-laker-upload-mode";
/// Request header carrying the client's upload id.
pub const UPLOAD_ID_HEADER: &str = "x-laker-upload-id";
/// Longest upload id.
const MAX_UPLOAD_ID: usize = 128;

/// How an upload meets the dataset's existing rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A new dataset; fails if it exists.
    Create,
    /// Adds rows to an existing dataset.
    Append,
    /// Replaces every row of an existing dataset.
    Replace,
    /// Creates the dataset if needed, then appends.
    CreateAppend,
    /// Creates the dataset if needed, or replaces its rows.
    CreateReplace,
}

impl Mode {
    fn parse(text: &str) -> Result<Self> {
        match text {
            "create" => Ok(Self::Create),
            "append" => Ok(Self::Append),
            "replace" => Ok(Self::Replace),
            "create_append" => Ok(Self::CreateAppend),
            "create_replace" => Ok(Self::CreateReplace),
            other => Err(IngestError::InvalidArgument(format!(
                "unknown upload mode '{other}'; use create, append, replace, create_append or create_replace"
            ))),
        }
    }

    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Append => "append",
            Self::Replace => "replace",
            Self::CreateAppend => "create_append",
            Self::CreateReplace => "create_replace",
        }
    }

    /// Whether the dataset may be created by the upload.
    pub fn creates(self) -> bool {
        matches!(
            self,
            Self::Create | Self::CreateAppend | Self::CreateReplace
        )
    }

    /// Whether the upload replaces the dataset's rows.
    pub fn replaces(self) -> bool {
        matches!(self, Self::Replace | Self::CreateReplace)
    }
}

/// A parsed upload target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The dataset.
    pub name: DatasetName,
    /// The mode (default: append).
    pub mode: Mode,
    /// Makes a retried upload commit at most once.
    pub upload_id: Option<String>,
}

impl Target {
    /// The target of `name` in `mode`, once `upload_id` (if any) is checked.
    fn checked(name: DatasetName, mode: Mode, upload_id: Option<String>) -> Result<Self> {
        Ok(Self {
            name,
            mode,
            upload_id: upload_id.map(check_upload_id).transpose()?,
        })
    }
}

/// The JSON command form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    dataset: String,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    upload_id: Option<String>,
}

fn header(headers: &HeaderMap, name: &str) -> Result<Option<String>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| IngestError::InvalidArgument(format!("header {name} is not text")))
        })
        .transpose()
}

fn check_upload_id(id: String) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(id)
    } else {
        Err(IngestError::InvalidArgument(format!(
            "upload id must be 1 to {MAX_UPLOAD_ID} characters of A-Z, a-z, 0-9, '-', '_', '.', ':'"
        )))
    }
}

/// The target of a DoPut whose first message carried `descriptor`.
pub fn target(descriptor: &FlightDescriptor, headers: &HeaderMap) -> Result<Target> {
    let (dataset, mode, upload_id) = match descriptor.r#type() {
        DescriptorType::Path => match descriptor.path.as_slice() {
            [ns, ds] => (format!("{ns}.{ds}"), None, None),
            _ => {
                return Err(IngestError::InvalidArgument(
                    "an upload's path descriptor is [\"namespace\", \"dataset\"]".into(),
                ));
            }
        },
        _ => {
            let c: Command = serde_json::from_slice(&descriptor.cmd).map_err(|e| {
                IngestError::InvalidArgument(format!(
                    "an upload's command descriptor is JSON {{\"dataset\", \"mode\", \"upload_id\"}}: {e}"
                ))
            })?;
            (c.dataset, c.mode, c.upload_id)
        }
    };
    let name = DatasetName::parse(&dataset)?;
    let mode = match mode {
        Some(m) => m,
        None => header(headers, MODE_HEADER)?
            .map(|m| Mode::parse(&m))
            .transpose()?
            .unwrap_or(Mode::Append),
    };
    let upload_id = match upload_id {
        Some(id) => Some(id),
        None => header(headers, UPLOAD_ID_HEADER)?,
    };
    Target::checked(name, mode, upload_id)
}

/// The target of a Flight SQL `CommandStatementIngest` (what ADBC's
/// `adbc_ingest` sends): `schema.table`, its table-definition options as
/// the mode, and the `upload_id` option.
pub fn ingest_target(cmd: &arrow_flight::sql::CommandStatementIngest) -> Result<Target> {
    use arrow_flight::sql::{TableExistsOption as Exists, TableNotExistOption as NotExist};
    if cmd.temporary || cmd.transaction_id.is_some() {
        return Err(IngestError::InvalidArgument(
            "temporary tables and transactions are not offered for ingestion".into(),
        ));
    }
    if let Some(catalog) = cmd
        .catalog
        .as_deref()
        .filter(|c| *c != laker_query::sql::session::CATALOG)
    {
        return Err(IngestError::InvalidArgument(format!(
            "unknown catalog '{catalog}'; this server's catalog is '{}'",
            laker_query::sql::session::CATALOG
        )));
    }
    let schema = cmd.schema.as_deref().ok_or_else(|| {
        IngestError::InvalidArgument("ingestion needs a schema (the dataset's namespace)".into())
    })?;
    let name = DatasetName::parse(&format!("{schema}.{}", cmd.table))?;
    let options = cmd.table_definition_options.unwrap_or_default();
    let create = options.if_not_exist == NotExist::Create as i32;
    let mode = match (
        create,
        Exists::try_from(options.if_exists).unwrap_or(Exists::Unspecified),
    ) {
        (true, Exists::Fail | Exists::Unspecified) => Mode::Create,
        (true, Exists::Append) => Mode::CreateAppend,
        (true, Exists::Replace) => Mode::CreateReplace,
        (false, Exists::Replace) => Mode::Replace,
        (false, _) => Mode::Append,
    };
    Target::checked(name, mode, cmd.options.get("upload_id").cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_with_headers_and_json_commands() {
        let mut headers = HeaderMap::new();
        headers.insert(MODE_HEADER, "replace".parse().unwrap());
        headers.insert(UPLOAD_ID_HEADER, "batch-7".parse().unwrap());
        let t = target(
            &FlightDescriptor::new_path(vec!["a".into(), "b".into()]),
            &headers,
        )
        .unwrap();
        assert_eq!(t.name.to_string(), "a.b");
        assert_eq!(t.mode, Mode::Replace);
        assert_eq!(t.upload_id.as_deref(), Some("batch-7"));

        let cmd = br#"{"dataset": "a.c", "mode": "create_append"}"#.to_vec();
        let t = target(&FlightDescriptor::new_cmd(cmd), &HeaderMap::new()).unwrap();
        assert_eq!(t.mode, Mode::CreateAppend);
        assert!(t.upload_id.is_none());
    }

    #[test]
    fn bad_targets_are_named() {
        let none = HeaderMap::new();
        let e = target(&FlightDescriptor::new_path(vec!["a".into()]), &none).unwrap_err();
        assert!(
            e.to_string().contains("[\"namespace\", \"dataset\"]"),
            "{e}"
        );
        let mut headers = HeaderMap::new();
        headers.insert(MODE_HEADER, "upsert".parse().unwrap());
        let path = FlightDescriptor::new_path(vec!["a".into(), "b".into()]);
        let e = target(&path, &headers).unwrap_err();
        assert!(
            e.to_string().contains("unknown upload mode 'upsert'"),
            "{e}"
        );
        let mut headers = HeaderMap::new();
        headers.insert(UPLOAD_ID_HEADER, "has space".parse().unwrap());
        assert!(target(&path, &headers).is_err());
        let ingest = arrow_flight::sql::CommandStatementIngest {
            table: "t".into(),
            schema: Some("ns".into()),
            catalog: Some("other".into()),
            ..Default::default()
        };
        let e = ingest_target(&ingest).unwrap_err();
        assert!(e.to_string().contains("unknown catalog 'other'"), "{e}");
    }
}
