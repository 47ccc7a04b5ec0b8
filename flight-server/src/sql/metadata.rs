//! Flight SQL metadata commands: catalogs, schemas (namespaces), tables
//! (datasets the caller may read), table types, SQL info, type info, and
//! the key commands (no keys: empty results with the right schema). Each
//! FlightInfo's ticket is the command itself; DoGet builds the answer.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_flight::sql::{Command, CommandGetCatalogs, CommandGetDbSchemas, CommandGetTables};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use laker_auth::Principal;
use laker_query::sql::session::{CATALOG, readable};
use prost::Message;

use super::info::sql_info;
use super::keys::{foreign_keys_schema, no_keys, primary_keys_schema};
use super::type_info::type_info;
use crate::error::{Error, Result};
use crate::state::AppState;

fn table_types_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "table_type",
        DataType::Utf8,
        false,
    )]))
}

/// The answer schema of a metadata command.
pub(super) fn schema_of(command: &Command) -> Result<SchemaRef> {
    Ok(match command {
        Command::CommandGetCatalogs(c) => (*c).into_builder().schema(),
        Command::CommandGetDbSchemas(c) => c.clone().into_builder().schema(),
        Command::CommandGetTables(c) => c.clone().into_builder().schema(),
        Command::CommandGetTableTypes(_) => table_types_schema(),
        Command::CommandGetSqlInfo(c) => c.clone().into_builder(&sql_info(None)?).schema(),
        Command::CommandGetXdbcTypeInfo(c) => (*c).into_builder(type_info()?).schema(),
        Command::CommandGetPrimaryKeys(_) => primary_keys_schema(),
        Command::CommandGetExportedKeys(_)
        | Command::CommandGetImportedKeys(_)
        | Command::CommandGetCrossReference(_) => foreign_keys_schema(),
        other => {
            return Err(Error::Unimplemented(format!(
                "Flight SQL command {} is not supported",
                super::describe_command(other)
            )));
        }
    })
}

/// GetFlightInfo for a metadata command: its schema and one endpoint whose
/// ticket is the command.
pub async fn flight_info(
    _state: &Arc<AppState>,
    _principal: &Principal,
    command: Command,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo> {
    let schema = schema_of(&command)?;
    let ticket = Ticket::new(command.into_any().encode_to_vec());
    FlightInfo::new()
        .try_with_schema(schema.as_ref())
        .map_err(|e| Error::Internal(format!("encoding schema failed: {e}")))
        .map(|info| {
            info.with_descriptor(descriptor)
                .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        })
}

/// DoGet for a metadata command.
pub async fn batches(
    state: &Arc<AppState>,
    principal: &Principal,
    command: Command,
) -> Result<SendableRecordBatchStream> {
    let batch = match command {
        Command::CommandGetCatalogs(c) => catalogs(c)?,
        Command::CommandGetDbSchemas(c) => schemas(state, principal, c).await?,
        Command::CommandGetTables(c) => tables(state, principal, c).await?,
        Command::CommandGetTableTypes(_) => RecordBatch::try_new(
            table_types_schema(),
            vec![Arc::new(StringArray::from(vec!["TABLE"]))],
        )?,
        Command::CommandGetSqlInfo(c) => c
            .into_builder(&sql_info(state.sql_limits.limits().timeout)?)
            .build()?,
        Command::CommandGetXdbcTypeInfo(c) => c.into_builder(type_info()?).build()?,
        Command::CommandGetPrimaryKeys(_) => no_keys(primary_keys_schema()),
        Command::CommandGetExportedKeys(_)
        | Command::CommandGetImportedKeys(_)
        | Command::CommandGetCrossReference(_) => no_keys(foreign_keys_schema()),
        other => {
            return Err(Error::Unimplemented(format!(
                "Flight SQL command {} is not supported",
                super::describe_command(&other)
            )));
        }
    };
    let schema = batch.schema();
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter([Ok(batch)]),
    )))
}

fn catalogs(c: CommandGetCatalogs) -> Result<RecordBatch> {
    let mut builder = c.into_builder();
    builder.append(CATALOG);
    Ok(builder.build()?)
}

async fn schemas(
    state: &Arc<AppState>,
    principal: &Principal,
    c: CommandGetDbSchemas,
) -> Result<RecordBatch> {
    let readable = readable(&state.catalog, &state.authorizer, principal).await?;
    let mut builder = c.into_builder();
    for namespace in readable.keys() {
        builder.append(CATALOG, namespace);
    }
    Ok(builder.build()?)
}

async fn tables(
    state: &Arc<AppState>,
    principal: &Principal,
    c: CommandGetTables,
) -> Result<RecordBatch> {
    let include_schema = c.include_schema;
    let readable = readable(&state.catalog, &state.authorizer, principal).await?;
    let mut builder = c.into_builder();
    let empty = Schema::empty();
    for (namespace, tables) in &readable {
        for (name, (dataset, access)) in tables {
            let schema = if include_schema {
                state.engine.view_schema(dataset, access).await?
            } else {
                Arc::new(empty.clone())
            };
            builder.append(CATALOG, namespace, name, "TABLE", &schema)?;
        }
    }
    Ok(builder.build()?)
}
